// The relevance kernel's backward through the recorded arg-max, one thread: the query gradient
// (f32_relevance_bwd_gq_part) and the dictionary gradient (f32_relevance_bwd_gt_part), at the demo's image side
// (B = 128, L = 49, C = 1,024, d = 128: the dictionary fits in L2) and the paper's caption side (B = 32, L = 77,
// C = 16,384, d = 512), two of three relevance gradients non-zero.
//
//   npx tsx bench/experiments/relevance-bwd.ts [--baseline OTHER/bindings/wasm-bytes.generated.ts] [--rounds N]
//
// With --baseline the other build runs in the same process, interleaved call by call, and the gradients of both are
// compared bit for bit.
import { numberArg, stringArg } from './args.js';
import { compareBuilds, floats, simdBuilds } from './modules.js';

const rounds = numberArg('--rounds', 10);
const builds = await simdBuilds(stringArg('--baseline'));
console.log(`one thread, ${rounds} rounds${builds.length > 1 ? ', interleaved with the baseline build' : ''}`);
for (const [B, L, C, d] of [[128, 49, 1024, 128], [32, 77, 16384, 512]] as const) {
  for (const half of ['gq', 'gt'] as const) {
    const runs = builds.map(([, m]) => {
      const GR = floats(m, B * C, (i) => (i % 3 === 0 ? 0 : Math.sin(i)));
      const ARG = m.arena.alloc(B * C * 4);
      m.i32(ARG, B * C).set(Int32Array.from({ length: B * C }, (_, i) => (i * 7919) % L));
      const T = floats(m, C * d, (i) => Math.cos(i * 0.3));
      const Q = floats(m, B * L * d, (i) => Math.sin(i * 0.2));
      const n = half === 'gq' ? B * L * d : C * d;
      const G = floats(m, n);
      return {
        call: () => {
          m.f32(G, n).fill(0);
          if (half === 'gq') m.k.f32_relevance_bwd_gq_part(GR, ARG, T, B, L, C, d, 0.7, G, 0, B);
          else m.k.f32_relevance_bwd_gt_part(GR, ARG, Q, B, L, C, d, 0.7, G, 0, C);
        },
        out: () => m.f32(G, n),
      };
    });
    console.log(`  ${half} B ${B} L ${L} C ${C} d ${d}: ${await compareBuilds(builds, runs, rounds)}`);
  }
}
process.exit(0);
