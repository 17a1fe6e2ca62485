// The InfoNCE kernel (f32_infonce: logits, loss and both embedding gradients, float64 inside) at the demo's batch
// (B = 128, d = 128) and the paper's (B = 32, d = 512), one thread:
//
//   npx tsx bench/experiments/infonce.ts [--baseline OTHER/bindings/wasm-bytes.generated.ts] [--rounds N]
//
// With --baseline the other build runs in the same process, interleaved call by call, and its outputs are compared
// with this build's bit for bit (a change that only reorders the work must leave them equal).
import { numberArg, stringArg } from './args.js';
import { compareBuilds, floats, simdBuilds } from './modules.js';

const rounds = numberArg('--rounds', 30);
const builds = await simdBuilds(stringArg('--baseline'));
console.log(`one thread, ${rounds} rounds${builds.length > 1 ? ', interleaved with the baseline build' : ''}`);
for (const [B, d] of [[128, 128], [32, 512]] as const) {
  const runs = builds.map(([, mod]) => {
    const embeddings = (seed: number) => floats(mod, B * d, (i) => Math.sin(seed * i + 0.3) / Math.sqrt(d));
    const [ei, et] = [embeddings(1), embeddings(2)];
    const [logits, gi, gt, out] = [floats(mod, B * B), floats(mod, B * d), floats(mod, B * d), floats(mod, 6)];
    const scratch = mod.arena.alloc(mod.k.infonce_scratch_bytes(B, d));
    return {
      call: () => mod.k.f32_infonce(ei, et, B, d, Math.log(20), logits, gi, gt, out, scratch),
      out: () => [...mod.f32(logits, B * B), ...mod.f32(gi, B * d), ...mod.f32(gt, B * d), ...mod.f64(out, 3)],
    };
  });
  console.log(`  B ${B} d ${d}: ${await compareBuilds(builds, runs, rounds, 3, (_, min) => ` (min ${min.toFixed(2)})`)}`);
}
process.exit(0);
