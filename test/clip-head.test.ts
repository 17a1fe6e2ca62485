import { describe, expect, it } from 'vitest';
import { ClipHead, Trainer } from '../src/index.js';
import { expectClose } from './helpers/close.js';
import { infoNce, infoNceVjp, l2normalize, l2normalizeVjp, linear } from './reference/ops.js';
import { Rng } from './reference/rng.js';

describe('ClipHead (the CLIP-style baseline)', () => {
  it('forward and gradients match a float64 computation of mean pool + Linear + L2 + InfoNCE', async () => {
    const [B, N, L, Di, Dt, d] = [3, 4, 5, 7, 6, 17];
    const head = await ClipHead.create({ dim: d, imageDim: Di, textDim: Dt, seed: 2 });
    const rng = new Rng(5);
    const patches = Float32Array.from(rng.normals(B * N * Di));
    const tokens = Float32Array.from(rng.normals(B * L * Dt));
    const valid = Float32Array.from({ length: B * L }, (_, i) => (i % L < 5 - Math.floor(i / L) ? 1 : 0));
    const r = await head.gradients({ patches: { data: patches, shape: [B, N, Di] }, tokens: { data: tokens, shape: [B, L, Dt] }, valid: { data: valid, shape: [B, L] } });
    const P = (n: string) => Float64Array.from(head.params[n]!);
    const pool = (x: Float32Array, rows: number, D: number, mask: Float32Array | null) => {
      const out = new Float64Array(B * D);
      for (let b = 0; b < B; b++) {
        let n = 0;
        for (let l = 0; l < rows; l++) {
          if (mask && !mask[b * rows + l]) continue;
          n++;
          for (let k = 0; k < D; k++) out[b * D + k] += x[(b * rows + l) * D + k]!;
        }
        for (let k = 0; k < D; k++) out[b * D + k] /= n;
      }
      return out;
    };
    const pi = pool(patches, N, Di, null);
    const pt = pool(tokens, L, Dt, valid);
    const ei = linear(pi, P('image_proj.weight'), P('image_proj.bias'), B, Di, d);
    const et = linear(pt, P('text_proj.weight'), P('text_proj.bias'), B, Dt, d);
    const hi = l2normalize(ei, B, d);
    const ht = l2normalize(et, B, d);
    const nce = infoNce(hi, ht, B, d, head.params['logit_scale']![0]!);
    expect(Math.abs(r.loss - nce.loss)).toBeLessThan(1e-5);
    expectClose('logits', r.logitsPerImage, nce.logitsPerImage);
    const g = infoNceVjp(hi, ht, B, d, head.params['logit_scale']![0]!, 1);
    const gei = l2normalizeVjp(ei, g.gEi, B, d);
    const gW = new Float64Array(d * Di);
    for (let o = 0; o < d; o++) for (let i = 0; i < Di; i++) for (let b = 0; b < B; b++) gW[o * Di + i] += gei[b * d + o]! * pi[b * Di + i]!;
    expectClose('grad image_proj.weight', r.grads.params['image_proj.weight']!, gW);
    expect(Math.abs(r.grads.params['logit_scale']![0]! - g.gLogitScaleParam)).toBeLessThan(1e-5);
  });

  it('trains with the shared Trainer: the loss falls', async () => {
    const head = await ClipHead.create({ dim: 16, imageDim: 12, textDim: 10, seed: 1 });
    const trainer = new Trainer(head, { schedule: { lr: 1e-2, warmupStartLr: 1e-3, warmupSteps: 3, totalSteps: 40 } });
    const rng = new Rng(2);
    const pi = rng.normals(8 * 12);
    const pt = rng.normals(8 * 10);
    const losses: number[] = [];
    for (let s = 0; s < 40; s++) {
      const patches = Float32Array.from({ length: 8 * 2 * 12 }, (_, i) => pi[Math.floor(i / 24) * 12 + (i % 12)]! + 0.3 * rng.normal());
      const tokens = Float32Array.from({ length: 8 * 3 * 10 }, (_, i) => pt[Math.floor(i / 30) * 10 + (i % 10)]! + 0.3 * rng.normal());
      losses.push((await trainer.stepOn({ patches: { data: patches, shape: [8, 2, 12] }, tokens: { data: tokens, shape: [8, 3, 10] } })).loss);
    }
    expect(losses.slice(-5).reduce((a, b) => a + b) / 5).toBeLessThan(0.5 * (losses.slice(0, 5).reduce((a, b) => a + b) / 5));
  });
});
