// f32_gemm (2 x 16 register tile over packed panels, bias, accumulation) at every GEMM shape of a training step:
// the demo's (6,272 image rows, 576 -> 128 -> 128) and the paper's image side and caption weight gradient.
//
//   npx tsx bench/experiments/gemm-shapes.ts [--baseline OTHER/bindings/wasm-bytes.generated.ts] [--rounds N]
//                                            [--match TEXT: only the shapes whose label contains it]
//
// With --baseline the other build runs in the same process, interleaved call by call, on the same inputs (bias on,
// accumulating into C), and the outputs of both are compared bit for bit.
import { numberArg, stringArg } from './args.js';
import type { KernelModule } from '../../bindings/kernels.js';
import { compareBuilds, floats, simdBuilds } from './modules.js';

const rounds = numberArg('--rounds', 10);
const builds = await simdBuilds(stringArg('--baseline'));
console.log(`one thread, ${rounds} rounds${builds.length > 1 ? ', interleaved with the baseline build' : ''}`);
// [label, M, K, N]: C [M, N] += A [M, K] B [K, N] + bias.
const cases: [string, number, number, number][] = [
  ['demo Lin1 forward', 6272, 576, 128], ['demo Lin2 forward', 6272, 128, 128], ['demo Lin1 weight grad', 128, 6272, 576],
  ['demo Lin2 weight grad', 128, 6272, 128], ['demo Lin2 input grad', 6272, 128, 128],
  ['paper image Lin1 forward', 1568, 768, 512], ['paper Lin2 forward', 1568, 512, 512], ['paper Lin1 weight grad', 512, 1568, 768],
  ['paper caption weight grad', 512, 2464, 512],
];
// The GEMM's scratch: the running sums of a block's row pairs; builds before 2026-11-27's depth chunks took one
// 2 x 16 tile (128 bytes) and have no gemm_scratch_bytes.
const gemmScratch = (m: KernelModule) =>
  m.arena.alloc('gemm_scratch_bytes' in m.k ? m.k.gemm_scratch_bytes() : 128);
const match = stringArg('--match');
for (const [label, M, K, N] of cases.filter(([label]) => match === undefined || label.includes(match))) {
  const runs = builds.map(([, m]) => {
    const input = (n: number) => floats(m, n, (i) => Math.sin(i));
    const [A, Bp, bias, C, scratch] = [input(M * K), input(Math.ceil(N / 16) * 16 * K), input(N), input(M * N), gemmScratch(m)];
    return { call: () => m.k.f32_gemm(A, M, K, K, Bp, N, bias, C, N, 1, scratch), out: () => m.f32(C, M * N) };
  });
  const gflops = (ms: number) => ` (${((2 * M * K * N) / ms / 1e6).toFixed(1)} GFLOP/s)`;
  console.log(`  ${label.padEnd(26)} [${M}, ${K}] x [${K}, ${N}]: ${await compareBuilds(builds, runs, rounds, 1, gflops)}`);
}
process.exit(0);
