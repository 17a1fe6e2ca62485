/**
 * The normalisers that turn relevance r [B, C] into token weights w: sparsemax (FDT's default) and softmax, with
 * explicit VJPs (see custom.ts).
 */
import type { Tensor, Tensor2D } from '@tensorflow/tfjs-core';
import { customOp } from './custom.js';
import type { TfNamespace } from './load.js';

/**
 * sparsemax over the last axis of z [R, C] (Martins & Astudillo 2016): p = max(0, z - tau), sum p = 1.
 * Forward by sorting (tf.topk over the whole row): with z shifted by its row max (shift invariance; keeps the
 * float32 prefix sums small) and sorted descending, k = #{ j : 1 + j z_(j) > sum_{i<=j} z_(i) } and
 * tau = (sum_{i<=k} z_(i) - 1) / k.
 * VJP (FDT-SPEC quirk 3): gz = s (gp - mean over the support of gp), s = 1[p > 0].
 */
export function sparsemax(tf: TfNamespace, z: Tensor2D): Tensor2D {
  const op = customOp(tf, ([zi], save) => {
    const p = sparsemaxForward(tf, zi as Tensor2D);
    save([p]);
    return {
      value: p,
      vjp: (gp, [ps]) => {
        const s = tf.cast(tf.greater(ps!, 0), 'float32');
        const k = tf.maximum(tf.sum(s, -1, true), 1);
        const mean = tf.div(tf.sum(tf.mul(gp, s), -1, true), k);
        return [tf.mul(s, tf.sub(gp, mean))];
      },
    };
  });
  return op(z) as Tensor2D;
}

/** The sparsemax forward alone, z [R, C] -> p [R, C]. */
export function sparsemaxForward(tf: TfNamespace, z: Tensor2D): Tensor2D {
  const C = z.shape[1];
  const shifted = tf.sub(z, tf.max(z, -1, true));
  const sorted = tf.topk(shifted, C, true).values; // descending
  const csum = tf.cumsum(sorted, 1);
  const j = tf.range(1, C + 1, 1, 'float32');
  // The condition holds on a prefix 1..k of the sorted row: its count is k, and sum(sorted * cond) the prefix sum.
  const cond = tf.cast(tf.greater(tf.add(tf.mul(j, sorted), 1), csum), 'float32');
  const k = tf.sum(cond, -1, true);
  const tau = tf.div(tf.sub(tf.sum(tf.mul(sorted, cond), -1, true), 1), k);
  return tf.relu(tf.sub(shifted, tau)) as Tensor2D;
}

/** softmax over the last axis. VJP: gz = p (gp - sum(p gp)). */
export function softmax(tf: TfNamespace, z: Tensor2D): Tensor2D {
  const op = customOp(tf, ([zi], save) => {
    const p = tf.softmax(zi!, -1);
    save([p]);
    return {
      value: p,
      vjp: (gp, [ps]) => [tf.mul(ps!, tf.sub(gp, tf.sum(tf.mul(ps!, gp), -1, true)))],
    };
  });
  return op(z) as Tensor2D;
}

/** Number of non-zero entries per row of w [R, C] -> [R] int32. */
export function activeCounts(tf: TfNamespace, w: Tensor2D): Tensor {
  return tf.sum(tf.cast(tf.greater(w, 0), 'int32'), -1);
}
