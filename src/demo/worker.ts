/**
 * Worker-thread entry of the demo's job pool: receives the (shared-memory) data once, then runs jobs one at a time
 * and posts progress, results and errors back.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { DemoData } from './data.js';
import { runJob, type Job } from './jobs.js';

export type ToWorker = { type: 'job'; id: number; job: Job } | { type: 'exit' };
export type FromWorker =
  | { type: 'progress'; id: number; done: number; total: number }
  | { type: 'result'; id: number; result: Awaited<ReturnType<typeof runJob>>; peakRss: number }
  | { type: 'error'; id: number; name: string; message: string; stack?: string };

const port = parentPort;
if (port) {
  const data = workerData as DemoData;
  let peakRss = 0;
  port.on('message', (msg: ToWorker) => {
    if (msg.type === 'exit') {
      port.close();
      return;
    }
    const { id, job } = msg;
    runJob(job, data, (done, total) => port.postMessage({ type: 'progress', id, done, total } satisfies FromWorker)).then(
      (result) => {
        peakRss = Math.max(peakRss, process.memoryUsage().rss);
        const transfer = result.kind === 'train' ? Object.values(result.run.params).map((p) => p.buffer as ArrayBuffer) : [];
        port.postMessage({ type: 'result', id, result, peakRss } satisfies FromWorker, transfer);
      },
      (err: unknown) => {
        const e = err instanceof Error ? err : new Error(String(err));
        port.postMessage({ type: 'error', id, name: e.name, message: e.message, stack: e.stack } satisfies FromWorker);
      },
    );
  });
}
