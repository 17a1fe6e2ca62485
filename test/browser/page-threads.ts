// The cross-origin-isolated page of the browser test: the golden case on the engine's worker pool (2 threads, every
// kernel split), whose Web Workers share the wasm memory and claim their ranges of the heavy kernels with Atomics.
import { runCase } from './app.js';

const out = document.getElementById('out')!;
(async () => {
  const golden = await (await fetch('/iso/golden.json')).json();
  const isolated = (globalThis as unknown as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
  const threads = await runCase(golden, 2);
  (window as unknown as { __result: unknown }).__result = { isolated, threads };
  out.textContent = `FDT in an isolated page on ${threads['threads']} threads: loss ${(threads['loss'] as number).toFixed(6)}`;
  document.title = 'done';
})().catch((e: Error) => {
  out.textContent = `error: ${e.message}`;
  document.title = 'error';
});
