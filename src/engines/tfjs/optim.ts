/**
 * AdamW (Loshchilov & Hutter) in tfjs ops, in PyTorch's order of operations (torch.optim.AdamW, single tensor):
 *   p *= 1 - lr wd;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
 *   p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps),   bc1 = 1 - b1^t,  bc2 = 1 - b2^t
 */
import type { Tensor } from '@tensorflow/tfjs-core';
import type { TfNamespace } from './load.js';

/** Hyper-parameters of one parameter's step. */
export interface AdamWStep {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** This parameter's weight decay (0 when it is not decayed). */
  weightDecay: number;
  /** The step, counting from 1. */
  step: number;
}

/** One AdamW step: the new p, m, v (the inputs are left as they are). */
export function adamw(tf: TfNamespace, p: Tensor, g: Tensor, m: Tensor, v: Tensor, h: AdamWStep): { p: Tensor; m: Tensor; v: Tensor } {
  const bc1 = 1 - Math.pow(h.beta1, h.step);
  const bc2Sqrt = Math.sqrt(1 - Math.pow(h.beta2, h.step));
  const decayed = tf.mul(p, 1 - h.lr * h.weightDecay);
  const m2 = tf.add(tf.mul(m, h.beta1), tf.mul(g, 1 - h.beta1));
  const v2 = tf.add(tf.mul(v, h.beta2), tf.mul(tf.square(g), 1 - h.beta2));
  const denom = tf.add(tf.div(tf.sqrt(v2), bc2Sqrt), h.eps);
  const p2 = tf.sub(decayed, tf.mul(tf.div(m2, denom), h.lr / bc1));
  return { p: p2, m: m2, v: v2 };
}
