import type { WasmBuild } from '../../bindings/kernels.js';
import { FdtShapeError, FdtValueError } from '../errors.js';
import { getWasmEngine } from '../engines/registry.js';
import type { WasmEngine } from '../engines/wasm/engine.js';
import { clipPass, type ClipPassOutput } from '../engines/wasm/clip.js';
import type { Batch } from '../fdt.js';
import { batchInput, imageInput, textInput } from '../inputs.js';
import { INITIAL_LOGIT_SCALE, type FdtParams } from '../params.js';
import { checkSeed, Rng } from '../rng.js';
import { expectFinite, type TensorLike } from '../tensor.js';

/** Dimensions of the CLIP-style baseline head. */
export interface ClipConfig {
  dim: number;
  imageDim: number;
  textDim: number;
}

/**
 * The CLIP-style baseline FDT is compared with: mean-pool the patch features and the real caption tokens, project
 * each with a Linear layer to d, L2-normalise, symmetric InfoNCE with a learnable logit scale (same rules as FDT).
 *   e_img = mean_n(x[b, n]) W_i^T + b_i        e_txt = mean over real l of (w[b, l]) W_t^T + b_t
 * Runs on the same wasm kernels (GEMM, L2 norm, InfoNCE, AdamW) as the FDT head, so timings compare like for like.
 */
export class ClipHead {
  readonly params: FdtParams;
  private readonly _versions: Record<string, number> = {};
  private static nextVersion = 1;

  private constructor(
    readonly config: ClipConfig & { normalizer: 'mean-pool'; maskMode: 'exclude'; numTokens: 0; temperature: 1 },
    params: FdtParams,
    private readonly engine: WasmEngine,
  ) {
    this.params = params;
    for (const name of Object.keys(params)) this._versions[name] = ClipHead.nextVersion++;
  }

  /** A new baseline head with PyTorch's default Linear init (seeded) and logit_scale = log(1/0.07). */
  static async create(options: ClipConfig & { seed?: number; build?: WasmBuild; threads?: number }): Promise<ClipHead> {
    const { dim, imageDim, textDim, seed = 0 } = options;
    for (const [k, v] of Object.entries({ dim, imageDim, textDim })) {
      if (!Number.isSafeInteger(v) || v < 1) throw new FdtValueError(`${k}: expected a positive integer, found ${v}`);
    }
    const rng = new Rng(checkSeed('seed', seed));
    const linear = (din: number) => {
      const bound = 1 / Math.sqrt(din);
      return {
        w: Float32Array.from({ length: dim * din }, () => (rng.uniform() * 2 - 1) * bound),
        b: Float32Array.from({ length: dim }, () => (rng.uniform() * 2 - 1) * bound),
      };
    };
    const i = linear(imageDim);
    const t = linear(textDim);
    const params: FdtParams = {
      'image_proj.weight': i.w, 'image_proj.bias': i.b, 'text_proj.weight': t.w, 'text_proj.bias': t.b,
      logit_scale: Float32Array.of(INITIAL_LOGIT_SCALE),
    };
    const config = { dim, imageDim, textDim, normalizer: 'mean-pool', maskMode: 'exclude', numTokens: 0, temperature: 1 } as const;
    return new ClipHead(config, params, await getWasmEngine(options.build ?? 'auto', options.threads));
  }

  get versions(): Readonly<Record<string, number>> {
    return this._versions;
  }
  /** @internal */
  bumpVersion(name: string): number {
    return (this._versions[name] = ClipHead.nextVersion++);
  }
  /** @internal */
  get wasm(): WasmEngine {
    return this.engine;
  }

  /** AdamW decays the projection weights only. */
  decays(name: string): boolean {
    return name.endsWith('.weight');
  }

  getParam(name: string): Float32Array {
    const p = this.params[name];
    if (!p) throw new FdtValueError(`unknown parameter ${JSON.stringify(name)}; known: ${Object.keys(this.params).join(', ')}`);
    return p.slice();
  }

  setParam(name: string, value: ArrayLike<number>): void {
    const p = this.params[name];
    if (!p) throw new FdtValueError(`unknown parameter ${JSON.stringify(name)}`);
    if (value.length !== p.length) throw new FdtShapeError(`setParam(${name}): expected ${p.length} values, found ${value.length}`);
    expectFinite(`setParam(${name})`, value);
    p.set(value);
    this.bumpVersion(name);
  }

  /** Normalised image embeddings [B, dim] from patch features [B, N, imageDim]. */
  async encodeImage(patches: TensorLike): Promise<{ embeddings: Float32Array; batch: number; dim: number }> {
    const x = imageInput(this.fdtLike(), patches);
    const pooled = meanPool(x.data, x.B, x.N, this.config.imageDim, null);
    const r = await this.pass(pooled, new Float32Array(x.B * this.config.textDim), x.B, false);
    return { embeddings: r.imageEmbeddings, batch: x.B, dim: this.config.dim };
  }

  /** Normalised text embeddings [B, dim] from token features [B, L, textDim] and mask [B, L]. */
  async encodeText(tokens: TensorLike, valid?: TensorLike): Promise<{ embeddings: Float32Array; batch: number; dim: number }> {
    const x = textInput(this.fdtLike(), tokens, valid);
    const pooled = meanPool(x.data, x.B, x.L, this.config.textDim, x.valid);
    const r = await this.pass(new Float32Array(x.B * this.config.imageDim), pooled, x.B, false);
    return { embeddings: r.textEmbeddings, batch: x.B, dim: this.config.dim };
  }

  /** Loss and logits of a batch of matched pairs. */
  async loss(batch: Batch): Promise<ClipPassOutput> {
    return this.run(batch, false);
  }

  /** Loss plus gradients of every parameter. */
  async gradients(batch: Batch): Promise<Omit<ClipPassOutput, 'grads'> & { grads: { params: Record<string, Float32Array> } }> {
    const { grads, ...r } = await this.run(batch, true);
    return { ...r, grads: { params: grads! } };
  }

  dispose(): void {
    this.engine.release(this);
  }

  private run(batch: Batch, grads: boolean): Promise<ClipPassOutput> {
    const b = batchInput(this.fdtLike(), batch);
    const pi = meanPool(b.patches, b.B, b.N, this.config.imageDim, null);
    const pt = meanPool(b.tokens, b.B, b.L, this.config.textDim, b.valid);
    return this.pass(pi, pt, b.B, grads);
  }

  private pass(pi: Float32Array, pt: Float32Array, B: number, grads: boolean): Promise<ClipPassOutput> {
    return this.engine.exclusive(() => clipPass(this.engine, this, this.config, pi, pt, B, grads));
  }

  private fdtLike() {
    const c = this.config;
    return { numTokens: 1, dim: c.dim, imageDim: c.imageDim, textDim: c.textDim, normalizer: 'sparsemax', temperature: 1, maskMode: 'exclude' } as const;
  }
}

/** Mean over the rows of each item ([B, L, D] -> [B, D]), over real rows only when a mask is given. */
function meanPool(x: Float32Array, B: number, L: number, D: number, valid: Int32Array | null): Float32Array {
  const out = new Float32Array(B * D);
  for (let b = 0; b < B; b++) {
    let n = 0;
    for (let l = 0; l < L; l++) {
      if (valid && valid[b * L + l] === 0) continue;
      n++;
      const o = (b * L + l) * D;
      for (let k = 0; k < D; k++) out[b * D + k] += x[o + k]!;
    }
    for (let k = 0; k < D; k++) out[b * D + k] /= n;
  }
  return out;
}
