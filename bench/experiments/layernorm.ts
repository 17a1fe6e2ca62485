// LayerNorm forward and backward (f32_layernorm_fwd / _bwd with the input and parameter gradients), one thread, at
// the query MLPs' shapes: the paper's image side (1,568 rows of 768, then of 512) and the demo's (6,272 rows of 576).
//
//   npx tsx bench/experiments/layernorm.ts [--baseline OTHER/bindings/wasm-bytes.generated.ts] [--rounds N]
//
// With --baseline the other build runs in the same process, interleaved call by call.
import { measureInterleaved } from '../harness.js';
import { numberArg, stringArg } from './args.js';
import { simdBuilds } from './modules.js';

const rounds = numberArg('--rounds', 20);
const builds = await simdBuilds(stringArg('--baseline'));
console.log(`one thread, ${rounds} rounds${builds.length > 1 ? ', interleaved with the baseline build' : ''}`);
for (const [M, D] of [[1568, 768], [1568, 512], [6272, 576]] as const) {
  const sets = builds.map(([, mod]) => {
    const put = (n: number, seed: number) => {
      const p = mod.arena.alloc(n * 4);
      mod.f32(p, n).set(Float32Array.from({ length: n }, (_, i) => Math.sin(seed * i + 0.7) * (1 + (i % 7))));
      return p;
    };
    const [x, gy, gamma, beta] = [put(M * D, 1), put(M * D, 2), put(D, 3), put(D, 4)];
    const [y, gx, gg, gb, mean, rstd] = [M * D, M * D, D, D, M, M].map((n) => mod.arena.alloc(n * 4)) as [number, number, number, number, number, number];
    return {
      fwd: () => mod.k.f32_layernorm_fwd(x, M, D, gamma, beta, 1e-5, y, mean, rstd),
      bwd: () => mod.k.f32_layernorm_bwd(x, gy, M, D, gamma, mean, rstd, gx, gg, gb),
    };
  });
  for (const kind of ['fwd', 'bwd'] as const) {
    for (const s of sets) s.fwd();
    const t = await measureInterleaved(sets.map((s) => s[kind]), { budgetS: 20, min: rounds, max: rounds, warmup: 2 });
    const cells = t.map((x, i) => `${builds[i]![0]} ${x.medianMs.toFixed(2)} ms`);
    const ratio = t.length > 1 ? `   baseline / this: ${(t[1]!.medianMs / t[0]!.medianMs).toFixed(2)}x` : '';
    console.log(`  ${kind} [${M}, ${D}]: ${cells.join('   ')}${ratio}`);
  }
}
process.exit(0);
