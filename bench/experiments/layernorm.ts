// LayerNorm forward and backward (f32_layernorm_fwd / _bwd with the input and parameter gradients), one thread, at
// the query MLPs' shapes: the paper's image side (1,568 rows of 768, then of 512) and the demo's (6,272 rows of 576).
//
//   npx tsx bench/experiments/layernorm.ts [--baseline OTHER/bindings/wasm-bytes.generated.ts] [--rounds N]
//
// With --baseline the other build runs in the same process, interleaved call by call.
import { numberArg, stringArg } from './args.js';
import { compareBuilds, floats, simdBuilds } from './modules.js';

const rounds = numberArg('--rounds', 20);
const builds = await simdBuilds(stringArg('--baseline'));
console.log(`one thread, ${rounds} rounds${builds.length > 1 ? ', interleaved with the baseline build' : ''}`);
for (const [M, D] of [[1568, 768], [1568, 512], [6272, 576]] as const) {
  const sets = builds.map(([, mod]) => {
    const input = (n: number, seed: number) => floats(mod, n, (i) => Math.sin(seed * i + 0.7) * (1 + (i % 7)));
    const [x, gy, gamma, beta] = [input(M * D, 1), input(M * D, 2), input(D, 3), input(D, 4)];
    const [y, gx, gg, gb, mean, rstd] = [M * D, M * D, D, D, M, M].map((n) => floats(mod, n)) as [number, number, number, number, number, number];
    return {
      fwd: { call: () => mod.k.f32_layernorm_fwd(x, M, D, gamma, beta, 1e-5, y, mean, rstd) },
      bwd: { call: () => mod.k.f32_layernorm_bwd(x, gy, M, D, gamma, mean, rstd, gx, gg, gb) },
    };
  });
  for (const kind of ['fwd', 'bwd'] as const) {
    for (const s of sets) s.fwd.call();
    console.log(`  ${kind} [${M}, ${D}]: ${await compareBuilds(builds, sets.map((s) => s[kind]), rounds, 2)}`);
  }
}
process.exit(0);
