// The one-thread speed of the SIMD kernels in whichever runtime imports this file (Node, or a browser page bundled by
// bench/experiments/browsers.ts): the in-L1 tile (the ceiling) and the relevance forward at the paper's image
// shapes, for each build the runtime validates (simd; relaxed where it has relaxed SIMD), on a plain and (where
// SharedArrayBuffer exists, as the engine's worker pool runs) a shared memory, with the tile's row values broadcast
// from memory and from a register (tile_set_broadcast: bindings/kernels.ts chooses per runtime). The variants are
// timed in interleaved rounds (bench/rounds.ts). Nothing here imports a Node module.
import { instantiateKernels, relaxedSimdSupported, type KernelModule } from '../../bindings/kernels.js';
import { residentTile } from '../host-speed.js';
import { floats, median, timeRounds } from '../rounds.js';

export interface KernelSpeedRow {
  build: 'simd' | 'relaxed';
  memory: 'plain' | 'shared';
  broadcast: 'memory' | 'register';
  /** In-L1 tile at K = 256, samples of 20,000 calls: the median and the best sample, GFLOP/s. */
  tile: { medianGflops: number; bestGflops: number };
  /**
   * Relevance forward, d = 512, C = 16,384, P = 49: the median and the fastest of its calls, in ms, and GFLOP/s of
   * each (2 B P d C / time). On a shared host the fastest call says what the code can do, the median what it did.
   */
  relevance: { B: number; medianMs: number; gflops: number; bestGflops: number }[];
  /** A hash of the scores and arg-maxima of every shape's last call (the same bits give the same hash). */
  checksum: number;
}

export interface KernelSpeed {
  userAgent: string;
  crossOriginIsolated: boolean;
  relaxed: boolean;
  rows: KernelSpeedRow[];
}

const [D, C, P] = [512, 16384, 49];
const SHAPES = [{ B: 1, rounds: 21 }, { B: 8, rounds: 5 }];
const TILE_ROUNDS = 15;
const TILE_CALLS = 20_000;

/** FNV-1a over the bytes of the given views. */
function hash(views: ArrayBufferView[], h = 0x811c9dc5): number {
  for (const v of views) {
    const bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 16777619) >>> 0;
  }
  return h;
}

type Variant = Pick<KernelSpeedRow, 'build' | 'memory' | 'broadcast'>;

/** One module per variant (the broadcast is a setting of the module), with the packed dictionary in its memory. */
async function prepare(v: Variant): Promise<{ v: Variant; mod: KernelModule; Tp: number }> {
  const mod = await instantiateKernels(v.build, v.memory === 'shared');
  mod.k.tile_set_broadcast(v.broadcast === 'memory' ? 1 : 0);
  const T = floats(mod, C * D, (i) => Math.cos(i * 0.11));
  const Tp = mod.arena.alloc((C / 16) * 16 * D * 4);
  mod.k.f32_pack_nt(T, C, D, Tp);
  mod.arena.free(T);
  return { v, mod, Tp };
}

/** Every variant the runtime runs, measured interleaved. */
export async function measureKernelSpeed(): Promise<KernelSpeed> {
  const g = globalThis as Record<string, unknown>;
  const relaxed = relaxedSimdSupported();
  const memories = typeof g['SharedArrayBuffer'] === 'function' ? (['plain', 'shared'] as const) : (['plain'] as const);
  const variants: Variant[] = [];
  for (const build of relaxed ? (['simd', 'relaxed'] as const) : (['simd'] as const)) {
    for (const memory of memories) for (const broadcast of ['memory', 'register'] as const) variants.push({ build, memory, broadcast });
  }
  const runs = [];
  for (const v of variants) runs.push(await prepare(v));

  const tiles = runs.map(({ mod }) => residentTile(mod, 256)!);
  for (const t of tiles) t.run(TILE_CALLS);
  const tileTimes = await timeRounds(tiles.map((t) => () => t.run(TILE_CALLS)), TILE_ROUNDS);
  const tileRate = (ms: number) => (tiles[0]!.flopsPerCall * TILE_CALLS) / ms / 1e6;
  tiles.forEach((t) => t.release());

  const relevance = runs.map(() => [] as KernelSpeedRow['relevance']);
  const checksums = runs.map(() => 0x811c9dc5);
  for (const { B, rounds } of SHAPES) {
    const calls = runs.map(({ mod, Tp }) => {
      const a = mod.arena;
      const Q = floats(mod, B * P * D, (i) => Math.sin(i * 0.37));
      const [R, ARG, scratch] = [a.alloc(B * C * 4), a.alloc(B * C * 4), a.alloc(mod.k.relevance_scratch_bytes(P))];
      const call = () => mod.k.f32_relevance_fwd(Q, B, P, D, Tp, C, 0.05, 0, 0, R, ARG, scratch);
      call();
      return { call, out: () => [mod.f32(R, B * C), mod.i32(ARG, B * C)], free: () => [scratch, ARG, R, Q].forEach((p) => a.free(p)) };
    });
    const times = await timeRounds(calls.map((c) => c.call), rounds);
    const rate = (ms: number) => (2 * B * P * D * C) / ms / 1e6;
    calls.forEach((c, i) => {
      const [medianMs, minMs] = [median(times[i]!), Math.min(...times[i]!)];
      relevance[i]!.push({ B, medianMs, gflops: rate(medianMs), bestGflops: rate(minMs) });
      checksums[i] = hash(c.out(), checksums[i]);
      c.free();
    });
  }
  for (const { mod, Tp } of runs) mod.arena.free(Tp);
  const nav = g['navigator'] as { userAgent?: string } | undefined;
  return {
    userAgent: nav?.userAgent ?? 'unknown',
    crossOriginIsolated: g['crossOriginIsolated'] === true,
    relaxed,
    rows: runs.map(({ v }, i) => ({
      ...v,
      tile: { medianGflops: tileRate(median(tileTimes[i]!)), bestGflops: tileRate(Math.min(...tileTimes[i]!)) },
      relevance: relevance[i]!,
      checksum: checksums[i]!,
    })),
  };
}
