import type { ResolvedBuild, WasmBuild } from '../bindings/kernels.js';
import { resolveConfig, type FdtConfig } from './config.js';
import { FdtShapeError, FdtValueError } from './errors.js';
import { checkSeed } from './rng.js';
import { getDispatcher, type Dispatcher } from './dispatch/dispatcher.js';
import { checkEngineChoice, checkEngineOptions } from './dispatch/options.js';
import { relevanceFlops, type Decision, type EngineChoice, type Work } from './dispatch/policy.js';
import type { TfNamespace } from './engines/tfjs/load.js';
import type { EncodeOutput, Engine, EngineGrads, HeadGrads, ModelState } from './engines/types.js';
import type { WasmEngine } from './engines/wasm/engine.js';
import { batchInput, imageInput, textInput } from './inputs.js';
import { checkParams, initParams, isDecayed, paramShapes, type FdtParams } from './params.js';
import { expectFinite, type TensorLike } from './tensor.js';
import { encodeModel, readModelBytes } from './io/model-file.js';
import { nodeFiles, readSource } from './io/sources.js';
import { batchBytes, itemBytes } from './engines/tfjs/footprint.js';

/** Where a model runs: the engine choice, the wasm build, and (optionally) the user's own tfjs namespace. */
export interface EngineOptions {
  /** 'auto' (default: the dispatcher decides per call), 'wasm' or 'tfjs' (forced; throws if unavailable). */
  engine?: EngineChoice;
  /**
   * Which wasm build runs the model: 'auto' (SIMD when supported), 'simd', 'scalar' (bit-identical to 'simd') or
   * 'relaxed' (SIMD with fused multiply-adds: faster, last bits differ; see the README).
   */
  build?: WasmBuild;
  /** Your own tfjs namespace (`import * as tf from '@tensorflow/tfjs'`): never a second copy of tfjs-core. */
  tf?: TfNamespace;
  /** tfjs backends to try, in order (default: tfjs-node-gpu, tfjs-node, webgpu, webgl, wasm, cpu). */
  backends?: string[];
  /**
   * Threads of the wasm engine (default: the available cores; where workers or SharedArrayBuffer are missing, one,
   * with a debug message). Given explicitly (an integer from 1 to 256), threads that cannot start are an error.
   */
  threads?: number;
}

/** Options of FDT.create: the head's dimensions and options (FdtConfig), a seed, and where it runs. */
export interface CreateOptions extends Partial<FdtConfig>, EngineOptions {
  /** Seed of the official initialisation (default 0). */
  seed?: number;
}

/** Per-call options: force an engine for this call only, or keep traces. */
export interface CallOptions {
  engine?: EngineChoice;
  trace?: boolean;
}

/** A sparse row: the active token indices (ascending) and their weights. */
export interface SparseRow {
  indices: Int32Array;
  values: Float32Array;
}

/** One modality's encoding with its shapes, plus the token weights as sparse rows. */
export interface Encoding extends EncodeOutput {
  /** B, the batch size; embeddings are [B, dim], weights and relevance [B, numTokens]. */
  batch: number;
  /** d, the embedding and dictionary-token dimension. */
  dim: number;
  /** C, the dictionary size. */
  numTokens: number;
  /** Row b's non-zero token weights. */
  tokens(b: number): SparseRow;
}

/** A batch of matched pairs: patches [B, N, imageDim], tokens [B, L, textDim], valid [B, L] of 0/1 (optional). */
export interface Batch {
  patches: TensorLike;
  tokens: TensorLike;
  valid?: TensorLike;
}

/** The loss of a batch: logits in both directions ([B, B], row-major), the symmetric InfoNCE loss, the scale used. */
export interface LossResult {
  loss: number;
  logitsPerImage: Float32Array;
  logitsPerText: Float32Array;
  logitScaleUsed: number;
  image: Encoding;
  text: Encoding;
}

/** LossResult plus the gradients of the loss w.r.t. every parameter (official names) and both inputs. */
export interface GradientResult extends LossResult {
  grads: HeadGrads;
}

/** LossResult plus the gradients of the loss w.r.t. every parameter only (`gradients(batch, { inputs: false })`). */
export interface ParamGradientResult extends LossResult {
  grads: { params: Record<string, Float32Array> };
}

/** Options of gradients(): CallOptions, and whether to compute the input gradients too (default true). */
export interface GradientOptions extends CallOptions {
  /**
   * false: only the parameter gradients. Saves the input-gradient pass of the first LayerNorm and the copies of
   * [B, N, imageDim] + [B, L, textDim] floats; the Trainer uses it, since it trains the head alone.
   */
  inputs?: boolean;
}

/**
 * An FDT head (Chen et al., CVPR 2023): image patches and caption tokens grounded on one learnable dictionary T of
 * C tokens.
 *
 *   q = Lin2(LN2(GELU(Lin1(LN1(x)))))                       per patch / token, one MLP per modality
 *   r[b, c] = max over l of (q[b, l] . T[c]) / (sqrt(d) tau)  (padded caption slots score 0: 'official' mask mode)
 *   w = sparsemax(r)  (or softmax)    e = w T    e_hat = e / (||e|| + 1e-10)
 *   logits = min(exp(logit_scale), 100) E_img E_txt^T;  loss = symmetric InfoNCE
 *
 * @example
 * const fdt = await FDT.create({ numTokens: 1024, dim: 64, imageDim: 576, textDim: 100, temperature: 1, seed: 1 });
 * const img = await fdt.encodeImage({ data: patches, shape: [B, 49, 576] });
 * img.embeddings;   // Float32Array [B * 64], L2-normalised
 * img.tokens(0);    // { indices, values }: the dictionary tokens image 0 activates
 */
export class FDT implements ModelState {
  readonly config: FdtConfig;
  /**
   * The parameters by official name, for reading. Write through `setParam`: the engines keep resident copies that
   * only `setParam` marks stale, so a value written into these arrays in place is seen by `save` but not by the
   * engines' next call.
   */
  readonly params: FdtParams;
  private readonly _versions: Record<string, number> = {};
  private static nextVersion = 1;

  private choice: EngineChoice;
  private decision: Decision | null = null;
  private lastLabel = '';
  private readonly used = new Set<Engine>();

  private constructor(
    config: FdtConfig,
    params: FdtParams,
    private readonly engine: WasmEngine,
    private readonly dispatcher: Dispatcher,
    choice: EngineChoice,
  ) {
    this.config = config;
    this.params = params;
    this.choice = choice;
    for (const name of Object.keys(params)) this._versions[name] = FDT.nextVersion++;
  }

  private static async make(config: FdtConfig, params: FdtParams, o: EngineOptions): Promise<FDT> {
    checkEngineOptions(o);
    const choice = o.engine ?? 'auto';
    const dispatcher = getDispatcher({ build: o.build, tf: o.tf, backends: o.backends, threads: o.threads });
    const model = new FDT(config, params, await dispatcher.wasm(), dispatcher, choice);
    if (choice === 'tfjs') await dispatcher.tfjs(); // a forced engine that cannot run fails here, with the reason
    return model;
  }

  /**
   * Sets where this model runs from now on: 'wasm', 'tfjs' (both forced) or 'auto' (the dispatcher decides per
   * call from the work size, the capabilities found and the calibrated thresholds). Throws FdtEngineError, with how
   * to install a backend, when 'tfjs' cannot run here.
   */
  async to(engine: EngineChoice): Promise<this> {
    checkEngineChoice('engine', engine);
    if (engine === 'tfjs') await this.dispatcher.tfjs();
    this.choice = engine;
    return this;
  }

  /** The engine choice in force ('auto', 'wasm' or 'tfjs'). */
  get engineChoice(): EngineChoice {
    return this.choice;
  }

  /** What ran the last call: 'wasm simd', 'wasm scalar', 'tfjs <backend>' ('' before the first call). */
  get lastEngine(): string {
    return this.lastLabel;
  }

  /** The engine the last call ran on, and why (null before the first call). */
  get lastDecision(): Decision | null {
    return this.decision;
  }

  private async pick(work: Work, override?: EngineChoice): Promise<Engine> {
    const choice = override === undefined ? this.choice : checkEngineChoice('options.engine', override);
    const { engine, decision } = await this.dispatcher.engineFor(work, choice);
    this.decision = decision;
    this.lastLabel = engine.label;
    this.used.add(engine);
    return engine;
  }

  /** A new head with the official initialisation (seeded, reproducible). */
  static async create(options: CreateOptions = {}): Promise<FDT> {
    const { seed = 0, build, engine, tf, backends, threads, ...rest } = options;
    checkSeed('seed', seed);
    const config = resolveConfig(rest);
    return FDT.make(config, initParams(config, seed), { build, engine, tf, backends, threads });
  }

  /** A head from given parameters (official state-dict names, `module.` stripped); every value is checked. */
  static async fromParams(
    config: Partial<FdtConfig>, params: Record<string, ArrayLike<number>>, options: EngineOptions = {},
  ): Promise<FDT> {
    const c = resolveConfig(config);
    return FDT.make(c, checkParams(c, params), options);
  }

  /**
   * Loads a head from an fdtkit model file (safetensors with the config in its metadata) or from an official
   * `.pth.tar` checkpoint, given as bytes or (Node) a path. For official checkpoints the temperature, normaliser and
   * mask mode are not in the file: pass them (defaults: temperature 1, sparsemax, official mask).
   */
  static async load(
    source: string | Uint8Array | ArrayBuffer,
    options: Partial<Pick<FdtConfig, 'temperature' | 'normalizer' | 'maskMode'>> & EngineOptions = {},
  ): Promise<FDT> {
    const { build, engine, tf, backends, threads, ...overrides } = options;
    const bytes = await readSource('FDT.load', source);
    const data = readModelBytes(bytes, overrides);
    return FDT.make(data.config, data.params, { build, engine, tf, backends, threads });
  }

  /** The model as fdtkit model-file bytes (safetensors + config metadata). */
  toBytes(metadata: Record<string, string> = {}): Uint8Array {
    return encodeModel(this.config, this.params, metadata);
  }

  /** (Node) Saves the model file atomically: a crash leaves the old file or the new one, never a mix. */
  async save(path: string, metadata: Record<string, string> = {}): Promise<void> {
    await (await nodeFiles()).writeModelFile(path, this.toBytes(metadata));
  }

  /**
   * Per parameter, a number that changes on every write through `setParam` (or a training step). Engines key their
   * resident copies on it: a copy whose version differs is uploaded again.
   */
  get versions(): Readonly<Record<string, number>> {
    return this._versions;
  }

  /** @internal Records a write to `name`. */
  bumpVersion(name: string): number {
    return (this._versions[name] = FDT.nextVersion++);
  }

  /** Threads of the wasm engine running this model. */
  get threads(): number {
    return this.engine.threads;
  }

  /** The build of the wasm engine running this model. */
  get build(): ResolvedBuild {
    return this.engine.build;
  }

  /** @internal The engine running this model. */
  get wasm(): WasmEngine {
    return this.engine;
  }

  /** AdamW decays the Linear weights and the dictionary T; biases, LayerNorms and the logit scale are not. */
  decays(name: string): boolean {
    return isDecayed(name);
  }

  /** Names and shapes of every parameter, in state-dict order. */
  paramShapes(): [string, number[]][] {
    return paramShapes(this.config);
  }

  /** A copy of one parameter by official name. */
  getParam(name: string): Float32Array {
    return this.param(name).slice();
  }

  /** Replaces one parameter (same size, finite values). */
  setParam(name: string, value: ArrayLike<number>): void {
    const p = this.param(name);
    if (value.length !== p.length) {
      const shape = paramShapes(this.config).find(([n]) => n === name)![1];
      throw new FdtShapeError(`setParam(${name}): expected [${shape}] (${p.length} values), found ${value.length} values`);
    }
    expectFinite(`setParam(${name})`, value);
    p.set(value);
    this.bumpVersion(name);
  }

  /** Copies of every parameter by official name. */
  stateDict(): FdtParams {
    return Object.fromEntries(Object.entries(this.params).map(([k, v]) => [k, v.slice()]));
  }

  /**
   * Encodes image patch features [B, N, imageDim]. With `trace`, the result also holds the query MLP's outputs and,
   * per (b, token), the patch that gave the relevance max (`argmax`): which patch activated each token.
   */
  async encodeImage(patches: TensorLike, options: CallOptions = {}): Promise<Encoding> {
    const x = imageInput(this.config, patches);
    const c = this.config;
    const engine = await this.pick({ op: 'encode', flops: relevanceFlops(x.B, x.N, c.dim, c.numTokens), rows: x.N, bytes: itemBytes(c.numTokens, c.dim, x.N, c.imageDim) }, options.engine);
    return this.encoding(await engine.encode(this, 'image', x.data, x.B, x.N, null, options.trace), x.B);
  }

  /**
   * Encodes caption token features [B, L, textDim] with their mask valid [B, L] (1 = real token; default all 1).
   * With `trace`, `argmax` gives the caption slot that activated each token (-1: the padding floor, official mode).
   */
  async encodeText(tokens: TensorLike, valid?: TensorLike, options: CallOptions = {}): Promise<Encoding> {
    const x = textInput(this.config, tokens, valid);
    const c = this.config;
    const engine = await this.pick({ op: 'encode', flops: relevanceFlops(x.B, x.L, c.dim, c.numTokens), rows: x.L, bytes: itemBytes(c.numTokens, c.dim, x.L, c.textDim) }, options.engine);
    return this.encoding(await engine.encode(this, 'text', x.data, x.B, x.L, x.valid, options.trace), x.B);
  }

  /** Logits s * E_img E_txt^T [B_img, B_txt] between two sets of normalised embeddings, s = min(exp(logit_scale), 100). */
  logits(imageEmbeddings: Float32Array, textEmbeddings: Float32Array): Float32Array {
    const d = this.config.dim;
    if (imageEmbeddings.length % d || textEmbeddings.length % d) {
      throw new FdtShapeError(`logits: embeddings must be [B, ${d}], found ${imageEmbeddings.length} and ${textEmbeddings.length} values`);
    }
    const bi = imageEmbeddings.length / d;
    const bt = textEmbeddings.length / d;
    const s = Math.min(Math.exp(this.params['logit_scale']![0]!), 100);
    const out = new Float32Array(bi * bt);
    for (let i = 0; i < bi; i++) {
      for (let j = 0; j < bt; j++) {
        let acc = 0;
        for (let k = 0; k < d; k++) acc += imageEmbeddings[i * d + k]! * textEmbeddings[j * d + k]!;
        out[i * bt + j] = s * acc;
      }
    }
    return out;
  }

  /** The symmetric InfoNCE loss of a batch of matched pairs, with both encodings and the logits. */
  async loss(batch: Batch, options: CallOptions = {}): Promise<LossResult> {
    return this.run(batch, false, options.trace ?? false, options.engine) as Promise<LossResult>;
  }

  /**
   * loss() plus the gradients w.r.t. every parameter and both inputs (to train upstream encoders), or the
   * parameters' alone with `{ inputs: false }`. Without inputs the wasm engine also skips each query MLP's
   * first-Linear input-gradient GEMM (2 M Din d FLOP per modality): the first LayerNorm's parameter gradients are
   * summed through the weight gradient's GEMM instead, so they and the first Linear's weight gradient equal the
   * `{ inputs: true }` ones up to float32 rounding, not bit for bit.
   */
  async gradients(batch: Batch, options?: GradientOptions & { inputs?: true }): Promise<GradientResult>;
  async gradients(batch: Batch, options: GradientOptions & { inputs: false }): Promise<ParamGradientResult>;
  async gradients(batch: Batch, options?: GradientOptions): Promise<GradientResult | ParamGradientResult>;
  async gradients(batch: Batch, options: GradientOptions = {}): Promise<GradientResult | ParamGradientResult> {
    return this.run(batch, true, options.trace ?? false, options.engine, options.inputs ?? true) as Promise<GradientResult>;
  }

  /**
   * @internal What the Trainer runs: the parameter gradients only; on the wasm engine they stay in wasm memory
   * (`grads.kept`) for its AdamW step instead of being copied out.
   */
  async trainingGradients(batch: Batch): Promise<LossResult & { grads: EngineGrads }> {
    return this.run(batch, true, false, undefined, false, true) as Promise<LossResult & { grads: EngineGrads }>;
  }

  /** @internal Forward and backward with the query outputs and arg-max indices kept (for verification). */
  async trace(batch: Batch, options: CallOptions = {}): Promise<GradientResult> {
    return this.run(batch, true, true, options.engine) as Promise<GradientResult>;
  }

  /**
   * The head as a tfjs function, to train tfjs encoders end to end: `loss(patches, tokens, valid)` takes tensors
   * (your encoders' outputs: [B, N, imageDim], [B, L, textDim], [B, L]) and returns the InfoNCE loss as a scalar
   * tensor whose gradients flow back into them. Call it inside tf.variableGrads or tf.tidy. The head's own
   * parameters are constants there (train them with a Trainer, or use `gradients()`, which also returns the input
   * gradients, on the wasm engine). Shapes are checked (FdtShapeError); the values are not read, so that a GPU
   * backend never waits on them: `valid` must hold 0 or 1, and in 'exclude' mask mode every caption needs at least
   * one real slot (else its relevance row is all -Infinity and the loss NaN).
   *
   * @example
   * const layer = await fdt.asTfjsLayer();
   * const { value, grads } = tf.variableGrads(() => layer.loss(imageEncoder.apply(images), textEncoder.apply(words), mask));
   */
  async asTfjsLayer(): Promise<{ tf: TfNamespace; loss(patches: unknown, tokens: unknown, valid: unknown): unknown }> {
    const engine = await this.dispatcher.tfjs();
    this.used.add(engine);
    return {
      tf: engine.tf,
      loss: (patches, tokens, valid) => engine.lossTensor(this, patches as never, tokens as never, valid as never),
    };
  }

  /** Frees this model's memory in the engine. The model stays usable (it is re-uploaded on the next call). */
  dispose(): void {
    this.engine.release(this);
    for (const e of this.used) e.release(this);
    this.used.clear();
  }

  private async run(batch: Batch, grads: boolean, trace: boolean, override?: EngineChoice, inputGrads = true, keepGrads = false): Promise<LossResult | GradientResult> {
    const b = batchInput(this.config, batch);
    const c = this.config;
    const flops = relevanceFlops(b.B, b.N + b.L, c.dim, c.numTokens);
    const bytes = batchBytes(c, b.B, b.N, b.L);
    const engine = await this.pick({ op: grads ? 'train' : 'loss', flops, rows: (b.N + b.L) / 2, bytes }, override);
    const out = await engine.forwardBackward(this, b, { grads, inputGrads, trace, keepGrads });
    const logitsPerText = new Float32Array(b.B * b.B);
    for (let i = 0; i < b.B; i++) for (let j = 0; j < b.B; j++) logitsPerText[j * b.B + i] = out.logitsPerImage[i * b.B + j]!;
    const result: LossResult = {
      loss: out.loss,
      logitsPerImage: out.logitsPerImage,
      logitsPerText,
      logitScaleUsed: out.logitScaleUsed,
      image: this.encoding(out.image, b.B),
      text: this.encoding(out.text, b.B),
    };
    return grads ? { ...result, grads: out.grads as HeadGrads } : result;
  }

  private encoding(e: EncodeOutput, B: number): Encoding {
    const C = this.config.numTokens;
    return {
      ...e,
      batch: B,
      dim: this.config.dim,
      numTokens: C,
      tokens(b: number): SparseRow {
        if (!Number.isInteger(b) || b < 0 || b >= B) throw new FdtValueError(`tokens(b): expected 0 <= b < ${B}, found ${b}`);
        const row = e.weights.subarray(b * C, (b + 1) * C);
        const idx: number[] = [];
        for (let c = 0; c < C; c++) if (row[c] !== 0) idx.push(c);
        return { indices: Int32Array.from(idx), values: Float32Array.from(idx, (c) => row[c]!) };
      },
    };
  }

  private param(name: string): Float32Array {
    const p = this.params[name];
    if (!p) throw new FdtValueError(`unknown parameter ${JSON.stringify(name)}; known: ${Object.keys(this.params).join(', ')}`);
    return p;
  }
}
