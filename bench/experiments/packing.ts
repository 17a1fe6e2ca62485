// The data-movement kernels of a paper-scale training step, one thread: packing the dictionary after each update
// (f32_pack_nt, [16384, 512]), and per Linear layer's weight gradient the transpose of the output gradient, the
// packing of the input (f32_pack_nn) and the bias gradient's column sums (the caption side's shapes, M = 32 x 77).
//
//   npx tsx bench/experiments/packing.ts [--baseline OTHER/bindings/wasm-bytes.generated.ts] [--rounds N] [--threads N]
//
// With --baseline, the same kernels of another build of the module (e.g. a checkout of an older commit after
// `npm run build:wasm`) run in the same process, interleaved call by call, and the table gives both. With
// --threads N (N > 1), the dictionary's packing is also timed on an N-thread engine's worker pool (Parallel.packNT),
// interleaved with the same engine's one-thread call.
import type { KernelExports } from '../../bindings/kernels.js';
import { WasmEngine } from '../../src/engines/wasm/engine.js';
import { measureInterleaved } from '../harness.js';
import { numberArg, stringArg } from './args.js';
import { compareBuilds, floats, simdBuilds } from './modules.js';

const rounds = numberArg('--rounds', 15);
const baselineFile = stringArg('--baseline');
const builds = await simdBuilds(baselineFile);

const [C, d, M, N] = [16384, 512, 32 * 77, 512];
type Case = { name: string; run: (k: KernelExports, p: Record<string, number>) => void };
const cases: Case[] = [
  { name: `pack_nt dictionary [${C}, ${d}]`, run: (k, p) => k.f32_pack_nt(p.T!, C, d, p.Tp!) },
  { name: `transpose [${M}, ${N}]`, run: (k, p) => k.f32_transpose(p.X!, M, N, p.Xt!) },
  { name: `pack_nn [${M}, ${N}]`, run: (k, p) => k.f32_pack_nn(p.X!, M, N, p.Xp!) },
  { name: `colsum_acc [${M}, ${N}]`, run: (k, p) => k.f32_colsum_acc(p.X!, M, N, p.S!) },
];
const ptrs = builds.map(([, mod]) => {
  const input = (n: number) => floats(mod, n, (i) => Math.sin(i));
  return { T: input(C * d), Tp: floats(mod, C * d), X: input(M * N), Xt: floats(mod, M * N), Xp: floats(mod, M * N), S: input(N) };
});
console.log(`one thread, ${rounds} rounds${baselineFile ? ', interleaved with the baseline build' : ''}`);
for (const c of cases) {
  const runs = builds.map(([, mod], i) => ({ call: () => c.run(mod.k, ptrs[i]!) }));
  console.log(`  ${c.name.padEnd(30)} ${await compareBuilds(builds, runs, rounds, 2)}`);
}

const threads = numberArg('--threads', 1);
if (threads > 1) {
  const engine = await WasmEngine.create('simd', threads);
  const mod = engine.mod;
  const T = floats(mod, C * d, (i) => Math.sin(i));
  const Tp = floats(mod, C * d);
  const one = () => mod.k.f32_pack_nt(T, C, d, Tp);
  const pool = () => engine.parallel.packNT(T, C, d, Tp);
  const [t1, tN] = await measureInterleaved([one, pool], { budgetS: 30, min: rounds, max: rounds, warmup: 2 });
  console.log(`  pack_nt dictionary on ${engine.threads} threads: ${tN!.medianMs.toFixed(2)} ms, one thread ${t1!.medianMs.toFixed(2)} ms: ${(t1!.medianMs / tN!.medianMs).toFixed(2)}x`);
  engine.workerPool?.terminate();
}
