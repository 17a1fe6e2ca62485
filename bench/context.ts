/**
 * What every suite shares: the run's options, the records it produces, the skips with their reasons, and the
 * runtime it runs in. Records are the JSON rows of bench/results/<date>-<runtime>.json.
 */
import process from 'node:process';
import { detectRuntime } from '../src/runtime.js';
import { gridFor, type GridShape } from './shapes.js';
import type { Timing } from './harness.js';
import type { HostSpeed } from './host-speed.js';

/** One measured (or skipped) row. */
export interface BenchRecord {
  /** 'relevance', 'tile_1x32', 'tile_2x16', 'sparsemax', 'train_step', 'memory', ... */
  kernel: string;
  /** The shape as text ('B=32 P=49 d=512 C=16384', or the suite's own description). */
  shape: string;
  /** Grid id for relevance rows ('b32-p49', ...). */
  shape_id?: string;
  /** 'fdtkit-simd', 'fdtkit-scalar', 'plain-js', 'tfjs-wasm', 'tfjs-cpu', 'ort-web', 'numpy', 'js-sort', ... */
  impl: string;
  threads: number;
  runtime: string;
  /** Median of `samples` timed calls; null for a skipped row or a non-timing row. */
  median_ms: number | null;
  /** FLOP / median time; null where FLOPs are not the measure (sparsemax, memory). */
  gflops: number | null;
  samples?: number;
  min_ms?: number;
  max_ms?: number;
  /**
   * Share of the machine's CPU capacity other processes used while this row was timed (see harness.ts); 0.5 on
   * 2 cores = one core taken by someone else. null: not measurable here.
   */
  others_load?: number | null;
  /** Why the row has no measurement. */
  skipped?: string;
  /** Rows timed in interleaved rounds: this row's sample of each round, in round order. */
  rounds_ms?: number[];
  /**
   * Rows timed in interleaved rounds with the host probe: the host's speed (GFLOP/s of the in-L1 tile) just before
   * and just after this row's call of each round, 2 readings per round in round order (see host-speed.ts).
   */
  host_gflops?: number[];
  /** The fastest probe reading of the measurement this row was timed in (every row of it): the quiet calls' reference. */
  host_ref_gflops?: number;
  /** Any other value of the row (us/row, bytes, shares, max difference to ours...). */
  extra?: Record<string, number | string | boolean | null>;
}

/** A target of the performance issue with its measured value. */
export interface TargetResult {
  name: string;
  /** What was measured, as text with units. */
  measured: string;
  /** The threshold, as text. */
  target: string;
  /** true: pass; false: SHORT; null: skipped (see note). */
  pass: boolean | null;
  note?: string;
}

export type Mode = 'quick' | 'full';

/** Options parsed from the command line. */
export interface RunOptions {
  mode: Mode;
  /** Also write the result JSON here (`--json FILE`), beside bench/results/. */
  json?: string;
  /** Suites to run (default all). */
  suites: Set<string>;
  /** Thread counts for the threaded rows (default [2] where the engine has a pool). */
  threads: number[];
  /** Extra name part for the result files (`--tag run2`). */
  tag: string;
  /** Write result files (false with --no-write). */
  write: boolean;
  python: string;
  /** Node: install WebGPU from the `webgpu` package (Dawn) before the suites run. */
  webgpu?: boolean;
  /** Only these grid shapes (ids), or null for the mode's grid. */
  shapes: Set<string> | null;
  /**
   * `--gate SECONDS`: before each shape's interleaved rounds, wait up to this long for the host probe to read at
   * least QUIET_SHARE of its fastest (0: never wait).
   */
  gateS?: number;
}

export const ALL_SUITES = ['ceiling', 'relevance', 'threads', 'sparsemax', 'training', 'memory', 'dispatch'] as const;

/** The runtime's name and version: 'node 20.20.2', 'deno 2.9.6', 'bun 1.4.5'. */
export function runtimeInfo(): { name: string; version: string; v8?: string } {
  const g = globalThis as Record<string, unknown>;
  const rt = detectRuntime();
  if (rt === 'deno') {
    const v = (g['Deno'] as { version: { deno: string; v8: string } }).version;
    return { name: 'deno', version: v.deno, v8: v.v8 };
  }
  if (rt === 'bun') return { name: 'bun', version: String((g['Bun'] as { version: string }).version) };
  return { name: rt, version: process.versions.node ?? 'unknown', v8: process.versions.v8 };
}

/** The state of one run. */
export class Ctx {
  readonly records: BenchRecord[] = [];
  readonly targets: TargetResult[] = [];
  /** Free-form notes printed at the end and written to the markdown. */
  readonly notes: string[] = [];
  readonly runtime: string;
  readonly t0 = performance.now();
  /** The host-speed probe, read around every interleaved round; null where it could not be made. */
  host: HostSpeed | null = null;

  constructor(readonly opts: RunOptions) {
    this.runtime = runtimeInfo().name;
  }

  /** The probe for measureInterleaved (undefined without one). */
  get probe(): (() => number) | undefined {
    const h = this.host;
    return h ? () => h.probe() : undefined;
  }

  /** Waits for the host to be at its speed before a shape's rounds, when `--gate` asks for it. */
  async gate(): Promise<void> {
    if (this.host && this.opts.gateS) await this.host.waitForSpeed(this.opts.gateS, undefined, (l) => this.log(l));
  }

  get full(): boolean {
    return this.opts.mode === 'full';
  }

  /** The mode's grid, limited to --shapes when given. */
  grid(): GridShape[] {
    return gridFor(this.opts.mode).filter((s) => !this.opts.shapes || this.opts.shapes.has(s.id));
  }

  /** Adds a record (runtime filled in) and prints a progress line to stderr. */
  add(r: Omit<BenchRecord, 'runtime'>): BenchRecord {
    const rec: BenchRecord = { ...r, runtime: this.runtime };
    this.records.push(rec);
    const what = rec.skipped
      ? `skipped: ${rec.skipped}`
      : `${rec.median_ms === null ? '' : `${fmtMs(rec.median_ms)} ms`}${rec.gflops === null ? '' : `  ${rec.gflops.toFixed(2)} GFLOP/s`}${rec.samples ? `  (n=${rec.samples})` : ''}${rec.others_load != null ? `  others' load ${(100 * rec.others_load).toFixed(0)}%` : ''}`;
    this.log(`  ${rec.kernel} ${rec.shape_id ?? rec.shape} ${rec.impl} x${rec.threads}: ${what}`);
    return rec;
  }

  /** Records a skipped row with its reason. */
  skip(kernel: string, shape: string, impl: string, threads: number, reason: string, shapeId?: string): void {
    this.add({ kernel, shape, shape_id: shapeId, impl, threads, median_ms: null, gflops: null, skipped: reason });
  }

  log(line: string): void {
    process.stderr.write(`[${((performance.now() - this.t0) / 1000).toFixed(0).padStart(4)}s] ${line}\n`);
  }

  find(kernel: string, impl: string, threads: number, shapeId?: string): BenchRecord | undefined {
    return this.records.find(
      (r) => r.kernel === kernel && r.impl === impl && r.threads === threads && (shapeId === undefined || r.shape_id === shapeId) && !r.skipped,
    );
  }
}

/** The per-round fields of an interleaved Timing, for its record. */
export function roundFields(t: Timing): Pick<BenchRecord, 'rounds_ms' | 'host_gflops' | 'host_ref_gflops'> {
  return {
    ...(t.roundsMs ? { rounds_ms: t.roundsMs } : {}),
    ...(t.hostGflops ? { host_gflops: t.hostGflops, host_ref_gflops: t.hostRefGflops } : {}),
  };
}

/** Milliseconds with sensible precision. */
export function fmtMs(ms: number): string {
  if (ms >= 100) return ms.toFixed(0);
  if (ms >= 10) return ms.toFixed(1);
  if (ms >= 1) return ms.toFixed(2);
  return ms.toFixed(3);
}

/** Bytes as MiB with one decimal. */
export function fmtMiB(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}
