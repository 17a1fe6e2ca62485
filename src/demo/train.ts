/**
 * Training one head (FDT or the CLIP baseline) on the training concepts of the training styles: seeded batches of
 * distinct concepts, a fixed budget of epochs, the Trainer (AdamW, warm-up + cosine, logit-scale clamp). After every
 * epoch the head is scored on the VALIDATION concepts of the training styles; the best epoch's parameters are kept
 * (choosing the number of epochs on validation, like every other hyper-parameter). Test data is never touched here.
 */
import type { SplitName } from '../data/splits.js';
import { FdtValueError } from '../errors.js';
import { Trainer } from '../train/trainer.js';
import { batchTensors, epochBatches, type DemoData } from './data.js';
import { evaluateSplit, type SplitEval } from './evaluate.js';
import { createHead, specName, type DemoHead, type HeadSpec } from './heads.js';

/** One training run's settings. */
export interface TrainConfig {
  /** A label for the report, e.g. "search 3" or "ablation softmax". */
  label: string;
  head: HeadSpec;
  /** Peak learning rate (AdamW). */
  lr: number;
  epochs: number;
  batchSize: number;
  /** Linear warm-up share of the steps (from lr / 10), then cosine to 0. */
  warmupFraction: number;
  weightDecay: number;
  /** Seed of the initialisation and of the batch order. */
  seed: number;
  /** Styles whose training concepts are trained on (and whose validation concepts select the epoch). */
  trainStyles: string[];
}

/** One point of the loss curve (per step). */
export interface CurvePoint {
  step: number;
  epoch: number;
  loss: number;
  lr: number;
  logitScale: number;
  activeImage?: number;
  activeText?: number;
}

/** Per epoch: mean training loss, validation figures (null on epochs not validated), elapsed time. */
export interface EpochRecord {
  epoch: number;
  meanLoss: number;
  valScore: number | null;
  valRsum: number | null;
  valTop1: number | null;
  ms: number;
}

/** Epochs after which the head is validated: the second half of the budget (the last epoch always). */
export function validatedEpoch(epoch: number, epochs: number): boolean {
  return epoch > Math.floor(epochs / 2);
}

/** What a run produced. `params` are the kept (best-epoch) parameters. */
export interface RunResult {
  config: TrainConfig;
  name: string;
  curve: CurvePoint[];
  epochs: EpochRecord[];
  bestEpoch: number;
  /** Validation evaluation of the kept parameters. */
  val: SplitEval;
  params: Record<string, Float32Array>;
  timings: { trainMs: number; evalMs: number; steps: number; pairs: number; pairsPerSecond: number; msPerStep: number };
}

/** Progress of a run: steps done out of the planned total. */
export type RunProgress = (stepsDone: number, stepsTotal: number) => void;

/** The model-selection score of a validation evaluation: (rsum + zero-shot top-1) / 7, the mean of 7 percentages. */
export function valScore(e: SplitEval): number {
  return (e.mean.rsum + e.mean.top1) / 7;
}

/** Steps a config takes on `rows` concepts (one pass per style per epoch). */
export function plannedSteps(config: TrainConfig, trainConcepts: number): number {
  let perPass = Math.ceil(trainConcepts / config.batchSize);
  if (trainConcepts % config.batchSize === 1 && perPass > 1) perPass--;
  return perPass * config.trainStyles.length * config.epochs;
}

export function checkTrainConfig(c: TrainConfig): void {
  if (!(Number.isFinite(c.lr) && c.lr > 0)) throw new FdtValueError(`lr: expected a finite number > 0, found ${c.lr}`);
  if (!Number.isInteger(c.epochs) || c.epochs < 1) throw new FdtValueError(`epochs: expected a positive integer, found ${c.epochs}`);
  if (!Number.isInteger(c.batchSize) || c.batchSize < 2) throw new FdtValueError(`batchSize: expected an integer >= 2, found ${c.batchSize}`);
  if (!(c.warmupFraction >= 0 && c.warmupFraction <= 1)) throw new FdtValueError(`warmupFraction: expected a number in [0, 1], found ${c.warmupFraction}`);
  if (!(c.weightDecay >= 0)) throw new FdtValueError(`weightDecay: expected a number >= 0, found ${c.weightDecay}`);
  if (!Number.isInteger(c.seed) || c.seed < 0) throw new FdtValueError(`seed: expected an integer >= 0, found ${c.seed}`);
}

/**
 * Trains one head and keeps its best-validation-epoch parameters. `data` must hold the images of every training
 * style and the validation prompts.
 */
export async function trainRun(config: TrainConfig, data: DemoData, options: { onProgress?: RunProgress; valSplit?: SplitName } = {}): Promise<{ result: RunResult; head: DemoHead }> {
  checkTrainConfig(config);
  for (const s of config.trainStyles) {
    if (!data.images[s]) throw new FdtValueError(`trainStyles: expected styles loaded in the data (${Object.keys(data.images).join(', ')}), found ${JSON.stringify(s)}`);
  }
  const valSplit = options.valSplit ?? 'val';
  const head = await createHead(config.head, { imageDim: data.imageDim, textDim: data.textDim }, config.seed);
  const rows = data.split.train;
  const total = plannedSteps(config, rows.length);
  const warmupSteps = Math.round(config.warmupFraction * total);
  const trainer = new Trainer(head, {
    schedule: { lr: config.lr, warmupStartLr: config.lr / 10, warmupSteps, totalSteps: total },
    weightDecay: config.weightDecay,
  });
  const curve: CurvePoint[] = [];
  const epochs: EpochRecord[] = [];
  let best: { score: number; epoch: number; params: Record<string, Float32Array> } | null = null;
  let trainMs = 0;
  let evalMs = 0;
  let pairs = 0;
  options.onProgress?.(0, total);
  for (let epoch = 1; epoch <= config.epochs; epoch++) {
    const t0 = performance.now();
    const batches = epochBatches(rows, config.trainStyles, config.batchSize, config.seed, epoch);
    let lossSum = 0;
    for (const pairsOfBatch of batches) {
      const r = await trainer.stepOn(batchTensors(data, pairsOfBatch));
      pairs += pairsOfBatch.length;
      lossSum += r.loss;
      const p: CurvePoint = { step: r.step, epoch, loss: r.loss, lr: r.lr, logitScale: r.logitScale };
      if (r.activeImage !== undefined) p.activeImage = r.activeImage;
      if (r.activeText !== undefined) p.activeText = r.activeText;
      curve.push(p);
      options.onProgress?.(trainer.step, total);
    }
    const t1 = performance.now();
    trainMs += t1 - t0;
    const meanLoss = lossSum / batches.length;
    if (!validatedEpoch(epoch, config.epochs)) {
      epochs.push({ epoch, meanLoss, valScore: null, valRsum: null, valTop1: null, ms: t1 - t0 });
      continue;
    }
    const val = await evaluateSplit(head, data, valSplit, config.trainStyles, { variants: false });
    const t2 = performance.now();
    evalMs += t2 - t1;
    const score = valScore(val);
    epochs.push({ epoch, meanLoss, valScore: score, valRsum: val.mean.rsum, valTop1: val.mean.top1, ms: t2 - t0 });
    if (!best || score > best.score) best = { score, epoch, params: snapshot(head) };
  }
  if (best!.epoch !== config.epochs) restore(head, best!.params);
  // The kept parameters once more, with every zero-shot variant, for the report.
  const t3 = performance.now();
  const finalVal = await evaluateSplit(head, data, valSplit, config.trainStyles);
  evalMs += performance.now() - t3;
  const steps = trainer.step;
  return {
    head,
    result: {
      config,
      name: specName(config.head),
      curve,
      epochs,
      bestEpoch: best!.epoch,
      val: finalVal,
      params: best!.params,
      timings: { trainMs, evalMs, steps, pairs, pairsPerSecond: pairs / (trainMs / 1000), msPerStep: trainMs / steps },
    },
  };
}

function snapshot(head: DemoHead): Record<string, Float32Array> {
  return Object.fromEntries(Object.entries(head.params).map(([k, v]) => [k, v.slice()]));
}

/** Writes saved parameters back into a head. */
export function restore(head: DemoHead, params: Record<string, Float32Array>): void {
  for (const [k, v] of Object.entries(params)) head.setParam(k, v);
}
