// The one-thread speed of the SIMD kernels in whichever runtime imports this file (Node, or a browser page bundled by
// bench/experiments/browsers.ts): the in-L1 tile (the ceiling) and the relevance forward at the paper's image
// shapes, for each build the runtime validates (simd; relaxed where it has relaxed SIMD), on a plain and (where
// SharedArrayBuffer exists) a shared memory, with the tile's row values broadcast from memory and from a register
// (tile_set_broadcast: the choice bindings/kernels.ts makes per runtime). Nothing here imports a Node module.
import { instantiateKernels, relaxedSimdSupported, type KernelModule } from '../../bindings/kernels.js';
import { residentTile } from '../host-speed.js';

export interface KernelSpeedRow {
  build: 'simd' | 'relaxed';
  memory: 'plain' | 'shared';
  broadcast: 'memory' | 'register';
  /** In-L1 tile at K = 256: the best of 9 samples of 20,000 calls, GFLOP/s, read before and after the relevance calls. */
  tileBefore: number;
  tileAfter: number;
  /**
   * Relevance forward, d = 512, C = 16,384, P = 49: the median and the fastest of its calls, in ms, and GFLOP/s of
   * each (2 B P d C / time). On a shared host the fastest call says what the code can do, the median what it did.
   */
  relevance: { B: number; calls: number; medianMs: number; minMs: number; gflops: number; bestGflops: number }[];
  /** The scores and arg-maxima of the last call of each shape hash to the same value in every row (same bits). */
  checksum: number;
}

export interface KernelSpeed {
  userAgent: string;
  crossOriginIsolated: boolean;
  relaxed: boolean;
  rows: KernelSpeedRow[];
}

const [D, C, P] = [512, 16384, 49];
const SHAPES = [{ B: 1, calls: 15 }, { B: 8, calls: 5 }];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

/** FNV-1a over the bytes of the given views. */
function hash(views: ArrayBufferView[], h = 0x811c9dc5): number {
  for (const v of views) {
    const bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 16777619) >>> 0;
  }
  return h;
}

function tileGflops(mod: KernelModule): number {
  const tile = residentTile(mod, 256)!;
  let best = 0;
  tile.run(20_000);
  for (let s = 0; s < 9; s++) {
    const t0 = performance.now();
    tile.run(20_000);
    best = Math.max(best, (tile.flopsPerCall * 20_000) / (performance.now() - t0) / 1e6);
  }
  tile.release();
  return best;
}

async function measureRow(mod: KernelModule, row: Omit<KernelSpeedRow, 'tileBefore' | 'tileAfter' | 'relevance' | 'checksum'>): Promise<KernelSpeedRow> {
  mod.k.tile_set_broadcast(row.broadcast === 'memory' ? 1 : 0);
  const a = mod.arena;
  const f32 = (n: number, f: (i: number) => number) => {
    const p = a.alloc(n * 4);
    const v = mod.f32(p, n);
    for (let i = 0; i < n; i++) v[i] = f(i);
    return p;
  };
  const T = f32(C * D, (i) => Math.cos(i * 0.11));
  const Tp = a.alloc((C / 16) * 16 * D * 4);
  mod.k.f32_pack_nt(T, C, D, Tp);
  a.free(T);
  const tileBefore = tileGflops(mod);
  const relevance: KernelSpeedRow['relevance'] = [];
  let checksum = 0x811c9dc5;
  for (const { B, calls } of SHAPES) {
    const Q = f32(B * P * D, (i) => Math.sin(i * 0.37));
    const [R, ARG, scratch] = [a.alloc(B * C * 4), a.alloc(B * C * 4), a.alloc(mod.k.relevance_scratch_bytes(P))];
    const times: number[] = [];
    mod.k.f32_relevance_fwd(Q, B, P, D, Tp, C, 0.05, 0, 0, R, ARG, scratch);
    for (let i = 0; i < calls; i++) {
      const t0 = performance.now();
      mod.k.f32_relevance_fwd(Q, B, P, D, Tp, C, 0.05, 0, 0, R, ARG, scratch);
      times.push(performance.now() - t0);
    }
    checksum = hash([mod.f32(R, B * C), mod.i32(ARG, B * C)], checksum);
    const [medianMs, minMs] = [median(times), Math.min(...times)];
    const rate = (ms: number) => (2 * B * P * D * C) / ms / 1e6;
    relevance.push({ B, calls, medianMs, minMs, gflops: rate(medianMs), bestGflops: rate(minMs) });
    for (const p of [scratch, ARG, R, Q]) a.free(p);
  }
  const tileAfter = tileGflops(mod);
  a.free(Tp);
  return { ...row, tileBefore, tileAfter, relevance, checksum };
}

/** Every row of the table, one module per build and memory (both broadcasts run on it), one after another. */
export async function measureKernelSpeed(onRow: (row: KernelSpeedRow) => void = () => {}): Promise<KernelSpeed> {
  const g = globalThis as Record<string, unknown>;
  const relaxed = relaxedSimdSupported();
  const rows: KernelSpeedRow[] = [];
  for (const build of relaxed ? (['simd', 'relaxed'] as const) : (['simd'] as const)) {
    for (const memory of typeof g['SharedArrayBuffer'] === 'function' ? (['plain', 'shared'] as const) : (['plain'] as const)) {
      const mod = await instantiateKernels(build, memory === 'shared');
      for (const broadcast of ['memory', 'register'] as const) {
        const row = await measureRow(mod, { build, memory, broadcast });
        rows.push(row);
        onRow(row);
      }
    }
  }
  const nav = g['navigator'] as { userAgent?: string } | undefined;
  return { userAgent: nav?.userAgent ?? 'unknown', crossOriginIsolated: g['crossOriginIsolated'] === true, relaxed, rows };
}
