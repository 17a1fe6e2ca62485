// f32_gemm (2 x 16 register tile over packed panels, bias, accumulation) at every GEMM shape of a training step:
// the demo's (6,272 image rows, 576 -> 128 -> 128) and the paper's image side and caption weight gradient.
//
//   npx tsx bench/experiments/gemm-shapes.ts [--baseline OTHER/bindings/wasm-bytes.generated.ts] [--rounds N]
//
// With --baseline the other build runs in the same process, interleaved call by call, on the same inputs (bias on,
// accumulating into C), and the outputs of both are compared bit for bit.
import { measureInterleaved } from '../harness.js';
import { numberArg, stringArg } from './args.js';
import { simdBuilds } from './modules.js';

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
for (const [label, M, K, N] of cases) {
  const runs = builds.map(([, m]) => {
    const put = (n: number) => {
      const p = m.arena.alloc(n * 4);
      m.f32(p, n).set(Float32Array.from({ length: n }, (_, i) => Math.sin(i)));
      return p;
    };
    const [A, Bp, bias, C, tile] = [put(M * K), put(Math.ceil(N / 16) * 16 * K), put(N), put(M * N), m.arena.alloc(128)];
    return { call: () => m.k.f32_gemm(A, M, K, K, Bp, N, bias, C, N, 1, tile), out: () => m.f32(C, M * N).slice() };
  });
  const t = await measureInterleaved(runs.map((r) => r.call), { budgetS: 15, min: rounds, max: rounds, warmup: 1 });
  const gflops = (ms: number) => ((2 * M * K * N) / ms / 1e6).toFixed(1);
  const cells = t.map((x, i) => `${builds[i]![0]} ${x.medianMs.toFixed(2)} ms (${gflops(x.medianMs)} GFLOP/s)`);
  let note = '';
  if (runs.length > 1) {
    const [a, b] = [runs[0]!.out(), runs[1]!.out()];
    note = `   baseline / this: ${(t[1]!.medianMs / t[0]!.medianMs).toFixed(2)}x, ${a.every((x, i) => Object.is(x, b[i])) ? 'identical' : 'DIFFER'}`;
  }
  console.log(`  ${label.padEnd(26)} [${M}, ${K}] x [${K}, ${N}]: ${cells.join('   ')}${note}`);
}
process.exit(0);
