// The weighted sum's backward (f32_wsum_bwd: GW = GE . T[c] on the support, GT += W^T GE), one thread, at the demo's
// image side (B = 128, C = 1,024, d = 128, 92% of the weights non-zero, as at temperature 1000) and the paper's
// (B = 32, C = 16,384, d = 512, 28% non-zero).
//
//   npx tsx bench/experiments/wsum-bwd.ts [--baseline OTHER/bindings/wasm-bytes.generated.ts] [--rounds N]
//
// With --baseline the other build runs in the same process, interleaved call by call, and the outputs of both are
// compared bit for bit.
import { measureInterleaved } from '../harness.js';
import { numberArg, stringArg } from './args.js';
import { simdBuilds } from './modules.js';

const rounds = numberArg('--rounds', 15);
const builds = await simdBuilds(stringArg('--baseline'));
console.log(`one thread, ${rounds} rounds${builds.length > 1 ? ', interleaved with the baseline build' : ''}`);
for (const [B, C, d, density] of [[128, 1024, 128, 0.92], [32, 16384, 512, 0.28]] as const) {
  const sets = builds.map(([, m]) => {
    const put = (n: number, f: (i: number) => number) => {
      const p = m.arena.alloc(n * 4);
      m.f32(p, n).set(Float32Array.from({ length: n }, (_, i) => f(i)));
      return p;
    };
    const W = put(B * C, (i) => (((i * 2654435761) % 1000) / 1000 < density ? 1e-3 * (1 + (i % 5)) : 0));
    const T = put(C * d, (i) => Math.sin(i));
    const GE = put(B * d, (i) => Math.cos(i));
    const [GW, GT] = [m.arena.alloc(B * C * 4), m.arena.alloc(C * d * 4)];
    const run = () => {
      m.f32(GT, C * d).fill(0);
      m.k.f32_wsum_bwd_part(W, T, GE, B, C, d, GW, GT, 1, 0, C);
    };
    return { run, out: () => [...m.f32(GW, B * C), ...m.f32(GT, C * d)] };
  });
  const t = await measureInterleaved(sets.map((s) => s.run), { budgetS: 20, min: rounds, max: rounds, warmup: 1 });
  const cells = t.map((x, i) => `${builds[i]![0]} ${x.medianMs.toFixed(2)} ms`);
  let note = '';
  if (sets.length > 1) {
    for (const s of sets) s.run();
    const [a, b] = [sets[0]!.out(), sets[1]!.out()];
    note = `   baseline / this: ${(t[1]!.medianMs / t[0]!.medianMs).toFixed(2)}x, ${a.every((x, i) => Object.is(x, b[i])) ? 'identical' : 'DIFFER'}`;
  }
  console.log(`  B ${B} C ${C} d ${d} (${Math.round(100 * density)}% non-zero): ${cells.join('   ')}${note}`);
}
process.exit(0);
