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
import { simdBuilds } from './modules.js';

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
  const alloc = (n: number, fill = true) => {
    const p = mod.arena.alloc(n * 4);
    if (fill) mod.f32(p, n).set(Float32Array.from({ length: n }, (_, i) => Math.sin(i)));
    return p;
  };
  return { T: alloc(C * d), Tp: alloc(C * d, false), X: alloc(M * N), Xt: alloc(M * N, false), Xp: alloc(M * N, false), S: alloc(N) };
});
console.log(`one thread, ${rounds} rounds${baselineFile ? ', interleaved with the baseline build' : ''}`);
for (const c of cases) {
  const fns = builds.map(([, mod], i) => () => c.run(mod.k, ptrs[i]!));
  const t = await measureInterleaved(fns, { budgetS: 30, min: rounds, max: rounds, warmup: 2 });
  const cells = t.map((x, i) => `${builds[i]![0]} ${x.medianMs.toFixed(2).padStart(6)} ms`);
  const ratio = t.length > 1 ? `   baseline / this: ${(t[1]!.medianMs / t[0]!.medianMs).toFixed(2)}x` : '';
  console.log(`  ${c.name.padEnd(30)} ${cells.join('   ')}${ratio}`);
}

const threads = numberArg('--threads', 1);
if (threads > 1) {
  const engine = await WasmEngine.create('simd', threads);
  const mod = engine.mod;
  const T = mod.arena.alloc(C * d * 4);
  mod.f32(T, C * d).set(Float32Array.from({ length: C * d }, (_, i) => Math.sin(i)));
  const Tp = mod.arena.alloc(C * d * 4);
  const one = () => mod.k.f32_pack_nt(T, C, d, Tp);
  const pool = () => engine.parallel.packNT(T, C, d, Tp);
  const [t1, tN] = await measureInterleaved([one, pool], { budgetS: 30, min: rounds, max: rounds, warmup: 2 });
  console.log(`  pack_nt dictionary on ${engine.threads} threads: ${tN!.medianMs.toFixed(2)} ms, one thread ${t1!.medianMs.toFixed(2)} ms: ${(t1!.medianMs / tN!.medianMs).toFixed(2)}x`);
  engine.workerPool?.terminate();
}
