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
import { compareBuilds, floats, simdBuilds } from './modules.js';

const rounds = numberArg('--rounds', 20);
const builds = await simdBuilds(stringArg('--baseline'));
const n = (32 * 49 + 32 * 77) * 512;
console.log(`one thread, ${n} values, ${rounds} rounds${builds.length > 1 ? ', interleaved with the baseline build' : ''}`);
const sets = builds.map(([, mod]) => {
  const input = (seed: number) => floats(mod, n, (i) => 4 * Math.sin(seed * i + 0.1));
  const [x, gy, y, gx] = [input(1), input(2), floats(mod, n), floats(mod, n)];
  const erfc = floats(mod, 2 * n); // float64 [n]
  return {
    fwd: { call: () => mod.k.f32_gelu_fwd(x, n, y, 0), out: () => mod.f32(y, n) },
    bwd: { call: () => mod.k.f32_gelu_bwd(x, gy, n, gx, 0), out: () => mod.f32(gx, n) },
    fwdKeep: () => mod.k.f32_gelu_fwd(x, n, y, erfc),
    bwdStored: () => mod.k.f32_gelu_bwd(x, gy, n, gx, erfc),
  };
});
const perValue = (ms: number) => ` (${((1e6 * ms) / n).toFixed(1)} ns/value)`;
for (const kind of ['fwd', 'bwd'] as const) {
  console.log(`  ${kind}: ${await compareBuilds(builds, sets.map((s) => s[kind]), rounds, 2, perValue)}`);
}
// This build only: the forward keeping erfc(-x / sqrt 2) in float64, and the backward reusing it (the training path).
const own = sets[0]!;
const [keep, stored, plainFwd, plainBwd] = await measureInterleaved([own.fwdKeep, own.bwdStored, own.fwd.call, own.bwd.call], { budgetS: 20, min: rounds, max: rounds, warmup: 2 });
console.log(`  this build, forward keeping erfc: ${keep!.medianMs.toFixed(2)} ms (plain ${plainFwd!.medianMs.toFixed(2)}); backward from it: ${stored!.medianMs.toFixed(2)} ms (plain ${plainBwd!.medianMs.toFixed(2)}, ${(plainBwd!.medianMs / stored!.medianMs).toFixed(2)}x)`);
process.exit(0);
