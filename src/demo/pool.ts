/**
 * Runs the demo's jobs on worker threads (one wasm engine each; the wasm kernels are single-threaded, so two workers
 * use both cores of a 2-core machine), or in this thread when `workers` is 1. Jobs are started longest first; the
 * feature arrays are shared (SharedArrayBuffer), not copied, so workers add little memory.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { FdtEngineError, FdtError, FdtFormatError, FdtShapeError, FdtValueError } from '../errors.js';
import type { DemoData } from './data.js';
import { runJob, type Job, type JobResult } from './jobs.js';
import type { FromWorker, ToWorker } from './worker.js';

/** Progress over a batch of jobs: cost-weighted work done and total (estimated, in "steps of the reference head"). */
export type PoolProgress = (done: number, total: number, finishedJobs: number, jobs: number) => void;

/** Relative cost of a job, used to order jobs and weight progress (1 = one FDT step at C=1024, d=128, B=128). */
export type JobCost = (job: Job) => number;

/** A pool of job runners. Call `close()` when done. */
export class JobPool {
  private readonly workers: Worker[] = [];
  private peakWorkerRss = 0;

  constructor(
    private readonly data: DemoData,
    readonly size: number,
  ) {
    if (!Number.isInteger(size) || size < 1) throw new FdtValueError(`workers: expected a positive integer, found ${size}`);
    if (size > 1) for (let i = 0; i < size; i++) this.workers.push(spawnWorker(data));
  }

  /** Highest process RSS a worker reported (bytes; the whole process, sampled at the end of each job). */
  get workerPeakRss(): number {
    return this.peakWorkerRss;
  }

  /**
   * Runs the jobs and returns their results in the order given. `cost(job)` estimates a job's total work; a job's
   * progress (steps done / steps planned) counts for that share of the total.
   */
  async run(jobs: Job[], opts: { cost: JobCost; onProgress?: PoolProgress }): Promise<JobResult[]> {
    const costs = jobs.map((j) => Math.max(1e-9, opts.cost(j)));
    const total = costs.reduce((a, b) => a + b, 0);
    const doneOf = new Float64Array(jobs.length);
    let finished = 0;
    const report = (): void => {
      let d = 0;
      for (const v of doneOf) d += v;
      opts.onProgress?.(d, total, finished, jobs.length);
    };
    const progressOf = (i: number) => (stepsDone: number, stepsTotal: number): void => {
      doneOf[i] = stepsTotal > 0 ? (costs[i]! * stepsDone) / stepsTotal : 0;
      report();
    };
    const order = jobs.map((_, i) => i).sort((a, b) => costs[b]! - costs[a]! || a - b);
    const results: JobResult[] = new Array(jobs.length);
    report();
    const finish = (i: number, r: JobResult): void => {
      results[i] = r;
      doneOf[i] = costs[i]!;
      finished++;
      report();
    };
    if (this.workers.length === 0) {
      for (const i of order) finish(i, await runJob(jobs[i]!, this.data, progressOf(i)));
      return results;
    }
    let next = 0;
    await Promise.all(
      this.workers.map(async (w) => {
        while (next < order.length) {
          const i = order[next++]!;
          finish(i, await this.runOn(w, i, jobs[i]!, progressOf(i)));
        }
      }),
    );
    return results;
  }

  private runOn(w: Worker, id: number, job: Job, onProgress: (d: number, t: number) => void): Promise<JobResult> {
    return new Promise((resolve, reject) => {
      const onMessage = (m: FromWorker): void => {
        if (m.id !== id) return;
        if (m.type === 'progress') onProgress(m.done, m.total);
        else {
          cleanup();
          if (m.type === 'result') {
            this.peakWorkerRss = Math.max(this.peakWorkerRss, m.peakRss);
            resolve(m.result);
          } else reject(rebuildError(m.name, m.message, m.stack));
        }
      };
      const onError = (e: Error): void => {
        cleanup();
        reject(e);
      };
      const onExit = (code: number): void => {
        cleanup();
        reject(new FdtEngineError(`demo worker: expected it to finish job ${id}, found it exited with code ${code}`));
      };
      const cleanup = (): void => {
        w.off('message', onMessage);
        w.off('error', onError);
        w.off('exit', onExit);
      };
      w.on('message', onMessage);
      w.on('error', onError);
      w.on('exit', onExit);
      w.postMessage({ type: 'job', id, job } satisfies ToWorker);
    });
  }

  /** Stops the workers. */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers.length = 0;
  }
}

function spawnWorker(data: DemoData): Worker {
  // From the compiled package the worker is worker.js next to this file. From the TypeScript sources (tsx, vitest) it
  // is worker.ts: a small bootstrap registers tsx's loader in the worker thread, then imports it.
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./worker.js', import.meta.url), { workerData: data });
  const api = createRequire(import.meta.url).resolve('tsx/esm/api').replace(/index\.cjs$/, 'index.mjs');
  const entry = new URL('./worker.ts', import.meta.url).href;
  const boot = `import(${JSON.stringify(pathToFileURL(api).href)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(boot, { eval: true, workerData: data });
}

function rebuildError(name: string, message: string, stack?: string): Error {
  const classes: Record<string, new (m: string) => FdtError> = { FdtValueError, FdtShapeError, FdtFormatError, FdtEngineError, FdtError };
  const C = classes[name];
  const e = C ? new C(message) : new Error(`${name}: ${message}`);
  if (stack) e.stack = stack;
  return e;
}
