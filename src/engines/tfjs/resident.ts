/**
 * A model's parameters resident as tf tensors (on whatever backend tfjs runs: GPU memory for webgl/webgpu/CUDA),
 * uploaded on first use and re-uploaded when `model.versions[name]` changes. Uploads copy the host array, so a
 * resident tensor never aliases model.params (the cpu backend would otherwise keep a reference to it).
 */
import type { Tensor } from '@tensorflow/tfjs-core';
import { FdtValueError } from '../../errors.js';
import { paramShapes } from '../../params.js';
import type { ModelState } from '../types.js';
import type { TfNamespace } from './load.js';
import { hostTensor } from './upload.js';

/** Suffix of a transposed copy's key, in resident entries and in ParamTensors ('space_dict^T'). */
export const TRANSPOSED = '^T';

export class TfResidentParams {
  private readonly entries = new Map<string, { version: number; tensor: Tensor }>();
  private readonly shapes: Map<string, number[]>;

  constructor(private readonly tf: TfNamespace, private readonly model: ModelState) {
    this.shapes = new Map(paramShapes(model.config));
  }

  /** The shape of a parameter by official name. */
  shape(name: string): number[] {
    const s = this.shapes.get(name);
    if (!s) throw new FdtValueError(`tfjs engine: unknown parameter ${JSON.stringify(name)}; known: ${[...this.shapes.keys()].join(', ')}`);
    return s;
  }

  /** The resident tensor of `name`, uploaded now if absent or stale. */
  get(name: string): Tensor {
    return this.cached(name, name, () => {
      const p = this.model.params[name];
      const shape = this.shape(name);
      if (!p) throw new FdtValueError(`tfjs engine: the model has no parameter ${name}`);
      return hostTensor(this.tf, p, shape, true);
    });
  }

  /**
   * The resident transpose of a 2-D parameter (the dictionary as [d, C]), rebuilt when the parameter changes. The
   * relevance GEMM multiplies by it directly: matMul(q, T, false, true) took ~10x longer on tfjs-backend-wasm 4.22
   * (0.69 s against 0.07 s for one image at C = 16,384, d = 512), a transposing path on every call.
   */
  transposed(name: string): Tensor {
    return this.cached(`${name}${TRANSPOSED}`, name, () => this.tf.transpose(this.get(name)));
  }

  /** The entry `key`, made by `make` (and kept) when absent, disposed or older than parameter `name`'s version. */
  private cached(key: string, name: string, make: () => Tensor): Tensor {
    const version = this.model.versions[name] ?? 0;
    const e = this.entries.get(key);
    if (e && e.version === version && !e.tensor.isDisposed) return e.tensor;
    const t = this.tf.keep(make());
    e?.tensor.dispose();
    this.entries.set(key, { version, tensor: t });
    return t;
  }

  /** Makes `tensor` (already holding the new values) the resident copy of `name` at `version`. */
  adopt(name: string, tensor: Tensor, version: number): void {
    const e = this.entries.get(name);
    if (e && e.tensor !== tensor) e.tensor.dispose();
    this.entries.set(name, { version, tensor: this.tf.keep(tensor) });
  }

  /** Number of resident tensors. */
  get size(): number {
    return this.entries.size;
  }

  /** Disposes every resident tensor. */
  release(): void {
    for (const e of this.entries.values()) e.tensor.dispose();
    this.entries.clear();
  }
}
