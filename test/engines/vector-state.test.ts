// The wasm engine clears the calling thread's AVX upper state at the start of every engine call and before thread
// 0's share of every pooled step, the tfjs engine before each of its calls (bindings/vector-state.ts); here the
// clearer is replaced by a counter.
import { describe, expect, it, vi } from 'vitest';

const clears = vi.hoisted(() => ({ n: 0 }));
vi.mock('../../bindings/vector-state.js', () => ({
  clearUpperVectorState: () => void clears.n++,
  clearsVectorState: () => true,
  vectorStateNotCleared: () => null,
}));

const { FDT, Trainer } = await import('../../src/index.js');

describe('the wasm engine and the vector state', () => {
  it('clears it once per engine call on one thread: encode, loss, gradients and the AdamW step', async () => {
    const fdt = await FDT.create({ numTokens: 32, dim: 8, imageDim: 4, textDim: 4, seed: 1, engine: 'wasm', threads: 1 });
    const patches = { data: new Float32Array(2 * 3 * 4).fill(0.5), shape: [2, 3, 4] };
    const tokens = { data: new Float32Array(2 * 2 * 4).fill(0.25), shape: [2, 2, 4] };
    const valid = { data: new Int32Array(4).fill(1), shape: [2, 2] };
    const at = (): number => clears.n;
    let before = at();
    await fdt.encodeImage(patches);
    expect(at() - before).toBe(1);
    before = at();
    await fdt.encodeText(tokens, valid);
    expect(at() - before).toBe(1);
    before = at();
    await fdt.loss({ patches, tokens, valid });
    expect(at() - before).toBe(1);
    before = at();
    await new Trainer(fdt, { schedule: { lr: 1e-3 } }).stepOn({ patches, tokens, valid });
    expect(at() - before).toBe(2); // the forward and backward, then the AdamW step
  });

  it('on two threads, also before thread 0 takes its share of each pooled step', async () => {
    const fdt = await FDT.create({ numTokens: 4096, dim: 64, imageDim: 64, textDim: 64, seed: 1, engine: 'wasm', threads: 2 });
    const B = 8;
    const patches = { data: new Float32Array(B * 49 * 64).map((_, i) => Math.sin(i)), shape: [B, 49, 64] };
    expect(fdt.wasm.workerPool).not.toBeNull();
    const before = clears.n;
    await fdt.encodeImage(patches);
    expect(clears.n - before).toBeGreaterThan(1);
    fdt.dispose();
  });

  it('the tfjs engine clears it once per call too (tfjs-backend-wasm is wasm SIMD as well)', async () => {
    const fdt = await FDT.create({ numTokens: 32, dim: 8, imageDim: 4, textDim: 4, seed: 1, engine: 'tfjs', backends: ['cpu'] });
    const patches = { data: new Float32Array(2 * 3 * 4).fill(0.5), shape: [2, 3, 4] };
    const before = clears.n;
    await fdt.encodeImage(patches);
    expect(clears.n - before).toBe(1);
    fdt.dispose();
  });
});
