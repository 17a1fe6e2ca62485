// Kernel variants that were tried against the shipped relevance kernel, kept so the numbers in docs/PERFORMANCE.md
// ("what was tried and did not pay") can be re-measured on any machine:
//
//   npx tsx bench/experiments/kernel-variants.ts          (re-runs itself under --experimental-wasm-relaxed-simd)
//   deno run -A --sloppy-imports bench/experiments/kernel-variants.ts;  bun bench/experiments/kernel-variants.ts
//   ... [--shared | --plain]      the variants on a shared memory (the default under Deno, where the shipped kernels
//                                 run on one) or on a plain one
//
// The variants are AssemblyScript written here, compiled in memory with the installed compiler (the same options as
// the shipped build: -O3, stub runtime, no asserts), and timed against each other in one process:
//   base      the shipped scheme before the grouped forward, the depth chunks and the broadcast from memory
//             (v128.load32_splat) of 2026-11-27: per item, per
//             16-column panel, per pair of rows, a full-depth 2x16 tile (8 f32x4 accumulators, mul + add), then the
//             max into the panel's 16 running maxima;
//   split     the panel depth cut into chunks of KC = 256 (a 16 KiB slice of the panel), every row pair's partial
//             sums kept in scratch between chunks, so the slice in use stays in L1 while all rows of the item pass;
//   madd      base with f32x4.relaxed_madd (FMA where the CPU has it) instead of mul + add; needs relaxed SIMD
//             (behind --experimental-wasm-relaxed-simd in Node 20) and rounds once instead of twice.
//   4x8       4 rows x 8 columns per tile (8 accumulators, 4 broadcasts + 2 panel vectors per k step) on 8-column
//             panels (16 KiB at d = 512, which could stay in L1 while every row of the item passes), a 2x8 tile for
//             the last rows;
//   unroll4   base with the k loop unrolled four times (loads at constant offsets, one pointer step per four k);
//   bcast     unroll4 with each row read four values at a time by one v128 load and broadcast by shuffles (4.5
//             loads per k step instead of 6: for runtimes that bounds-check every load, Deno among them).
// Plus the 2x16 tile alone on a resident panel (the in-L1 ceiling) with mul + add and with relaxed_madd, and the
// shipped module's tile_2x16 beside them.
import { spawnSync } from 'node:child_process';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { instantiateKernels, sharedMemoryIsFaster } from '../../bindings/kernels.js';
import { detectRuntime } from '../../src/runtime.js';
import { measure, median } from '../harness.js';
import { relevanceInputs } from '../relevance.js';
import { compileLikeShipped } from './compile-as.js';

const FLAG = '--experimental-wasm-relaxed-simd';

/**
 * The 2x16 tile with its k loop unrolled four times, as AssemblyScript named `name`. The rows' values are
 * broadcast from memory (one load32_splat per row and k), or, with `broadcast`, read four at a time by one v128 load
 * per row and broadcast by shuffles: 4.5 loads per k step instead of 6 (for runtimes that bounds-check every load).
 */
const UNROLLED = (name: string, broadcast: boolean, MAC: (acc: string, x: string, b: string) => string): string => `
@inline function ${name}(a0: usize, a1: usize, bp: usize, K: i32, out: usize): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c02 = f32x4.splat(0), c03 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0), c12 = f32x4.splat(0), c13 = f32x4.splat(0);
  let k = 0;
  for (; k + 4 <= K; k += 4) {${broadcast ? '\n    const q0 = v128.load(a0); const q1 = v128.load(a1);' : ''}
${[0, 1, 2, 3].map((u) => `    {
      ${broadcast
    ? `const x0 = v128.shuffle<f32>(q0, q0, ${u}, ${u}, ${u}, ${u}); const x1 = v128.shuffle<f32>(q1, q1, ${u}, ${u}, ${u}, ${u});`
    : `const x0 = v128.load32_splat(a0, ${4 * u}); const x1 = v128.load32_splat(a1, ${4 * u});`}
      const b0 = v128.load(bp, ${64 * u}); const b1 = v128.load(bp, ${64 * u + 16});
      const b2 = v128.load(bp, ${64 * u + 32}); const b3 = v128.load(bp, ${64 * u + 48});
      c00 = ${MAC('c00', 'x0', 'b0')}; c01 = ${MAC('c01', 'x0', 'b1')}; c02 = ${MAC('c02', 'x0', 'b2')}; c03 = ${MAC('c03', 'x0', 'b3')};
      c10 = ${MAC('c10', 'x1', 'b0')}; c11 = ${MAC('c11', 'x1', 'b1')}; c12 = ${MAC('c12', 'x1', 'b2')}; c13 = ${MAC('c13', 'x1', 'b3')};
    }`).join('\n')}
    a0 += 16; a1 += 16; bp += 256;
  }
  for (; k < K; k++) {
    const x0 = v128.load32_splat(a0); const x1 = v128.load32_splat(a1);
    const b0 = v128.load(bp); const b1 = v128.load(bp, 16); const b2 = v128.load(bp, 32); const b3 = v128.load(bp, 48);
    c00 = ${MAC('c00', 'x0', 'b0')}; c01 = ${MAC('c01', 'x0', 'b1')}; c02 = ${MAC('c02', 'x0', 'b2')}; c03 = ${MAC('c03', 'x0', 'b3')};
    c10 = ${MAC('c10', 'x1', 'b0')}; c11 = ${MAC('c11', 'x1', 'b1')}; c12 = ${MAC('c12', 'x1', 'b2')}; c13 = ${MAC('c13', 'x1', 'b3')};
    a0 += 4; a1 += 4; bp += 64;
  }
  v128.store(out, c00); v128.store(out, c01, 16); v128.store(out, c02, 32); v128.store(out, c03, 48);
  v128.store(out, c10, 64); v128.store(out, c11, 80); v128.store(out, c12, 96); v128.store(out, c13, 112);
}`;

const SOURCE = (madd: boolean): string => {
  const MAC = (acc: string, x: string, b: string) => (madd ? `f32x4.relaxed_madd(${x}, ${b}, ${acc})` : `f32x4.add(${acc}, f32x4.mul(${x}, ${b}))`);
  return `
@inline function tileK(a0: usize, a1: usize, bp: usize, K: i32, out: usize, acc: bool): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c02 = f32x4.splat(0), c03 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0), c12 = f32x4.splat(0), c13 = f32x4.splat(0);
  if (acc) {
    c00 = v128.load(out); c01 = v128.load(out, 16); c02 = v128.load(out, 32); c03 = v128.load(out, 48);
    c10 = v128.load(out, 64); c11 = v128.load(out, 80); c12 = v128.load(out, 96); c13 = v128.load(out, 112);
  }
  for (let k = 0; k < K; k++) {
    const x0 = f32x4.splat(load<f32>(a0));
    const x1 = f32x4.splat(load<f32>(a1));
    const b0 = v128.load(bp);
    const b1 = v128.load(bp, 16);
    const b2 = v128.load(bp, 32);
    const b3 = v128.load(bp, 48);
    c00 = ${MAC('c00', 'x0', 'b0')}; c01 = ${MAC('c01', 'x0', 'b1')}; c02 = ${MAC('c02', 'x0', 'b2')}; c03 = ${MAC('c03', 'x0', 'b3')};
    c10 = ${MAC('c10', 'x1', 'b0')}; c11 = ${MAC('c11', 'x1', 'b1')}; c12 = ${MAC('c12', 'x1', 'b2')}; c13 = ${MAC('c13', 'x1', 'b3')};
    a0 += 4; a1 += 4; bp += 64;
  }
  v128.store(out, c00); v128.store(out, c01, 16); v128.store(out, c02, 32); v128.store(out, c03, 48);
  v128.store(out, c10, 64); v128.store(out, c11, 80); v128.store(out, c12, 96); v128.store(out, c13, 112);
}

export function tile(a0: usize, a1: usize, bp: usize, K: i32, out: usize): void {
  tileK(a0, a1, bp, K, out, false);
}

@inline function maxInto(maxp: usize, t: usize): void {
  for (let q: usize = 0; q < 64; q += 16) v128.store(maxp + q, f32x4.max(v128.load(maxp + q), v128.load(t + q)));
}

/** R[b, c] = max_l Q[b, l] . T[c]; Tp packed in 16-column panels of depth d; scratch >= 256 + L * 64 bytes. */
export function rel_base(Q: usize, B: i32, L: i32, d: i32, Tp: usize, C: i32, R: usize, scratch: usize, mode: i32): void {
  const maxp = scratch, t = scratch + 64;
  const panels = (C + 15) / 16;
  for (let b = 0; b < B; b++) {
    const qb = Q + ((<usize>b * <usize>L * <usize>d) << 2);
    for (let p = 0; p < panels; p++) {
      const bp = Tp + ((<usize>p * <usize>d) << 6);
      v128.store(maxp, f32x4.splat(-Infinity)); v128.store(maxp, f32x4.splat(-Infinity), 16);
      v128.store(maxp, f32x4.splat(-Infinity), 32); v128.store(maxp, f32x4.splat(-Infinity), 48);
      for (let l = 0; l < L; l += 2) {
        const l1 = l + 1 < L ? l + 1 : l;
        const a0 = qb + ((<usize>l * <usize>d) << 2);
        const a1 = qb + ((<usize>l1 * <usize>d) << 2);
        if (mode == 1) tileUnrolled(a0, a1, bp, d, t);
        else if (mode == 2) tileBcast(a0, a1, bp, d, t);
        else tileK(a0, a1, bp, d, t, false);
        maxInto(maxp, t);
        maxInto(maxp, t + 64);
      }
      memory.copy(R + ((<usize>b * <usize>C + <usize>p * 16) << 2), maxp, <usize>min(16, C - p * 16) << 2);
    }
  }
}

/** rel_base with the panel depth cut into chunks of KC (partial sums of every row pair kept in scratch). */
export function rel_split(Q: usize, B: i32, L: i32, d: i32, Tp: usize, C: i32, R: usize, scratch: usize, KC: i32): void {
  const maxp = scratch, part = scratch + 256;
  const panels = (C + 15) / 16;
  for (let b = 0; b < B; b++) {
    const qb = Q + ((<usize>b * <usize>L * <usize>d) << 2);
    for (let p = 0; p < panels; p++) {
      const bp = Tp + ((<usize>p * <usize>d) << 6);
      for (let k0 = 0; k0 < d; k0 += KC) {
        const kc = min(KC, d - k0);
        for (let l = 0; l < L; l += 2) {
          const l1 = l + 1 < L ? l + 1 : l;
          tileK(qb + ((<usize>l * <usize>d + <usize>k0) << 2), qb + ((<usize>l1 * <usize>d + <usize>k0) << 2),
            bp + (<usize>k0 << 6), kc, part + (<usize>l << 6), k0 > 0);
        }
      }
      v128.store(maxp, f32x4.splat(-Infinity)); v128.store(maxp, f32x4.splat(-Infinity), 16);
      v128.store(maxp, f32x4.splat(-Infinity), 32); v128.store(maxp, f32x4.splat(-Infinity), 48);
      for (let l = 0; l < L; l++) maxInto(maxp, part + (<usize>l << 6));
      memory.copy(R + ((<usize>b * <usize>C + <usize>p * 16) << 2), maxp, <usize>min(16, C - p * 16) << 2);
    }
  }
}

/** 4 rows (rb bytes apart) x 8 columns of an 8-column panel, full depth; out: 4 rows of 8 floats. */
@inline function tile4x8K(a0: usize, rb: usize, bp: usize, K: i32, out: usize): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  const a1 = a0 + rb, a2 = a0 + 2 * rb, a3 = a0 + 3 * rb;
  for (let k: usize = 0; k < <usize>K << 2; k += 4) {
    const b0 = v128.load(bp);
    const b1 = v128.load(bp, 16);
    const x0 = v128.load32_splat(a0 + k);
    c00 = ${MAC('c00', 'x0', 'b0')}; c01 = ${MAC('c01', 'x0', 'b1')};
    const x1 = v128.load32_splat(a1 + k);
    c10 = ${MAC('c10', 'x1', 'b0')}; c11 = ${MAC('c11', 'x1', 'b1')};
    const x2 = v128.load32_splat(a2 + k);
    c20 = ${MAC('c20', 'x2', 'b0')}; c21 = ${MAC('c21', 'x2', 'b1')};
    const x3 = v128.load32_splat(a3 + k);
    c30 = ${MAC('c30', 'x3', 'b0')}; c31 = ${MAC('c31', 'x3', 'b1')};
    bp += 32;
  }
  v128.store(out, c00); v128.store(out, c01, 16); v128.store(out, c10, 32); v128.store(out, c11, 48);
  v128.store(out, c20, 64); v128.store(out, c21, 80); v128.store(out, c30, 96); v128.store(out, c31, 112);
}

/** 2 rows x 8 columns of an 8-column panel (the tail of rel_4x8). */
@inline function tile2x8K(a0: usize, a1: usize, bp: usize, K: i32, out: usize): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  for (let k: usize = 0; k < <usize>K << 2; k += 4) {
    const b0 = v128.load(bp);
    const b1 = v128.load(bp, 16);
    const x0 = v128.load32_splat(a0 + k);
    const x1 = v128.load32_splat(a1 + k);
    c00 = ${MAC('c00', 'x0', 'b0')}; c01 = ${MAC('c01', 'x0', 'b1')};
    c10 = ${MAC('c10', 'x1', 'b0')}; c11 = ${MAC('c11', 'x1', 'b1')};
    bp += 32;
  }
  v128.store(out, c00); v128.store(out, c01, 16); v128.store(out, c10, 32); v128.store(out, c11, 48);
}

${UNROLLED('tileUnrolled', false, MAC)}

${UNROLLED('tileBcast', true, MAC)}

export function tile_bcast(a0: usize, a1: usize, bp: usize, K: i32, out: usize): void {
  tileBcast(a0, a1, bp, K, out);
}

/** The 4x8 tile on rows a0 and following (a1 - a0 bytes apart), for the in-L1 comparison. */
export function tile48(a0: usize, a1: usize, bp: usize, K: i32, out: usize): void {
  tile4x8K(a0, a1 - a0, bp, K, out);
}

export function tile_unrolled(a0: usize, a1: usize, bp: usize, K: i32, out: usize): void {
  tileUnrolled(a0, a1, bp, K, out);
}

@inline function maxInto8(maxp: usize, t: usize): void {
  v128.store(maxp, f32x4.max(v128.load(maxp), v128.load(t)));
  v128.store(maxp, f32x4.max(v128.load(maxp, 16), v128.load(t, 16)), 16);
}

/** rel_base with 4x8 tiles; Tp8 packed in 8-column panels of depth d (pack8). */
export function rel_4x8(Q: usize, B: i32, L: i32, d: i32, Tp8: usize, C: i32, R: usize, scratch: usize): void {
  const maxp = scratch, t = scratch + 64;
  const panels = (C + 7) / 8;
  const rb = <usize>d << 2;
  for (let b = 0; b < B; b++) {
    const qb = Q + <usize>b * <usize>L * rb;
    for (let p = 0; p < panels; p++) {
      const bp = Tp8 + ((<usize>p * <usize>d) << 5);
      v128.store(maxp, f32x4.splat(-Infinity)); v128.store(maxp, f32x4.splat(-Infinity), 16);
      let l = 0;
      for (; l + 4 <= L; l += 4) {
        tile4x8K(qb + <usize>l * rb, rb, bp, d, t);
        maxInto8(maxp, t); maxInto8(maxp, t + 32); maxInto8(maxp, t + 64); maxInto8(maxp, t + 96);
      }
      for (; l < L; l += 2) {
        const l1 = l + 1 < L ? l + 1 : l;
        tile2x8K(qb + <usize>l * rb, qb + <usize>l1 * rb, bp, d, t);
        maxInto8(maxp, t); maxInto8(maxp, t + 32);
      }
      memory.copy(R + ((<usize>b * <usize>C + <usize>p * 8) << 2), maxp, <usize>min(8, C - p * 8) << 2);
    }
  }
}

/** Packs an [N, K] matrix into panels of W columns of depth K (the last panel zero-padded). */
@inline function packPanels(src: usize, N: i32, K: i32, dst: usize, W: i32): void {
  const panels = (N + W - 1) / W;
  for (let p = 0; p < panels; p++) {
    for (let j = 0; j < W; j++) {
      const n = p * W + j;
      for (let k = 0; k < K; k++) {
        const v: f32 = n < N ? load<f32>(src + ((<usize>n * <usize>K + <usize>k) << 2)) : 0;
        store<f32>(dst + ((<usize>p * <usize>K * <usize>W + <usize>k * <usize>W + <usize>j) << 2), v);
      }
    }
  }
}

/** pack with 8-column panels. */
export function pack8(src: usize, N: i32, K: i32, dst: usize): void {
  packPanels(src, N, K, dst, 8);
}

export function pack(src: usize, N: i32, K: i32, dst: usize): void {
  packPanels(src, N, K, dst, 16);
}
`;
};

interface Variant {
  memory: WebAssembly.Memory;
  tile: (a0: number, a1: number, bp: number, K: number, out: number) => void;
  rel_base: (...a: number[]) => void;
  rel_split: (...a: number[]) => void;
  rel_4x8: (...a: number[]) => void;
  tile48: Variant['tile'];
  tile_unrolled: Variant['tile'];
  tile_bcast: Variant['tile'];
  pack: (src: number, N: number, K: number, dst: number) => void;
  pack8: (src: number, N: number, K: number, dst: number) => void;
}

async function build(madd: boolean): Promise<Variant> {
  const module = await WebAssembly.compile(await compileLikeShipped(SOURCE(madd), { relaxed: madd, shared: SHARED }));
  if (!SHARED) return (await WebAssembly.instantiate(module, {})).exports as unknown as Variant;
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true });
  const inst = await WebAssembly.instantiate(module, { env: { memory } });
  return { ...(inst.exports as object), memory } as unknown as Variant;
}

// Node 20 validates relaxed SIMD only behind a flag: re-run there with it. Deno and Bun validate it as is.
const isNode = detectRuntime() === 'node';
// The variants on a shared memory where the shipped kernels run on one (Deno: see instantiateKernels), or with
// --shared, so that the shipped tile and the variants are compared on the same kind of memory.
const SHARED = (sharedMemoryIsFaster() || process.argv.includes('--shared')) && !process.argv.includes('--plain');
if (isNode && !process.execArgv.includes(FLAG) && !process.env['FDT_VARIANTS_CHILD']) {
  const self = fileURLToPath(import.meta.url);
  const r = spawnSync(process.execPath, [FLAG, ...process.execArgv, self, ...process.argv.slice(2)], {
    stdio: 'inherit', env: { ...process.env, FDT_VARIANTS_CHILD: '1' },
  });
  process.exit(r.status ?? 1);
}

const variants: [string, Variant][] = [['mul+add', await build(false)]];
try {
  variants.push(['relaxed_madd', await build(true)]);
} catch (e) {
  console.log(`relaxed SIMD unavailable here: ${(e as Error).message.split('\n')[0]}`);
}

const rows: string[] = [];
const row = (what: string, ms: number, flops: number) => {
  const line = `${what.padEnd(58)} ${ms.toFixed(2).padStart(9)} ms ${(flops / (ms * 1e6)).toFixed(2).padStart(7)} GFLOP/s`;
  rows.push(line);
  console.log(line);
};

// The tile alone in L1 (K = 256: 16 KiB panel + 2 KiB of rows; the 4x8 tile reads 8 KiB of panel and 4 KiB of rows), and the shipped module's tile_2x16 on the same data
// and the same addresses, in alternating rounds (turbo frequency and the host's other tenants vary over seconds).
{
  const K = 256;
  const a0 = 1024;
  const a1 = a0 + K * 4;
  const bp = 8192;
  const out = bp + K * 64;
  const need = out + 256;
  const calls = 8000;
  const shipped = await instantiateKernels('simd');
  const shippedTile = (shipped.k as unknown as { tile_2x16: Variant['tile'] }).tile_2x16;
  const tiles: [string, WebAssembly.Memory, Variant['tile']][] = [
    ...variants.map(([name, v]): [string, WebAssembly.Memory, Variant['tile']] => [`2x16, experiment, ${name}`, v.memory, v.tile]),
    ['2x16, shipped tile_2x16 (bindings), mul+add', shipped.k.memory, shippedTile],
    ['4x8 (8 KiB panel), experiment, mul+add', variants[0]![1].memory, variants[0]![1].tile48],
    ['2x16 unrolled 4x, experiment, mul+add', variants[0]![1].memory, variants[0]![1].tile_unrolled],
    ['2x16 rows broadcast by shuffles, experiment, mul+add', variants[0]![1].memory, variants[0]![1].tile_bcast],
  ];
  const times = new Map<string, number[]>();
  for (const [, mem] of tiles) {
    if (mem.buffer.byteLength < need) mem.grow(Math.ceil((need - mem.buffer.byteLength) / 65536));
    const f = new Float32Array(mem.buffer, a0, 4 * K); // four rows: the 4x8 tile reads two beyond a1
    for (let i = 0; i < f.length; i++) f[i] = ((i * 7919) % 1000) / 1000 - 0.5;
    const p = new Float32Array(mem.buffer, bp, K * 16);
    for (let i = 0; i < p.length; i++) p[i] = ((i * 104729) % 1000) / 1000 - 0.5;
  }
  for (let round = 0; round < 3; round++) {
    for (const [name, , tile] of tiles) {
      const t = await measure(() => {
        for (let i = 0; i < calls; i++) tile(a0, a1, bp, K, out);
      }, { budgetS: 1, min: 15, max: 200, warmup: 3 });
      times.set(name, [...(times.get(name) ?? []), t.medianMs]);
    }
  }
  for (const [name, ms] of times) row(`tile ${name}, K=256 in L1 (median of 3 rounds)`, median(ms), 64 * K * calls);
}

// The full relevance kernel at the paper's B = 32 (and B = 1), base vs split vs 4x8 vs unroll4 vs madd.
for (const s of [{ B: 32, P: 49, d: 512, C: 16384 }, { B: 1, P: 49, d: 512, C: 16384 }]) {
  const { q, T } = relevanceInputs(s);
  const flops = 2 * s.B * s.P * s.d * s.C;
  const ref: Float32Array[] = [];
  for (const [name, v] of variants) {
    const Q = 65536;
    const Tsrc = Q + q.byteLength;
    const Tp = Tsrc + T.byteLength;
    const Tp8 = Tp + Math.ceil(s.C / 16) * 16 * s.d * 4;
    const R = Tp8 + Math.ceil(s.C / 8) * 8 * s.d * 4;
    const scratch = R + s.B * s.C * 4;
    const end = scratch + 256 + 64 * (s.P + 1);
    if (v.memory.buffer.byteLength < end) v.memory.grow(Math.ceil((end - v.memory.buffer.byteLength) / 65536));
    new Float32Array(v.memory.buffer, Q, q.length).set(q);
    new Float32Array(v.memory.buffer, Tsrc, T.length).set(T);
    v.pack(Tsrc, s.C, s.d, Tp);
    v.pack8(Tsrc, s.C, s.d, Tp8);
    const budget = s.B > 1 ? { budgetS: 8, min: 3, max: 9 } : { budgetS: 2, min: 9, max: 40 };
    const fns: [string, () => void][] = [['base', () => v.rel_base(Q, s.B, s.P, s.d, Tp, s.C, R, scratch, 0)]];
    if (name === 'mul+add') {
      fns.push(['split KC=256', () => v.rel_split(Q, s.B, s.P, s.d, Tp, s.C, R, scratch, 256)]);
      fns.push(['4x8 tile, 8-column panels', () => v.rel_4x8(Q, s.B, s.P, s.d, Tp8, s.C, R, scratch)]);
      fns.push(['unroll4', () => v.rel_base(Q, s.B, s.P, s.d, Tp, s.C, R, scratch, 1)]);
      fns.push(['rows broadcast by shuffles', () => v.rel_base(Q, s.B, s.P, s.d, Tp, s.C, R, scratch, 2)]);
    }
    for (const [variant, fn] of fns) {
      fn();
      const out = new Float32Array(v.memory.buffer, R, s.B * s.C).slice();
      if (!ref.length) ref.push(out);
      let e = 0;
      for (let i = 0; i < out.length; i++) e = Math.max(e, Math.abs(out[i]! - ref[0]![i]!));
      const t = await measure(fn, budget);
      row(`relevance B=${s.B} P=${s.P} d=${s.d} C=${s.C}, ${variant}, ${name} (max |diff| ${e.toExponential(1)})`, t.medianMs, flops);
    }
  }
}
