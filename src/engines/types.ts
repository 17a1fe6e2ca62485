import type { FdtConfig } from '../config.js';
import type { FdtParams } from '../params.js';

/** Parameters an engine can hold and update: values by name and a version per name, bumped on every write. */
export interface ParamState {
  readonly params: FdtParams;
  readonly versions: Readonly<Record<string, number>>;
  /** Records that `name` changed; returns its new version. */
  bumpVersion(name: string): number;
}

/** The FDT model state an engine reads: its config plus its parameters. */
export interface ModelState extends ParamState {
  readonly config: FdtConfig;
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

/**
 * Parameter gradients an engine kept in its own memory for the next AdamW step (ForwardBackwardOptions.keepGrads)
 * instead of copying them out: valid until the next call that keeps gradients for the same model.
 */
export interface KeptGrads {
  /** The parameters they cover (every parameter but logit_scale_sd). */
  readonly names: readonly string[];
  /** Which call kept them; an AdamW step with an older token is refused. */
  readonly token: number;
}

/**
 * What an engine returns: the input gradients only when they were asked for; with keepGrads on an engine that keeps
 * them, `kept` and an empty `params`.
 */
export type EngineGrads = Omit<HeadGrads, 'patches' | 'tokens'> & Partial<Pick<HeadGrads, 'patches' | 'tokens'>> & { kept?: KeptGrads };

/** What forwardBackward computes: the loss alone, or (grads) the gradients too, of the inputs unless inputGrads is false. */
export interface ForwardBackwardOptions {
  grads: boolean;
  /** With grads: also the gradients of both inputs (default true). */
  inputGrads?: boolean;
  /**
   * With grads: an engine that can keep the parameter gradients in its memory for its own adamwStep does so (the
   * wasm engine; saves copying 38 MB out and back per paper-scale step); others ignore it.
   */
  keepGrads?: boolean;
  trace?: boolean;
}

/** The result of a head forward (and backward): logits_per_image [B, B], the loss, the scale used. */
export interface HeadOutput {
  image: EncodeOutput;
  text: EncodeOutput;
  logitsPerImage: Float32Array;
  loss: number;
  logitScaleUsed: number;
  grads?: EngineGrads;
}

/** AdamW hyper-parameters. */
export interface AdamWHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

/** A value or a promise of it: the wasm engine answers synchronously, the tfjs engine asynchronously. */
export type MaybePromise<T> = T | Promise<T>;

/**
 * What every engine implements: the FDT head's forward and backward on a model's parameters, and the AdamW update.
 * Engines read parameters from `model.params` and must treat a changed `model.versions[name]` as new data.
 */
export interface Engine {
  readonly name: 'wasm' | 'tfjs';
  /** What runs: 'wasm simd', 'wasm scalar', 'tfjs webgpu', ... */
  readonly label: string;
  /** One modality's encoding: x [B, L, D] (L = patches or token slots), valid [B, L] or null (images). */
  encode(model: ModelState, modality: 'image' | 'text', x: Float32Array, B: number, L: number, valid: Int32Array | null, trace?: boolean): MaybePromise<EncodeOutput>;
  /** Both modalities, InfoNCE and (opts.grads) the gradients of every parameter and both inputs. */
  forwardBackward(model: ModelState, batch: HeadBatch, opts: ForwardBackwardOptions): MaybePromise<HeadOutput>;
  /** One AdamW step (step counts from 1) over the named gradients, updating model.params in place and bumping versions. */
  adamwStep(model: ParamState, grads: Record<string, Float32Array>, step: number, h: AdamWHyper, decayed: (name: string) => boolean): MaybePromise<void>;
  /** Frees whatever the engine holds for a model. */
  release(model: ParamState): void;
}
