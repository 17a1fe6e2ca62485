import { relaxedSimdSupported } from '../../bindings/kernels.js';
import { chosenTiles } from '../../bindings/tile-choice.js';
import { runCase, runWebGpu } from './app.js';

const out = document.getElementById('out')!;
(async () => {
  const golden = await (await fetch('/golden.json')).json();
  const page = await runCase(golden);
  const worker = new Worker('/worker.js', { type: 'module' });
  const inWorker = await new Promise<Record<string, unknown>>((resolve, reject) => {
    worker.onmessage = (e) => resolve(e.data as Record<string, unknown>);
    worker.onerror = (e) => reject(new Error(e.message));
    worker.postMessage(golden);
  });
  // What went wrong in the worker fails the page (the page's own collector does not see a worker's errors).
  const workerErrors = (inWorker['errors'] ?? []) as string[];
  if (workerErrors.length) throw new Error(workerErrors.join(' | '));
  // A WebGPU run that fails is an error the test reports, not a skip: only a missing adapter skips.
  const webgpu = await runWebGpu(golden).catch((e: Error) => ({ error: `WebGPU run failed: ${e.message}` }));
  // The opt-in relaxed build (FMA), where this browser validates relaxed SIMD.
  const relaxed = relaxedSimdSupported() ? await runCase(golden, undefined, 'relaxed') : { skipped: 'this browser does not validate relaxed SIMD' };
  // The tiles this page timed for its SIMD instances (bindings/tile-choice.ts).
  (window as unknown as { __result: unknown }).__result = { page, worker: inWorker, webgpu, relaxed, tiles: chosenTiles('simd', false) ?? null };
  out.textContent = `FDT in the browser: wasm ${page['build']}, loss ${(page['loss'] as number).toFixed(6)} (page), ` +
    `${(inWorker['loss'] as number).toFixed(6)} (worker); step loss ${(page['stepLoss'] as number).toFixed(6)}`;
  document.title = 'done';
})().catch((e: Error) => {
  out.textContent = `error: ${e.message}`;
  document.title = 'error';
});
