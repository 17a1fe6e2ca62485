// Kernel modules for the experiment scripts: this checkout's SIMD build, and (--baseline FILE) the SIMD build of
// another checkout's bindings/wasm-bytes.generated.ts (e.g. an older commit after `npm run build:wasm`), instantiated
// side by side in one process so that their kernels can be timed interleaved.
import { pathToFileURL } from 'node:url';
import { KernelModule, type KernelExports } from '../../bindings/kernels.js';
import { SIMD_WASM_BASE64 } from '../../bindings/wasm-bytes.generated.js';

async function load(b64: string): Promise<KernelModule> {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
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
