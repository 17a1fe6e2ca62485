// The relevance kernel's backward through the recorded arg-max, one thread: the query gradient
// (f32_relevance_bwd_gq_part) and the dictionary gradient (f32_relevance_bwd_gt_part), at the demo's image side
// (B = 128, L = 49, C = 1,024, d = 128: the dictionary fits in L2) and the paper's caption side (B = 32, L = 77,
// C = 16,384, d = 512), two of three relevance gradients non-zero.
//
//   npx tsx bench/experiments/relevance-bwd.ts [--baseline OTHER/bindings/wasm-bytes.generated.ts] [--rounds N]
//
// With --baseline the other build runs in the same process, interleaved call by call, and the gradients of both are
// compared bit for bit.
import { measureInterleaved } from '../harness.js';
import { numberArg, stringArg } from './args.js';
import { simdBuilds } from './modules.js';

const rounds = numberArg('--rounds', 10);
const builds = await simdBuilds(stringArg('--baseline'));
console.log(`one thread, ${rounds} rounds${builds.length > 1 ? ', interleaved with the baseline build' : ''}`);
for (const [B, L, C, d] of [[128, 49, 1024, 128], [32, 77, 16384, 512]] as const) {
  for (const half of ['gq', 'gt'] as const) {
    const sets = builds.map(([, m]) => {
      const put = (n: number, f: (i: number) => number) => {
        const p = m.arena.alloc(n * 4);
        m.f32(p, n).set(Float32Array.from({ length: n }, (_, i) => f(i)));
        return p;
      };
      const GR = put(B * C, (i) => (i % 3 === 0 ? 0 : Math.sin(i)));
      const ARG = m.arena.alloc(B * C * 4);
      m.i32(ARG, B * C).set(Int32Array.from({ length: B * C }, (_, i) => (i * 7919) % L));
      const T = put(C * d, (i) => Math.cos(i * 0.3));
      const Q = put(B * L * d, (i) => Math.sin(i * 0.2));
      const n = half === 'gq' ? B * L * d : C * d;
      const G = m.arena.alloc(n * 4);
      const run = () => {
        m.f32(G, n).fill(0);
        if (half === 'gq') m.k.f32_relevance_bwd_gq_part(GR, ARG, T, B, L, C, d, 0.7, G, 0, B);
        else m.k.f32_relevance_bwd_gt_part(GR, ARG, Q, B, L, C, d, 0.7, G, 0, C);
      };
      return { run, out: () => m.f32(G, n) };
    });
    const t = await measureInterleaved(sets.map((s) => s.run), { budgetS: 20, min: rounds, max: rounds, warmup: 1 });
    const cells = t.map((x, i) => `${builds[i]![0]} ${x.medianMs.toFixed(2)} ms`);
    let note = '';
    if (sets.length > 1) {
      for (const s of sets) s.run();
      const [a, b] = [sets[0]!.out(), sets[1]!.out()];
      note = `   baseline / this: ${(t[1]!.medianMs / t[0]!.medianMs).toFixed(2)}x, ${a.every((x, i) => Object.is(x, b[i])) ? 'identical' : 'DIFFER'}`;
    }
    console.log(`  ${half} B ${B} L ${L} C ${C} d ${d}: ${cells.join('   ')}${note}`);
  }
}
process.exit(0);
