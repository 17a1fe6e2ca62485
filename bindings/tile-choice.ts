// Which micro-kernel code the SIMD kernels run is timed on the running CPU and engine, once per process and module
// kind, instead of guessed from the runtime's name: every choice below gives the same bits, and which is faster
// depends on the engine and the core alike.
//
// 1. The GEMM tile's broadcast (tile_set_broadcast, assembly/gemm.ts): its row values broadcast from memory or loaded
//    as scalars and broadcast in a register. In L1, K = 256, GFLOP/s, from memory / register:
//
//      engine                       Cascade Lake Xeon (2.5 GHz)   Zen 5 EPYC (4.25 GHz)
//      Node 20 (V8 11.3)            23.4 / 21.3                    51.5 / 51.6
//      Deno 2.9.6, shared memory    12.1 / 16.7                    45.7 / 43.4
//      Chromium 156                 23.4 / not faster              60.7 / 51.4
//      Firefox 153 (SpiderMonkey)   17.3 / 19.0                    62.5 / 51.0
//      WebKitGTK 2.50 (JSC)         23.0 / 23.0                    61.4 / 61.6
//
//    (docs/PERFORMANCE.md, "Broadcast from memory" and "Measured: browsers"; bench/results/2026-11-27-zen5-browsers.txt.)
//    A rule by runtime chosen on one machine cost 18-20% in Firefox on the other.
// 2. The relevance forward's tile (relevance_set_tile, assembly/relevance.ts): tile_2x16 (with the broadcast of 1)
//    unless tile_1x32 is clearly faster. On the Zen 5, in L1: Node 20 55.7 against 50-52 GFLOP/s, Bun 1.4.5 (JavaScriptCore) 53.7 against
//    60.3 (and its relevance forward 51.3 against 59.5 at B = 32).
//
// Each is timed on the first SIMD instance of a build and memory kind in a process, on that instance, and kept for the
// process; the workers of a pool take their caller's choices (setupCalls) rather than timing again.
import type { KernelModule, ResolvedBuild } from './kernels.js';
import type { KernelCall } from './pool.js';

/** Depth of the timed tiles: 16 KiB of panel and 2 KiB of rows (tile_2x16), 32 KiB and 1 KiB (tile_1x32). */
const K = 256;
/** Alternating timed rounds per candidate after the warm-up; each candidate's fastest is kept. */
const ROUNDS = 3;
/**
 * The second candidate of a race is chosen only when it wins by this share: the register broadcast by 2%; tile_1x32
 * by 5%, since the relevance forward around it costs a little more per call than around tile_2x16 (under Deno the two
 * tiles ran within 2% of each other in L1, 43.0-43.4 against 43.9-44.4 GFLOP/s, and the forward at 43.0 on tile_1x32
 * against 45.8 on tile_2x16).
 */
const BROADCAST_MARGIN = 0.02;
const TILE_MARGIN = 0.05;

/** What a process chose for a build and memory kind. */
export interface TileChoice {
  /** The GEMM tile broadcasts its row values from memory (else: a scalar load and a register broadcast). */
  broadcastFromMemory: boolean;
  /** The relevance forward runs on tile_1x32 (else: on tile_2x16). */
  relevanceOn1x32: boolean;
}

const chosen = new Map<string, TileChoice>();

function key(build: ResolvedBuild, shared: boolean): string {
  return `${build}${shared ? '-shared' : ''}`;
}

/**
 * The kernels' own defaults (tile_set_broadcast and relevance_set_tile before any call), kept by the scalar build (no
 * SIMD tile to time; its tile_1x32 loop is also the faster scalar one) and where the clock does not move. A SIMD
 * instance whose races ran takes tile_2x16 for the relevance forward unless tile_1x32 wins by TILE_MARGIN.
 */
export const DEFAULT_TILES: TileChoice = { broadcastFromMemory: true, relevanceOn1x32: true };

/**
 * Configures a fresh instance: the choices this process made for its build and memory kind, timed on this instance
 * the first time (30-44 ms on a fine clock here; up to ~200 ms where a browser coarsens it to 1 ms). Returns them.
 */
export function chooseTiles(mod: KernelModule, shared: boolean): TileChoice {
  const k = key(mod.build, shared);
  let choice = chosen.get(k);
  if (choice === undefined) {
    choice = mod.build === 'scalar' ? DEFAULT_TILES : timeTiles(mod);
    chosen.set(k, choice);
  }
  apply(mod, choice);
  return choice;
}

/** The choices this process made for a build on a shared (or plain) memory, or undefined before its first instance. */
export function chosenTiles(build: ResolvedBuild, shared: boolean): TileChoice | undefined {
  return chosen.get(key(build, shared));
}

/** The kernel calls that put a choice into an instance (this module's and every pool worker's setup). */
export function tileCalls(c: TileChoice): KernelCall[] {
  return [['tile_set_broadcast', [c.broadcastFromMemory ? 1 : 0]], ['relevance_set_tile', [c.relevanceOn1x32 ? 1 : 0]]];
}

function apply(mod: KernelModule, c: TileChoice): void {
  for (const [name, args] of tileCalls(c)) (mod.k[name] as unknown as (...a: number[]) => number)(...args);
}

/**
 * The smallest step of performance.now() seen over a few ticks (ms; ~3 ms of spinning on a 1 ms clock), or Infinity
 * for a clock that does not move within ten million reads (a frozen one: nothing can be timed, the defaults stay).
 */
function clockTick(): number {
  let tick = Infinity;
  let last = performance.now();
  for (let seen = 0, reads = 0; seen < 3 && reads < 10_000_000; reads++) {
    const now = performance.now();
    if (now !== last) {
      tick = Math.min(tick, now - last);
      last = now;
      seen++;
    }
  }
  return tick;
}

/**
 * Whether `second` is faster than `first` by more than `margin`: alternating rounds (the order flips every round, so a
 * slow moment of the host falls on both), each candidate's fastest round, after the calls per timing have doubled
 * until both last `least` ms.
 */
function secondWins(first: (calls: number) => void, second: (calls: number) => void, margin: number, least: number): boolean {
  const time = (run: (calls: number) => void, calls: number): number => {
    const t0 = performance.now();
    run(calls);
    return performance.now() - t0;
  };
  let calls = 64;
  while (Math.min(time(first, calls), time(second, calls)) < least && calls < 1 << 20) calls *= 2;
  const best = [Infinity, Infinity];
  for (let r = 0; r < ROUNDS; r++) {
    for (const i of r % 2 ? [1, 0] : [0, 1]) best[i] = Math.min(best[i]!, time(i ? second : first, calls));
  }
  return best[1]! < best[0]! * (1 - margin);
}

/** Times the two races on `mod` (the broadcast, then the relevance tile with that broadcast) and leaves it as found. */
function timeTiles(mod: KernelModule): TileChoice {
  // Each timing runs at least ten ticks of performance.now(), 1 to 10 ms (the calls per timing double until both
  // candidates take it, which also warms the engine's optimising tier up): server runtimes tick every microsecond or
  // less, and browsers coarsen the clock to 0.1-1 ms outside cross-origin isolation.
  const tick = clockTick();
  if (!Number.isFinite(tick)) return DEFAULT_TILES;
  const least = Math.min(10, Math.max(1, 10 * tick));
  const { k, arena } = mod;
  const rows = arena.alloc(2 * K * 4);
  const panels = arena.alloc(2 * K * 64);
  const out = arena.alloc(128);
  const previous = [k.tile_set_broadcast(1), k.relevance_set_tile(1)] as const;
  try {
    mod.f32(rows, 2 * K).fill(0.5);
    mod.f32(panels, 32 * K).fill(0.25);
    const a1 = rows + K * 4;
    const tile2x16 = (setting: number) => (calls: number) => {
      k.tile_set_broadcast(setting);
      for (let i = 0; i < calls; i++) k.tile_2x16(rows, a1, panels, K, out);
    };
    const broadcastFromMemory = !secondWins(tile2x16(1), tile2x16(0), BROADCAST_MARGIN, least);
    const tile1x32 = (calls: number) => {
      for (let i = 0; i < calls; i++) k.tile_1x32(rows, panels, panels + K * 64, K, out);
    };
    const relevanceOn1x32 = secondWins(tile2x16(broadcastFromMemory ? 1 : 0), tile1x32, TILE_MARGIN, least);
    return { broadcastFromMemory, relevanceOn1x32 };
  } finally {
    k.tile_set_broadcast(previous[0]);
    k.relevance_set_tile(previous[1]);
    for (const p of [out, panels, rows]) arena.free(p);
  }
}
