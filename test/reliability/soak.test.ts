// Long runs: many encode calls and training steps at small shapes must not grow wasm memory after warm-up, nor the
// JS heap beyond a stated bound; concurrent calls give the same results as sequential ones.
// CI runs shorter counts; `npm run soak` (FDT_SOAK_FULL=1) runs the full 100,000 encodes and 10,000 steps.
import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { FDT, Trainer } from '../../src/index.js';
import { Rng } from '../reference/rng.js';

const FULL = process.env['FDT_SOAK_FULL'] === '1';
const ENCODES = FULL ? 100_000 : 10_000;
const STEPS = FULL ? 10_000 : 1_000;
/** JS heap growth allowed over the whole run, after warm-up. */
const HEAP_BOUND = 32 * 1024 * 1024;

// A real collection before each reading, so the bound is on retained memory, not on garbage not yet collected.
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
function heap(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

describe(`soak (${FULL ? 'full' : 'CI'} counts)`, () => {
  it(`${ENCODES} encode calls: wasm memory flat after warm-up, JS heap bounded`, async () => {
    const m = await FDT.create({ numTokens: 256, dim: 16, imageDim: 24, textDim: 12, temperature: 0.5, seed: 1 });
    const rng = new Rng(1);
    const x = { data: Float32Array.from(rng.normals(4 * 9 * 24)), shape: [4, 9, 24] };
    const first = await m.encodeImage(x);
    const mem = m.wasm.memoryBytes;
    const live = m.wasm.mod.arena.liveBytes;
    const h0 = heap();
    let last = first;
    for (let i = 0; i < ENCODES; i++) last = await m.encodeImage(x);
    const grown = heap() - h0;
    console.log(`${ENCODES} encodes: wasm memory ${mem} -> ${m.wasm.memoryBytes} bytes, arena live ${live} -> ${m.wasm.mod.arena.liveBytes}, JS heap ${(grown / 1048576).toFixed(1)} MB`);
    expect(m.wasm.memoryBytes).toBe(mem);
    expect(m.wasm.mod.arena.liveBytes).toBe(live);
    expect(grown).toBeLessThan(HEAP_BOUND);
    expect(Array.from(last.embeddings)).toEqual(Array.from(first.embeddings));
  }, 600_000);

  it(`${STEPS} training steps: wasm memory flat after the first step, JS heap bounded`, async () => {
    const m = await FDT.create({ numTokens: 128, dim: 16, imageDim: 12, textDim: 10, temperature: 0.5, seed: 2 });
    const t = new Trainer(m, { schedule: { lr: 1e-3, warmupStartLr: 1e-4, warmupSteps: 10, totalSteps: STEPS } });
    const rng = new Rng(2);
    const batch = { patches: { data: Float32Array.from(rng.normals(8 * 4 * 12)), shape: [8, 4, 12] }, tokens: { data: Float32Array.from(rng.normals(8 * 3 * 10)), shape: [8, 3, 10] } };
    await t.stepOn(batch);
    const mem = m.wasm.memoryBytes;
    const h0 = heap();
    for (let i = 1; i < STEPS; i++) await t.stepOn(batch);
    const grown = heap() - h0;
    console.log(`${STEPS} steps: wasm memory ${mem} -> ${m.wasm.memoryBytes} bytes, JS heap ${(grown / 1048576).toFixed(1)} MB`);
    expect(m.wasm.memoryBytes).toBe(mem);
    expect(grown).toBeLessThan(HEAP_BOUND);
  }, 600_000);

  it(`${ENCODES / 10} encode calls on the tfjs engine leave tf.memory().numTensors unchanged`, async () => {
    const m = await FDT.create({ numTokens: 64, dim: 8, imageDim: 6, textDim: 4, temperature: 0.5, seed: 4, engine: 'tfjs', backends: ['cpu'] });
    const x = { data: Float32Array.from(new Rng(4).normals(2 * 5 * 6)), shape: [2, 5, 6] };
    const first = await m.encodeImage(x);
    const layer = await m.asTfjsLayer();
    const tensors = layer.tf.memory().numTensors;
    for (let i = 0; i < ENCODES / 10; i++) await m.encodeImage(x);
    console.log(`${ENCODES / 10} tfjs encodes: tensors ${tensors} -> ${layer.tf.memory().numTensors}`);
    expect(layer.tf.memory().numTensors).toBe(tensors);
    expect(Array.from((await m.encodeImage(x)).embeddings)).toEqual(Array.from(first.embeddings));
  }, 600_000);

  it.each(['wasm', 'tfjs'] as const)('100 concurrent async calls on the %s engine give the same results as sequential calls', async (engine) => {
    const m = await FDT.create({ numTokens: 64, dim: 8, imageDim: 6, textDim: 4, temperature: 0.5, seed: 3, engine, backends: ['cpu'] });
    const rng = new Rng(3);
    const inputs = Array.from({ length: 100 }, (_, i) => ({ data: Float32Array.from(rng.normals((1 + (i % 3)) * 5 * 6)), shape: [1 + (i % 3), 5, 6] }));
    const sequential: Float32Array[] = [];
    for (const x of inputs) sequential.push((await m.encodeImage(x)).embeddings);
    const concurrent = await Promise.all(inputs.map((x) => m.encodeImage(x)));
    concurrent.forEach((r, i) => expect(Array.from(r.embeddings)).toEqual(Array.from(sequential[i]!)));
  });
});
