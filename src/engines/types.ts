import type { FdtConfig } from '../config.js';
import type { FdtParams } from '../params.js';

/** The model state an engine reads: config, parameters and their versions (bumped on every write). */
export interface ModelState {
  readonly config: FdtConfig;
  readonly params: FdtParams;
  readonly versions: Readonly<Record<string, number>>;
  /** Records that `name` changed; returns its new version. */
  bumpVersion(name: string): number;
}

/** One modality's encoding. Shapes: embeddings [B, d]; weights, relevance [B, C]; activeCounts [B]. */
export interface EncodeOutput {
  /** L2-normalised embeddings e / (||e|| + 1e-10). */
  embeddings: Float32Array;
  /** Embeddings before normalisation: e = w T. */
  embeddingsRaw: Float32Array;
  /** Token weights w (sparse under sparsemax: most entries are exactly 0). */
  weights: Float32Array;
  /** Relevance r = max over patches/tokens of the scaled scores, the normaliser's input. */
  relevance: Float32Array;
  /** Number of non-zero weights per row. */
  activeCounts: Int32Array;
  /** The query MLP's output [B, L, d] (only when traced). */
  queries?: Float32Array;
  /** The patch/token index that gave each relevance max, -1 when the padding floor won (only when traced). */
  argmax?: Int32Array;
}

/** A batch of matched pairs, already validated. patches [B, N, Di]; tokens [B, L, Dt]; valid [B, L]. */
export interface HeadBatch {
  B: number;
  N: number;
  L: number;
  patches: Float32Array;
  tokens: Float32Array;
  valid: Int32Array;
}

/** Gradients of the loss: every parameter by official name (logit_scale included), and both inputs. */
export interface HeadGrads {
  params: Record<string, Float32Array>;
  patches: Float32Array;
  tokens: Float32Array;
}

/** The result of a head forward (and backward): logits_per_image [B, B], the loss, the scale used. */
export interface HeadOutput {
  image: EncodeOutput;
  text: EncodeOutput;
  logitsPerImage: Float32Array;
  loss: number;
  logitScaleUsed: number;
  grads?: HeadGrads;
}

/** AdamW hyper-parameters. */
export interface AdamWHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}
