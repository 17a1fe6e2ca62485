// Weighted sum of dictionary tokens and L2 normalisation.
//   e[b] = sum over c with w[b,c] != 0 of w[b,c] * T[c]          (sparse rows x dense T: O(B k d))
//   e_hat = e / (||e|| + 1e-10)
import { axpy, dot4, zero } from './vec';

/**
 * W [B, C], T [C, d] -> E [B, d]. Dictionary rows outside, batch rows inside: each T[c] is read once per call, not
 * once per batch row (T is 32 MiB at paper scale, beyond the caches: b-outer took 150 ms per training step waiting on
 * memory). Every E row still sums its terms in increasing c, so the bits are those of the b-outer loop.
 */
export function f32_wsum_fwd(W: usize, T: usize, B: i32, C: i32, d: i32, E: usize): void {
  const rowBytes = <usize>d << 2;
  for (let b = 0; b < B; b++) zero(E + <usize>b * rowBytes, d);
  for (let c = 0; c < C; c++) {
    const t = T + <usize>c * rowBytes;
    for (let b = 0; b < B; b++) {
      const w = load<f32>(W + ((<usize>b * <usize>C + <usize>c) << 2));
      if (w != 0) axpy(E + <usize>b * rowBytes, t, w, d);
    }
  }
}

/**
 * Backward of f32_wsum_fwd. GW [B, C] = GE[b] . T[c] (only where W != 0 when supportOnly, else 0 there: the
 * sparsemax Jacobian ignores the rest); GT [C, d] += W[b,c] * GE[b] where W != 0. Dictionary rows outside (as in
 * the forward); GT[c] receives its terms in increasing b as before.
 */
export function f32_wsum_bwd(
  W: usize, T: usize, GE: usize, B: i32, C: i32, d: i32, GW: usize, GT: usize, supportOnly: i32,
): void {
  const rowBytes = <usize>d << 2;
  for (let c = 0; c < C; c++) {
    const t = T + <usize>c * rowBytes;
    for (let b = 0; b < B; b++) {
      const o = (<usize>b * <usize>C + <usize>c) << 2;
      const w = load<f32>(W + o);
      const ge = GE + <usize>b * rowBytes;
      if (GW) store<f32>(GW + o, supportOnly && w == 0 ? 0 : dot4(ge, t, d));
      if (GT && w != 0) axpy(GT + <usize>c * rowBytes, ge, w, d);
    }
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
