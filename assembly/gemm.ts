// Packed-panel GEMM: the micro-kernel shared by the relevance kernel and the query MLP's Linear layers.
//
// Panel layout (NR = 16 columns): a matrix B [K, N] is stored as ceil(N / 16) panels; panel p holds columns
// 16p .. 16p+15 k-major, so one k step reads 16 consecutive floats (four v128):
//
//   panel p:  k=0: B[0][16p+0] B[0][16p+1] ... B[0][16p+15]
//             k=1: B[1][16p+0] ...
//             ...                                      (K * 16 floats, columns >= N are zero)
//
// The 2x16 register tile keeps 8 f32x4 accumulators + 4 panel vectors + 2 broadcast rows = 14 of V8's 16 xmm
// registers; 12-accumulator tiles spilled in V8 and ran at about half the speed (measured on Zen 5, Node 20).

export const NR: i32 = 16;

/** Bytes of one packed panel of depth K. */
@inline
export function panelBytes(K: i32): usize {
  return <usize>K << 6;
}

/**
 * Packs B^T, stored row-major as [N, K] (PyTorch's Linear weight layout [out, in], or the dictionary T [C, d]),
 * into 16-column panels of B [K, N]. dst must hold ceil(N/16) * K * 16 floats.
 */
export function f32_pack_nt(src: usize, N: i32, K: i32, dst: usize): void {
  const panels = (N + NR - 1) / NR;
  for (let p = 0; p < panels; p++) {
    const base = dst + <usize>p * panelBytes(K);
    let j = 0;
    if (ASC_FEATURE_SIMD && p * NR + NR <= N) {
      // A full panel: 4 x 4 blocks transposed in registers, the four blocks of one k range in a row, so each 64-byte
      // line of the panel is written whole before the next.
      const rows = src + ((<usize>(p * NR) * <usize>K) << 2);
      const rb = <usize>K << 2;
      let k = 0;
      for (; k + 4 <= K; k += 4) {
        const o = <usize>k << 2;
        const dst = base + (<usize>k << 6);
        transpose4x4(rows + o, rb, dst);
        transpose4x4(rows + 4 * rb + o, rb, dst + 16);
        transpose4x4(rows + 8 * rb + o, rb, dst + 32);
        transpose4x4(rows + 12 * rb + o, rb, dst + 48);
      }
      for (; k < K; k++) {
        for (let jj = 0; jj < NR; jj++) store<f32>(base + (<usize>k << 6) + (<usize>jj << 2), load<f32>(rows + <usize>jj * rb + (<usize>k << 2)));
      }
      continue;
    }
    for (; j < NR; j++) {
      const n = p * NR + j;
      const col = base + (<usize>j << 2);
      if (n < N) {
        const row = src + ((<usize>n * <usize>K) << 2);
        for (let k = 0; k < K; k++) store<f32>(col + (<usize>k << 6), load<f32>(row + (<usize>k << 2)));
      } else {
        for (let k = 0; k < K; k++) store<f32>(col + (<usize>k << 6), 0);
      }
    }
  }
}

/**
 * Transposes the 4 x 4 block whose rows start at a, a + rb, a + 2 rb, a + 3 rb into four vectors stored 64 bytes
 * apart from out (one panel line per k). SIMD builds only.
 */
@inline
function transpose4x4(a: usize, rb: usize, out: usize): void {
  const a0 = v128.load(a);
  const a1 = v128.load(a + rb);
  const a2 = v128.load(a + 2 * rb);
  const a3 = v128.load(a + 3 * rb);
  const t0 = i32x4.shuffle(a0, a1, 0, 4, 1, 5);
  const t1 = i32x4.shuffle(a2, a3, 0, 4, 1, 5);
  const t2 = i32x4.shuffle(a0, a1, 2, 6, 3, 7);
  const t3 = i32x4.shuffle(a2, a3, 2, 6, 3, 7);
  v128.store(out, i32x4.shuffle(t0, t1, 0, 1, 4, 5));
  v128.store(out, i32x4.shuffle(t0, t1, 2, 3, 6, 7), 64);
  v128.store(out, i32x4.shuffle(t2, t3, 0, 1, 4, 5), 128);
  v128.store(out, i32x4.shuffle(t2, t3, 2, 3, 6, 7), 192);
}

/**
 * Writes four rows of K floats (the first at `rows`, the next ones K floats apart) as K vectors of four: vector k
 * (row 0's, 1's, 2's and 3's value k) goes to out + k * stride bytes. SIMD builds only.
 */
@inline
function transpose4Rows(rows: usize, K: i32, out: usize, stride: usize): void {
  const rb = <usize>K << 2;
  let k = 0;
  for (; k + 4 <= K; k += 4) {
    const o = <usize>k << 2;
    const a0 = v128.load(rows + o);
    const a1 = v128.load(rows + rb + o);
    const a2 = v128.load(rows + 2 * rb + o);
    const a3 = v128.load(rows + 3 * rb + o);
    const t0 = i32x4.shuffle(a0, a1, 0, 4, 1, 5);
    const t1 = i32x4.shuffle(a2, a3, 0, 4, 1, 5);
    const t2 = i32x4.shuffle(a0, a1, 2, 6, 3, 7);
    const t3 = i32x4.shuffle(a2, a3, 2, 6, 3, 7);
    const dst = out + <usize>k * stride;
    v128.store(dst, i32x4.shuffle(t0, t1, 0, 1, 4, 5));
    v128.store(dst + stride, i32x4.shuffle(t0, t1, 2, 3, 6, 7));
    v128.store(dst + 2 * stride, i32x4.shuffle(t2, t3, 0, 1, 4, 5));
    v128.store(dst + 3 * stride, i32x4.shuffle(t2, t3, 2, 3, 6, 7));
  }
  for (; k < K; k++) {
    const o = <usize>k << 2;
    const dst = out + <usize>k * stride;
    store<f32>(dst, load<f32>(rows + o));
    store<f32>(dst, load<f32>(rows + rb + o), 4);
    store<f32>(dst, load<f32>(rows + 2 * rb + o), 8);
    store<f32>(dst, load<f32>(rows + 3 * rb + o), 12);
  }
}

/** Packs B stored row-major as [K, N] into 16-column panels. dst must hold ceil(N/16) * K * 16 floats. */
export function f32_pack_nn(src: usize, K: i32, N: i32, dst: usize): void {
  const panels = (N + NR - 1) / NR;
  const full = N / NR;
  // Row by row: each source row is read once, in order, and scattered 64 bytes per panel (panel by panel, the
  // reads were 64 bytes every N floats: 1.7x slower at [2464, 512]).
  for (let k = 0; k < K; k++) {
    const row = src + ((<usize>k * <usize>N) << 2);
    const out = dst + (<usize>k << 6);
    let p = 0;
    if (ASC_FEATURE_SIMD) {
      for (; p < full; p++) {
        const i = row + (<usize>(p * NR) << 2);
        const o = out + <usize>p * panelBytes(K);
        v128.store(o, v128.load(i));
        v128.store(o, v128.load(i, 16), 16);
        v128.store(o, v128.load(i, 32), 32);
        v128.store(o, v128.load(i, 48), 48);
      }
    }
    for (; p < panels; p++) {
      const n0 = p * NR;
      const w = min(NR, N - n0);
      const o = out + <usize>p * panelBytes(K);
      let j = 0;
      for (; j < w; j++) store<f32>(o + (<usize>j << 2), load<f32>(row + (<usize>(n0 + j) << 2)));
      for (; j < NR; j++) store<f32>(o + (<usize>j << 2), 0);
    }
  }
}

/**
 * The micro-kernel: out[r][j] = sum_k a_r[k] * panel[k][j] for two rows a0, a1 of length K and one panel.
 * out receives 32 floats: row 0's 16 then row 1's 16. Pass a1 == a0 for a single row.
 */
export function tile_2x16(a0: usize, a1: usize, bp: usize, K: i32, out: usize): void {
  tile2x16(a0, a1, bp, K, out, false);
}

/**
 * tile_2x16 continuing the sums already in out: out[r][j] += sum_k a_r[k] * panel[k][j], each lane's terms added in
 * k order after the ones before, so a depth cut into chunks gives the bits of one full-depth call.
 */
function tile_2x16_acc(a0: usize, a1: usize, bp: usize, K: i32, out: usize): void {
  tile2x16(a0, a1, bp, K, out, true);
}

/**
 * The tile over depth [k0, k0 + kc) of rows a0, a1 (pointers to their first value) and the panel at bp: the sums in
 * out start at k0 = 0 and continue after it (tile_2x16_acc), so the chunks of a depth, in order, give the bits of
 * one full-depth tile_2x16.
 */
@inline
export function tileDepthChunk(a0: usize, a1: usize, bp: usize, k0: i32, kc: i32, out: usize): void {
  if (k0 == 0) {
    tile_2x16(a0, a1, bp, kc, out);
  } else {
    const koff = <usize>k0 << 2;
    tile_2x16_acc(a0 + koff, a1 + koff, bp + (<usize>k0 << 6), kc, out);
  }
}

/**
 * How the SIMD tile broadcasts its two row values per k step: from memory (v128.load32_splat: one vbroadcastss
 * xmm, [mem]) or by a scalar load and a register broadcast (f32x4.splat(load<f32>(p))). The same bits either way.
 * Node 20 (V8 11.3) compiles the first to 33 instructions per k step (31 uops) and the second to 35 (33 uops, one
 * more than its 4-wide front end issues in the 8 cycles the two FP ports need): in L1 the shipped tile runs at 23.4
 * against 21.3 GFLOP/s (bench/experiments/tile-code.ts lists both loops). Under Deno (V8 15.0, without the trap
 * handler, so every access is bounds-checked in code) the first runs at 12.1 against 16.7 on the shared-memory twin
 * that Deno uses; on a Zen 5 the first is the faster in every runtime tried, by up to 1.2x (Firefox). The bindings
 * time both on each process's first instance and set the faster (bindings/tile-choice.ts).
 */
let broadcastFromMemory: bool = true;

/** Sets the tile's broadcast (non-zero: from memory, the default; 0: scalar load, register broadcast); returns the previous. */
export function tile_set_broadcast(fromMemory: i32): i32 {
  const previous = broadcastFromMemory ? 1 : 0;
  broadcastFromMemory = fromMemory != 0;
  return previous;
}

@inline
function tile2x16(a0: usize, a1: usize, bp: usize, K: i32, out: usize, acc: bool): void {
  if (ASC_FEATURE_SIMD) {
    // One loop per broadcast, chosen once per call (a call runs K >= 1 k steps, up to DEPTH_CHUNK in the chunked kernels), each
    // in a function of its own: with both loops in one function V8 scheduled the broadcast from memory's loop
    // differently (the panel's four loads first) and the tile ran ~4% slower in L1.
    if (broadcastFromMemory) tileFromMemory(a0, a1, bp, K, out, acc);
    else tileRegisterBroadcast(a0, a1, bp, K, out, acc);
  } else {
    for (let j = 0; j < NR; j++) {
      let s0: f32 = acc ? load<f32>(out + (<usize>j << 2)) : 0;
      let s1: f32 = acc ? load<f32>(out + 64 + (<usize>j << 2)) : 0;
      let p0 = a0;
      let p1 = a1;
      let pb = bp + (<usize>j << 2);
      for (let k = 0; k < K; k++) {
        const b = load<f32>(pb);
        s0 += load<f32>(p0) * b;
        s1 += load<f32>(p1) * b;
        p0 += 4;
        p1 += 4;
        pb += 64;
      }
      store<f32>(out + (<usize>j << 2), s0);
      store<f32>(out + 64 + (<usize>j << 2), s1);
    }
  }
}

/** The SIMD tile, its row values broadcast from memory. */
function tileFromMemory(a0: usize, a1: usize, bp: usize, K: i32, out: usize, acc: bool): void {
  tile2x16Simd(a0, a1, bp, K, out, acc, true);
}

/** The SIMD tile, its row values loaded as scalars and broadcast in registers. */
function tileRegisterBroadcast(a0: usize, a1: usize, bp: usize, K: i32, out: usize, acc: bool): void {
  tile2x16Simd(a0, a1, bp, K, out, acc, false);
}

/** The SIMD tile with the broadcast `fromMemory` (a constant at each call site, so each gets its own loop). */
@inline
function tile2x16Simd(a0: usize, a1: usize, bp: usize, K: i32, out: usize, acc: bool, fromMemory: bool): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c02 = f32x4.splat(0), c03 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0), c12 = f32x4.splat(0), c13 = f32x4.splat(0);
  if (acc) {
    c00 = v128.load(out); c01 = v128.load(out, 16); c02 = v128.load(out, 32); c03 = v128.load(out, 48);
    c10 = v128.load(out, 64); c11 = v128.load(out, 80); c12 = v128.load(out, 96); c13 = v128.load(out, 112);
  }
  for (let k = 0; k < K; k++) {
    const x0 = fromMemory ? v128.load32_splat(a0) : f32x4.splat(load<f32>(a0));
    const x1 = fromMemory ? v128.load32_splat(a1) : f32x4.splat(load<f32>(a1));
    const b0 = v128.load(bp);
    const b1 = v128.load(bp, 16);
    const b2 = v128.load(bp, 32);
    const b3 = v128.load(bp, 48);
    if (ASC_FEATURE_RELAXED_SIMD) {
      // The relaxed build: one fused multiply-add per lane where the CPU has FMA (one rounding instead of two).
      c00 = f32x4.relaxed_madd(x0, b0, c00);
      c01 = f32x4.relaxed_madd(x0, b1, c01);
      c02 = f32x4.relaxed_madd(x0, b2, c02);
      c03 = f32x4.relaxed_madd(x0, b3, c03);
      c10 = f32x4.relaxed_madd(x1, b0, c10);
      c11 = f32x4.relaxed_madd(x1, b1, c11);
      c12 = f32x4.relaxed_madd(x1, b2, c12);
      c13 = f32x4.relaxed_madd(x1, b3, c13);
    } else {
      c00 = f32x4.add(c00, f32x4.mul(x0, b0));
      c01 = f32x4.add(c01, f32x4.mul(x0, b1));
      c02 = f32x4.add(c02, f32x4.mul(x0, b2));
      c03 = f32x4.add(c03, f32x4.mul(x0, b3));
      c10 = f32x4.add(c10, f32x4.mul(x1, b0));
      c11 = f32x4.add(c11, f32x4.mul(x1, b1));
      c12 = f32x4.add(c12, f32x4.mul(x1, b2));
      c13 = f32x4.add(c13, f32x4.mul(x1, b3));
    }
    a0 += 4;
    a1 += 4;
    bp += 64;
  }
  v128.store(out, c00);
  v128.store(out, c01, 16);
  v128.store(out, c02, 32);
  v128.store(out, c03, 48);
  v128.store(out, c10, 64);
  v128.store(out, c11, 80);
  v128.store(out, c12, 96);
  v128.store(out, c13, 112);
}

// Rows per block: 64 rows of K = 768 floats (192 KiB) stay in L2 while every panel streams past them.
const MB: i32 = 64;

/**
 * Panel depth per chunk, here and in the relevance forward's 2x16 path (its 1x32 path has PAIR_DEPTH_CHUNK): a deeper panel (K > DEPTH_CHUNK: the Linear layers' first
 * input at K = 768, their weight gradients at K = 1,568 and 2,464, a dictionary wider than 512) is walked DEPTH_CHUNK
 * rows at a time, every row pair of the block taking one chunk while its 32 KiB slice of the panel stays in L1, the
 * pairs' running sums kept in scratch between chunks (tileDepthChunk: each lane's terms still added in k order, so the
 * bits of one full-depth tile). 512 keeps the paper's d = 512 whole: a 32 KiB panel and a row pair's 4 KiB fit an L1
 * of 48 KiB. On the Zen 5 (48 KiB L1d) the relevance forward ran 1.03-1.04x faster at the paper's shapes with 512 than
 * with 256 (the chunk of the Cascade Lake's 32 KiB L1, where 256 had measured 1.00-1.09x faster than 512) and the
 * paper's GEMMs 1.00-1.03x; 384 was no faster than 256 (bench/results/2026-11-27-zen5-depth-chunk.txt).
 */
export const DEPTH_CHUNK: i32 = 512;

/** Scratch bytes f32_gemm needs: the running sums of a block's row pairs (16 floats per row). */
export function gemm_scratch_bytes(): usize {
  return <usize>MB << 6;
}

/**
 * C[M, N] (row stride ldc) = (accumulate ? C : 0) + A[M, K] (row stride lda) * B + bias[N] (bias = 0: none),
 * with B given as packed panels (f32_pack_nt / f32_pack_nn). scratch: gemm_scratch_bytes() bytes, 16-byte aligned.
 */
export function f32_gemm(
  A: usize, M: i32, K: i32, lda: i32, Bp: usize, N: i32, bias: usize, C: usize, ldc: i32, accumulate: i32, scratch: usize,
): void {
  const panels = (N + NR - 1) / NR;
  const rowBytes = <usize>lda << 2;
  for (let m0 = 0; m0 < M; m0 += MB) {
    const m1 = min(M, m0 + MB);
    for (let p = 0; p < panels; p++) {
      const bp = Bp + <usize>p * panelBytes(K);
      const n0 = p * NR;
      const w = min(NR, N - n0);
      if (K > DEPTH_CHUNK) {
        // Chunk by chunk of depth, every row pair's sums carried in scratch (pair i - m0 at 64 (i - m0) bytes).
        for (let k0 = 0; k0 < K; k0 += DEPTH_CHUNK) {
          const kc = min(DEPTH_CHUNK, K - k0);
          for (let i = m0; i < m1; i += 2) {
            const a0 = A + <usize>i * rowBytes;
            tileDepthChunk(a0, i + 1 < m1 ? a0 + rowBytes : a0, bp, k0, kc, scratch + (<usize>(i - m0) << 6));
          }
        }
        for (let i = m0; i < m1; i += 2) {
          storeTile(scratch + (<usize>(i - m0) << 6), i + 1 < m1 ? 2 : 1, C + ((<usize>i * <usize>ldc + <usize>n0) << 2), ldc, w, bias, n0, accumulate);
        }
      } else {
        for (let i = m0; i < m1; i += 2) {
          const a0 = A + <usize>i * rowBytes;
          tile_2x16(a0, i + 1 < m1 ? a0 + rowBytes : a0, bp, K, scratch);
          storeTile(scratch, i + 1 < m1 ? 2 : 1, C + ((<usize>i * <usize>ldc + <usize>n0) << 2), ldc, w, bias, n0, accumulate);
        }
      }
    }
  }
}

/**
 * f32_gemm over rows [m0, m1) of A and C only (their pointers as for the whole call): threads claim row ranges of a
 * pooled GEMM at run time. Each row's results do not depend on the others, so they are the bits of the whole call.
 */
export function f32_gemm_rows(
  A: usize, K: i32, lda: i32, Bp: usize, N: i32, bias: usize, C: usize, ldc: i32, accumulate: i32, scratch: usize,
  m0: i32, m1: i32,
): void {
  f32_gemm(A + ((<usize>m0 * <usize>lda) << 2), m1 - m0, K, lda, Bp, N, bias, C + ((<usize>m0 * <usize>ldc) << 2), ldc, accumulate, scratch);
}

/**
 * Writes the first w columns of a tile's rows (row r's 16 sums at tile + 64 r) to C from crow on (row stride ldc):
 * C = (accumulate ? C : 0) + (sum + bias[n0 + j]).
 */
@inline
function storeTile(tile: usize, rows: i32, crow: usize, ldc: i32, w: i32, bias: usize, n0: i32, accumulate: i32): void {
  for (let r = 0; r < rows; r++) {
    const c = crow + ((<usize>r * <usize>ldc) << 2);
    const trow = tile + (<usize>r << 6);
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      // Four columns per vector, the scalar loop's operations per value (the same bits).
      for (; j + 4 <= w; j += 4) {
        const o = <usize>j << 2;
        let v = v128.load(trow + o);
        if (bias) v = f32x4.add(v, v128.load(bias + ((<usize>n0 + <usize>j) << 2)));
        if (accumulate) v = f32x4.add(v128.load(c + o), v);
        v128.store(c + o, v);
      }
    }
    for (; j < w; j++) {
      const o = <usize>j << 2;
      let v = load<f32>(trow + o);
      if (bias) v += load<f32>(bias + ((<usize>n0 + <usize>j) << 2));
      if (accumulate) v = load<f32>(c + o) + v;
      store<f32>(c + o, v);
    }
  }
}

/** dst[C, R] = src[R, C]^T. */
export function f32_transpose(src: usize, R: i32, C: i32, dst: usize): void {
  let r = 0;
  if (ASC_FEATURE_SIMD) {
    // Four source rows at a time become four-float runs of every destination row.
    for (; r + 4 <= R; r += 4) transpose4Rows(src + ((<usize>r * <usize>C) << 2), C, dst + (<usize>r << 2), <usize>R << 2);
  }
  for (; r < R; r++) {
    const row = src + ((<usize>r * <usize>C) << 2);
    for (let c = 0; c < C; c++) store<f32>(dst + ((<usize>c * <usize>R + <usize>r) << 2), load<f32>(row + (<usize>c << 2)));
  }
}

/** out[N] += sum over rows of X[M, N] (the bias gradient of a Linear layer). */
export function f32_colsum_acc(X: usize, M: i32, N: i32, out: usize): void {
  for (let i = 0; i < M; i++) {
    const row = X + ((<usize>i * <usize>N) << 2);
    let j0 = 0;
    if (ASC_FEATURE_SIMD) {
      // Four columns per add; each column still sums its rows in order, so the bits are the scalar loop's.
      for (; j0 + 4 <= N; j0 += 4) {
        const o = <usize>j0 << 2;
        v128.store(out + o, f32x4.add(v128.load(out + o), v128.load(row + o)));
      }
    }
    for (let j = j0; j < N; j++) {
      const o = <usize>j << 2;
      store<f32>(out + o, load<f32>(out + o) + load<f32>(row + o));
    }
  }
}
