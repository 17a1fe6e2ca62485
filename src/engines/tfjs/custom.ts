/**
 * Every op of the head on the path from a parameter (or input) to the loss is a tf.customGrad with its own,
 * explicit VJP. Two reasons:
 *   1. `@tensorflow/tfjs-core` alone registers no gradients (they ship with `@tensorflow/tfjs` or an explicit
 *      import of `@tensorflow/tfjs-core/dist/register_all_gradients`, an ES module Node cannot load as published).
 *      With custom gradients, tf.grads / tf.valueAndGrads work on a bare tfjs-core plus any backend package.
 *   2. The official gradients differ from tfjs' own in places: the max-pool goes to the first arg-max only
 *      (FDT-SPEC quirk 2), sparsemax has none in tfjs (quirk 3), the logit-scale clamp is invisible (quirk 4).
 * Ops computed beside the path (logits for the output, arg-max for the trace, the [B, L] mask) need no gradient:
 * tfjs only back-propagates through nodes that lead from the inputs to the loss.
 */
import type { Tensor } from '@tensorflow/tfjs-core';
import type { TfNamespace } from './load.js';

/** Keeps tensors for the backward (tfjs clones them; a no-op when no gradient is being recorded). */
export type Save = (tensors: Tensor[]) => void;

/** The forward of a custom op: its value, and the VJP (one gradient per input, each shaped like its input). */
export type CustomForward = (inputs: Tensor[], save: Save) => {
  value: Tensor;
  vjp: (dy: Tensor, saved: Tensor[]) => Tensor[];
};

/**
 * A differentiable op from a forward and its VJP. The VJP must only use `saved`, its `dy`, numbers and tensors that
 * outlive the whole gradient computation (the forward's intermediate tensors are disposed before the backward).
 */
export function customOp(tf: TfNamespace, forward: CustomForward): (...inputs: Tensor[]) => Tensor {
  const fn = (...args: unknown[]) => {
    const save = args[args.length - 1] as Save;
    const { value, vjp } = forward(args.slice(0, -1) as Tensor[], save);
    return { value, gradFunc: (dy: Tensor, saved: Tensor[]) => vjp(dy, saved) };
  };
  const op = tf.customGrad(fn as unknown as Parameters<TfNamespace['customGrad']>[0]);
  return (...inputs: Tensor[]) => op(...inputs);
}
