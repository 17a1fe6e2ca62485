// The cross-origin-isolated page of the browser test: the golden case on the engine's worker pool (2 threads, every
// pooled kernel's work threshold at 0), whose Web Workers share the wasm memory; and a relevance forward large enough
// to be split (C = 4,096: 256 panels), whose threads claim their panel ranges with Atomics, checked against the
// one-thread kernel and through its claim counter.
import { FDT } from '../../src/index.js';
import { claimedRelevance } from '../helpers/claimed-relevance.js';
import { runCase } from './app.js';

/** The pooled relevance forward at B = 4, L = 49, d = 64, C = 4,096 against f32_relevance_fwd on this thread. */
async function claimedRelevanceCheck(): Promise<Record<string, unknown>> {
  const model = await FDT.create({ numTokens: 4096, dim: 64, imageDim: 32, textDim: 16, seed: 3, threads: 2 });
  const got = await claimedRelevance(model, 4, 49);
  const same = (a: ArrayLike<number>, b: ArrayLike<number>) => a.length === b.length && Array.from(a).every((v, i) => Object.is(v, b[i]));
  const result = {
    threads: model.threads,
    equal: same(got.pooled.r, got.one.r) && same(got.pooled.arg, got.one.arg),
    counter: got.counter,
    expectedCounter: got.expectedCounter,
  };
  model.dispose();
  return result;
}

const out = document.getElementById('out')!;
(async () => {
  const golden = await (await fetch('/iso/golden.json')).json();
  const isolated = (globalThis as unknown as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
  const threads = await runCase(golden, 2);
  const claimed = await claimedRelevanceCheck();
  (window as unknown as { __result: unknown }).__result = { isolated, threads, claimed };
  out.textContent = `FDT in an isolated page on ${threads['threads']} threads: loss ${(threads['loss'] as number).toFixed(6)}; ` +
    `claimed relevance equal to one thread: ${claimed['equal']}`;
  document.title = 'done';
})().catch((e: Error) => {
  out.textContent = `error: ${e.message}`;
  document.title = 'error';
});
