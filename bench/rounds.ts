/**
 * What the benchmarks need that runs anywhere, browsers included (no Node module here, unlike harness.ts): the median,
 * calls timed in interleaved rounds, kernel inputs in a module's arena, and bit-for-bit equality of outputs.
 */
import type { KernelModule } from '../bindings/kernels.js';
import { clearUpperVectorState } from '../bindings/vector-state.js';

/** Median of numbers (mean of the middle two for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Calls fns[i]() once per round each, in an order reversed every other round, so that a slow period of the host
 * falls on all of them; every call starts from a clear vector state (bindings/vector-state.ts). Returns each
 * function's times in ms, in round order.
 */
export async function timeRounds(fns: readonly (() => unknown)[], rounds: number): Promise<number[][]> {
  const times = fns.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) {
    const order = fns.map((_, i) => (r % 2 ? fns.length - 1 - i : i));
    for (const i of order) {
      clearUpperVectorState();
      const t0 = performance.now();
      await fns[i]!();
      times[i]!.push(performance.now() - t0);
    }
  }
  return times;
}

/** n float32 values in mod's arena: value i = f(i), or left as they are without f. */
export function floats(mod: KernelModule, n: number, f?: (i: number) => number): number {
  const p = mod.arena.alloc(n * 4);
  if (f) {
    const view = mod.f32(p, n);
    for (let i = 0; i < n; i++) view[i] = f(i);
  }
  return p;
}

/** The same values bit for bit (-0 and NaN included). */
export function sameBits(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  return a.length === b.length && Array.prototype.every.call(a, (v: number, i: number) => Object.is(v, b[i]));
}
