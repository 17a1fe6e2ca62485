/** The embedding: e = w T (no value projection), then e_hat = e / (||e|| + 1e-10), with explicit VJPs. */
import type { Tensor2D } from '@tensorflow/tfjs-core';
import { customOp } from './custom.js';
import type { TfNamespace } from './load.js';

/** The epsilon of the L2 normalisation. */
export const L2_EPS = 1e-10;

/** e = w T: w [B, C], T [C, d] -> [B, d]. VJP: gw = ge T^T; gT = w^T ge. Tt: T as [d, C] (a constant), if kept. */
export function weightedSum(tf: TfNamespace, w: Tensor2D, T: Tensor2D, Tt?: Tensor2D): Tensor2D {
  const op = customOp(tf, ([wi, Ti], save) => {
    save([wi!, Ti!]);
    return {
      value: tf.matMul(wi as Tensor2D, Ti as Tensor2D),
      vjp: (ge, [ws, Ts]) => [
        Tt ? tf.matMul(ge as Tensor2D, Tt) : tf.matMul(ge as Tensor2D, Ts as Tensor2D, false, true),
        tf.matMul(ws as Tensor2D, ge as Tensor2D, true, false),
      ],
    };
  });
  return op(w, T) as Tensor2D;
}

/**
 * e_hat = e / (n + eps), n = ||e||_2 per row. VJP (exact, with u = e / n):
 *   ge = (g - u (u . g) n / (n + eps)) / (n + eps)
 */
export function l2Normalize(tf: TfNamespace, e: Tensor2D): Tensor2D {
  const op = customOp(tf, ([ei], save) => {
    const n = tf.sqrt(tf.sum(tf.square(ei!), -1, true));
    save([ei!, n]);
    return {
      value: tf.div(ei!, tf.add(n, L2_EPS)),
      vjp: (g, [es, ns]) => {
        const inv = tf.div(1, tf.add(ns!, L2_EPS));
        // u (u . g) n = e (e . g) / n, which tends to 0 with e: a zero row (n = 0) takes g / eps, as the wasm kernel
        // does, not 0 / 0.
        const nSafe = tf.where(tf.greater(ns!, 0), ns!, tf.onesLike(ns!));
        const eg = tf.sum(tf.mul(es!, g), -1, true);
        return [tf.mul(tf.sub(g, tf.mul(es!, tf.div(tf.mul(eg, inv), nSafe))), inv)];
      },
    };
  });
  return op(e) as Tensor2D;
}
