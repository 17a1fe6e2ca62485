import { FdtValueError } from '../errors.js';
import type { Batch } from '../fdt.js';
import type { KeptGrads, ParamState } from '../engines/types.js';
import type { WasmEngine } from '../engines/wasm/engine.js';
import { formatIndex } from '../tensor.js';
import { CallQueue } from '../engines/call-queue.js';
import { nodeFiles, readSource } from '../io/sources.js';
import { checkSchedule, learningRate, type Schedule } from './schedule.js';

/**
 * Trainer options; defaults are the released config's (AdamW betas (0.9, 0.98), eps 1e-8, weight decay 0.1).
 * beta1 and beta2 lie in [0, 1), eps > 0, weightDecay >= 0.
 */
export interface TrainerOptions {
  schedule?: Partial<Schedule>;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** Range the raw logit_scale parameter is clamped into before the update and after it ([3, 6] officially). */
  logitScaleRange?: [number, number];
}

/** A head the Trainer can train: FDT or the CLIP-style baseline. */
export interface TrainableHead extends ParamState {
  /** @internal The wasm engine holding the optimiser state. */
  readonly wasm: WasmEngine;
  /** Whether AdamW's weight decay applies to a parameter. */
  decays(name: string): boolean;
  setParam(name: string, value: ArrayLike<number>): void;
  gradients(batch: Batch, options: { inputs: false }): Promise<TrainingGradients>;
  /** @internal The parameter gradients, kept in the engine where it can (the FDT head on the wasm engine). */
  trainingGradients?(batch: Batch): Promise<TrainingGradients>;
}

/** What a step needs of the forward and backward. */
interface TrainingGradients {
  loss: number;
  grads: { params: Record<string, Float32Array>; kept?: KeptGrads };
  image?: { activeCounts: Int32Array };
  text?: { activeCounts: Int32Array };
}

/** What one step did. */
export interface StepResult {
  step: number;
  loss: number;
  lr: number;
  logitScale: number;
  /** Mean number of active tokens per image and per caption in this batch (FDT only). */
  activeImage?: number;
  activeText?: number;
}

/**
 * Trains an FDT head with AdamW (decoupled weight decay on the Linear weights and T only), the warm-up + cosine
 * schedule and the logit-scale clamp of the official training loop. A step either completes or changes nothing:
 * a non-finite loss or gradient throws before any parameter is touched.
 */
export class Trainer {
  readonly schedule: Schedule;
  private readonly hyper: { beta1: number; beta2: number; eps: number; weightDecay: number };
  private readonly clamp: [number, number];
  private steps = 0;
  private readonly queue = new CallQueue();

  constructor(
    readonly model: TrainableHead,
    options: TrainerOptions = {},
  ) {
    this.schedule = { lr: 1e-3, warmupStartLr: 1e-4, warmupSteps: 2500, totalSteps: 86560, ...options.schedule };
    checkSchedule(this.schedule);
    this.hyper = {
      beta1: options.beta1 ?? 0.9,
      beta2: options.beta2 ?? 0.98,
      eps: options.eps ?? 1e-8,
      weightDecay: options.weightDecay ?? 0.1,
    };
    // beta = 1 zeroes AdamW's bias correction (an infinite step) and eps = 0 divides 0 by 0 for every parameter whose
    // gradient is exactly 0 (the dictionary tokens no item of the batch activates): both would make NaN parameters.
    for (const k of ['beta1', 'beta2'] as const) {
      const v = this.hyper[k];
      if (!(Number.isFinite(v) && v >= 0 && v < 1)) throw new FdtValueError(`${k}: expected a number in [0, 1), found ${v}`);
    }
    if (!(Number.isFinite(this.hyper.eps) && this.hyper.eps > 0)) throw new FdtValueError(`eps: expected a finite number > 0, found ${this.hyper.eps}`);
    const wd = this.hyper.weightDecay;
    if (!(Number.isFinite(wd) && wd >= 0)) throw new FdtValueError(`weightDecay: expected a finite number >= 0, found ${wd}`);
    this.clamp = options.logitScaleRange ?? [3, 6];
    if (!(this.clamp[0] <= this.clamp[1])) throw new FdtValueError(`logitScaleRange: expected [lo, hi] with lo <= hi, found [${this.clamp}]`);
  }

  /** Steps taken so far. */
  get step(): number {
    return this.steps;
  }

  /** @internal The state a checkpoint needs beyond the parameters: options and the step count. */
  get options(): Required<Omit<TrainerOptions, 'schedule'>> & { schedule: Schedule } {
    return { schedule: this.schedule, ...this.hyper, logitScaleRange: this.clamp };
  }

  /** @internal Sets the step count (restoring a checkpoint). */
  resumeAt(step: number): void {
    if (!Number.isSafeInteger(step) || step < 0) throw new FdtValueError(`step: expected an integer >= 0, found ${step}`);
    this.steps = step;
  }

  /**
   * One full forward + backward + AdamW update on a batch of matched pairs. On the wasm engine the gradients never
   * leave wasm memory: they are checked there and AdamW runs on the worker pool.
   *
   * At step t (1-based), learning rate lr_t from the schedule, for every parameter p with gradient g:
   *   m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2;
   *   p = p (1 - lr_t weightDecay) - lr_t (m / (1 - beta1^t)) / (sqrt(v) / sqrt(1 - beta2^t) + eps)
   * (PyTorch's AdamW; weightDecay only on the Linear weights and the dictionary),
   * with logit_scale clamped into logitScaleRange before and after the update (the official loop).
   * @throws FdtValueError for a non-finite loss or gradient, before any parameter changes.
   */
  stepOn(batch: Batch): Promise<StepResult> {
    // Steps (and checkpoints) run one after another even when not awaited: each one's update reads the last's.
    return this.queue.run(() => this.stepNow(batch));
  }

  private async stepNow(batch: Batch): Promise<StepResult> {
    const wasm = this.model.wasm;
    if (this.steps === 0) {
      // Long-lived optimiser state first, below the per-call scratch: memory is flat from the first step on.
      const names = Object.keys(this.model.params).filter((n) => n !== 'logit_scale_sd');
      wasm.ensureTrainingState(this.model, names, this.model.trainingGradients !== undefined);
    }
    let r: TrainingGradients;
    try {
      r = this.model.trainingGradients
        ? await this.model.trainingGradients(batch)
        : await this.model.gradients(batch, { inputs: false });
    } catch (e) {
      // A value the forward refused (an overflow inside the head): say which step, and that nothing changed.
      if (e instanceof FdtValueError) throw new FdtValueError(`step ${this.steps + 1}: ${e.message}; no parameter was changed`);
      throw e;
    }
    if (!Number.isFinite(r.loss)) throw new FdtValueError(`step ${this.steps + 1}: the loss is ${r.loss}; no parameter was changed`);
    const grads = r.grads.kept ?? r.grads.params;
    const bad = wasm.firstNonFinite(this.model, grads);
    if (bad) {
      throw new FdtValueError(`step ${this.steps + 1}: gradient of ${bad.name} is ${bad.value} at index ${formatIndex(bad.index)}; no parameter was changed`);
    }
    const lr = learningRate(this.schedule, this.steps);
    this.clampLogitScale();
    await wasm.adamwStep(this.model, grads, this.steps + 1, { lr, ...this.hyper }, (n) => this.model.decays(n));
    this.clampLogitScale();
    this.steps++;
    const result: StepResult = { step: this.steps, loss: r.loss, lr, logitScale: this.model.params['logit_scale']![0]! };
    if (r.image && r.text) {
      result.activeImage = mean(r.image.activeCounts);
      result.activeText = mean(r.text.activeCounts);
    }
    return result;
  }

  /** The training state (parameters, AdamW moments, step, options) as checkpoint bytes. */
  checkpoint(): Promise<Uint8Array> {
    return this.queue.run(async () => (await import('./checkpoint.js')).encodeCheckpoint(this));
  }

  /** (Node) Writes a training checkpoint atomically: a crash leaves the previous file or the new one, complete. */
  async saveCheckpoint(path: string): Promise<void> {
    const bytes = await this.checkpoint();
    await (await nodeFiles()).writeModelFile(path, bytes);
  }

  /** Restores a model and its trainer from checkpoint bytes (a Uint8Array or an ArrayBuffer) or (Node) a path. */
  static async restore(source: Uint8Array | ArrayBuffer | string): Promise<{ model: import('../fdt.js').FDT; trainer: Trainer }> {
    const bytes = await readSource('Trainer.restore', source);
    return (await import('./checkpoint.js')).decodeCheckpoint(bytes);
  }

  private clampLogitScale(): void {
    const p = this.model.params['logit_scale']!;
    const v = Math.min(this.clamp[1], Math.max(this.clamp[0], p[0]!));
    if (v !== p[0]) this.model.setParam('logit_scale', [v]);
  }
}

function mean(a: Int32Array): number {
  let s = 0;
  for (const v of a) s += v;
  return s / a.length;
}
