// GELU forward and backward (f32_gelu_fwd / _bwd: float64 inside, f64x2 lanes), one thread, over the query MLPs'
// hidden values at paper scale (32 x 49 + 32 x 77 rows of 512: 2.06 M values, drawn in [-4, 4]).
//
//   npx tsx bench/experiments/gelu.ts [--baseline OTHER/bindings/wasm-bytes.generated.ts] [--rounds N]
//
// With --baseline the other build runs in the same process, interleaved call by call, and the outputs of both are
// compared bit for bit. Then this build alone: the forward that keeps erfc(-x / sqrt 2) for the backward, and the
// backward that reuses it.
import { measureInterleaved } from '../harness.js';
import { numberArg, stringArg } from './args.js';
import { simdBuilds } from './modules.js';

const rounds = numberArg('--rounds', 20);
const builds = await simdBuilds(stringArg('--baseline'));
const n = (32 * 49 + 32 * 77) * 512;
console.log(`one thread, ${n} values, ${rounds} rounds${builds.length > 1 ? ', interleaved with the baseline build' : ''}`);
const sets = builds.map(([, mod]) => {
  const put = (seed: number) => {
    const p = mod.arena.alloc(n * 4);
    mod.f32(p, n).set(Float32Array.from({ length: n }, (_, i) => 4 * Math.sin(seed * i + 0.1)));
    return p;
  };
  const [x, gy, y, gx] = [put(1), put(2), mod.arena.alloc(n * 4), mod.arena.alloc(n * 4)];
  const erfc = mod.arena.alloc(n * 8);
  return {
    fwd: () => mod.k.f32_gelu_fwd(x, n, y, 0),
    bwd: () => mod.k.f32_gelu_bwd(x, gy, n, gx, 0),
    fwdKeep: () => mod.k.f32_gelu_fwd(x, n, y, erfc),
    bwdStored: () => mod.k.f32_gelu_bwd(x, gy, n, gx, erfc),
    out: () => [mod.f32(y, n), mod.f32(gx, n)] as const,
  };
});
for (const kind of ['fwd', 'bwd'] as const) {
  const t = await measureInterleaved(sets.map((s) => s[kind]), { budgetS: 20, min: rounds, max: rounds, warmup: 2 });
  const cells = t.map((x, i) => `${builds[i]![0]} ${x.medianMs.toFixed(2)} ms (${((1e6 * x.medianMs) / n).toFixed(1)} ns/value)`);
  const ratio = t.length > 1 ? `   baseline / this: ${(t[1]!.medianMs / t[0]!.medianMs).toFixed(2)}x` : '';
  console.log(`  ${kind}: ${cells.join('   ')}${ratio}`);
}
// This build only: the forward keeping erfc(-x / sqrt 2) in float64, and the backward reusing it (the training path).
const own = sets[0]!;
const [keep, stored, plainFwd, plainBwd] = await measureInterleaved([own.fwdKeep, own.bwdStored, own.fwd, own.bwd], { budgetS: 20, min: rounds, max: rounds, warmup: 2 });
console.log(`  this build, forward keeping erfc: ${keep!.medianMs.toFixed(2)} ms (plain ${plainFwd!.medianMs.toFixed(2)}); backward from it: ${stored!.medianMs.toFixed(2)} ms (plain ${plainBwd!.medianMs.toFixed(2)}, ${(plainBwd!.medianMs / stored!.medianMs).toFixed(2)}x)`);
if (sets.length > 1) {
  for (const s of sets) {
    s.fwd();
    s.bwd();
  }
  const [a, b] = [sets[0]!.out(), sets[1]!.out()];
  const same = (u: Float32Array, v: Float32Array) => u.every((x, i) => Object.is(x, v[i]));
  console.log(`  outputs: forward ${same(a[0], b[0]) ? 'identical' : 'DIFFER'}, backward ${same(a[1], b[1]) ? 'identical' : 'DIFFER'}`);
}
process.exit(0);
