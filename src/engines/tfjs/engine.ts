import { CallQueue } from '../call-queue.js';
import { PerNamespace } from '../per-namespace.js';
import type { Tensor, Tensor2D, Tensor3D, TensorContainer } from '@tensorflow/tfjs-core';
import { FdtEngineError, FdtShapeError, FdtValueError } from '../../errors.js';
import { MODALITIES, type Modality } from '../../params.js';
import { clearUpperVectorState } from '../../../bindings/vector-state.js';
import type { AdamWHyper, EncodeOutput, Engine, ForwardBackwardOptions, HeadBatch, HeadOutput, ModelState } from '../types.js';
import { forwardModality, headForward, type HeadTensors, type ModalityTensors, type ParamTensors } from './head.js';
import { loadTf, type LoadedTf, type LoadTfOptions, type TfLoader, type TfNamespace } from './load.js';
import { MAX_LOGIT_SCALE } from './infonce.js';
import { adamw } from './optim.js';
import { TfResidentParams, TRANSPOSED } from './resident.js';
import { bufferLimit, probeDevice, type TfDevice } from './device.js';
import { batchBytes, itemBytes } from './footprint.js';
import { hostTensor } from './upload.js';

/** Options of TfjsEngine.create: loadTf's options, and (for tests) the loader to use. */
export interface TfjsEngineOptions extends LoadTfOptions {
  loader?: TfLoader;
  /**
   * The largest buffer, in bytes, a call's widest batch-sized tensor may take on the backend (see footprint.ts).
   * Default: on WebGPU the device's largest storage buffer (bufferLimit), elsewhere unbounded. Encodes run in chunks
   * of items that fit; a training or loss batch that does not fit is refused with FdtEngineError.
   */
  maxBufferBytes?: number;
}

/** The parameter names a modality's forward reads. */
function modalityParamNames(modality: Modality): string[] {
  const p = MODALITIES[modality];
  return ['space_dict', ...['0.weight', '0.bias', '1.weight', '1.bias', '3.weight', '3.bias', '4.weight', '4.bias'].map((n) => `${p}.${n}`)];
}

/** Every parameter the loss depends on (all but the unused logit_scale_sd), in a fixed order. */
function lossParamNames(): string[] {
  const img = modalityParamNames('image');
  return [...img, 'logit_scale', ...modalityParamNames('text').slice(1)];
}

function expectLength(what: string, found: number, shape: number[]): void {
  const n = shape.reduce((a, b) => a * b, 1);
  if (found !== n) throw new FdtShapeError(`tfjs engine: ${what}: expected [${shape}] (${n} values), found ${found} values`);
}

function modalityTensorList(m: ModalityTensors): Tensor[] {
  const list = [m.embeddings, m.embeddingsRaw, m.weights, m.relevance, m.activeCounts, m.queries];
  if (m.argmax) list.push(m.argmax);
  if (m.finite) list.push(m.finite);
  return list;
}

/** The encodings of consecutive chunks of items as one (every field is per item, in item order). */
function concatEncodings(parts: EncodeOutput[]): EncodeOutput {
  const cat = <T extends Float32Array | Int32Array>(arrays: T[], make: (n: number) => T): T => {
    const out = make(arrays.reduce((a, p) => a + p.length, 0));
    let at = 0;
    for (const p of arrays) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  };
  const f32 = (k: 'embeddings' | 'embeddingsRaw' | 'weights' | 'relevance' | 'queries') => cat(parts.map((p) => p[k]!), (n) => new Float32Array(n));
  const out: EncodeOutput = {
    embeddings: f32('embeddings'), embeddingsRaw: f32('embeddingsRaw'), weights: f32('weights'), relevance: f32('relevance'),
    activeCounts: cat(parts.map((p) => p.activeCounts), (n) => new Int32Array(n)),
  };
  if (parts[0]!.queries) out.queries = f32('queries');
  if (parts[0]!.argmax) out.argmax = cat(parts.map((p) => p.argmax!), (n) => new Int32Array(n));
  return out;
}

async function readModality(m: ModalityTensors, trace: boolean, modality: Modality): Promise<EncodeOutput> {
  const [embeddings, embeddingsRaw, weights, relevance, activeCounts, queries, argmax, finite] = await Promise.all([
    m.embeddings.data(), m.embeddingsRaw.data(), m.weights.data(), m.relevance.data(), m.activeCounts.data(),
    trace ? m.queries.data() : undefined, trace && m.argmax ? m.argmax.data() : undefined, m.finite!.data(),
  ]);
  if (!finite[0]) {
    throw new FdtValueError(`${modality} queries or relevance: not finite: the query MLP's weights or inputs, or the queries times the dictionary, overflow float32`);
  }
  const out: EncodeOutput = {
    embeddings: embeddings as Float32Array,
    embeddingsRaw: embeddingsRaw as Float32Array,
    weights: weights as Float32Array,
    relevance: relevance as Float32Array,
    activeCounts: Int32Array.from(activeCounts as ArrayLike<number>),
  };
  if (trace) {
    out.queries = queries as Float32Array;
    out.argmax = Int32Array.from(argmax as ArrayLike<number>);
  }
  return out;
}

/**
 * The TensorFlow.js engine: the FDT head, forward and backward, in tfjs ops on whatever backend tfjs runs
 * (tfjs-node-gpu, tfjs-node, WebGPU, WebGL, tfjs-wasm, tfjs-cpu), with the same semantics and outputs as the wasm
 * engine. Gradients come from tfjs autograd (tf.valueAndGrads) with custom gradients where the official code's
 * differ from tfjs' own (first-arg-max max-pool, sparsemax, the unclamped logit scale).
 *
 * Rules kept by every public method (DESIGN principle 11): all tensor work inside one tf.tidy; results read with
 * `await tensor.data()` only (WebGPU has no synchronous read); tf.memory().numTensors after the call equals its
 * value before, plus the parameters (and AdamW moments) made resident on first use.
 *
 * @example
 * const engine = await TfjsEngine.create();                       // or { tf } with the application's own tfjs
 * const out = await engine.forwardBackward(model, batch, { grads: true });
 * out.loss; out.grads!.params['space_dict'];
 */
/**
 * Per tf namespace, the end of its call queue. Engines on one namespace with different backends (one namespace runs
 * one backend at a time) must not interleave: a call that awaits a read would otherwise resume on the backend
 * another engine switched to, with this engine's buffer limit.
 */
const namespaceQueues = new PerNamespace<CallQueue>();

export class TfjsEngine implements Engine {
  readonly name = 'tfjs' as const;
  private readonly residents = new WeakMap<ModelState, TfResidentParams>();
  private readonly moments = new WeakMap<ModelState, Map<string, { m: Tensor; v: Tensor }>>();

  private constructor(
    readonly loaded: LoadedTf,
    /** The device behind a WebGPU / WebGL backend (null: another backend, or unknown); see device.ts. */
    readonly device: TfDevice | null,
    /** The largest buffer, in bytes, for a call's widest batch-sized tensor here (TfjsEngineOptions.maxBufferBytes). */
    readonly maxBufferBytes: number,
  ) {}

  /**
   * Loads tfjs (see loadTf) and returns an engine on it.
   * @throws FdtEngineError when no backend works; FdtValueError for a maxBufferBytes that is not a positive number.
   */
  static async create(options: TfjsEngineOptions = {}): Promise<TfjsEngine> {
    const { loader, maxBufferBytes, ...rest } = options;
    if (maxBufferBytes !== undefined && !(maxBufferBytes > 0)) {
      throw new FdtValueError(`TfjsEngine.create: maxBufferBytes: expected a number of bytes > 0, found ${maxBufferBytes}`);
    }
    const loaded = await (loader ? loader.load(rest) : loadTf(rest));
    return new TfjsEngine(loaded, await probeDevice(loaded.tf, loaded.backend), maxBufferBytes ?? bufferLimit(loaded.tf, loaded.backend));
  }

  /** The tfjs namespace this engine runs on. */
  get tf(): TfNamespace {
    return this.loaded.tf;
  }

  /** The tfjs backend this engine runs on ('cpu', 'wasm', 'webgl', 'webgpu', 'tensorflow', ...). */
  get label(): string {
    return `tfjs ${this.backend}`;
  }

  get backend(): string {
    return this.loaded.pinned ? this.loaded.backend : this.loaded.tf.getBackend();
  }

  /**
   * Encodes one modality: x [B, L, D], valid [B, L] (text) or null (images). Items are independent, so a batch whose
   * relevance scores [B, L, C] would not fit in one buffer (maxBufferBytes) runs in chunks of as many items as fit,
   * and the outputs are concatenated: the same values as in one call.
   */
  async encode(model: ModelState, modality: Modality, x: Float32Array, B: number, L: number, valid: Int32Array | null, trace = false): Promise<EncodeOutput> {
    const c = model.config;
    const Din = modality === 'image' ? c.imageDim : c.textDim;
    expectLength(`${modality} features`, x.length, [B, L, Din]);
    if (valid) expectLength('valid', valid.length, [B, L]);
    const perItem = itemBytes(c.numTokens, c.dim, L, Din);
    const fit = Math.floor(this.maxBufferBytes / perItem);
    if (fit < 1) {
      throw new FdtEngineError(`tfjs engine: one ${modality} item's widest tensor, ${L} rows of ${Math.max(c.numTokens, Din, c.dim)} float32 (${perItem} bytes), is over the largest buffer of backend '${this.backend}' (${this.maxBufferBytes} bytes); use the wasm engine`);
    }
    return this.exclusive(async () => {
      if (B <= fit) return this.encodeItems(model, modality, x, B, L, valid, trace);
      const parts: EncodeOutput[] = [];
      for (let b0 = 0; b0 < B; b0 += fit) {
        const n = Math.min(fit, B - b0);
        parts.push(await this.encodeItems(model, modality, x.subarray(b0 * L * Din, (b0 + n) * L * Din), n, L, valid ? valid.subarray(b0 * L, (b0 + n) * L) : null, trace));
      }
      return concatEncodings(parts);
    });
  }

  /** encode() for a batch that fits in one call. */
  private async encodeItems(model: ModelState, modality: Modality, x: Float32Array, B: number, L: number, valid: Int32Array | null, trace: boolean): Promise<EncodeOutput> {
    const tf = this.tf;
    const c = model.config;
    const Din = modality === 'image' ? c.imageDim : c.textDim;
    const rp = this.resident(model);
    const P: ParamTensors = {};
    for (const n of modalityParamNames(modality)) P[n] = rp.get(n);
    withTransposed(P, rp);
    let out: ModalityTensors | undefined;
    try {
      out = tf.tidy(() => {
        const X = hostTensor(tf, x, [B, L, Din]) as Tensor3D;
        const V = valid ? (hostTensor(tf, Float32Array.from(valid), [B, L]) as Tensor2D) : null;
        return forwardModality(tf, P, c, modality, X, V, trace) as unknown as TensorContainer;
      }) as unknown as ModalityTensors;
      return await readModality(out, trace, modality);
    } finally {
      if (out) tf.dispose(modalityTensorList(out));
    }
  }

  /**
   * The head's InfoNCE loss as a tfjs scalar computed from tensors: patches [B, N, Di], tokens [B, L, Dt],
   * valid [B, L] (0/1). Its gradients flow into the inputs, so tfjs encoders upstream train end to end (use it
   * inside tf.variableGrads or tf.tidy, which dispose the intermediates). The head's parameters are constants here.
   */
  lossTensor(model: ModelState, patches: Tensor3D, tokens: Tensor3D, valid: Tensor2D): Tensor {
    const c = model.config;
    // Called inside the application's tf.tidy / tf.variableGrads: no await to re-activate a backend, so a pinned
    // engine whose namespace now runs another backend says so instead of building the graph there.
    const { tf: ns, backend, pinned } = this.loaded;
    if (pinned && ns.getBackend() !== backend) {
      throw new FdtEngineError(`tfjs layer: the tf namespace runs backend '${ns.getBackend()}', this engine '${backend}': call tf.setBackend('${backend}') first, or create the model without backends to follow the namespace`);
    }
    for (const [name, t, rank] of [['patches', patches, 3], ['tokens', tokens, 3], ['valid', valid, 2]] as const) {
      const shape = (t as { shape?: unknown } | null | undefined)?.shape;
      if (!Array.isArray(shape) || shape.length !== rank) {
        throw new FdtShapeError(`tfjs layer: ${name}: expected a tensor of rank ${rank}, found ${t === null || t === undefined ? String(t) : Array.isArray(shape) ? `rank ${shape.length} [${shape}]` : typeof t}`);
      }
    }
    const [B, N, Di] = patches.shape;
    const [Bt, L, Dt] = tokens.shape;
    if (Di !== c.imageDim || Dt !== c.textDim || B !== Bt || valid.shape[0] !== B || valid.shape[1] !== L) {
      throw new FdtShapeError(`tfjs layer: expected patches [B, N, ${c.imageDim}], tokens [B, L, ${c.textDim}], valid [B, L]; found [${patches.shape}], [${tokens.shape}], [${valid.shape}]`);
    }
    this.expectBatchFits(c, B, N, L);
    const rp = this.resident(model);
    const P: ParamTensors = {};
    for (const n of lossParamNames()) P[n] = rp.get(n);
    withTransposed(P, rp);
    // No finite check: the layer's values are read by the caller, never here.
    return headForward(this.tf, P, c, patches, tokens, valid, false, false).loss;
  }

  /**
   * @throws FdtEngineError when a head batch's widest tensor (footprint.ts, batchBytes) is over maxBufferBytes,
   *   naming the largest batch that fits; on WebGPU such a tensor would give wrong values without an error.
   */
  private expectBatchFits(c: ModelState['config'], B: number, N: number, L: number): void {
    const most = Math.floor(this.maxBufferBytes / batchBytes(c, 1, N, L));
    if (B <= most) return;
    const need = batchBytes(c, B, N, L);
    const advice = most >= 1 ? `use at most ${most} item${most === 1 ? '' : 's'} per batch on it, or the wasm engine` : 'use the wasm engine';
    throw new FdtEngineError(`tfjs engine: this batch's widest tensor, ${B} items of ${Math.max(N, L)} rows of up to ${Math.max(c.numTokens, c.dim, c.imageDim, c.textDim)} float32 (${need} bytes), is over the largest buffer of backend '${this.backend}' (${this.maxBufferBytes} bytes); ${advice}`);
  }

  /** Forward of both modalities, InfoNCE, and (opts.grads) the gradients of every parameter and (unless opts.inputGrads is false) both inputs. */
  forwardBackward(model: ModelState, batch: HeadBatch, opts: ForwardBackwardOptions): Promise<HeadOutput> {
    return this.exclusive(() => this.forwardBackwardNow(model, batch, opts));
  }

  private async forwardBackwardNow(model: ModelState, batch: HeadBatch, opts: ForwardBackwardOptions): Promise<HeadOutput> {
    const tf = this.tf;
    const c = model.config;
    const { B, N, L } = batch;
    const trace = opts.trace ?? false;
    expectLength('patches', batch.patches.length, [B, N, c.imageDim]);
    expectLength('tokens', batch.tokens.length, [B, L, c.textDim]);
    expectLength('valid', batch.valid.length, [B, L]);
    // InfoNCE couples the batch's items, so it cannot run in chunks: refused, and the dispatcher picks wasm for it.
    this.expectBatchFits(c, B, N, L);
    const rp = this.resident(model);
    const names = lossParamNames();
    const paramTensors = names.map((n) => rp.get(n));
    // Tensors kept past the gradient's forward scope; disposed in `finally` whatever happens.
    const kept: Tensor[] = [];
    let head: HeadTensors | undefined;
    let grads: Tensor[] | undefined;
    try {
      tf.tidy(() => {
        const X = hostTensor(tf, batch.patches, [B, N, c.imageDim]) as Tensor3D;
        const W = hostTensor(tf, batch.tokens, [B, L, c.textDim]) as Tensor3D;
        const V = hostTensor(tf, Float32Array.from(batch.valid), [B, L]) as Tensor2D;
        const transposed = withTransposed({ ...Object.fromEntries(names.map((n) => [n, rp.get(n)])) }, rp);
        const P = (args: Tensor[]): ParamTensors => ({ ...transposed, ...Object.fromEntries(names.map((n, i) => [n, args[i]!])) });
        const keepHead = (h: HeadTensors): void => {
          for (const t of [...modalityTensorList(h.image), ...modalityTensorList(h.text), h.logits, h.loss]) kept.push(tf.keep(t));
          head = h;
        };
        if (!opts.grads) {
          keepHead(headForward(tf, P(paramTensors), c, X, W, V, trace));
          return;
        }
        // Without input gradients the features are constants of f, and autograd stops at the parameters.
        const inputs = opts.inputGrads ?? true;
        const f = (...args: Tensor[]): Tensor => {
          const x = inputs ? (args[names.length] as Tensor3D) : X;
          const w = inputs ? (args[names.length + 1] as Tensor3D) : W;
          const h = headForward(tf, P(args), c, x, w, V as Tensor2D, trace);
          keepHead(h);
          return h.loss;
        };
        const vg = tf.valueAndGrads(f as Parameters<TfNamespace['valueAndGrads']>[0]);
        const r = vg(inputs ? [...paramTensors, X, W] : paramTensors);
        for (const g of r.grads) kept.push(tf.keep(g));
        grads = r.grads;
      });
      const h = head!;
      const [image, text, logits, loss, gradData] = await Promise.all([
        readModality(h.image, trace, 'image'),
        readModality(h.text, trace, 'text'),
        h.logits.data(),
        h.loss.data(),
        grads ? Promise.all(grads.map((g) => g.data())) : undefined,
      ]);
      const result: HeadOutput = {
        image,
        text,
        logitsPerImage: logits as Float32Array,
        loss: loss[0]!,
        logitScaleUsed: Math.min(Math.exp(model.params['logit_scale']![0]!), MAX_LOGIT_SCALE),
      };
      if (gradData) {
        const params: Record<string, Float32Array> = {};
        names.forEach((n, i) => {
          params[n] = gradData[i] as Float32Array;
        });
        result.grads = { params };
        if (gradData.length > names.length) {
          result.grads.patches = gradData[names.length] as Float32Array;
          result.grads.tokens = gradData[names.length + 1] as Float32Array;
        }
      }
      return result;
    } finally {
      tf.dispose(kept);
    }
  }

  /**
   * One AdamW step (PyTorch's order of operations, see optim.ts) over the named gradients: model.params updated in
   * place, versions bumped, the new values kept resident. Moments live on the tfjs backend, per model.
   */
  adamwStep(model: ModelState, grads: Record<string, Float32Array>, step: number, h: AdamWHyper, decayed: (name: string) => boolean): Promise<void> {
    return this.exclusive(() => this.adamwStepNow(model, grads, step, h, decayed));
  }

  private async adamwStepNow(model: ModelState, grads: Record<string, Float32Array>, step: number, h: AdamWHyper, decayed: (name: string) => boolean): Promise<void> {
    const tf = this.tf;
    if (!Number.isSafeInteger(step) || step < 1) throw new FdtValueError(`adamwStep: step: expected an integer >= 1, found ${step}`);
    const rp = this.resident(model);
    let moments = this.moments.get(model);
    if (!moments) this.moments.set(model, (moments = new Map()));
    const names = Object.keys(grads);
    for (const n of names) expectLength(`grads.${n}`, grads[n]!.length, rp.shape(n));
    const before = names.map((n) => {
      let mv = moments.get(n);
      if (!mv) {
        const shape = rp.shape(n);
        mv = { m: tf.keep(tf.zeros(shape)), v: tf.keep(tf.zeros(shape)) };
        moments.set(n, mv);
      }
      return { p: rp.get(n), ...mv };
    });
    let after: { p: Tensor; m: Tensor; v: Tensor }[] | undefined;
    let committed = false;
    const versions = names.map((n) => model.versions[n]);
    try {
      // No tf.keep: tidy keeps the tensors of the array it returns, and disposes every one if a parameter throws.
      after = tf.tidy(() => names.map((n, i) => {
        const b = before[i]!;
        const g = hostTensor(tf, grads[n]!, b.p.shape);
        const r = adamw(tf, b.p, g, b.m, b.v, { ...h, weightDecay: decayed(n) ? h.weightDecay : 0, step });
        return { p: r.p, m: r.m, v: r.v };
      }) as unknown as TensorContainer) as unknown as { p: Tensor; m: Tensor; v: Tensor }[];
      const values = await Promise.all(after.map((a) => a.p.data()));
      names.forEach((n, i) => {
        const a = after![i]!;
        // A setParam that landed during the read wins (the newer write); its resident copy is already stale.
        if (model.versions[n] !== versions[i]) a.p.dispose();
        else {
          model.params[n]!.set(values[i] as Float32Array);
          rp.adopt(n, a.p, model.bumpVersion(n));
        }
        const old = moments.get(n)!;
        old.m.dispose();
        old.v.dispose();
        moments.set(n, { m: a.m, v: a.v });
      });
      committed = true;
    } finally {
      if (!committed && after) for (const a of after) tf.dispose([a.p, a.m, a.v]);
    }
  }

  /** Reads the AdamW moments of a model (for checkpoints), or null before the first step; after the calls queued before it. */
  readMoments(model: ModelState): Promise<Record<string, { m: Float32Array; v: Float32Array }> | null> {
    return this.exclusive(() => this.readMomentsNow(model));
  }

  private async readMomentsNow(model: ModelState): Promise<Record<string, { m: Float32Array; v: Float32Array }> | null> {
    const moments = this.moments.get(model);
    if (!moments) return null;
    const out: Record<string, { m: Float32Array; v: Float32Array }> = {};
    for (const [name, mv] of moments) {
      const [m, v] = await Promise.all([mv.m.data(), mv.v.data()]);
      out[name] = { m: Float32Array.from(m as Float32Array), v: Float32Array.from(v as Float32Array) };
    }
    return out;
  }

  /**
   * Disposes a model's resident parameters and AdamW moments: at once when no call is queued on this namespace, else
   * after the calls queued before it (they may be using them). The model stays usable (re-uploaded on next use).
   */
  release(model: ModelState): void {
    const free = () => {
      this.residents.get(model)?.release();
      this.residents.delete(model);
      for (const mv of this.moments.get(model)?.values() ?? []) {
        mv.m.dispose();
        mv.v.dispose();
      }
      this.moments.delete(model);
    };
    this.namespaceQueue().whenIdle(free);
  }

  /** Number of tensors this engine holds for a model (resident parameters and AdamW moments). */
  residentTensors(model: ModelState): number {
    return (this.residents.get(model)?.size ?? 0) + 2 * (this.moments.get(model)?.size ?? 0);
  }

  /** Runs a call after the calls queued before it on this tf namespace, on this engine's backend. */
  private exclusive<T>(call: () => Promise<T>): Promise<T> {
    return this.namespaceQueue().run(async () => {
      await this.ensureBackend();
      return call();
    });
  }

  /** The queue of this engine's tf namespace, shared with every engine on it. */
  private namespaceQueue(): CallQueue {
    return namespaceQueues.get(this.loaded.tf, () => new CallQueue());
  }

  /**
   * Re-activates this engine's backend if someone switched tfjs to another one (several engines on one tfjs, or
   * the application); a user namespace given without `backends` is followed as is. Then clears the thread's AVX
   * upper state, as the wasm engine does before its calls: with it dirty under Node, tfjs-backend-wasm's matMul
   * took 6-10% more time (bench/experiments/vector-state.ts --tfjs; bindings/vector-state.ts).
   */
  private async ensureBackend(): Promise<void> {
    const { tf, backend, pinned } = this.loaded;
    if (pinned && tf.getBackend() !== backend) {
      const ok = await tf.setBackend(backend);
      if (!ok) throw new FdtEngineError(`tfjs engine: could not re-activate the tfjs backend '${backend}'`);
      await tf.ready();
    }
    clearUpperVectorState();
  }

  private resident(model: ModelState): TfResidentParams {
    let rp = this.residents.get(model);
    if (!rp) this.residents.set(model, (rp = new TfResidentParams(this.tf, model)));
    return rp;
  }
}

/**
 * Adds to P the resident transposes of the 2-D parameters it holds that a GEMM multiplies by (the dictionary, the
 * Linear weights) under name + '^T', and returns P. tfjs-backend-wasm's matMul with transposeB took ~10x longer.
 */
function withTransposed(P: ParamTensors, rp: TfResidentParams): ParamTensors {
  for (const n of Object.keys(P)) {
    if (n === 'space_dict' || /\.(1|4)\.weight$/.test(n)) P[`${n}${TRANSPOSED}`] = rp.transposed(n);
  }
  return P;
}
