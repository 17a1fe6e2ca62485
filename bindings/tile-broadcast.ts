// Which broadcast the SIMD tile uses (tile_set_broadcast, assembly/gemm.ts) is timed on the running CPU and engine,
// once per process and module kind, instead of guessed from the runtime's name. Both give the same bits; which is
// faster depends on the engine and the core alike. In L1, K = 256, GFLOP/s, broadcast from memory / register:
//
//   engine                       Cascade Lake Xeon (2.5 GHz)   Zen 5 EPYC (4.25 GHz)
//   Node 20 (V8 11.3)            23.4 / 21.3                    51.5 / 51.6
//   Deno 2.9.6, shared memory    12.1 / 16.7                    45.7 / 43.4
//   Chromium 156                 23.4 / not faster              60.7 / 51.4
//   Firefox 153 (SpiderMonkey)   17.3 / 19.0                    62.5 / 51.0
//   WebKitGTK 2.50 (JSC)         23.0 / 23.0                    61.4 / 61.6
//
// (docs/PERFORMANCE.md, "Broadcast from memory" and "Measured: browsers"; bench/results/2026-11-27-zen5-browsers.txt.)
// A rule by runtime chosen on one machine cost 18-20% in Firefox on the other, so each runtime times both loops on
// its first instance of a build, on that instance, and keeps the choice for the process. The workers of a pool take
// their caller's choice (setupCalls) rather than timing again.
import type { KernelModule, ResolvedBuild } from './kernels.js';

/** Depth of the timed tile: a 16 KiB panel and 2 KiB of rows, resident in any L1. */
const K = 256;
/**
 * Each timing runs at least ten ticks of performance.now(), 1 to 10 ms (the calls per timing double until both loops
 * take it, which also warms the engine's optimising tier up): server runtimes tick every microsecond or less, and
 * browsers coarsen the clock to 0.1-1 ms outside cross-origin isolation. The whole choice then takes ~10-15 ms on a
 * fine clock (Node, Deno, Bun on a Zen 5).
 */
function timingMs(): number {
  return Math.min(10, Math.max(1, 10 * clockTick()));
}

/** The smallest step of performance.now() seen over a few ticks (ms; at most ~3 ms of spinning on a coarse clock). */
function clockTick(): number {
  let tick = Infinity;
  let last = performance.now();
  for (let seen = 0; seen < 3;) {
    const now = performance.now();
    if (now !== last) {
      tick = Math.min(tick, now - last);
      last = now;
      seen++;
    }
  }
  return tick;
}
/** Alternating timed rounds per loop after that; each loop's fastest is kept. */
const ROUNDS = 3;
/** The register broadcast is chosen only when its fastest round beats the broadcast from memory's by this share. */
const MARGIN = 0.02;

const chosen = new Map<string, boolean>();

function key(build: ResolvedBuild, shared: boolean): string {
  return `${build}${shared ? '-shared' : ''}`;
}

/**
 * Sets the tile's broadcast of a fresh SIMD (or relaxed) instance: the choice this process made for its build and
 * memory kind, timed on this instance the first time. Returns true for the broadcast from memory. The scalar build
 * has no SIMD tile and keeps its default.
 */
export function chooseTileBroadcast(mod: KernelModule, shared: boolean): boolean {
  const k = key(mod.build, shared);
  let fromMemory = chosen.get(k);
  if (fromMemory === undefined) {
    fromMemory = mod.build === 'scalar' ? true : fasterFromMemory(mod);
    chosen.set(k, fromMemory);
  }
  mod.k.tile_set_broadcast(fromMemory ? 1 : 0);
  return fromMemory;
}

/**
 * The choice this process made for a build on a shared (or plain) memory, or undefined before its first instance.
 * Pool workers run it as a setup call.
 */
export function chosenTileBroadcast(build: ResolvedBuild, shared: boolean): boolean | undefined {
  return chosen.get(key(build, shared));
}

/** Times the tile with each broadcast on `mod` (alternating, fastest round of each) and leaves its setting as found. */
function fasterFromMemory(mod: KernelModule): boolean {
  const { k, arena } = mod;
  const rows = arena.alloc(2 * K * 4);
  const panel = arena.alloc(K * 64);
  const out = arena.alloc(128);
  const previous = k.tile_set_broadcast(1);
  try {
    mod.f32(rows, 2 * K).fill(0.5);
    mod.f32(panel, 16 * K).fill(0.25);
    const a1 = rows + K * 4;
    const time = (setting: number, calls: number): number => {
      k.tile_set_broadcast(setting);
      const t0 = performance.now();
      for (let i = 0; i < calls; i++) k.tile_2x16(rows, a1, panel, K, out);
      return performance.now() - t0;
    };
    const least = timingMs();
    let calls = 64;
    while (Math.min(time(1, calls), time(0, calls)) < least && calls < 1 << 20) calls *= 2;
    const best = [Infinity, Infinity];
    for (let r = 0; r < ROUNDS; r++) {
      // The order flips every round, so a slow moment of the host falls on both loops.
      for (const setting of r % 2 ? [0, 1] : [1, 0]) best[setting] = Math.min(best[setting]!, time(setting, calls));
    }
    return !(best[0]! < best[1]! * (1 - MARGIN));
  } finally {
    k.tile_set_broadcast(previous);
    for (const p of [out, panel, rows]) arena.free(p);
  }
}
