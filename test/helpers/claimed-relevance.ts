// The pooled relevance forward of a threaded model, with its panel ranges claimed at run time, against the one-thread
// kernel on the same inputs; and the claim counter, which tells whether every thread ran its claim loop to the end
// exactly once. Used by the pool test (Node, Deno, Bun) and by the isolated browser page (bundled for Chromium).
import type { FDT } from '../../src/fdt.js';
import { relevanceClaimPanels } from '../../src/engines/wasm/parallel.js';

export interface ClaimedRelevance {
  /** The one-thread kernel's and the pooled call's scores and arg-maxima, [B, C] each. */
  one: { r: Float32Array; arg: Int32Array };
  pooled: { r: Float32Array; arg: Int32Array };
  /** The claim counter after the call, and what it reads when each thread's loop ended after one failed claim. */
  counter: number;
  expectedCounter: number;
}

/**
 * Runs f32_relevance_fwd on this thread and engine.parallel.relevance on the model's pool (all its threads), on
 * deterministic inputs at [B, L, d] against the model's C. With `busyWorker`, worker 0 first runs GELU over 1 M
 * values (~10 ms) queued just ahead of the pooled call, so this thread starts claiming panels alone.
 */
export async function claimedRelevance(model: FDT, B: number, L: number, busyWorker = false): Promise<ClaimedRelevance> {
  const engine = model.wasm;
  engine.parallel.minParallelFlops = 0;
  const mod = engine.mod;
  const [d, C] = [model.config.dim, model.config.numTokens];
  const panels = Math.ceil(C / 16);
  const held: number[] = [];
  const alloc = (bytes: number) => (held.push(mod.arena.alloc(bytes)), held.at(-1)!);
  const f32 = (n: number, f?: (i: number) => number) => {
    const p = alloc(n * 4);
    if (f) mod.f32(p, n).set(Float32Array.from({ length: n }, (_, i) => f(i)));
    return p;
  };
  try {
    const [Q, T, Tp] = [f32(B * L * d, (i) => Math.sin(i * 0.37)), f32(C * d, (i) => Math.cos(i * 0.11)), f32(panels * 16 * d)];
    mod.k.f32_pack_nt(T, C, d, Tp);
    const [R1, A1, R2, A2] = [f32(B * C), f32(B * C), f32(B * C), f32(B * C)];
    mod.k.f32_relevance_fwd(Q, B, L, d, Tp, C, 0.25, 0, 0, R1, A1, alloc(mod.k.relevance_scratch_bytes(L)));
    let busy: Promise<void> = Promise.resolve();
    if (busyWorker) {
      const n = 1 << 20;
      const [src, dst] = [f32(n, () => 0.5), f32(n)];
      const worker = (engine.workerPool as unknown as { workers: { request(msg: object): Promise<void> }[] }).workers[0]!;
      busy = worker.request({ calls: [['f32_gelu_fwd', [src, n, dst, 0]]] });
    }
    // The round's blocks, the claim counter first.
    const blocks: number[] = [];
    const scope = { bytes: (k: number) => (blocks.push(alloc(k)), blocks.at(-1)!) };
    await engine.parallel.relevance(scope, Q, B, L, d, Tp, C, 0.25, 0, 0, R2, A2);
    await busy;
    const threads = model.threads;
    const grain = relevanceClaimPanels(panels, threads);
    return {
      one: { r: mod.f32(R1, B * C).slice(), arg: mod.i32(A1, B * C).slice() },
      pooled: { r: mod.f32(R2, B * C).slice(), arg: mod.i32(A2, B * C).slice() },
      counter: mod.i32(blocks[0]!, 1)[0]!,
      // One add per claim, plus one per thread whose claim found nothing left.
      expectedCounter: (Math.ceil(panels / grain) + threads) * grain,
    };
  } finally {
    for (const p of held) mod.arena.free(p);
  }
}
