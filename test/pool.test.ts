// The worker pool: results identical for any thread count, a worker error fails only its call, a dead worker is
// replaced, and runtimes without SharedArrayBuffer fall back to one thread (or throw when threads are forced).
import { describe, expect, it } from 'vitest';
import { relaxedSimdSupported, setupCalls } from '../bindings/kernels.js';
import { chosenTiles } from '../bindings/tile-choice.js';
import { claimLoop, WorkerPool } from '../bindings/pool.js';
import { claimedRelevance } from './helpers/claimed-relevance.js';
import { WasmEngine } from '../src/engines/wasm/engine.js';
import { FDT, FdtEngineError, Trainer } from '../src/index.js';
import type { GradientResult, ParamGradientResult } from '../src/index.js';
import { Rng } from './reference/rng.js';

function batch(seed: number) {
  const rng = new Rng(seed);
  return {
    patches: { data: Float32Array.from(rng.normals(6 * 49 * 32)), shape: [6, 49, 32] },
    tokens: { data: Float32Array.from(rng.normals(6 * 20 * 16)), shape: [6, 20, 16] },
    valid: { data: Float32Array.from({ length: 120 }, (_, i) => (i % 20 < 7 + (i % 3) ? 1 : 0)), shape: [6, 20] },
  };
}
const RELAXED = relaxedSimdSupported();
const config = { numTokens: 2000, dim: 48, imageDim: 32, textDim: 16, temperature: 0.3, seed: 5 };

describe('worker pool', () => {
  it('gives bit-identical results, forward and backward, on 1, 2 and 3 threads', async () => {
    const b = batch(1);
    const out: Record<number, GradientResult> = {};
    for (const threads of [1, 2, 3]) {
      const m = await FDT.create({ ...config, threads });
      expect(m.threads).toBe(threads);
      out[threads] = await m.gradients(b);
      m.dispose();
    }
    for (const t of [2, 3]) {
      expect(out[t]!.loss).toBe(out[1]!.loss);
      expect(Array.from(out[t]!.image.relevance)).toEqual(Array.from(out[1]!.image.relevance));
      expect(Array.from(out[t]!.text.weights)).toEqual(Array.from(out[1]!.text.weights));
      for (const [k, g] of Object.entries(out[1]!.grads.params)) expect(Array.from(out[t]!.grads.params[k]!), `${k} on ${t} threads`).toEqual(Array.from(g));
      expect(Array.from(out[t]!.grads.patches)).toEqual(Array.from(out[1]!.grads.patches));
    }
  });

  it('with every kernel split (no work threshold), results are still bit-identical on 1, 2 and 3 threads, SIMD and scalar builds alike', async () => {
    const b = batch(3);
    const out: Record<string, GradientResult> = {};
    const paramsOnly: Record<string, ParamGradientResult> = {};
    // Keys: the thread count for the SIMD build; 's1' and 's3' for the scalar build on 1 and 3 threads.
    for (const [key, build, threads] of [['1', 'simd', 1], ['2', 'simd', 2], ['3', 'simd', 3], ['s1', 'scalar', 1], ['s3', 'scalar', 3]] as const) {
      const m = await FDT.create({ ...config, threads, build });
      expect(m.build).toBe(build);
      (m.wasm as unknown as { parallel: { minParallelFlops: number } }).parallel.minParallelFlops = 0;
      out[key] = await m.gradients(b);
      paramsOnly[key] = await m.gradients(b, { inputs: false }); // the training path: no input gradients
      m.dispose();
    }
    for (const t of ['2', '3', 's1', 's3']) {
      expect(out[t]!.loss).toBe(out[1]!.loss);
      for (const k of ['relevance', 'weights', 'embeddingsRaw'] as const) {
        expect(Array.from(out[t]!.image[k]), `image ${k} on ${t} threads`).toEqual(Array.from(out[1]!.image[k]));
        expect(Array.from(out[t]!.text[k]), `text ${k} on ${t} threads`).toEqual(Array.from(out[1]!.text[k]));
      }
      for (const [k, g] of Object.entries(out[1]!.grads.params)) expect(Array.from(out[t]!.grads.params[k]!), `${k} on ${t} threads`).toEqual(Array.from(g));
      expect(Array.from(out[t]!.grads.patches)).toEqual(Array.from(out[1]!.grads.patches));
      expect(Array.from(out[t]!.grads.tokens)).toEqual(Array.from(out[1]!.grads.tokens));
      for (const [k, g] of Object.entries(paramsOnly[1]!.grads.params)) expect(Array.from(paramsOnly[t]!.grads.params[k]!), `${k} without inputs on ${t} threads`).toEqual(Array.from(g));
    }
  });

  it.skipIf(!RELAXED)(`the relaxed build on 2 threads (its shared-memory twin) equals it on 1, bit for bit${RELAXED ? '' : ' (skipped: no relaxed SIMD in this runtime)'}`, async () => {
    const b = batch(4);
    const out: GradientResult[] = [];
    for (const threads of [1, 2]) {
      const m = await FDT.create({ ...config, threads, build: 'relaxed' });
      expect([m.build, m.threads]).toEqual(['relaxed', threads]);
      (m.wasm as unknown as { parallel: { minParallelFlops: number } }).parallel.minParallelFlops = 0;
      out.push(await m.gradients(b));
      m.dispose();
    }
    expect(out[1]!.loss).toBe(out[0]!.loss);
    expect(Array.from(out[1]!.image.relevance)).toEqual(Array.from(out[0]!.image.relevance));
    for (const [k, g] of Object.entries(out[0]!.grads.params)) expect(Array.from(out[1]!.grads.params[k]!), k).toEqual(Array.from(g));
  });

  it('claimed ranges: claimers on one counter run every range of [0, units) exactly once, however they interleave', () => {
    for (const [units, grain, steal] of [[37, 5, 1], [37, 5, 3], [1024, 16, 2], [3, 8, 1], [40, 8, 0]] as const) {
      const buffer = new SharedArrayBuffer(32);
      const counter = 8; // a byte offset into the buffer, as in wasm memory
      const mine: [number, number][] = [];
      const theirs: [number, number][] = [];
      // Another thread claiming `steal` ranges between each two of ours, with the same Atomics.add.
      const cell = new Int32Array(buffer, counter, 1);
      claimLoop(buffer, counter, units, grain, (u0, u1) => {
        mine.push([u0, u1]);
        for (let i = 0; i < steal; i++) {
          const v = Atomics.add(cell, 0, grain);
          if (v < units) theirs.push([v, Math.min(units, v + grain)]);
        }
      });
      const all = [...mine, ...theirs].sort((a, b) => a[0] - b[0]);
      expect(all[0]![0], `${units}/${grain}/${steal}`).toBe(0);
      for (let i = 1; i < all.length; i++) expect(all[i]![0]).toBe(all[i - 1]![1]);
      expect(all.at(-1)![1]).toBe(units);
      expect(mine.length).toBeGreaterThan(0);
      if (steal === 0) expect(mine.length).toBe(Math.ceil(units / grain));
    }
  });

  it('the relevance forward over claimed panel ranges equals one thread\'s kernel, with the worker busy when the call starts; every thread runs its claim loop to the end once', async () => {
    const m = await FDT.create({ ...config, threads: 2 });
    const got = await claimedRelevance(m, 3, 49, true);
    expect(Array.from(got.pooled.r)).toEqual(Array.from(got.one.r));
    expect(Array.from(got.pooled.arg)).toEqual(Array.from(got.one.arg));
    // Each of the 2 threads ran its loop, the worker's included, to the end exactly once.
    expect(got.counter).toBe(got.expectedCounter);
    m.dispose();
  });

  it('the dictionary packed over 3 threads equals one thread\'s packing, partial last panel included', async () => {
    const m = await FDT.create({ ...config, threads: 3 });
    const engine = m.wasm;
    engine.parallel.minParallelFlops = 0;
    const mod = engine.mod;
    const rng = new Rng(12);
    for (const [N, K] of [[2001, 48], [17, 5], [33, 16], [3, 7]] as const) {
      const src = mod.arena.alloc(N * K * 4);
      mod.f32(src, N * K).set(Float32Array.from(rng.normals(N * K)));
      const size = Math.ceil(N / 16) * 16 * K;
      const [one, three] = [mod.arena.alloc(size * 4), mod.arena.alloc(size * 4)];
      mod.f32(three, size).fill(NaN);
      mod.k.f32_pack_nt(src, N, K, one);
      await engine.parallel.packNT(src, N, K, three);
      expect(Array.from(mod.f32(three, size)), `[${N}, ${K}]`).toEqual(Array.from(mod.f32(one, size)));
      for (const p of [src, one, three]) mod.arena.free(p);
    }
    m.dispose();
  });

  it('a worker that throws fails that call with its error; a worker that dies is replaced; results stay right', async () => {
    const m = await FDT.create({ ...config, threads: 2 });
    const b = batch(2);
    const good = await m.loss(b);
    const pool = m.wasm.workerPool!;
    await expect(pool.inject(0, 'fail')).rejects.toThrow(/injected fail/);
    expect((await m.loss(b)).loss).toBe(good.loss);
    await expect(pool.inject(0, 'crash')).rejects.toThrow();
    const after = await m.loss(b);
    expect(after.loss).toBe(good.loss);
    expect(Array.from(after.image.embeddings)).toEqual(Array.from(good.image.embeddings));
  });

  it('a dead worker that cannot be replaced is dropped: that call and the next give the same bits on fewer threads', async () => {
    const m = await FDT.create({ ...config, threads: 3 });
    (m.wasm as unknown as { parallel: { minParallelFlops: number } }).parallel.minParallelFlops = 0;
    const b = batch(5);
    const good = await m.gradients(b);
    const pool = m.wasm.workerPool!;
    const start = WorkerPool.startWorker;
    const debug = console.debug;
    const notes: string[] = [];
    console.debug = (msg: string) => notes.push(msg);
    WorkerPool.startWorker = () => Promise.reject(new Error('no more workers here'));
    try {
      await expect(pool.inject(1, 'crash')).rejects.toThrow();
      const once = await m.gradients(b); // the dead worker's shares run on the calling thread
      expect(pool.size).toBe(2);
      const twice = await m.gradients(b); // and from now on the pool has two threads
      for (const r of [once, twice]) {
        expect(r.loss).toBe(good.loss);
        for (const [k, g] of Object.entries(good.grads.params)) expect(Array.from(r.grads.params[k]!), k).toEqual(Array.from(g));
      }
      expect(notes).toEqual([expect.stringMatching(/^fdtkit: a worker could not be replaced \(no more workers here\); 2 threads from now on$/)]);
    } finally {
      WorkerPool.startWorker = start;
      console.debug = debug;
    }
    m.dispose();
  });

  it('every worker runs the setup calls once after it instantiates the module, a replaced worker too; the model\'s instance has this process\'s tile choices', async () => {
    const m = await FDT.create({ ...config, threads: 2 });
    const mod = m.wasm.mod;
    // The setters return the previous setting: the caller's shared-memory instance timed its tiles (or took this
    // process's earlier choices), and the pool hands those choices to every worker it starts as setup calls (a
    // worker's own settings are not readable from here).
    const broadcast = mod.k.tile_set_broadcast(1);
    mod.k.tile_set_broadcast(broadcast);
    const relevanceTile = mod.k.relevance_set_tile(1);
    mod.k.relevance_set_tile(relevanceTile);
    const chosen = chosenTiles(mod.build, true)!;
    expect(broadcast).toBe(chosen.broadcastFromMemory ? 1 : 0);
    expect(relevanceTile).toBe(chosen.relevanceOn1x32 ? 1 : 0);
    expect(setupCalls(mod.build, true)).toEqual([['tile_set_broadcast', [broadcast]], ['relevance_set_tile', [relevanceTile]]]);
    expect((m.wasm.workerPool as unknown as { setup: unknown }).setup).toEqual(setupCalls(mod.build, true));
    const [M, N] = [5, 7];
    const X = mod.arena.alloc(M * N * 4);
    const sums = mod.arena.alloc(N * 4);
    mod.f32(X, M * N).set(Float32Array.from({ length: M * N }, (_, i) => i + 1));
    mod.f32(sums, N).fill(0);
    // A setup call with a visible effect: the column sums of X, accumulated into `sums` (+=) once per run.
    const { module, memory } = m.wasm.workerPool as unknown as { module: WebAssembly.Module; memory: WebAssembly.Memory };
    const pool = await WorkerPool.start(2, module, memory, [['f32_colsum_acc', [X, M, N, sums]]]);
    try {
      const colsum = Array.from({ length: N }, (_, j) => Array.from({ length: M }, (_, i) => i * N + j + 1).reduce((a, v) => a + v, 0));
      expect(Array.from(mod.f32(sums, N))).toEqual(colsum);
      await expect(pool.inject(0, 'crash')).rejects.toThrow();
      await pool.run([[], []], () => {}); // replaces the dead worker, which runs the setup again
      expect(Array.from(mod.f32(sums, N))).toEqual(colsum.map((v) => 2 * v));
      // A setup call that fails fails the start, naming the call's error; no worker is left running.
      await expect(WorkerPool.start(2, module, memory, [['no_such_kernel' as 'f32_colsum_acc', []]])).rejects.toThrow(/worker setup failed/);
    } finally {
      pool.terminate();
      mod.arena.free(X);
      mod.arena.free(sums);
      m.dispose();
    }
  });

  it('calls issued without awaiting run one after another: an encode issued during an AdamW update sees the updated parameters', async () => {
    const b = batch(4);
    const x = { data: Float32Array.from(new Rng(8).normals(6 * 49 * 32)), shape: [6, 49, 32] };
    const make = async () => {
      const m = await FDT.create({ ...config, threads: 2 });
      (m.wasm as unknown as { parallel: { minParallelFlops: number } }).parallel.minParallelFlops = 0;
      return m;
    };
    const ref = await make();
    const before = await ref.encodeImage(x);
    await new Trainer(ref, { schedule: { warmupSteps: 0, totalSteps: 10 } }).stepOn(b);
    const after = await ref.encodeImage(x);
    ref.dispose();
    expect(Array.from(after.embeddings)).not.toEqual(Array.from(before.embeddings));

    const m = await make();
    const trainer = new Trainer(m, { schedule: { warmupSteps: 0, totalSteps: 10 } });
    // An encode issued the moment the AdamW update starts waits for the whole update (run alongside it, it would
    // read parameters half updated and give neither result).
    const parallel = (m.wasm as unknown as { parallel: { adamw: (...a: unknown[]) => Promise<void> } }).parallel;
    const adamw = parallel.adamw.bind(parallel);
    let during: Promise<{ embeddings: Float32Array }> | null = null;
    parallel.adamw = (...a: unknown[]) => {
      // The engine's own entry point: no dispatcher decision delays it.
      during ??= m.wasm.encode(m, 'image', x.data, 6, 49, null);
      return adamw(...a);
    };
    await trainer.stepOn(b);
    expect(during).not.toBeNull();
    expect(Array.from((await during!).embeddings)).toEqual(Array.from(after.embeddings));
    m.dispose();
  });

  it('a model released while a call runs keeps its blocks until the calls queued before the release end', async () => {
    const m = await FDT.create({ ...config, threads: 2 });
    await m.loss(batch(5));
    const engine = m.wasm as unknown as { exclusive: WasmEngine['exclusive']; residents: WeakMap<object, unknown> };
    const held = engine.exclusive(async () => {
      await new Promise((r) => setTimeout(r, 20));
      return engine.residents.has(m);
    });
    m.dispose();
    expect(await held).toBe(true);
    await engine.exclusive(async () => undefined);
    expect(engine.residents.has(m)).toBe(false);
  });

  it('without SharedArrayBuffer: one thread and a note, or an error when threads are forced', async () => {
    const g = globalThis as Record<string, unknown>;
    const sab = g['SharedArrayBuffer'];
    delete g['SharedArrayBuffer'];
    try {
      const e = await WasmEngine.create('auto', 2);
      expect(e.threads).toBe(1);
      expect(e.threadNote).toMatch(/2 threads asked, 1 used: this runtime has no SharedArrayBuffer/);
      await expect(WasmEngine.create('auto', 2, true)).rejects.toThrow(FdtEngineError);
    } finally {
      g['SharedArrayBuffer'] = sab;
    }
  });
});
