// Where the tfjs engine's time goes on a WebGPU backend, op by op, at the image-encode shape of B = 128 (6,272 query
// rows of d = 512 against C = 16,384 tokens); each timing waits for a small read-back, so GPU time is included.
//
//   deno run -A --sloppy-imports bench/experiments/webgpu-ops.ts     Deno's WebGPU (wgpu)
//   npx tsx bench/experiments/webgpu-ops.ts                          Node, the `webgpu` package (Dawn)
//   ... --batch N                                                    another batch size (default 128)
//
// Rows: the GEMM alone (q T^T, [49 B, 512] x [512, 16384]); the GEMM with the max over each image's 49 rows
// ([B, 16384] out); the upload of the input features both ways (tfjs' own, a buffer mapped at creation; and the
// engine's, queue.writeBuffer plus a copy on the GPU: src/engines/tfjs/upload.ts), the arg-max over the 49 rows, a
// read-back of [B, 16384]; sparsemax over [B, 16384]; and the engine's whole encodeImage with each upload, beside
// the wasm engine's.
import process from 'node:process';
import { loadTf } from '../../src/engines/tfjs/load.js';
import { sparsemax } from '../../src/engines/tfjs/normalizers.js';
import { hostTensor, setWebGpuUpload } from '../../src/engines/tfjs/upload.js';
import { FDT } from '../../src/fdt.js';
import { Rng } from '../../src/rng.js';
import { installNodeWebGpu } from '../webgpu-node.js';

if (typeof (globalThis as { Deno?: unknown }).Deno === 'undefined') {
  const why = await installNodeWebGpu();
  if (why) console.log(why);
}
const { tf, backend } = await loadTf({ backends: ['webgpu'] });
const bi = process.argv.indexOf('--batch');
const [B, P, d, C] = [bi >= 0 ? Number(process.argv[bi + 1]) : 128, 49, 512, 16384];
const rng = new Rng(1);
const q = tf.tensor2d(Float32Array.from({ length: B * P * d }, () => rng.normal()), [B * P, d]);
const Tt = tf.tensor2d(Float32Array.from({ length: d * C }, () => rng.normal()), [d, C]);
const r = tf.tensor2d(Float32Array.from({ length: B * C }, () => rng.normal()), [B, C]);

async function time(label: string, flops: number, f: () => Promise<unknown>): Promise<void> {
  await f();
  const ts: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    await f();
    ts.push(performance.now() - t);
  }
  const ms = ts.sort((a, b) => a - b)[1]!;
  console.log(`  ${label.padEnd(58)} ${ms.toFixed(1).padStart(8)} ms${flops ? `  ${(flops / ms / 1e6).toFixed(0).padStart(6)} GFLOP/s` : ''}`);
}

console.log(`tfjs ${backend}, B = ${B}, P = ${P}, d = ${d}, C = ${C}:`);
const gemm = 2 * B * P * d * C;
await time('GEMM q T^T', gemm, async () => {
  const s = tf.matMul(q, Tt);
  const one = tf.slice(s, [0, 0], [1, 1]);
  await one.data();
  tf.dispose([s, one]);
});
await time('GEMM + max over the 49 rows of each image', gemm, async () => {
  const m = tf.tidy(() => tf.max(tf.reshape(tf.matMul(q, Tt), [B, P, C]), 1));
  await m.data();
  m.dispose();
});
const xIn = Float32Array.from({ length: B * P * 768 }, () => rng.normal());
const mib = ((B * P * 768 * 4) / 2 ** 20).toFixed(0);
for (const [how, make] of [
  ['tf.tensor, mapped at creation', () => tf.tensor2d(xIn, [B * P, 768])],
  ['queue.writeBuffer + GPU copy', () => hostTensor(tf, xIn, [B * P, 768])],
] as const) {
  await time(`upload [${B * P}, 768] (${mib} MiB), ${how}`, 0, async () => {
    const t = make();
    const one = tf.slice(t, [0, 0], [1, 1]);
    await one.data();
    tf.dispose([t, one]);
  });
}
const S = tf.reshape(tf.matMul(q, Tt), [B, P, C]);
await time('argMax over the 49 rows of each image', 0, async () => {
  const a = tf.argMax(S, 1);
  await a.data();
  a.dispose();
});
await time(`read back [${B}, ${C}] float32 (a fresh tensor each time)`, 0, async () => {
  const t = tf.mul(r, 1); // tfjs keeps a tensor's values once read: a new one is read from the GPU
  await t.data();
  t.dispose();
});
await time(`sparsemax over [${B}, ${C}]`, 0, async () => {
  const w = tf.tidy(() => sparsemax(tf, r));
  await w.data();
  w.dispose();
});
const fdt = await FDT.create({ numTokens: C, dim: d, imageDim: 768, textDim: 512, temperature: 1000, seed: 1, backends: ['webgpu'] });
const x = { data: Float32Array.from({ length: B * P * 768 }, () => rng.normal()), shape: [B, P, 768] };
for (const mode of ['mapped', 'write-buffer'] as const) {
  setWebGpuUpload(mode);
  await time(`encodeImage, tfjs engine, upload ${mode}`, gemm, () => fdt.encodeImage(x, { engine: 'tfjs' }));
}
await time(`encodeImage, wasm engine (${fdt.threads} threads)`, gemm, () => fdt.encodeImage(x, { engine: 'wasm' }));
fdt.dispose();
process.exit(0);
