// Weighted sum of dictionary tokens and L2 normalisation.
//   e[b] = sum over c with w[b,c] != 0 of w[b,c] * T[c]          (sparse rows x dense T: O(B k d))
//   e_hat = e / (||e|| + 1e-10)
import { dot16, termAdd, termsEnd, termsStart, zero } from './vec';

// Dictionary rows per block of the forward: 64 rows of d = 512 floats (128 KiB) stay in L2 while every batch row
// takes its terms from them.
const CB: i32 = 64;

/**
 * W [B, C], T [C, d] -> E [B, d]. Each dictionary row is read from memory once per call, not once per batch row (T
 * is 32 MiB at paper scale, beyond the caches), and a batch row takes its terms four at a time (axpy4: one pass
 * over E[b] per four dictionary rows). Every E row still sums its terms in increasing c, rounded one by one, so the
 * bits are those of one axpy per term. Per call at paper scale (B = 32, ~4,700 active): 150 ms with batch rows
 * outside, 24.5 with dictionary rows outside, 21.6 with blocks and axpy4.
 */
export function f32_wsum_fwd(W: usize, T: usize, B: i32, C: i32, d: i32, E: usize): void {
  const rowBytes = <usize>d << 2;
  for (let b = 0; b < B; b++) zero(E + <usize>b * rowBytes, d);
  for (let c0 = 0; c0 < C; c0 += CB) {
    const c1 = min(C, c0 + CB);
    for (let b = 0; b < B; b++) {
      const wrow = W + ((<usize>b * <usize>C) << 2);
      termsStart(E + <usize>b * rowBytes);
      for (let c = c0; c < c1; c++) {
        const w = load<f32>(wrow + (<usize>c << 2));
        if (w != 0) termAdd(T + <usize>c * rowBytes, w, d);
      }
      termsEnd(d);
    }
  }
}

/**
 * Backward of f32_wsum_fwd. GW [B, C] = GE[b] . T[c] (only where W != 0 when supportOnly, else 0 there: the
 * sparsemax Jacobian ignores the rest); GT [C, d] += W[b,c] * GE[b] where W != 0. Dictionary rows outside (as in
 * the forward); GT[c] receives its terms in increasing b, four per pass (axpy4), rounded one by one as before.
 */
export function f32_wsum_bwd(
  W: usize, T: usize, GE: usize, B: i32, C: i32, d: i32, GW: usize, GT: usize, supportOnly: i32,
): void {
  f32_wsum_bwd_part(W, T, GE, B, C, d, GW, GT, supportOnly, 0, C);
}

/** Dictionary rows per block of the GW dot products: 16 KiB of them stay in L1 beside one row of GE. */
const GW_BLOCK_BYTES: usize = 16 << 10;

/**
 * f32_wsum_bwd for dictionary rows [c0, c1): threads split the dictionary (disjoint GW columns and GT rows).
 * GW's dot products run by blocks of dictionary rows (GW_BLOCK_BYTES), every batch row against the block: the block
 * and the batch row stay in L1, where one dictionary row against all of GE [B, d] read GE from L2 for every row (2.1-
 * 2.4x the dot products' arithmetic time). Each GW entry is one dot16, so the order does not change its bits. GT
 * then takes its terms per dictionary row, in increasing b, four per pass.
 */
export function f32_wsum_bwd_part(
  W: usize, T: usize, GE: usize, B: i32, C: i32, d: i32, GW: usize, GT: usize, supportOnly: i32, c0: i32, c1: i32,
): void {
  const rowBytes = <usize>d << 2;
  if (GW) {
    const block = <i32>max<usize>(1, GW_BLOCK_BYTES / max<usize>(rowBytes, 4));
    for (let cb = c0; cb < c1; cb += block) {
      const ce = min(c1, cb + block);
      for (let b = 0; b < B; b++) {
        const ge = GE + <usize>b * rowBytes;
        for (let c = cb; c < ce; c++) {
          const o = (<usize>b * <usize>C + <usize>c) << 2;
          store<f32>(GW + o, supportOnly && load<f32>(W + o) == 0 ? 0 : dot16(ge, T + <usize>c * rowBytes, d));
        }
      }
    }
  }
  if (!GT) return;
  for (let c = c0; c < c1; c++) {
    termsStart(GT + <usize>c * rowBytes);
    for (let b = 0; b < B; b++) {
      const w = load<f32>(W + ((<usize>b * <usize>C + <usize>c) << 2));
      if (w != 0) termAdd(GE + <usize>b * rowBytes, w, d);
    }
    termsEnd(d);
  }
}

export const L2_EPS: f64 = 1e-10;

/** E [B, d] -> EHAT [B, d], NORMS [B] = ||e|| (float64 accumulation). */
export function f32_l2norm_fwd(E: usize, B: i32, d: i32, EHAT: usize, NORMS: usize): void {
  for (let b = 0; b < B; b++) {
    const o = (<usize>b * <usize>d) << 2;
    let s: f64 = 0;
    for (let i = 0; i < d; i++) {
      const x = <f64>load<f32>(E + o + (<usize>i << 2));
      s += x * x;
    }
    const n = Math.sqrt(s);
    const inv = 1.0 / (n + L2_EPS);
    for (let i = 0; i < d; i++) {
      const e = o + (<usize>i << 2);
      store<f32>(EHAT + e, <f32>(<f64>load<f32>(E + e) * inv));
    }
    store<f32>(NORMS + (<usize>b << 2), <f32>n);
  }
}

/**
 * GE = (G - EHAT (EHAT . G) (n + eps) / n) / (n + eps), per row: the exact derivative of e / (||e|| + eps), as
 * autograd computes it (FDT-SPEC writes the ratio as n / (n + eps); the two differ by 2 eps / n). A zero row (n = 0,
 * EHAT = 0) gets G / eps.
 */
export function f32_l2norm_bwd(EHAT: usize, NORMS: usize, G: usize, B: i32, d: i32, GE: usize): void {
  for (let b = 0; b < B; b++) {
    const o = (<usize>b * <usize>d) << 2;
    let dg: f64 = 0;
    for (let i = 0; i < d; i++) {
      const e = o + (<usize>i << 2);
      dg += <f64>load<f32>(EHAT + e) * <f64>load<f32>(G + e);
    }
    const n = <f64>load<f32>(NORMS + (<usize>b << 2));
    const inv = 1.0 / (n + L2_EPS);
    const k = n > 0 ? dg * (n + L2_EPS) / n : 0;
    for (let i = 0; i < d; i++) {
      const e = o + (<usize>i << 2);
      store<f32>(GE + e, <f32>((<f64>load<f32>(G + e) - <f64>load<f32>(EHAT + e) * k) * inv));
    }
  }
}
