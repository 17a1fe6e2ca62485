/**
 * The query MLP: q = Lin2(LN2(GELU(Lin1(LN1(x))))), one per modality, with explicit VJPs (see custom.ts).
 * Shapes: x [..., Din] flattened to M rows; Lin1: Din -> d; Lin2: d -> d; Linear weights stored [out, in].
 */
import type { Tensor, Tensor2D } from '@tensorflow/tfjs-core';
import { customOp } from './custom.js';
import type { TfNamespace } from './load.js';

/** LayerNorm epsilon (PyTorch's default, as in the official code). */
export const LN_EPS = 1e-5;

/**
 * LayerNorm over the last axis of x [..., D] with affine weight and bias [D]; returns [M, D] (M = rows of x).
 *   xhat = (x - mean) * rstd, rstd = 1 / sqrt(var + eps), var biased;   y = xhat * w + b
 * VJP: gw = sum_rows(gy xhat); gb = sum_rows(gy); gx = rstd (gxh - mean(gxh) - xhat mean(gxh xhat)), gxh = gy w.
 */
export function layerNorm(tf: TfNamespace, x: Tensor, weight: Tensor, bias: Tensor, eps = LN_EPS): Tensor2D {
  const D = x.shape[x.shape.length - 1]!;
  const xShape = x.shape;
  const op = customOp(tf, ([xi, w, b], save) => {
    const x2 = tf.reshape(xi!, [-1, D]);
    const xc = tf.sub(x2, tf.mean(x2, -1, true));
    const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(xc), -1, true), eps));
    const xhat = tf.mul(xc, rstd);
    save([xhat, rstd, w!]);
    return {
      value: tf.add(tf.mul(xhat, w!), b!),
      vjp: (gy, [xh, rs, ws]) => {
        const gxh = tf.mul(gy, ws!);
        const gx = tf.mul(rs!, tf.sub(tf.sub(gxh, tf.mean(gxh, -1, true)), tf.mul(xh!, tf.mean(tf.mul(gxh, xh!), -1, true))));
        return [tf.reshape(gx, xShape), tf.sum(tf.mul(gy, xh!), 0), tf.sum(gy, 0)];
      },
    };
  });
  return op(x, weight, bias) as Tensor2D;
}

/**
 * y = x W^T + b: x [M, K], W [N, K] (PyTorch's [out, in]), b [N] -> y [M, N].
 * VJP: gx = gy W; gW = gy^T x; gb = sum_rows(gy).
 */
export function linear(tf: TfNamespace, x: Tensor2D, weight: Tensor2D, bias: Tensor, weightT?: Tensor2D): Tensor2D {
  const op = customOp(tf, ([xi, w, b], save) => {
    save([xi!, w!]);
    return {
      // weightT: the same values as [in, out], a constant; matMul with transposeB is slow on tfjs-backend-wasm.
      value: tf.add(weightT ? tf.matMul(xi as Tensor2D, weightT) : tf.matMul(xi as Tensor2D, w as Tensor2D, false, true), b!),
      vjp: (gy, [xs, ws]) => [
        tf.matMul(gy as Tensor2D, ws as Tensor2D),
        tf.matMul(gy as Tensor2D, xs as Tensor2D, true, false),
        tf.sum(gy, 0),
      ],
    };
  });
  return op(x, weight, bias) as Tensor2D;
}

/**
 * The exact GELU, x Phi(x) with Phi(x) = (1 + erf(x / sqrt 2)) / 2.
 * VJP: gx = gy (Phi(x) + x phi(x)), phi(x) = exp(-x^2 / 2) / sqrt(2 pi).
 */
export function gelu(tf: TfNamespace, x: Tensor): Tensor {
  const op = customOp(tf, ([xi], save) => {
    save([xi!]);
    const cdf = (v: Tensor) => tf.mul(tf.add(tf.erf(tf.mul(v, Math.SQRT1_2)), 1), 0.5);
    return {
      value: tf.mul(xi!, cdf(xi!)),
      vjp: (gy, [xs]) => {
        const pdf = tf.mul(tf.exp(tf.mul(tf.square(xs!), -0.5)), 1 / Math.sqrt(2 * Math.PI));
        return [tf.mul(gy, tf.add(cdf(xs!), tf.mul(xs!, pdf)))];
      },
    };
  });
  return op(x);
}

/** The query MLP's parameters in official order: LN1 (q_map.0), Lin1 (.1), LN2 (.3), Lin2 (.4). */
export interface QueryMlpTensors {
  ln1w: Tensor; ln1b: Tensor;
  w1: Tensor2D; b1: Tensor;
  ln2w: Tensor; ln2b: Tensor;
  w2: Tensor2D; b2: Tensor;
  /** The weights transposed to [in, out] (constants of the current values), when the engine keeps them. */
  w1t?: Tensor2D; w2t?: Tensor2D;
}

/** q = Lin2(LN2(GELU(Lin1(LN1(x))))), x [..., Din] (M rows) -> q [M, d]. */
export function queryMlp(tf: TfNamespace, p: QueryMlpTensors, x: Tensor): Tensor2D {
  const h1 = linear(tf, layerNorm(tf, x, p.ln1w, p.ln1b), p.w1, p.b1, p.w1t);
  const a2 = layerNorm(tf, gelu(tf, h1), p.ln2w, p.ln2b);
  return linear(tf, a2, p.w2, p.b2, p.w2t);
}
