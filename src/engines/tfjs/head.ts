/**
 * The FDT head in TensorFlow.js ops (FDT-SPEC "Forward"), one modality at a time, plus the loss of a batch:
 *
 *   q = Lin2(LN2(GELU(Lin1(LN1(x)))))                 x [B, L, Din] -> q [B*L, d]        mlp.ts
 *   r = max over l of (q[b, l] . T[c]) / (sqrt(d) tau) [B, C], masked per mode         relevance.ts
 *   w = sparsemax(r) or softmax(r)                     [B, C]                             normalizers.ts
 *   e = w T,  e_hat = e / (||e|| + 1e-10)              [B, d]                             embed.ts
 *   loss = symmetric InfoNCE of e_hat_img, e_hat_txt                                      infonce.ts
 *
 * Memory: the relevance materialises B * L * C scores (B = 128, L = 77, C = 16384: 646 MB in float32), the price
 * of going through tfjs ops. Must run inside the caller's tf.tidy; every tensor returned belongs to that scope.
 */
import type { Tensor, Tensor2D, Tensor3D } from '@tensorflow/tfjs-core';
import type { FdtConfig } from '../../config.js';
import { MODALITIES, type Modality } from '../../params.js';
import { l2Normalize, weightedSum } from './embed.js';
import { infoNce, logits as logitsOf } from './infonce.js';
import type { TfNamespace } from './load.js';
import { queryMlp, type QueryMlpTensors } from './mlp.js';
import { activeCounts, softmax, sparsemax } from './normalizers.js';
import { relevance as relevanceOp } from './relevance.js';
import { TRANSPOSED } from './resident.js';

/**
 * Parameter tensors by official name, plus optionally transposed copies under the name + '^T' (constants of the
 * current values: 'space_dict^T' [d, C], computed here when absent; the Linear weights as [in, out]).
 */
export type ParamTensors = Record<string, Tensor>;

/** One modality's forward tensors (shapes as in EncodeOutput). */
export interface ModalityTensors {
  /** Query MLP output [B, L, d]. */
  queries: Tensor;
  relevance: Tensor2D;
  weights: Tensor2D;
  /** [B] int32. */
  activeCounts: Tensor;
  embeddingsRaw: Tensor2D;
  embeddings: Tensor2D;
  /** [B, C] int32: the arg-max slot, -1 when a padded slot won (only when traced). */
  argmax?: Tensor;
  /**
   * Scalar bool: the real slots' queries and the relevance are finite. A float32 overflow would otherwise vanish
   * (the max skips a NaN score, sparsemax zeroes a row holding +Inf), so the engine refuses it, as the wasm engine does.
   * Absent when the caller asked for no check (the tfjs layer's loss, whose values are never read here).
   */
  finite?: Tensor;
}

/** The scale applied to the max of the raw scores: 1 / (sqrt(d) tau). */
export function relevanceScale(c: FdtConfig): number {
  return 1 / (Math.sqrt(c.dim) * c.temperature);
}

/** The query MLP tensors of a modality, from parameter tensors by official name. */
export function mlpTensors(P: ParamTensors, modality: Modality): QueryMlpTensors {
  const p = MODALITIES[modality];
  const get = (n: string): Tensor => {
    const t = P[`${p}.${n}`];
    if (!t) throw new Error(`tfjs head: missing parameter ${p}.${n}`);
    return t;
  };
  return {
    ln1w: get('0.weight'), ln1b: get('0.bias'),
    w1: get('1.weight') as Tensor2D, b1: get('1.bias'),
    ln2w: get('3.weight'), ln2b: get('3.bias'),
    w2: get('4.weight') as Tensor2D, b2: get('4.bias'),
    w1t: P[`${p}.1.weight${TRANSPOSED}`] as Tensor2D | undefined,
    w2t: P[`${p}.4.weight${TRANSPOSED}`] as Tensor2D | undefined,
  };
}

/**
 * One modality's forward. x [B, L, Din]; valid [B, L] float32 0/1 or null (images: every slot real).
 * Differentiable w.r.t. x and every parameter tensor in P. `finiteCheck`: also compute ModalityTensors.finite.
 */
export function forwardModality(
  tf: TfNamespace, P: ParamTensors, c: FdtConfig, modality: Modality, x: Tensor3D, valid: Tensor2D | null, trace: boolean,
  finiteCheck = true,
): ModalityTensors {
  const [B, L] = x.shape;
  const d = c.dim;
  const C = c.numTokens;
  const T = P['space_dict'] as Tensor2D;
  const Tt = (P[`space_dict${TRANSPOSED}`] as Tensor2D | undefined) ?? (tf.transpose(T) as Tensor2D);
  const q = queryMlp(tf, mlpTensors(P, modality), x);
  const { relevance, argmax } = relevanceOp(tf, q, T, Tt, valid, B, L, c.maskMode, relevanceScale(c), trace);
  let weights: Tensor2D;
  let counts: Tensor;
  if (c.normalizer === 'sparsemax') {
    weights = sparsemax(tf, relevance);
    counts = activeCounts(tf, weights);
  } else {
    weights = softmax(tf, relevance);
    counts = tf.fill([B], C, 'int32');
  }
  const embeddingsRaw = weightedSum(tf, weights, T, Tt);
  const out: ModalityTensors = {
    queries: tf.reshape(q, [B, L, d]),
    relevance,
    weights,
    activeCounts: counts,
    embeddingsRaw,
    embeddings: l2Normalize(tf, embeddingsRaw),
  };
  if (trace) out.argmax = argmax;
  if (finiteCheck) {
    // Padded slots' queries are computed (official mode multiplies their scores by 0) but never used: not checked.
    let rowsFinite = tf.all(tf.isFinite(q), 1); // [B * L]
    if (valid) rowsFinite = tf.logicalOr(rowsFinite, tf.equal(tf.reshape(valid, [B * L]), 0));
    out.finite = tf.logicalAnd(tf.all(rowsFinite), tf.all(tf.isFinite(relevance)));
  }
  return out;
}

/** Both modalities and the symmetric InfoNCE loss of a batch of matched pairs. */
export interface HeadTensors {
  image: ModalityTensors;
  text: ModalityTensors;
  /** logits_per_image [B, B]. */
  logits: Tensor2D;
  /** The loss, a scalar. */
  loss: Tensor;
}

/** The whole head: image and text forward, then InfoNCE with the logit scale P['logit_scale'] [1]. */
export function headForward(
  tf: TfNamespace, P: ParamTensors, c: FdtConfig, patches: Tensor3D, tokens: Tensor3D, valid: Tensor2D, trace: boolean,
  finiteCheck = true,
): HeadTensors {
  const image = forwardModality(tf, P, c, 'image', patches, null, trace, finiteCheck);
  const text = forwardModality(tf, P, c, 'text', tokens, valid, trace, finiteCheck);
  const scale = P['logit_scale']!;
  const loss = infoNce(tf, image.embeddings, text.embeddings, scale);
  return { image, text, logits: logitsOf(tf, image.embeddings, text.embeddings, scale), loss };
}
