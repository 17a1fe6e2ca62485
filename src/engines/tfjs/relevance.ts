/**
 * Relevance: r[b, c] = scale * max over l of S[b, l, c], S = q T^T, scale = 1 / (sqrt(d) tau) (after the max, as
 * the wasm kernel applies it; tau > 0 keeps the arg-max unchanged).
 *
 *   mask 'official': S *= valid, so padded slots score 0 and take part in the max (FDT-SPEC quirk 1)
 *   mask 'exclude':  padded slots -> -Infinity
 *   arg[b, c] = the first l where S reaches its max (as torch.max): min over the slots that equal the max. Not
 *   tf.argMax: tfjs-backend-webgpu reduces 32 or more slots in a tree whose ties keep whichever half came first to
 *   the comparison, not the lower index (slots 34 and 66 tied over L = 77 gave 66).
 *
 * VJP (quirk 2, the gradient goes to the arg-max slot only, padded slots pass none):
 *   G[b, l, c] = gr[b, c] * scale * 1[l == arg[b, c]] * valid[b, l];   gq = G T;   gT = G^T q
 * S and G are materialised ([B, L, C]: tfjs has no fused max-GEMM), the price of going through tfjs ops.
 */
import type { Tensor, Tensor2D, Tensor3D } from '@tensorflow/tfjs-core';
import type { MaskMode } from '../../config.js';
import { customOp } from './custom.js';
import type { TfNamespace } from './load.js';

/** The relevance and, for the trace, the arg-max slot of every (b, c) with -1 where a padded slot won. */
export interface RelevanceTensors {
  /** [B, C]. */
  relevance: Tensor2D;
  /** [B, C] int32: arg-max slot, -1 when a padded slot won (official floor; an all-padded caption). Traced only. */
  argmax?: Tensor;
}

/**
 * q [B*L, d] queries, T [C, d] the dictionary and Tt its transpose [d, C] (the same values, a constant), valid
 * [B, L] float32 0/1 or null (images). Differentiable w.r.t. q and T. `valid` must outlive the gradient computation
 * (it is read by the VJP). `trace` adds the arg-max.
 */
export function relevance(
  tf: TfNamespace, q: Tensor2D, T: Tensor2D, Tt: Tensor2D, valid: Tensor2D | null, B: number, L: number, mode: MaskMode,
  scale: number, trace = false,
): RelevanceTensors {
  const C = T.shape[0];
  // Beside the gradient path: the scores and their arg-max are read by the custom op through its closure. Tt is T
  // transposed ([d, C]): matMul with transposeB took ~10x longer on tfjs-backend-wasm (see resident.ts).
  const scores = tf.reshape(tf.matMul(q, Tt), [B, L, C]) as Tensor3D;
  let masked: Tensor3D = scores;
  if (valid) {
    const valid3 = tf.expandDims(valid, 2); // [B, L, 1]
    // 'exclude': min(score, +Infinity) on real slots (the score, bit for bit, -0 included), min(score, -Infinity) =
    // -Infinity on padded ones, from a [B, L, 1] bound the minimum broadcasts. Padded scores are finite (every input
    // feature is checked finite, and LayerNorm bounds the queries). tf.where would need three [B, L, C] tensors
    // besides its output: tfjs-core 4.22 broadcasts each of its inputs with tf.broadcastTo first.
    masked = mode === 'official'
      ? tf.mul(scores, valid3)
      : tf.minimum(scores, tf.where(tf.greater(valid3, 0), tf.fill(valid3.shape, Infinity), tf.fill(valid3.shape, -Infinity)));
  }
  const top = tf.max(masked, 1, true); // [B, 1, C]
  // Slot numbers as float32 (exact below 2^24): tf.min over int32 returns zeros on tfjs-backend-webgpu 4.22.
  // tf.where takes the [1, L, 1] slot numbers and the scalar L as they are, and broadcasts them to [B, L, C] itself.
  const slotIds = tf.reshape(tf.range(0, L, 1, 'float32'), [1, L, 1]);
  const arg = tf.cast(tf.min(tf.where(tf.equal(masked, top), slotIds, tf.scalar(L)), 1), 'int32'); // [B, C]
  const op = customOp(tf, ([qi, Ti], save) => {
    save([qi!, Ti!, arg]);
    return {
      value: tf.mul(tf.reshape(top, [B, C]), scale),
      vjp: (gr, [qs, Ts, args]) => {
        const slots = tf.reshape(tf.range(0, L, 1, 'int32'), [1, L, 1]);
        let G = tf.mul(tf.cast(tf.equal(slots, tf.expandDims(args!, 1)), 'float32'), tf.expandDims(tf.mul(gr, scale), 1));
        // `valid` itself, not a view made in the forward: the forward's intermediates are gone by now.
        if (valid) G = tf.mul(G, tf.expandDims(valid, 2));
        const G2 = tf.reshape(G, [B * L, C]) as Tensor2D;
        return [tf.matMul(G2, Ts as Tensor2D), tf.matMul(G2, qs as Tensor2D, true, false)];
      },
    };
  });
  const r = op(q, T) as Tensor2D;
  if (!trace) return { relevance: r };
  if (!valid) return { relevance: r, argmax: arg };
  // valid[b, arg[b, c]] through a flat index (tf.gather with batchDims = 1 gives wrong rows on the tfjs wasm
  // backend 4.22.0, found by this engine's tests).
  const rowStart = tf.reshape(tf.range(0, B * L, L, 'int32'), [B, 1]);
  const realAtArg = tf.gather(tf.reshape(valid, [B * L]), tf.add(arg, rowStart));
  return { relevance: r, argmax: tf.where(tf.greater(realAtArg, 0), arg, tf.fill([B, C], -1, 'int32')) };
}
