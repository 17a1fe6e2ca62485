// The cross-origin-isolated page of the browser test: the golden case on the engine's worker pool (2 threads, every
// pooled kernel's work threshold at 0), whose Web Workers share the wasm memory; and a relevance forward large enough
// to be split (C = 4,096: 256 panels), whose threads claim their panel ranges with Atomics, checked against the
// one-thread kernel and through its claim counter.
import { FDT } from '../../src/index.js';
import { runCase } from './app.js';

/** The pooled relevance forward at B = 4, L = 49, d = 64, C = 4,096 against f32_relevance_fwd on this thread. */
async function claimedRelevance(): Promise<Record<string, unknown>> {
  const [B, L, d, C] = [4, 49, 64, 4096];
  const model = await FDT.create({ numTokens: C, dim: d, imageDim: 32, textDim: 16, seed: 3, threads: 2 });
  const engine = model.wasm;
  const mod = engine.mod;
  const panels = Math.ceil(C / 16);
  const f32 = (n: number, f?: (i: number) => number) => {
    const p = mod.arena.alloc(n * 4);
    if (f) mod.f32(p, n).set(Float32Array.from({ length: n }, (_, i) => f(i)));
    return p;
  };
  const [Q, T, Tp] = [f32(B * L * d, (i) => Math.sin(i * 0.37)), f32(C * d, (i) => Math.cos(i * 0.11)), f32(panels * 16 * d)];
  mod.k.f32_pack_nt(T, C, d, Tp);
  const [R1, A1, R2, A2] = [f32(B * C), f32(B * C), f32(B * C), f32(B * C)];
  mod.k.f32_relevance_fwd(Q, B, L, d, Tp, C, 0.25, 0, 0, R1, A1, mod.arena.alloc(mod.k.relevance_scratch_bytes(L)));
  const blocks: number[] = [];
  const scope = { bytes: (n: number) => (blocks.push(mod.arena.alloc(n)), blocks.at(-1)!) };
  await engine.parallel.relevance(scope, Q, B, L, d, Tp, C, 0.25, 0, 0, R2, A2);
  const same = (a: number, b: number) => mod.i32(a, B * C).every((v, i) => v === mod.i32(b, B * C)[i]);
  const grain = Math.ceil(panels / (2 * 32));
  const result = {
    threads: model.threads,
    equal: same(R1, R2) && same(A1, A2),
    // One add per claim, plus one per thread that found nothing left: both loops ran to the end once.
    counter: mod.i32(blocks[0]!, 1)[0],
    expectedCounter: (Math.ceil(panels / grain) + 2) * grain,
  };
  model.dispose();
  return result;
}

const out = document.getElementById('out')!;
(async () => {
  const golden = await (await fetch('/iso/golden.json')).json();
  const isolated = (globalThis as unknown as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
  const threads = await runCase(golden, 2);
  const claimed = await claimedRelevance();
  (window as unknown as { __result: unknown }).__result = { isolated, threads, claimed };
  out.textContent = `FDT in an isolated page on ${threads['threads']} threads: loss ${(threads['loss'] as number).toFixed(6)}; ` +
    `claimed relevance equal to one thread: ${claimed['equal']}`;
  document.title = 'done';
})().catch((e: Error) => {
  out.textContent = `error: ${e.message}`;
  document.title = 'error';
});
