// The query MLP's element-wise pieces: LayerNorm (affine, biased variance) and the exact (erf) GELU.
// The Linear layers use f32_gemm with the weight packed by f32_pack_nt.

/**
 * X, Y [M, D]; GAMMA, BETA [D]; MEAN, RSTD [M] out (saved for the backward).
 *   y = (x - mean) * rstd * gamma + beta,   rstd = 1 / sqrt(var + eps), var the biased variance (float64 sums)
 */
export function f32_layernorm_fwd(
  X: usize, M: i32, D: i32, GAMMA: usize, BETA: usize, eps: f32, Y: usize, MEAN: usize, RSTD: usize,
): void {
  for (let i = 0; i < M; i++) {
    const o = (<usize>i * <usize>D) << 2;
    let s: f64 = 0;
    for (let j = 0; j < D; j++) s += <f64>load<f32>(X + o + (<usize>j << 2));
    const mean = s / <f64>D;
    let v: f64 = 0;
    for (let j = 0; j < D; j++) {
      const c = <f64>load<f32>(X + o + (<usize>j << 2)) - mean;
      v += c * c;
    }
    const rstd = 1.0 / Math.sqrt(v / <f64>D + <f64>eps);
    const mean32 = <f32>mean;
    const rstd32 = <f32>rstd;
    for (let j = 0; j < D; j++) {
      const e = <usize>j << 2;
      const xh = (load<f32>(X + o + e) - mean32) * rstd32;
      store<f32>(Y + o + e, xh * load<f32>(GAMMA + e) + load<f32>(BETA + e));
    }
    store<f32>(MEAN + (<usize>i << 2), mean32);
    store<f32>(RSTD + (<usize>i << 2), rstd32);
  }
}

/**
 * Backward of f32_layernorm_fwd: with xh = (x - mean) * rstd and gxh = gy * gamma,
 *   gx = rstd * (gxh - mean(gxh) - xh * mean(gxh * xh));  GGAMMA += sum_i gy * xh;  GBETA += sum_i gy.
 */
export function f32_layernorm_bwd(
  X: usize, GY: usize, M: i32, D: i32, GAMMA: usize, MEAN: usize, RSTD: usize, GX: usize, GGAMMA: usize,
  GBETA: usize,
): void {
  for (let i = 0; i < M; i++) {
    const o = (<usize>i * <usize>D) << 2;
    const mean = load<f32>(MEAN + (<usize>i << 2));
    const rstd = load<f32>(RSTD + (<usize>i << 2));
    let a: f64 = 0;
    let b: f64 = 0;
    for (let j = 0; j < D; j++) {
      const e = <usize>j << 2;
      const xh = (load<f32>(X + o + e) - mean) * rstd;
      const gy = load<f32>(GY + o + e);
      const gxh = <f64>(gy * load<f32>(GAMMA + e));
      a += gxh;
      b += gxh * <f64>xh;
      if (GGAMMA) store<f32>(GGAMMA + e, load<f32>(GGAMMA + e) + gy * xh);
      if (GBETA) store<f32>(GBETA + e, load<f32>(GBETA + e) + gy);
    }
    const ma = <f32>(a / <f64>D);
    const mb = <f32>(b / <f64>D);
    if (GX) {
      for (let j = 0; j < D; j++) {
        const e = <usize>j << 2;
        const xh = (load<f32>(X + o + e) - mean) * rstd;
        const gxh = load<f32>(GY + o + e) * load<f32>(GAMMA + e);
        store<f32>(GX + o + e, rstd * (gxh - ma - xh * mb));
      }
    }
  }
}

// erfc(x) to a relative error below 1.2e-7 everywhere (a Chebyshev fit of erfc(z) = t exp(-z^2 + P(t)),
// t = 1 / (1 + z / 2)), evaluated in float64: float32 accuracy for GELU.
@inline
function erfc64(x: f64): f64 {
  const z = Math.abs(x);
  const t = 1.0 / (1.0 + 0.5 * z);
  const r = t * Math.exp(
    -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
    t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
  );
  return x >= 0 ? r : 2.0 - r;
}

const SQRT1_2: f64 = 0.7071067811865476;
const INV_SQRT_2PI: f64 = 0.3989422804014327;

/** Y[n] = gelu(X[n]) = x * Phi(x) = 0.5 x erfc(-x / sqrt 2). Y may alias X. */
export function f32_gelu_fwd(X: usize, n: i32, Y: usize): void {
  for (let i = 0; i < n; i++) {
    const e = <usize>i << 2;
    const x = <f64>load<f32>(X + e);
    store<f32>(Y + e, <f32>(0.5 * x * erfc64(-x * SQRT1_2)));
  }
}

/** GX[n] = GY * gelu'(X), gelu'(x) = Phi(x) + x phi(x). GX may alias GY. */
export function f32_gelu_bwd(X: usize, GY: usize, n: i32, GX: usize): void {
  for (let i = 0; i < n; i++) {
    const e = <usize>i << 2;
    const x = <f64>load<f32>(X + e);
    const d = 0.5 * erfc64(-x * SQRT1_2) + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x);
    store<f32>(GX + e, <f32>(<f64>load<f32>(GY + e) * d));
  }
}
