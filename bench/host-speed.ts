/**
 * The speed of the host, and of this process, at one moment, read around every call of an interleaved measurement.
 *
 * On a shared VM the in-L1 tile can run at half its speed for seconds or minutes with nothing in `/proc/stat` (a
 * co-tenant on the SMT sibling of the vCPU, which takes half of the FP ports, is the likely cause), and such periods
 * do not slow every implementation alike (our port-bound kernel lost 2x, tfjs-wasm 1.35x, in one measured run). A
 * ratio taken across such periods says more about the host than about the code. The speed of all wasm code of a
 * thread also changes by 11-13% with its AVX upper state (docs/PERFORMANCE.md, "Dirty vector registers"), which
 * the probe clears before every reading, as the harness does before every timed call.
 *
 * The probe is the ceiling suite's micro-kernel (the relevance forward's tile) at K = 256 on resident panels, in L1, 5 samples of
 * 1,000 calls, ~5 ms in all; it returns the median sample's GFLOP/s. A timed call is *quiet* when the probes just
 * before and just after it both read at least QUIET_SHARE of the fastest reading of the same measurement
 * (`host_ref_gflops`), and a row's quiet median is the median of its quiet calls. A call of seconds can still hold
 * a slow spell that neither probe sees. The readings are stored with each row (`host_gflops`), so a result file
 * can be judged, and re-rendered, without this code.
 */
import { instantiateKernels, type KernelModule } from '../bindings/kernels.js';
import { chosenTiles } from '../bindings/tile-choice.js';
import { clearUpperVectorState } from '../bindings/vector-state.js';

/** The tile the relevance forward runs on in `mod`, as this process chose it for the module's build and memory. */
export function relevanceTile(mod: KernelModule): TileName {
  const shared = typeof SharedArrayBuffer === 'function' && mod.k.memory.buffer instanceof SharedArrayBuffer;
  return chosenTiles(mod.build, shared)?.relevanceOn1x32 === false ? 'tile_2x16' : 'tile_1x32';
}

/** The two micro-kernels: tile_1x32 (the relevance forward's: one row, a pair of panels) and tile_2x16 (the GEMM's). */
export type TileName = 'tile_1x32' | 'tile_2x16';

/**
 * A micro-kernel on resident data of depth K in `mod`'s memory: tile_2x16 on one panel (16 columns, K * 64 bytes)
 * and two rows (K * 8 bytes), tile_1x32 on two panels (K * 128 bytes) and one row (K * 4 bytes). `run(calls)` calls
 * it back to back; `flopsPerCall` = 2 * 32 * K for both. Null where the build does not export the tile. The ceiling
 * suite's tiles, and the probe's.
 */
export function residentTile(mod: KernelModule, K: number, name: TileName = 'tile_2x16'): { run: (calls: number) => void; flopsPerCall: number; release: () => void } | null {
  const tile = (mod.k as unknown as Record<TileName, ((a: number, b: number, c: number, K: number, out: number) => void) | undefined>)[name];
  if (typeof tile !== 'function') return null;
  const a = mod.arena;
  const rows = a.alloc(2 * K * 4);
  const panel = a.alloc(2 * K * 64);
  const out = a.alloc(128);
  const f = mod.f32(rows, 2 * K);
  for (let i = 0; i < f.length; i++) f[i] = ((i * 7919) % 1000) / 1000 - 0.5;
  const p = mod.f32(panel, 2 * K * 16);
  for (let i = 0; i < p.length; i++) p[i] = ((i * 104729) % 1000) / 1000 - 0.5;
  // tile_2x16(a0, a1, panel, K, out) or tile_1x32(a, panel0, panel1, K, out).
  const [second, third] = name === 'tile_2x16' ? [rows + K * 4, panel] : [panel, panel + K * 64];
  return {
    run: (calls) => {
      for (let i = 0; i < calls; i++) tile(rows, second, third, K, out);
    },
    flopsPerCall: 2 * 32 * K,
    release: () => {
      for (const b of [out, panel, rows]) a.free(b);
    },
  };
}

/** A call is quiet when the probes just before and just after it read at least this share of the reference. */
export const QUIET_SHARE = 0.85;

/** Fewest quiet calls from which a row's quiet median is taken. */
export const MIN_QUIET_CALLS = 3;

const CALLS_PER_SAMPLE = 1000;
const SAMPLES = 5;

/** The probe: a resident tile in its own module instance, and the fastest reading so far. */
export class HostSpeed {
  private fastest = 0;

  private constructor(private readonly tile: NonNullable<ReturnType<typeof residentTile>>) {}

  /** A probe, or null where the SIMD build does not export the tile. Takes 20 readings to find the host's pace. */
  static async create(): Promise<HostSpeed | null> {
    // The tile the relevance forward runs on in this process, as the ceiling suite measures it (bindings/tile-choice.ts).
    const mod = await instantiateKernels('simd');
    const tile = residentTile(mod, 256, relevanceTile(mod));
    if (!tile) return null;
    const h = new HostSpeed(tile);
    for (let i = 0; i < 20; i++) h.probe();
    return h;
  }

  /** GFLOP/s of the in-L1 tile now: the median of 5 samples of 1,000 calls (~5 ms in all). */
  probe(): number {
    clearUpperVectorState(); // the probe reads the host, not what the thread ran before (vector-state.ts)
    const rates: number[] = [];
    for (let s = 0; s < SAMPLES; s++) {
      const t0 = performance.now();
      this.tile.run(CALLS_PER_SAMPLE);
      const ms = performance.now() - t0;
      rates.push((this.tile.flopsPerCall * CALLS_PER_SAMPLE) / (Math.max(ms, 1e-3) * 1e6));
    }
    rates.sort((a, b) => a - b);
    const g = rates[SAMPLES >> 1]!;
    this.fastest = Math.max(this.fastest, g);
    return g;
  }

  /** The fastest probe so far (GFLOP/s). */
  get best(): number {
    return this.fastest;
  }

  /**
   * Waits, probing every 5 s, until a probe reads at least `share` of the fastest so far, or `maxS` seconds have
   * passed. Returns the seconds waited and the last probe's share of the fastest.
   */
  async waitForSpeed(maxS: number, share = QUIET_SHARE, log?: (line: string) => void): Promise<{ waitedS: number; share: number }> {
    const t0 = performance.now();
    let x = this.probe() / this.fastest;
    let told = false;
    while (x < share && (performance.now() - t0) / 1000 < maxS) {
      if (!told) log?.(`  host at ${(100 * x).toFixed(0)}% of its fastest probe: waiting up to ${maxS} s for it to recover`);
      told = true;
      await new Promise((r) => setTimeout(r, 5000));
      x = this.probe() / this.fastest;
    }
    const waitedS = (performance.now() - t0) / 1000;
    if (told) log?.(`  host at ${(100 * x).toFixed(0)}% after ${waitedS.toFixed(0)} s`);
    return { waitedS, share: x };
  }

  release(): void {
    this.tile.release();
  }
}

/**
 * Which calls were quiet: call r ran between readings 2r and 2r + 1 of `hostGflops` (see Timing.hostGflops), and
 * is quiet when both read at least QUIET_SHARE of `fastest`.
 */
export function quietCalls(hostGflops: readonly number[], fastest: number): boolean[] {
  const out: boolean[] = [];
  for (let r = 0; 2 * r + 1 < hostGflops.length; r++) out.push(Math.min(hostGflops[2 * r]!, hostGflops[2 * r + 1]!) >= QUIET_SHARE * fastest);
  return out;
}

/** The fastest probe over rows that carry probes (`host_gflops`), or 0 where none does. */
export function fastestProbe(rows: readonly { host_gflops?: number[] }[]): number {
  let m = 0;
  for (const r of rows) for (const g of r.host_gflops ?? []) m = Math.max(m, g);
  return m;
}

/** A probed row over its quiet calls. */
export interface QuietTiming {
  /** Median over the quiet calls (ms), or null when there are fewer than MIN_QUIET_CALLS of them. */
  medianMs: number | null;
  quiet: number;
  calls: number;
}

/**
 * A row's median over its quiet calls, judged against the fastest reading of its own measurement
 * (`host_ref_gflops`), or against `fastest` for rows stored without one; null for a row without probes.
 */
export function quietTiming(r: { rounds_ms?: number[]; host_gflops?: number[]; host_ref_gflops?: number }, fastest: number): QuietTiming | null {
  const ref = r.host_ref_gflops ?? fastest;
  if (!r.rounds_ms || !r.host_gflops || r.host_gflops.length !== 2 * r.rounds_ms.length || !(ref > 0)) return null;
  const quiet = quietCalls(r.host_gflops, ref);
  const xs = r.rounds_ms.filter((_, i) => quiet[i]).sort((a, b) => a - b);
  const m = xs.length >> 1;
  const med = xs.length % 2 ? xs[m]! : (xs[m - 1]! + xs[m]!) / 2;
  return { medianMs: xs.length >= MIN_QUIET_CALLS ? med : null, quiet: xs.length, calls: quiet.length };
}
