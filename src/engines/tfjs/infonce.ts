/**
 * Symmetric InfoNCE over B matched pairs of L2-normalised embeddings ei, et [B, d] (explicit VJP, see custom.ts):
 *   s = min(exp(logit_scale), 100);  L = s ei et^T (logits_per_image; logits_per_text = L^T)
 *   loss = (CE(L, arange B) + CE(L^T, arange B)) / 2, each a mean over the batch
 *   G = dloss/dL = (softmax_rows(L) - I + softmax_cols(L) - I) / (2B)
 *   gei = s G et;  get = s G^T ei;  glogit_scale = sum(G * L) / s * exp(logit_scale) = sum(G * ei et^T) exp(ls)
 * The clamp is invisible to autograd in the official code: the gradient uses the UNCLAMPED exp (FDT-SPEC quirk 4).
 */
import type { Tensor, Tensor2D } from '@tensorflow/tfjs-core';
import { customOp } from './custom.js';
import type { TfNamespace } from './load.js';

/** The clamp of the logit scale (CLIP's 100). */
export const MAX_LOGIT_SCALE = 100;

/** s = min(exp(logit_scale), 100) as a tensor of the parameter's shape [1] (no gradient). */
export function logitScaleUsed(tf: TfNamespace, logitScale: Tensor): Tensor {
  return tf.minimum(tf.exp(logitScale), MAX_LOGIT_SCALE);
}

/** logits_per_image = s ei et^T [B, B] (beside the gradient path). */
export function logits(tf: TfNamespace, ei: Tensor2D, et: Tensor2D, logitScale: Tensor): Tensor2D {
  return tf.mul(tf.matMul(ei, et, false, true), logitScaleUsed(tf, logitScale)) as Tensor2D;
}

/** The symmetric InfoNCE loss (a scalar), differentiable w.r.t. ei, et and the logit-scale parameter [1]. */
export function infoNce(tf: TfNamespace, ei: Tensor2D, et: Tensor2D, logitScale: Tensor): Tensor {
  const B = ei.shape[0];
  const op = customOp(tf, ([ii, ti, li], save) => {
    save([ii!, ti!, li!]);
    const L = logits(tf, ii as Tensor2D, ti as Tensor2D, li!);
    const eye = tf.eye(B);
    const ce = (m: Tensor): Tensor => tf.neg(tf.sum(tf.mul(tf.logSoftmax(m, -1), eye)));
    return {
      value: tf.div(tf.add(ce(L), ce(tf.transpose(L))), 2 * B),
      vjp: (dy, [is, ts, ls]) => {
        const raw = tf.matMul(is as Tensor2D, ts as Tensor2D, false, true); // ei et^T
        const s = logitScaleUsed(tf, ls!);
        const Lb = tf.mul(raw, s);
        const I = tf.eye(B);
        const rows = tf.softmax(Lb, -1);
        const cols = tf.transpose(tf.softmax(tf.transpose(Lb), -1));
        const G = tf.mul(tf.sub(tf.add(rows, cols), tf.mul(I, 2)), tf.div(dy, 2 * B)) as Tensor2D;
        const sG = tf.mul(G, s) as Tensor2D;
        return [
          tf.matMul(sG, ts as Tensor2D),
          tf.matMul(sG, is as Tensor2D, true, false),
          tf.reshape(tf.mul(tf.sum(tf.mul(G, raw)), tf.exp(ls!)), ls!.shape),
        ];
      },
    };
  });
  return op(ei, et, logitScale);
}
