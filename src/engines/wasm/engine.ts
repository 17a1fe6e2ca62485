import {
  instantiateKernels, instantiateThreaded, relaxedSimdSupported, simdSupported, threadsSupported, type KernelModule, type ResolvedBuild,
  type WasmBuild,
} from '../../../bindings/kernels.js';
import type { WorkerPool } from '../../../bindings/pool.js';
import { clearUpperVectorState } from '../../../bindings/vector-state.js';
import { WasmMemoryFullError } from '../../../bindings/arena.js';
import { Parallel, type AdamWOperands } from './parallel.js';
import type { FdtConfig } from '../../config.js';
import { FdtEngineError } from '../../errors.js';
import { MODALITIES, type Modality } from '../../params.js';
import { firstNonFinite } from '../../tensor.js';
import type { AdamWHyper, EncodeOutput, Engine, ForwardBackwardOptions, HeadBatch, HeadOutput, KeptGrads, ModelState, ParamState } from '../types.js';
import { backwardModality, forwardModality, type ModalityForward } from './head.js';
import { ResidentParams } from './resident.js';
import { Scope } from './scope.js';
import { CallQueue } from '../call-queue.js';

const BROKEN_MOMENTS = 'wasm engine: a failed AdamW step left this model\'s optimiser moments partly updated; restore a training checkpoint (Trainer.restore) to go on training';

/** The WebAssembly engine: the whole FDT head, forward and backward, on the AssemblyScript kernels. */
export class WasmEngine implements Engine {
  readonly name = 'wasm' as const;
  private readonly residents = new WeakMap<ParamState, ResidentParams>();
  private readonly moments = new WeakMap<ParamState, Map<string, { m: number; v: number }>>();
  /** Moments of released models, on the host until their next step. */
  private readonly parkedMoments = new WeakMap<ParamState, Record<string, { m: Float32Array; v: Float32Array }>>();
  /** Models whose moments a failed AdamW round left partly updated: no step or checkpoint until they are replaced. */
  private readonly brokenMoments = new WeakSet<ParamState>();
  /** Per model: the gradient blocks a call with keepGrads fills, and the token of the call that filled them last. */
  private readonly kept = new WeakMap<ParamState, { blocks: Map<string, number>; token: number }>();
  private static nextToken = 1;
  /** Engine calls, one after another (see exclusive). */
  private readonly queue = new CallQueue();

  /** @internal Splits the heavy kernels over the worker pool (or runs them here with one thread). */
  readonly parallel: Parallel;

  private constructor(
    readonly mod: KernelModule,
    private readonly pool: WorkerPool | null,
    /** Why the engine runs on fewer threads than asked, if it does. */
    readonly threadNote: string,
  ) {
    this.parallel = new Parallel(mod, pool);
  }

  /**
   * Instantiates the kernels ('auto' picks SIMD when the runtime validates it) on `threads` threads (default: the
   * available cores). Where workers or SharedArrayBuffer are unavailable (e.g. a page that is not cross-origin
   * isolated) it runs on one thread and says so in `threadNote` (and console.debug) — unless threads were forced
   * with `strictThreads`, which throws instead.
   */
  static async create(build: WasmBuild = 'auto', threads?: number, strictThreads = false): Promise<WasmEngine> {
    if (build === 'simd' && !simdSupported()) {
      throw new FdtEngineError('wasm engine: the SIMD build was forced but this runtime does not support WebAssembly SIMD; use build "scalar" or "auto"');
    }
    if (build === 'relaxed' && !relaxedSimdSupported()) {
      throw new FdtEngineError('wasm engine: the relaxed build was asked for but this runtime does not support WebAssembly relaxed SIMD (Node 20 needs --experimental-wasm-relaxed-simd; Deno, Bun, Chromium and Firefox have it; WebKitGTK 2.50 does not); use build "simd" or "auto"');
    }
    const want = threads ?? (await defaultThreads());
    if (!Number.isSafeInteger(want) || want < 1) throw new FdtEngineError(`wasm engine: threads: expected an integer >= 1, found ${threads}`);
    if (want > 1) {
      if (!threadsSupported()) {
        const note = `${want} threads asked, 1 used: this runtime has no SharedArrayBuffer or workers (a browser page must be cross-origin isolated)`;
        if (strictThreads) throw new FdtEngineError(`wasm engine: ${note}`);
        console.debug(`fdtkit: ${note}`);
        return new WasmEngine(await instantiateKernels(build), null, note);
      }
      try {
        const { mod, pool } = await instantiateThreaded(build, want);
        return new WasmEngine(mod, pool, '');
      } catch (e) {
        const note = `${want} threads asked, 1 used: starting workers failed (${(e as Error).message})`;
        if (strictThreads) throw new FdtEngineError(`wasm engine: ${note}`);
        console.debug(`fdtkit: ${note}`);
        return new WasmEngine(await instantiateKernels(build), null, note);
      }
    }
    return new WasmEngine(await instantiateKernels(build), null, '');
  }

  /** Threads the heavy kernels run on (1 without a pool). */
  get threads(): number {
    return this.parallel.threads;
  }

  /** @internal The worker pool, if any. */
  get workerPool(): WorkerPool | null {
    return this.pool;
  }

  get label(): string {
    return `wasm ${this.mod.build}${this.threads > 1 ? ` x${this.threads} threads` : ''}`;
  }

  /** 'simd', 'scalar' or 'relaxed': the build this engine runs. */
  get build(): ResolvedBuild {
    return this.mod.build;
  }

  /** Bytes of wasm memory (it grows on the first call of a larger shape, then stays). */
  get memoryBytes(): number {
    return this.mod.arena.memoryBytes;
  }

  /**
   * @internal Runs `call` after every engine call queued before it, alone. A call awaits its kernels on the worker
   * pool between steps; without the queue a second call could repack a resident parameter, apply an AdamW step or
   * free blocks while the first call's workers read them. The pool is busy with one call's kernels anyway, so
   * queueing costs no throughput.
   */
  exclusive<T>(call: () => Promise<T>): Promise<T> {
    return this.queue.run(async () => {
      clearUpperVectorState(); // 3.2 us; 11-13% on every kernel of the call after large base64 work on this thread
      try {
        return await call();
      } catch (e) {
        // The call's blocks were returned by its scope; the engine stays usable for calls that fit.
        if (e instanceof WasmMemoryFullError) throw new FdtEngineError(`wasm engine: ${e.message}; split the batch into smaller calls`);
        throw e;
      }
    });
  }

  /** Encodes one modality: embeddings, token weights and relevance. */
  encode(model: ModelState, modality: Modality, x: Float32Array, B: number, L: number, valid: Int32Array | null, trace = false): Promise<EncodeOutput> {
    return this.exclusive(() => this.encodeNow(model, modality, x, B, L, valid, trace));
  }

  /** Forward of both modalities, InfoNCE, and (when asked) the backward to every parameter and input. */
  forwardBackward(model: ModelState, batch: HeadBatch, opts: ForwardBackwardOptions): Promise<HeadOutput> {
    return this.exclusive(() => this.forwardBackwardNow(model, batch, opts));
  }

  private async encodeNow(model: ModelState, modality: Modality, x: Float32Array, B: number, L: number, valid: Int32Array | null, trace: boolean): Promise<EncodeOutput> {
    const s = new Scope(this.mod);
    try {
      const f = await forwardModality(this.mod, this.parallel, s, this.resident(model), model.config, modality, x, B, L, valid, trace);
      return readModality(s, model.config, f, trace);
    } finally {
      s.dispose();
    }
  }

  private async forwardBackwardNow(model: ModelState, batch: HeadBatch, opts: ForwardBackwardOptions): Promise<HeadOutput> {
    const c = model.config;
    const mod = this.mod;
    const s = new Scope(mod);
    try {
      const rp = this.resident(model);
      const grads = opts.grads ?? false;
      const fi = await forwardModality(mod, this.parallel, s, rp, c, 'image', batch.patches, batch.B, batch.N, null, false, grads);
      const ft = await forwardModality(mod, this.parallel, s, rp, c, 'text', batch.tokens, batch.B, batch.L, batch.valid, opts.trace ?? false, grads);
      const B = batch.B;
      const d = c.dim;
      const logits = s.f32(B * B);
      const gEi = opts.grads ? s.f32(B * d) : 0;
      const gEt = opts.grads ? s.f32(B * d) : 0;
      const out = s.bytes(24);
      mod.k.f32_infonce(fi.ehat, ft.ehat, B, d, model.params['logit_scale']![0]!, logits, gEi, gEt, out,
        s.bytes(mod.k.infonce_scratch_bytes(B, d)));
      const [loss, gScale, scaleUsed] = mod.f64(out, 3);
      const result: HeadOutput = {
        image: readModality(s, c, fi, opts.trace ?? false),
        text: readModality(s, c, ft, opts.trace ?? false),
        logitsPerImage: s.readF32(logits, B * B),
        loss: loss!,
        logitScaleUsed: scaleUsed!,
      };
      if (opts.grads) {
        const blocks = opts.keepGrads ? this.gradBlocks(model) : null;
        // Gradients kept earlier are overwritten from here on: no AdamW step may apply them any more.
        if (blocks) this.kept.get(model)!.token = 0;
        const g: Record<string, number> = {};
        for (const [name, p] of Object.entries(model.params)) {
          if (name === 'logit_scale' || name === 'logit_scale_sd') continue;
          if (blocks) mod.f32((g[name] = blocks.get(name)!), p.length).fill(0);
          else g[name] = s.zeros(p.length);
        }
        const inputs = opts.inputGrads ?? true;
        const gX = await backwardModality(mod, this.parallel, s, rp, c, fi, gEi, g, inputs);
        const gW = await backwardModality(mod, this.parallel, s, rp, c, ft, gEt, g, inputs);
        const params: Record<string, Float32Array> = {};
        if (blocks) {
          mod.f32(blocks.get('logit_scale')!, 1)[0] = gScale!;
          const state = this.kept.get(model)!;
          state.token = WasmEngine.nextToken++;
          result.grads = { params, kept: { names: [...blocks.keys()], token: state.token } };
        } else {
          for (const [name, ptr] of Object.entries(g)) params[name] = s.readF32(ptr, model.params[name]!.length);
          params['logit_scale'] = Float32Array.of(gScale!);
          result.grads = { params };
        }
        if (inputs) {
          result.grads.patches = s.readF32(gX, B * batch.N * c.imageDim);
          result.grads.tokens = s.readF32(gW, B * batch.L * c.textDim);
        }
      }
      return result;
    } finally {
      s.dispose();
    }
  }

  /**
   * One AdamW step over the named parameters, in place in the model (host copy and resident copy); the moments live
   * in wasm memory, per model, and the update runs on the worker pool (values split across threads, the same bits
   * on any number). `grads` are host arrays, or the gradients the last call with keepGrads kept for this model.
   * `step` counts from 1. The caller checks the gradients first (firstNonFinite): this updates whatever it is given.
   */
  adamwStep(model: ParamState, grads: Record<string, Float32Array> | KeptGrads, step: number, h: AdamWHyper, decayed: (name: string) => boolean): Promise<void> {
    return this.exclusive(async () => {
      const mod = this.mod;
      const rp = this.resident(model);
      if (this.brokenMoments.has(model)) throw new FdtEngineError(BROKEN_MOMENTS);
      const kept = isKept(grads) ? this.keptBlocks(model, grads, 'adamwStep') : null;
      const names = kept ? grads.names as readonly string[] : Object.keys(grads);
      const moments = this.ensureMoments(model, names);
      const s = new Scope(mod);
      try {
        const items: AdamWOperands[] = names.map((name) => {
          const n = model.params[name]!.length;
          const mv = moments.get(name)!;
          const G = kept ? kept.get(name)! : s.upload((grads as Record<string, Float32Array>)[name]!);
          return { P: rp.raw(name), G, M: mv.m, V: mv.v, n, weightDecay: decayed(name) ? h.weightDecay : 0 };
        });
        const versions = names.map((name) => model.versions[name]);
        try {
          await this.parallel.adamw(items, h, step);
        } catch (e) {
          // Some shares may have updated their values and moments in place: the parameters go back to the host's
          // (unchanged) values on the next use, and the moments can no longer be trusted.
          for (const name of names) rp.invalidate(name);
          this.brokenMoments.add(model);
          throw e;
        }
        for (const [i, name] of names.entries()) {
          // A setParam that ran while the round did (an un-awaited call) wins: its value is the newer one.
          if (model.versions[name] !== versions[i]) {
            rp.invalidate(name);
            continue;
          }
          const p = model.params[name]!;
          p.set(mod.f32(items[i]!.P, p.length));
          rp.adopt(name, model.bumpVersion(name));
        }
      } finally {
        s.dispose();
      }
    });
  }

  /**
   * The first gradient value that is NaN or infinite, or null: host arrays are scanned here, kept gradients in wasm
   * (f32_first_nonfinite: SIMD, ~2 ms for 9.6 M values). The Trainer calls it before touching any parameter.
   */
  firstNonFinite(model: ParamState, grads: Record<string, Float32Array> | KeptGrads): { name: string; index: number; value: number } | null {
    if (isKept(grads)) {
      const blocks = this.keptBlocks(model, grads, 'firstNonFinite');
      for (const name of grads.names) {
        const ptr = blocks.get(name)!;
        const i = this.mod.k.f32_first_nonfinite(ptr, model.params[name]!.length);
        if (i >= 0) return { name, index: i, value: this.mod.f32(ptr + 4 * i, 1)[0]! };
      }
      return null;
    }
    for (const [name, g] of Object.entries(grads)) {
      const i = firstNonFinite(g);
      if (i >= 0) return { name, index: i, value: g[i]! };
    }
    return null;
  }

  /**
   * Allocates (zeroed) AdamW moments for the named parameters, and (keepGrads) the blocks keepGrads fills, if not
   * yet there. The Trainer calls it before its first forward, so long-lived blocks sit below the per-call scratch
   * and memory stays flat from the first step.
   */
  ensureTrainingState(model: ParamState, names: readonly string[], keepGrads: boolean): void {
    this.ensureMoments(model, names);
    if (keepGrads) this.gradBlocks(model);
  }

  /**
   * A model's AdamW moments, allocated (zeroed) for the named parameters not yet there; moments parked on the host by
   * release() come back first.
   */
  private ensureMoments(model: ParamState, names: readonly string[]): Map<string, { m: number; v: number }> {
    let moments = this.moments.get(model);
    if (!moments) {
      this.moments.set(model, (moments = new Map()));
      const parked = this.parkedMoments.get(model);
      this.parkedMoments.delete(model);
      for (const [name, mv] of Object.entries(parked ?? {})) {
        const e = { m: this.mod.arena.alloc(mv.m.byteLength), v: this.mod.arena.alloc(mv.v.byteLength) };
        this.mod.f32(e.m, mv.m.length).set(mv.m);
        this.mod.f32(e.v, mv.v.length).set(mv.v);
        moments.set(name, e);
      }
    }
    for (const name of names) {
      if (moments.has(name)) continue;
      const n = model.params[name]!.length;
      const mv = { m: this.mod.arena.alloc(n * 4), v: this.mod.arena.alloc(n * 4) };
      this.mod.f32(mv.m, n).fill(0);
      this.mod.f32(mv.v, n).fill(0);
      moments.set(name, mv);
    }
    return moments;
  }

  /**
   * Reads the AdamW moments of a model (for checkpoints), or null before the first step. It waits for the engine
   * calls queued before it (a step in flight updates them).
   */
  readMoments(model: ParamState): Promise<Record<string, { m: Float32Array; v: Float32Array }> | null> {
    return this.exclusive(async () => this.readMomentsNow(model));
  }

  private readMomentsNow(model: ParamState): Record<string, { m: Float32Array; v: Float32Array }> | null {
    if (this.brokenMoments.has(model)) throw new FdtEngineError(BROKEN_MOMENTS);
    const parked = this.parkedMoments.get(model);
    if (parked) return Object.fromEntries(Object.entries(parked).map(([k, mv]) => [k, { m: mv.m.slice(), v: mv.v.slice() }]));
    const moments = this.moments.get(model);
    if (!moments) return null;
    const out: Record<string, { m: Float32Array; v: Float32Array }> = {};
    for (const [name, mv] of moments) {
      const n = model.params[name]!.length;
      out[name] = { m: this.mod.f32(mv.m, n).slice(), v: this.mod.f32(mv.v, n).slice() };
    }
    return out;
  }

  /** Replaces a model's AdamW moments (restoring a training checkpoint), after the engine calls queued before it. */
  writeMoments(model: ParamState, moments: Record<string, { m: Float32Array; v: Float32Array }>): Promise<void> {
    return this.exclusive(async () => {
      const map = this.ensureMoments(model, Object.keys(moments));
      for (const [name, mv] of Object.entries(moments)) {
        const e = map.get(name)!;
        this.mod.f32(e.m, mv.m.length).set(mv.m);
        this.mod.f32(e.v, mv.v.length).set(mv.v);
      }
      this.brokenMoments.delete(model);
    });
  }

  /**
   * Frees a model's resident parameters, optimiser moments and kept gradients: at once when no engine call is queued
   * or running, else after the calls queued before it (their workers may be reading those blocks).
   */
  release(model: ParamState): void {
    const free = () => {
      this.residents.get(model)?.release();
      this.residents.delete(model);
      // The moments are training state, not a cache: they are parked on the host and come back on the next step.
      const moments = this.moments.get(model);
      if (moments?.size && !this.brokenMoments.has(model)) this.parkedMoments.set(model, this.readMomentsNow(model)!);
      for (const mv of moments?.values() ?? []) {
        this.mod.arena.free(mv.m);
        this.mod.arena.free(mv.v);
      }
      this.moments.delete(model);
      for (const ptr of this.kept.get(model)?.blocks.values() ?? []) this.mod.arena.free(ptr);
      this.kept.delete(model);
    };
    this.queue.whenIdle(free);
  }

  /** The blocks keepGrads fills for a model: one per parameter but logit_scale_sd (allocated on first use). */
  private gradBlocks(model: ParamState): Map<string, number> {
    let state = this.kept.get(model);
    if (!state) {
      const blocks = new Map<string, number>();
      for (const [name, p] of Object.entries(model.params)) {
        if (name !== 'logit_scale_sd') blocks.set(name, this.mod.arena.alloc(p.length * 4));
      }
      this.kept.set(model, (state = { blocks, token: 0 }));
    }
    return state.blocks;
  }

  /** The blocks behind kept gradients, after checking they are this model's latest. */
  private keptBlocks(model: ParamState, grads: KeptGrads, what: string): Map<string, number> {
    const state = this.kept.get(model);
    if (!state || state.token !== grads.token) {
      throw new FdtEngineError(`${what}: these kept gradients are gone (a later call kept new ones for this model, or the model was released)`);
    }
    return state.blocks;
  }

  /** @internal A model's resident parameters (created on first use). */
  resident(model: ParamState): ResidentParams {
    let rp = this.residents.get(model);
    if (!rp) this.residents.set(model, (rp = new ResidentParams(this.mod, model)));
    return rp;
  }
}

/** The available cores: navigator.hardwareConcurrency, or os.availableParallelism() in Node 20. */
async function defaultThreads(): Promise<number> {
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
  if (nav?.hardwareConcurrency) return nav.hardwareConcurrency;
  try {
    const spec = 'node:os';
    const os = (await import(/* @vite-ignore */ spec)) as typeof import('node:os');
    return os.availableParallelism?.() ?? os.cpus().length;
  } catch {
    return 1;
  }
}

function isKept(grads: Record<string, Float32Array> | KeptGrads): grads is KeptGrads {
  return typeof (grads as KeptGrads).token === 'number' && Array.isArray((grads as KeptGrads).names);
}

function readModality(s: Scope, c: FdtConfig, f: ModalityForward, trace: boolean): EncodeOutput {
  const { B, L } = f;
  const C = c.numTokens;
  const d = c.dim;
  const out: EncodeOutput = {
    embeddings: s.readF32(f.ehat, B * d),
    embeddingsRaw: s.readF32(f.e, B * d),
    weights: s.readF32(f.w, B * C),
    relevance: s.readF32(f.r, B * C),
    activeCounts: s.readI32(f.support, B),
  };
  if (trace) {
    out.queries = s.readF32(f.q, B * L * d);
    out.argmax = s.readI32(f.arg, B * C);
  }
  return out;
}

export { MODALITIES };
