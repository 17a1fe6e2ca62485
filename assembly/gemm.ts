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
    for (let j = 0; j < NR; j++) {
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

/** Packs B stored row-major as [K, N] into 16-column panels. dst must hold ceil(N/16) * K * 16 floats. */
export function f32_pack_nn(src: usize, K: i32, N: i32, dst: usize): void {
  const panels = (N + NR - 1) / NR;
  for (let p = 0; p < panels; p++) {
    const base = dst + <usize>p * panelBytes(K);
    const n0 = p * NR;
    const w = min(NR, N - n0);
    for (let k = 0; k < K; k++) {
      const out = base + (<usize>k << 6);
      const row = src + ((<usize>k * <usize>N + <usize>n0) << 2);
      let j = 0;
      for (; j < w; j++) store<f32>(out + (<usize>j << 2), load<f32>(row + (<usize>j << 2)));
      for (; j < NR; j++) store<f32>(out + (<usize>j << 2), 0);
    }
  }
}

/**
 * The micro-kernel: out[r][j] = sum_k a_r[k] * panel[k][j] for two rows a0, a1 of length K and one panel.
 * out receives 32 floats: row 0's 16 then row 1's 16. Pass a1 == a0 for a single row.
 */
export function tile_2x16(a0: usize, a1: usize, bp: usize, K: i32, out: usize): void {
  if (ASC_FEATURE_SIMD) {
    let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c02 = f32x4.splat(0), c03 = f32x4.splat(0);
    let c10 = f32x4.splat(0), c11 = f32x4.splat(0), c12 = f32x4.splat(0), c13 = f32x4.splat(0);
    for (let k = 0; k < K; k++) {
      const x0 = f32x4.splat(load<f32>(a0));
      const x1 = f32x4.splat(load<f32>(a1));
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
  } else {
    for (let j = 0; j < NR; j++) {
      let s0: f32 = 0;
      let s1: f32 = 0;
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

// Rows per block: 64 rows of K = 768 floats (192 KiB) stay in L2 while every panel streams past them.
const MB: i32 = 64;

/**
 * C[M, N] (row stride ldc) = (accumulate ? C : 0) + A[M, K] (row stride lda) * B + bias[N] (bias = 0: none),
 * with B given as packed panels (f32_pack_nt / f32_pack_nn). tile: 32 floats of scratch.
 */
export function f32_gemm(
  A: usize, M: i32, K: i32, lda: i32, Bp: usize, N: i32, bias: usize, C: usize, ldc: i32, accumulate: i32, tile: usize,
): void {
  const panels = (N + NR - 1) / NR;
  for (let m0 = 0; m0 < M; m0 += MB) {
    const m1 = min(M, m0 + MB);
    for (let p = 0; p < panels; p++) {
      const bp = Bp + <usize>p * panelBytes(K);
      const n0 = p * NR;
      const w = min(NR, N - n0);
      for (let i = m0; i < m1; i += 2) {
        const two = i + 1 < m1;
        const a0 = A + ((<usize>i * <usize>lda) << 2);
        const a1 = two ? a0 + (<usize>lda << 2) : a0;
        tile_2x16(a0, a1, bp, K, tile);
        const rows = two ? 2 : 1;
        for (let r = 0; r < rows; r++) {
          const crow = C + ((<usize>(i + r) * <usize>ldc + <usize>n0) << 2);
          const trow = tile + (<usize>r << 6);
          for (let j = 0; j < w; j++) {
            const o = <usize>j << 2;
            let v = load<f32>(trow + o);
            if (bias) v += load<f32>(bias + ((<usize>n0 + <usize>j) << 2));
            if (accumulate) v = load<f32>(crow + o) + v;
            store<f32>(crow + o, v);
          }
        }
      }
    }
  }
}

/** dst[C, R] = src[R, C]^T. */
export function f32_transpose(src: usize, R: i32, C: i32, dst: usize): void {
  for (let r = 0; r < R; r++) {
    const row = src + ((<usize>r * <usize>C) << 2);
    for (let c = 0; c < C; c++) store<f32>(dst + ((<usize>c * <usize>R + <usize>r) << 2), load<f32>(row + (<usize>c << 2)));
  }
}

/** out[N] += sum over rows of X[M, N] (the bias gradient of a Linear layer). */
export function f32_colsum_acc(X: usize, M: i32, N: i32, out: usize): void {
  for (let i = 0; i < M; i++) {
    const row = X + ((<usize>i * <usize>N) << 2);
    for (let j = 0; j < N; j++) {
      const o = <usize>j << 2;
      store<f32>(out + o, load<f32>(out + o) + load<f32>(row + o));
    }
  }
}
