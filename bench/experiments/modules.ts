// Kernel modules for the experiment scripts: this checkout's SIMD build, and (--baseline FILE) the SIMD build of
// another checkout's bindings/wasm-bytes.generated.ts (e.g. an older commit after `npm run build:wasm`), instantiated
// side by side in one process so that their kernels can be timed interleaved and their outputs compared.
import { pathToFileURL } from 'node:url';
import { KernelModule, type KernelExports } from '../../bindings/kernels.js';
import { SIMD_WASM_BASE64 } from '../../bindings/wasm-bytes.generated.js';
import { measureInterleaved } from '../harness.js';
import { floats, sameBits } from '../rounds.js';
import { decodeBase64 } from '../../bindings/base64.js';

async function load(b64: string): Promise<KernelModule> {
  const bytes = decodeBase64(b64);
  const { instance } = await WebAssembly.instantiate(bytes, {});
  return new KernelModule(instance.exports as unknown as KernelExports, 'simd');
}

/** [label, module] pairs: 'this build', then 'baseline' when a baseline file is given. */
export async function simdBuilds(baselineFile: string | undefined): Promise<[string, KernelModule][]> {
  const builds: [string, KernelModule][] = [['this build', await load(SIMD_WASM_BASE64)]];
  if (baselineFile) {
    const other = (await import(pathToFileURL(baselineFile).href)) as { SIMD_WASM_BASE64: string };
    builds.push(['baseline', await load(other.SIMD_WASM_BASE64)]);
  }
  return builds;
}

export { floats };

/** One build's kernel call, and (optional) what it wrote, read after the timed calls. */
export interface BuildRun {
  call: () => unknown;
  out?: () => ArrayLike<number>;
}

/**
 * Times one call per build (simdBuilds' order), interleaved call by call, `rounds` times after `warmup` rounds.
 * Returns the cells of a report line: each build's median (with `detail(ms)` after it), then with a baseline the
 * ratio baseline / this and, where the runs give `out`, whether the outputs are identical bit for bit (every build
 * made the same number of calls on the same inputs).
 */
export async function compareBuilds(
  builds: readonly [string, KernelModule][], runs: readonly BuildRun[], rounds: number, warmup = 1,
  detail: (ms: number, minMs: number) => string = () => '',
): Promise<string> {
  const t = await measureInterleaved(runs.map((r) => r.call), { budgetS: 30, min: rounds, max: rounds, warmup });
  const cells = t.map((x, i) => `${builds[i]![0]} ${x.medianMs.toFixed(2)} ms${detail(x.medianMs, x.minMs)}`);
  if (runs.length < 2) return cells.join('   ');
  let line = `${cells.join('   ')}   baseline / this: ${(t[1]!.medianMs / t[0]!.medianMs).toFixed(2)}x`;
  if (runs[0]!.out && runs[1]!.out) {
    const [a, b] = [runs[0]!.out(), runs[1]!.out()];
    line += `, outputs ${sameBits(a, b) ? 'identical' : 'DIFFER'}`;
  }
  return line;
}
