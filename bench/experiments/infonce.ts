// The InfoNCE kernel (f32_infonce: logits, loss and both embedding gradients, float64 inside) at the demo's batch
// (B = 128, d = 128) and the paper's (B = 32, d = 512), one thread:
//
//   npx tsx bench/experiments/infonce.ts [--baseline OTHER/bindings/wasm-bytes.generated.ts] [--rounds N]
//
// With --baseline the other build runs in the same process, interleaved call by call, and its outputs are compared
// with this build's bit for bit (a change that only reorders the work must leave them equal).
import { measureInterleaved } from '../harness.js';
import { numberArg, stringArg } from './args.js';
import { simdBuilds } from './modules.js';

const rounds = numberArg('--rounds', 30);
const builds = await simdBuilds(stringArg('--baseline'));
console.log(`one thread, ${rounds} rounds${builds.length > 1 ? ', interleaved with the baseline build' : ''}`);
for (const [B, d] of [[128, 128], [32, 512]] as const) {
  const embeddings = (seed: number) => Float32Array.from({ length: B * d }, (_, i) => Math.sin(seed * i + 0.3) / Math.sqrt(d));
  const runs = builds.map(([, mod]) => {
    const put = (x: Float32Array) => {
      const p = mod.arena.alloc(x.length * 4);
      mod.f32(p, x.length).set(x);
      return p;
    };
    const [ei, et] = [put(embeddings(1)), put(embeddings(2))];
    const [logits, gi, gt, out] = [mod.arena.alloc(B * B * 4), mod.arena.alloc(B * d * 4), mod.arena.alloc(B * d * 4), mod.arena.alloc(24)];
    const scratch = mod.arena.alloc(mod.k.infonce_scratch_bytes(B, d));
    const call = () => mod.k.f32_infonce(ei, et, B, d, Math.log(20), logits, gi, gt, out, scratch);
    const outputs = () => [...mod.f32(logits, B * B), ...mod.f32(gi, B * d), ...mod.f32(gt, B * d), ...mod.f64(out, 3)];
    return { call, outputs };
  });
  const t = await measureInterleaved(runs.map((r) => r.call), { budgetS: 20, min: rounds, max: rounds, warmup: 3 });
  const cells = t.map((x, i) => `${builds[i]![0]} ${x.medianMs.toFixed(2)} ms (min ${x.minMs.toFixed(2)})`);
  let note = '';
  if (runs.length > 1) {
    const [a, b] = [runs[0]!.outputs(), runs[1]!.outputs()];
    const same = a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
    note = `   baseline / this: ${(t[1]!.medianMs / t[0]!.medianMs).toFixed(2)}x, outputs ${same ? 'identical' : 'DIFFER'}`;
  }
  console.log(`  B ${B} d ${d}: ${cells.join('   ')}${note}`);
}
process.exit(0);
