// Property tests of the symmetric InfoNCE kernel (forward and backward in one call, the logit scale clamped at 100
// while its gradient goes through the unclamped exp) and of the AdamW step: both wasm builds against float64
// references, SIMD == scalar bit for bit, and the InfoNCE reference VJP against central differences.
// See docs/RELIABILITY.md, "Property tests".
import fc from 'fast-check';
import { beforeAll, describe, it } from 'vitest';
import { infoNce, infoNceVjp, l2normalize } from '../reference/ops.js';
import {
  centralDiff, check, close, closeScalar, dimArb, direction, dot, draw, fdAgrees, identical, loadBuilds, onBoth, pow2,
  printSummaryAfterAll, Rng, seedArb, type Builds, type Dist,
} from './support.js';

let mods: Builds;
beforeAll(async () => {
  mods = await loadBuilds();
});
printSummaryAfterAll('test/property/infonce-adamw.test.ts');

const LOG100 = Math.log(100);

/** B rows of unit norm (float32-rounded), optionally with an all-zero row as the L2 normaliser gives for e = 0. */
function embeddings(rng: Rng, B: number, d: number, dist: Dist, zeroRow: boolean): Float64Array {
  const e = l2normalize(draw(rng, B * d, dist), B, d).map(Math.fround);
  if (zeroRow) e.fill(0, 0, d);
  return e;
}

function runInfoNce(Ei: Float64Array, Et: Float64Array, B: number, d: number, p: number, wantGEi = true, wantGEt = true) {
  return onBoth(mods, (m) => {
    const logits = m.zeros(B * B);
    const gEi = m.zeros(B * d);
    const gEt = m.zeros(B * d);
    const out = m.zeros(6);
    m.k.f32_infonce(m.f32(Ei), m.f32(Et), B, d, p, logits, wantGEi ? gEi : 0, wantGEt ? gEt : 0, out, m.bytes(m.k.infonce_scratch_bytes(B, d)));
    return { logits: m.readF32(logits, B * B), gEi: m.readF32(gEi, B * d), gEt: m.readF32(gEt, B * d), out: m.readF64(out, 3) };
  });
}

describe('InfoNCE', () => {
  const pArb = fc.oneof(
    fc.double({ min: -3, max: 7, noNaN: true }),
    fc.constantFrom(Math.log(1 / 0.07), LOG100, Math.fround(LOG100), LOG100 - 1e-9, LOG100 + 1e-9, -20, 50, 300),
  );
  const infoCase = fc.record({
    B: fc.oneof(fc.integer({ min: 1, max: 9 }), fc.constantFrom(16, 17)),
    d: dimArb(40),
    p: pArb,
    dist: fc.constantFrom<Dist>('normal', 'ints', 'sparse'),
    zeroRow: fc.boolean(),
    wantGEi: fc.boolean(),
    wantGEt: fc.boolean(),
    seed: seedArb,
  });

  it('loss, scale used, logits and gradients equal the reference; the scale is min(exp(p), 100) and its gradient goes through the unclamped exp', () => {
    check('infonce fwd+bwd', infoCase, ({ B, d, p, dist, zeroRow, wantGEi, wantGEt, seed }) => {
      const rng = new Rng(seed);
      const Ei = embeddings(rng, B, d, dist, zeroRow);
      const Et = embeddings(rng, B, d, dist, false);
      const got = runInfoNce(Ei, Et, B, d, p, wantGEi, wantGEt);
      const ref = infoNce(Ei, Et, B, d, p);
      const g = infoNceVjp(Ei, Et, B, d, p, 1);
      const [loss, gScale, s] = got.out;
      // The scalar outputs are float64 computed from the same float32 inputs: they agree far below float32 rounding.
      closeScalar('loss', loss!, ref.loss, 1e-9);
      closeScalar('scale used', s!, ref.scaleUsed, 1e-12, 0);
      if (p > LOG100 && s !== 100) throw new Error(`p = ${p} > log 100 but the scale used is ${s}`);
      // |dL/dp| <= 2 exp(p) max |cos|: measured in units of exp(p) (a near-zero sum of O(exp(p)) terms is rounding).
      closeScalar('d loss / d logit_scale (unclamped exp)', gScale!, g.gLogitScaleParam, 1e-9, Math.exp(p));
      close('logits', got.logits, ref.logitsPerImage);
      close('gEi', got.gEi, wantGEi ? g.gEi : new Float64Array(B * d));
      close('gEt', got.gEt, wantGEt ? g.gEt : new Float64Array(B * d));
    }, 1600);
  });

  it('above log 100 the clamp makes loss, logits and embedding gradients independent of p, while the scale gradient grows as exp(p)', () => {
    check('infonce clamp', fc.record({ B: fc.integer({ min: 1, max: 9 }), d: dimArb(20), p1: fc.double({ min: LOG100 + 1e-6, max: 20, noNaN: true }), dp: fc.double({ min: 0, max: 5, noNaN: true }), seed: seedArb }),
      ({ B, d, p1, dp, seed }) => {
        const rng = new Rng(seed);
        const Ei = embeddings(rng, B, d, 'normal', false);
        const Et = embeddings(rng, B, d, 'normal', false);
        const a = runInfoNce(Ei, Et, B, d, p1);
        const b = runInfoNce(Ei, Et, B, d, p1 + dp);
        identical('loss', [a.out[0]!], [b.out[0]!]);
        identical('scale', [a.out[2]!, b.out[2]!], [100, 100]);
        identical('logits', a.logits, b.logits);
        identical('gEi', a.gEi, b.gEi);
        identical('gEt', a.gEt, b.gEt);
        closeScalar('scale gradient at p1 + dp vs exp(dp) times that at p1', b.out[1]!, a.out[1]! * Math.exp(dp), 1e-12, 0);
      }, 600);
  });

  it('reference VJP equals central differences (embeddings; logit scale below the clamp; above it, the documented exp(p) * dL/ds)', () => {
    check('infonce VJP vs central differences', fc.record({ B: fc.integer({ min: 1, max: 6 }), d: dimArb(8), p: fc.double({ min: -1, max: 6, noNaN: true }), seed: seedArb }),
      ({ B, d, p, seed }) => {
        fc.pre(Math.abs(p - LOG100) > 1e-3);
        const rng = new Rng(seed);
        const Ei = embeddings(rng, B, d, 'normal', false);
        const Et = embeddings(rng, B, d, 'normal', false);
        const g = infoNceVjp(Ei, Et, B, d, p, 1);
        const v = direction(rng, 2 * B * d);
        const f = (x: Float64Array): number => infoNce(x.subarray(0, B * d), x.subarray(B * d), B, d, p).loss;
        fdAgrees('gEi, gEt', dot(g.gEi, v.subarray(0, B * d)) + dot(g.gEt, v.subarray(B * d)), centralDiff(f, new Float64Array([...Ei, ...Et]), v, 1e-6));
        if (p < LOG100) {
          const fp = (x: Float64Array): number => infoNce(Ei, Et, B, d, x[0]!).loss;
          fdAgrees('g logit_scale', g.gLogitScaleParam, centralDiff(fp, Float64Array.of(p), Float64Array.of(1), 1e-6));
        } else {
          // The clamp hides s from autograd in the official code: the gradient is dL/ds * exp(p) at s = 100, with dL/ds
          // measured by scaling the image embeddings (s Ei Et^T = 100 (alpha Ei) Et^T at alpha = s / 100).
          const fa = (x: Float64Array): number => infoNce(Ei.map((e) => e * x[0]!), Et, B, d, p).loss;
          const dLds = centralDiff(fa, Float64Array.of(1), Float64Array.of(1), 1e-6) / 100;
          fdAgrees('g logit_scale (clamped)', g.gLogitScaleParam, dLds * Math.exp(p), 1e-5);
        }
      }, 800);
  });
});

describe('AdamW', () => {
  const adamCase = fc.record({
    n: dimArb(70),
    steps: fc.integer({ min: 1, max: 4 }),
    step0: fc.constantFrom(1, 1, 2, 10, 1000, 1_000_000),
    lr: fc.constantFrom(1e-5, 1e-3, 0.1, 1),
    b1: fc.constantFrom(0, 0.5, 0.9, 0.99),
    b2: fc.constantFrom(0.9, 0.98, 0.999, 0.9999),
    eps: fc.constantFrom(1e-8, 1e-6, 1e-12),
    wd: fc.constantFrom(0, 0.01, 0.1, 0.5),
    pe: fc.constantFrom(0, 0, 100, -100),
    ge: fc.constantFrom(0, 0, -30, 30, 50),
    gDist: fc.constantFrom<Dist>('normal', 'sparse', 'ints'),
    seed: seedArb,
  });

  it('P, M and V after several steps equal a float64 AdamW in PyTorch\'s order of operations (parameters from 2^-100 to 2^100, gradients up to 2^50)', () => {
    check('adamw', adamCase, ({ n, steps, step0, lr: lr64, b1: b164, b2: b264, eps: eps64, wd: wd64, pe, ge, gDist, seed }) => {
      const [lr, b1, b2, eps, wd] = [lr64, b164, b264, eps64, wd64].map(Math.fround) as [number, number, number, number, number];
      const rng = new Rng(seed);
      const P0 = draw(rng, n, 'normal', pow2(pe));
      const M0 = draw(rng, n, 'normal', pow2(ge));
      const V0 = draw(rng, n, 'normal', pow2(2 * ge)).map(Math.abs);
      const grads = Array.from({ length: steps }, () => draw(rng, n, gDist, pow2(ge)));
      const out = onBoth(mods, (m) => {
        const P = m.f32(P0);
        const M = m.f32(M0);
        const V = m.f32(V0);
        for (let t = 0; t < steps; t++) m.k.f32_adamw_step(P, m.f32(grads[t]!), M, V, n, lr, b1, b2, eps, wd, step0 + t);
        return { P: m.readF32(P, n), M: m.readF32(M, n), V: m.readF32(V, n) };
      });
      const P = Float64Array.from(P0);
      const M = Float64Array.from(M0);
      const V = Float64Array.from(V0);
      const moved = new Float64Array(n); // sum over the steps of |update| + |decay|: the natural unit of the comparison
      for (let t = 0; t < steps; t++) {
        const k = step0 + t;
        const bc1 = 1 - b1 ** k;
        const bc2 = 1 - b2 ** k;
        for (let i = 0; i < n; i++) {
          const g = grads[t]![i]!;
          moved[i] += lr * wd * Math.abs(P[i]!);
          P[i] = P[i]! * (1 - lr * wd);
          M[i] = b1 * M[i]! + (1 - b1) * g;
          V[i] = b2 * V[i]! + (1 - b2) * g * g;
          const upd = (lr / bc1) * (M[i]! / (Math.sqrt(V[i]!) / Math.sqrt(bc2) + eps));
          P[i] = P[i]! - upd;
          moved[i] += Math.abs(upd);
        }
      }
      // Per element: float32 rounding of P (1e-5 |P|) plus 1e-4 of how far the steps moved it (updates of opposite
      // signs may cancel: their rounding does not).
      for (let i = 0; i < n; i++) {
        const allowed = 1e-5 * Math.abs(P[i]!) + 1e-4 * moved[i]! + 1e-30;
        if (!(Math.abs(out.P[i]! - P[i]!) <= allowed)) throw new Error(`P[${i}] = ${out.P[i]}, expected ${P[i]} (allowed ${allowed})`);
      }
      close('M', out.M, M, 1e-4, pow2(ge));
      close('V', out.V, V, 1e-4, pow2(2 * ge));
    }, 2000);
  });
});
