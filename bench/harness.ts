/**
 * Timing through tinybench: medians of a fixed number of calls after warm-up, with the number of calls chosen from
 * a time budget (slow implementations get fewer samples, never fewer than `min`). Every suite measures through
 * `measure` so that the statistics are the same everywhere.
 */
import { readFileSync } from 'node:fs';
import process from 'node:process';
import { Bench } from 'tinybench';
import { clearUpperVectorState } from '../bindings/vector-state.js';
import { median } from './rounds.js';

/** One measurement: the median and spread of `samples` calls. */
export interface Timing {
  medianMs: number;
  minMs: number;
  maxMs: number;
  samples: number;
  /**
   * Share of the machine's CPU capacity (all cores) that other processes used while the timed calls ran, from
   * /proc/stat minus this process's own CPU time; null where that cannot be read. 0.5 on 2 cores = one core busy
   * with someone else's work: the row was measured under contention.
   */
  othersLoad: number | null;
  /** measureInterleaved: this function's sample of each round, in round order. */
  roundsMs?: number[];
  /**
   * measureInterleaved with a probe: the host's speed just before and just after each of this function's calls,
   * two readings per round in round order (2 n readings).
   */
  hostGflops?: number[];
  /** measureInterleaved with a probe: the fastest reading of the whole measurement (every function's), the reference. */
  hostRefGflops?: number;
}

/** A snapshot of machine and own CPU time, for othersLoad. */
export interface CpuSnapshot {
  total: number;
  busy: number;
  own: number;
}

const TICKS_PER_S = 100; // USER_HZ on Linux

/** Jiffies of all CPUs (total and busy) and this process's CPU time in jiffies, or null off Linux. */
export function cpuSnapshot(): CpuSnapshot | null {
  try {
    const v = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
    const total = v.reduce((a, b) => a + b, 0);
    const idle = v[3]! + v[4]!;
    const u = process.cpuUsage();
    if (!(u.user > 0)) return null; // a runtime that does not report its own CPU time
    return { total, busy: total - idle, own: ((u.user + u.system) / 1e6) * TICKS_PER_S };
  } catch {
    return null;
  }
}

/** Others' share of the CPU capacity between two snapshots (clamped to [0, 1]), or null. */
export function othersLoad(a: CpuSnapshot | null, b: CpuSnapshot | null): number | null {
  if (!a || !b || b.total - a.total < 10) return null;
  const x = (b.busy - a.busy - (b.own - a.own)) / (b.total - a.total);
  return Math.min(1, Math.max(0, x));
}

/** How many calls to time. */
export interface MeasureOptions {
  /** Seconds to spend on the timed calls (the first, untimed call's duration sets the count). */
  budgetS: number;
  /** Fewest timed calls (default 3). */
  min?: number;
  /** Most timed calls (default 50). */
  max?: number;
  /** Untimed warm-up calls (default 1; at least one runs so that the count can be chosen). */
  warmup?: number;
  /**
   * measureInterleaved: read the host's speed (GFLOP/s, see host-speed.ts) before the first call and after every
   * call; its time is not in any sample.
   */
  probe?: () => number;
}

/**
 * Times `fn` (sync or async): `warmup` untimed calls, then n timed calls with n = budget / (duration of the last
 * warm-up call), clamped to [min, max]. Errors propagate.
 */
export async function measure(fn: () => unknown, o: MeasureOptions): Promise<Timing> {
  const warmup = Math.max(1, o.warmup ?? 1);
  let last = 0;
  for (let i = 0; i < warmup; i++) {
    const t0 = performance.now();
    await fn();
    last = performance.now() - t0;
  }
  const min = o.min ?? 3;
  const max = o.max ?? 50;
  const n = Math.max(min, Math.min(max, Math.floor((o.budgetS * 1000) / Math.max(last, 1e-3))));
  const bench = new Bench({ iterations: n, time: 0, warmupIterations: 0, warmupTime: 0, throws: true });
  // Every timed call starts from the same thread state, whatever ran before (vector-state.ts).
  bench.add('task', fn, { beforeEach: clearUpperVectorState });
  const c0 = cpuSnapshot();
  await bench.run();
  const c1 = cpuSnapshot();
  const result = bench.tasks[0]!.result as unknown as {
    state: string;
    error?: Error;
    latency?: { p50: number; min: number; max: number; samplesCount: number };
  };
  if (result.state === 'errored') throw result.error ?? new Error('tinybench: the task failed');
  if (!result.latency) throw new Error(`tinybench: no statistics (task state ${result.state})`);
  return {
    medianMs: result.latency.p50,
    minMs: result.latency.min,
    maxMs: result.latency.max,
    samples: result.latency.samplesCount,
    othersLoad: othersLoad(c0, c1),
  };
}

/**
 * Times several functions call by call in rounds (A, B, A, B, ... with the order reversed every other round), for
 * ratios between them: this host has slow periods of seconds that /proc/stat does not show, and rows timed one after
 * the other can land in different periods (a 2x difference was seen). `warmup` untimed rounds, then n rounds with
 * n = budget / (duration of the last warm-up round), clamped to [min, max]. Returns one Timing per function, with
 * its samples in round order and, given `o.probe`, the host's speed around every call (see host-speed.ts).
 */
export async function measureInterleaved(fns: (() => unknown)[], o: MeasureOptions): Promise<Timing[]> {
  const warmup = Math.max(1, o.warmup ?? 1);
  let last = 0;
  for (let i = 0; i < warmup; i++) {
    const t0 = performance.now();
    for (const f of fns) await f();
    last = performance.now() - t0;
  }
  const n = Math.max(o.min ?? 3, Math.min(o.max ?? 50, Math.floor((o.budgetS * 1000) / Math.max(last, 1e-3))));
  const samples: number[][] = fns.map(() => []);
  const host: number[][] = fns.map(() => []);
  const c0 = cpuSnapshot();
  let before = o.probe?.() ?? 0;
  for (let r = 0; r < n; r++) {
    const order = fns.map((_, i) => i);
    if (r % 2) order.reverse();
    for (const i of order) {
      clearUpperVectorState(); // every call starts from the same thread state, whatever ran before (vector-state.ts)
      const t0 = performance.now();
      await fns[i]!();
      samples[i]!.push(performance.now() - t0);
      if (o.probe) {
        const after = o.probe();
        host[i]!.push(before, after);
        before = after;
      }
    }
  }
  const load = othersLoad(c0, cpuSnapshot());
  return samples.map((xs, i) => ({
    medianMs: median(xs), minMs: Math.min(...xs), maxMs: Math.max(...xs), samples: xs.length, othersLoad: load,
    roundsMs: xs, ...(o.probe ? { hostGflops: host[i]!, hostRefGflops: Math.max(...host.flat()) } : {}),
  }));
}

export { median };

/** Seconds since `t0` (performance.now() milliseconds). */
export function since(t0: number): number {
  return (performance.now() - t0) / 1000;
}
