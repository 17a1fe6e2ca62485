/**
 * The one place that knows how to get a multi-threaded wasm engine, so the suites run thread rows as soon as the
 * worker pool exists and skip them with the reason until then. Everything is feature-detected at run time:
 *
 *   - `FDT.create({ ..., threads })` then `fdt.threads` (a number) says the option exists and how many threads run;
 *     a missing `threads` getter means the pool has not landed; a count below the one asked comes with the
 *     engine's `threadNote` as the reason;
 *   - the kernel alone is timed through the engine's `parallel.relevance(scope, Q, B, L, d, Tp, C, scale, valid,
 *     mode, R, ARG)` when it has one (dictionary panels split over the threads); otherwise through `encodeImage` of
 *     a head whose query MLP is tiny (imageDim 16), which the relevance kernel dominates, and the row says so.
 */
import type { KernelModule } from '../bindings/kernels.js';
import { FDT, type CreateOptions } from '../src/fdt.js';
import type { Shape } from './shapes.js';
import { wasmRelevanceSetup } from './relevance.js';

/** A model whose engine runs `threads` threads, or why there is none. */
export type ThreadedModel = { fdt: FDT; threads: number; reason?: undefined } | { fdt?: undefined; reason: string };

/** Options of FDT.create plus `threads` (typed loosely so that this file compiles before the option exists). */
export type CreateWithThreads = CreateOptions & { threads?: number };

/** The thread count of a model's engine, or undefined when the engine has no notion of threads. */
export function modelThreads(fdt: FDT): number | undefined {
  const t = (fdt as unknown as { threads?: unknown }).threads;
  return typeof t === 'number' ? t : undefined;
}

/** FDT.create with an explicit thread count (always forced to the wasm engine). */
export async function createModel(o: CreateWithThreads): Promise<FDT> {
  return FDT.create({ engine: 'wasm', ...o } as CreateOptions);
}

/**
 * A model on `threads` threads: skipped (with the reason) when the option does not exist yet or the engine runs
 * fewer threads than asked.
 */
export async function threadedModel(o: CreateWithThreads & { threads: number }): Promise<ThreadedModel> {
  let fdt: FDT;
  try {
    fdt = await createModel(o);
  } catch (e) {
    return { reason: `FDT.create({ threads: ${o.threads} }) failed: ${(e as Error).message}` };
  }
  const t = modelThreads(fdt);
  if (t === undefined) {
    fdt.dispose();
    return { reason: 'FDT.create has no `threads` option yet (fdt.threads is undefined): the worker pool has not landed' };
  }
  if (t !== o.threads) {
    const note = (fdt.wasm as unknown as { threadNote?: string }).threadNote;
    fdt.dispose();
    return { reason: `asked for ${o.threads} threads, the engine runs ${t}${note ? `: ${note}` : ''}` };
  }
  return { fdt, threads: t };
}

interface ParallelLike {
  relevance(
    s: { bytes(n: number): number }, Q: number, B: number, L: number, d: number, Tp: number, C: number, scale: number,
    valid: number, mode: number, R: number, ARG: number,
  ): Promise<void> | void;
}

/** A threaded relevance runner: one forward call per run(); `via` tells what is timed. */
export interface ThreadedRunner {
  run: () => Promise<unknown>;
  release: () => void;
  via: 'kernel' | 'encode';
  /** FLOPs of one call beyond the relevance kernel (the encode path's query MLP), for the note. */
  extraFlops: number;
}

/**
 * The relevance kernel of `shape` on a model's engine (its thread count): the kernel alone when the engine exposes
 * `parallel.relevance`, else `encodeImage` of a head with imageDim 16 (the model must then have been created with
 * the shape's C and d and imageDim 16).
 */
export function threadedRelevanceRunner(fdt: FDT, s: Shape, q: Float32Array, T: Float32Array): ThreadedRunner {
  const eng = fdt.wasm as unknown as { mod?: KernelModule; parallel?: Partial<ParallelLike> };
  const mod = eng.mod;
  const par = eng.parallel;
  if (mod && par && typeof par.relevance === 'function') {
    const a = mod.arena;
    const setup = wasmRelevanceSetup(mod, s, q, T);
    const { q: qp, packed, R, ARG } = setup.buffers;
    const relevance = par.relevance.bind(par);
    return {
      via: 'kernel',
      extraFlops: 0,
      run: async () => {
        const blocks: number[] = [];
        const scope = { bytes: (n: number) => { const p = a.alloc(n); blocks.push(p); return p; } };
        try {
          await relevance(scope, qp, s.B, s.P, s.d, packed, s.C, setup.scale, 0, 0, R, ARG);
        } finally {
          for (const p of blocks) a.free(p);
        }
      },
      release: setup.release,
    };
  }
  const c = fdt.config;
  if (c.numTokens !== s.C || c.dim !== s.d) throw new Error(`threadedRelevanceRunner: the model must have C = ${s.C}, d = ${s.d}`);
  const x = new Float32Array(s.B * s.P * c.imageDim);
  for (let i = 0; i < x.length; i++) x[i] = q[i % q.length]!;
  return {
    via: 'encode',
    extraFlops: 2 * s.B * s.P * (c.imageDim * s.d + s.d * s.d),
    run: () => fdt.encodeImage({ data: x, shape: [s.B, s.P, c.imageDim] }),
    release: () => undefined,
  };
}
