/**
 * The demo's units of work (train a config; evaluate saved parameters) and the code that runs one, shared by the
 * in-process runner and the worker threads.
 */
import type { SplitName } from '../data/splits.js';
import type { DemoData } from './data.js';
import { evaluateSplit, type SplitEval } from './evaluate.js';
import { createHead, type HeadSpec } from './heads.js';
import { restore, trainRun, type RunProgress, type RunResult, type TrainConfig } from './train.js';

/** Train one config (validation only). */
export interface TrainJob {
  kind: 'train';
  config: TrainConfig;
}

/** Evaluate saved parameters on splits x styles. */
export interface EvalJob {
  kind: 'eval';
  label: string;
  spec: HeadSpec;
  params: Record<string, Float32Array>;
  evals: { split: SplitName; styles: string[] }[];
}

export type Job = TrainJob | EvalJob;

export type JobResult = { kind: 'train'; run: RunResult } | { kind: 'eval'; label: string; evals: SplitEval[] };

/** Runs one job in this thread. */
export async function runJob(job: Job, data: DemoData, onProgress?: RunProgress): Promise<JobResult> {
  if (job.kind === 'train') {
    const { result, head } = await trainRun(job.config, data, { onProgress });
    head.dispose();
    return { kind: 'train', run: result };
  }
  const head = await createHead(job.spec, { imageDim: data.imageDim, textDim: data.textDim }, 0);
  restore(head, job.params);
  const evals: SplitEval[] = [];
  try {
    for (const e of job.evals) evals.push(await evaluateSplit(head, data, e.split, e.styles));
  } finally {
    head.dispose();
  }
  return { kind: 'eval', label: job.label, evals };
}
