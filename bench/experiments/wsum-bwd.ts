// The weighted sum's backward (f32_wsum_bwd: GW = GE . T[c] on the support, GT += W^T GE), one thread, at the demo's
// image side (B = 128, C = 1,024, d = 128, 92% of the weights non-zero, as at temperature 1000) and the paper's
// (B = 32, C = 16,384, d = 512, 28% non-zero).
//
//   npx tsx bench/experiments/wsum-bwd.ts [--baseline OTHER/bindings/wasm-bytes.generated.ts] [--rounds N]
//
// With --baseline the other build runs in the same process, interleaved call by call, and the outputs of both are
// compared bit for bit.
import { numberArg, stringArg } from './args.js';
import { compareBuilds, floats, simdBuilds } from './modules.js';

const rounds = numberArg('--rounds', 15);
const builds = await simdBuilds(stringArg('--baseline'));
console.log(`one thread, ${rounds} rounds${builds.length > 1 ? ', interleaved with the baseline build' : ''}`);
for (const [B, C, d, density] of [[128, 1024, 128, 0.92], [32, 16384, 512, 0.28]] as const) {
  const runs = builds.map(([, m]) => {
    const W = floats(m, B * C, (i) => (((i * 2654435761) % 1000) / 1000 < density ? 1e-3 * (1 + (i % 5)) : 0));
    const T = floats(m, C * d, (i) => Math.sin(i));
    const GE = floats(m, B * d, (i) => Math.cos(i));
    const [GW, GT] = [floats(m, B * C), floats(m, C * d)];
    return {
      call: () => {
        m.f32(GT, C * d).fill(0);
        m.k.f32_wsum_bwd_part(W, T, GE, B, C, d, GW, GT, 1, 0, C);
      },
      out: () => [...m.f32(GW, B * C), ...m.f32(GT, C * d)],
    };
  });
  console.log(`  B ${B} C ${C} d ${d} (${Math.round(100 * density)}% non-zero): ${await compareBuilds(builds, runs, rounds)}`);
}
process.exit(0);
