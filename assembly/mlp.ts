// The query MLP's element-wise pieces: LayerNorm (affine, biased variance) and the exact (erf) GELU.
// The Linear layers use f32_gemm with the weight packed by f32_pack_nt.

// LayerNorm's row sums run in float64 as eight partial sums, value j into sum j mod 8, combined as
// ((s0 + s4) + (s2 + s6)) + ((s1 + s5) + (s3 + s7)), then the last D mod 8 values added in order. The SIMD build keeps
// the eight sums in four f64x2 lanes and the scalar build in eight locals: the same operations, so the same bits, and
// eight independent chains instead of one (a single float64 chain waits 4 cycles per add: 4.4 ns per value for the
// whole forward, against ~1 now).

/** sum_j f(x_j) over one row in the order above: f(x) = x (dev = false) or (x - mean)^2 (dev = true), float64. */
@inline
function rowSum(X: usize, D: i32, dev: bool, mean: f64): f64 {
  let j = 0;
  let total: f64 = 0;
  if (ASC_FEATURE_SIMD) {
    const vm = f64x2.splat(mean);
    let a0 = f64x2.splat(0);
    let a1 = f64x2.splat(0);
    let a2 = f64x2.splat(0);
    let a3 = f64x2.splat(0);
    for (; j + 8 <= D; j += 8) {
      const v = v128.load(X + (<usize>j << 2));
      const w = v128.load(X + (<usize>j << 2), 16);
      let x0 = f64x2.promote_low_f32x4(v);
      let x1 = f64x2.promote_low_f32x4(i32x4.shuffle(v, v, 2, 3, 0, 1));
      let x2 = f64x2.promote_low_f32x4(w);
      let x3 = f64x2.promote_low_f32x4(i32x4.shuffle(w, w, 2, 3, 0, 1));
      if (dev) {
        x0 = f64x2.sub(x0, vm);
        x1 = f64x2.sub(x1, vm);
        x2 = f64x2.sub(x2, vm);
        x3 = f64x2.sub(x3, vm);
        x0 = f64x2.mul(x0, x0);
        x1 = f64x2.mul(x1, x1);
        x2 = f64x2.mul(x2, x2);
        x3 = f64x2.mul(x3, x3);
      }
      a0 = f64x2.add(a0, x0);
      a1 = f64x2.add(a1, x1);
      a2 = f64x2.add(a2, x2);
      a3 = f64x2.add(a3, x3);
    }
    const c = f64x2.add(f64x2.add(a0, a2), f64x2.add(a1, a3));
    total = f64x2.extract_lane(c, 0) + f64x2.extract_lane(c, 1);
  } else {
    let s0: f64 = 0, s1: f64 = 0, s2: f64 = 0, s3: f64 = 0, s4: f64 = 0, s5: f64 = 0, s6: f64 = 0, s7: f64 = 0;
    for (; j + 8 <= D; j += 8) {
      const o = X + (<usize>j << 2);
      s0 += term(load<f32>(o), dev, mean);
      s1 += term(load<f32>(o, 4), dev, mean);
      s2 += term(load<f32>(o, 8), dev, mean);
      s3 += term(load<f32>(o, 12), dev, mean);
      s4 += term(load<f32>(o, 16), dev, mean);
      s5 += term(load<f32>(o, 20), dev, mean);
      s6 += term(load<f32>(o, 24), dev, mean);
      s7 += term(load<f32>(o, 28), dev, mean);
    }
    total = ((s0 + s4) + (s2 + s6)) + ((s1 + s5) + (s3 + s7));
  }
  for (; j < D; j++) total += term(load<f32>(X + (<usize>j << 2)), dev, mean);
  return total;
}

@inline
function term(x: f32, dev: bool, mean: f64): f64 {
  if (!dev) return <f64>x;
  const c = <f64>x - mean;
  return c * c;
}

/**
 * X, Y [M, D]; GAMMA, BETA [D]; MEAN, RSTD [M] out (saved for the backward).
 *   y = (x - mean) * rstd * gamma + beta,   rstd = 1 / sqrt(var + eps), var the biased variance (float64 sums)
 */
export function f32_layernorm_fwd(
  X: usize, M: i32, D: i32, GAMMA: usize, BETA: usize, eps: f32, Y: usize, MEAN: usize, RSTD: usize,
): void {
  for (let i = 0; i < M; i++) {
    const o = (<usize>i * <usize>D) << 2;
    const mean = rowSum(X + o, D, false, 0) / <f64>D;
    const v = rowSum(X + o, D, true, mean);
    const rstd = 1.0 / Math.sqrt(v / <f64>D + <f64>eps);
    const mean32 = <f32>mean;
    const rstd32 = <f32>rstd;
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      const vm = f32x4.splat(mean32);
      const vr = f32x4.splat(rstd32);
      for (; j + 4 <= D; j += 4) {
        const e = <usize>j << 2;
        const xh = f32x4.mul(f32x4.sub(v128.load(X + o + e), vm), vr);
        v128.store(Y + o + e, f32x4.add(f32x4.mul(xh, v128.load(GAMMA + e)), v128.load(BETA + e)));
      }
    }
    for (; j < D; j++) {
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
 * The two row sums run in float64 in LayerNorm's eight-partial-sum order (above); GGAMMA and GBETA add the rows in
 * order, four columns per vector in the SIMD build.
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
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      const vm = f32x4.splat(mean);
      const vr = f32x4.splat(rstd);
      let a0 = f64x2.splat(0);
      let a1 = f64x2.splat(0);
      let a2 = f64x2.splat(0);
      let a3 = f64x2.splat(0);
      let b0 = f64x2.splat(0);
      let b1 = f64x2.splat(0);
      let b2 = f64x2.splat(0);
      let b3 = f64x2.splat(0);
      for (; j + 8 <= D; j += 8) {
        const e = <usize>j << 2;
        const xv = f32x4.mul(f32x4.sub(v128.load(X + o + e), vm), vr);
        const xw = f32x4.mul(f32x4.sub(v128.load(X + o + e, 16), vm), vr);
        const gv = v128.load(GY + o + e);
        const gw = v128.load(GY + o + e, 16);
        const hv = f32x4.mul(gv, v128.load(GAMMA + e));
        const hw = f32x4.mul(gw, v128.load(GAMMA + e, 16));
        const h0 = f64x2.promote_low_f32x4(hv);
        const h1 = f64x2.promote_low_f32x4(i32x4.shuffle(hv, hv, 2, 3, 0, 1));
        const h2 = f64x2.promote_low_f32x4(hw);
        const h3 = f64x2.promote_low_f32x4(i32x4.shuffle(hw, hw, 2, 3, 0, 1));
        a0 = f64x2.add(a0, h0);
        a1 = f64x2.add(a1, h1);
        a2 = f64x2.add(a2, h2);
        a3 = f64x2.add(a3, h3);
        b0 = f64x2.add(b0, f64x2.mul(h0, f64x2.promote_low_f32x4(xv)));
        b1 = f64x2.add(b1, f64x2.mul(h1, f64x2.promote_low_f32x4(i32x4.shuffle(xv, xv, 2, 3, 0, 1))));
        b2 = f64x2.add(b2, f64x2.mul(h2, f64x2.promote_low_f32x4(xw)));
        b3 = f64x2.add(b3, f64x2.mul(h3, f64x2.promote_low_f32x4(i32x4.shuffle(xw, xw, 2, 3, 0, 1))));
        if (GGAMMA) {
          v128.store(GGAMMA + e, f32x4.add(v128.load(GGAMMA + e), f32x4.mul(gv, xv)));
          v128.store(GGAMMA + e, f32x4.add(v128.load(GGAMMA + e, 16), f32x4.mul(gw, xw)), 16);
        }
        if (GBETA) {
          v128.store(GBETA + e, f32x4.add(v128.load(GBETA + e), gv));
          v128.store(GBETA + e, f32x4.add(v128.load(GBETA + e, 16), gw), 16);
        }
      }
      const ca = f64x2.add(f64x2.add(a0, a2), f64x2.add(a1, a3));
      const cb = f64x2.add(f64x2.add(b0, b2), f64x2.add(b1, b3));
      a = f64x2.extract_lane(ca, 0) + f64x2.extract_lane(ca, 1);
      b = f64x2.extract_lane(cb, 0) + f64x2.extract_lane(cb, 1);
    } else {
      let a0: f64 = 0, a1: f64 = 0, a2: f64 = 0, a3: f64 = 0, a4: f64 = 0, a5: f64 = 0, a6: f64 = 0, a7: f64 = 0;
      let b0: f64 = 0, b1: f64 = 0, b2: f64 = 0, b3: f64 = 0, b4: f64 = 0, b5: f64 = 0, b6: f64 = 0, b7: f64 = 0;
      for (; j + 8 <= D; j += 8) {
        // Value j + t goes to sums a_t and b_t: the SIMD build's lane t of the pair (a0, a1, a2, a3) of f64x2.
        for (let t = 0; t < 8; t++) {
          const e = <usize>(j + t) << 2;
          const xh = (load<f32>(X + o + e) - mean) * rstd;
          const gy = load<f32>(GY + o + e);
          const gxh = <f64>(gy * load<f32>(GAMMA + e));
          const p = gxh * <f64>xh;
          if (t == 0) { a0 += gxh; b0 += p; }
          else if (t == 1) { a1 += gxh; b1 += p; }
          else if (t == 2) { a2 += gxh; b2 += p; }
          else if (t == 3) { a3 += gxh; b3 += p; }
          else if (t == 4) { a4 += gxh; b4 += p; }
          else if (t == 5) { a5 += gxh; b5 += p; }
          else if (t == 6) { a6 += gxh; b6 += p; }
          else { a7 += gxh; b7 += p; }
          if (GGAMMA) store<f32>(GGAMMA + e, load<f32>(GGAMMA + e) + gy * xh);
          if (GBETA) store<f32>(GBETA + e, load<f32>(GBETA + e) + gy);
        }
      }
      a = ((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7));
      b = ((b0 + b4) + (b2 + b6)) + ((b1 + b5) + (b3 + b7));
    }
    for (; j < D; j++) {
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
      let k = 0;
      if (ASC_FEATURE_SIMD) {
        const vm = f32x4.splat(mean);
        const vr = f32x4.splat(rstd);
        const va = f32x4.splat(ma);
        const vb = f32x4.splat(mb);
        for (; k + 4 <= D; k += 4) {
          const e = <usize>k << 2;
          const xh = f32x4.mul(f32x4.sub(v128.load(X + o + e), vm), vr);
          const gxh = f32x4.mul(v128.load(GY + o + e), v128.load(GAMMA + e));
          v128.store(GX + o + e, f32x4.mul(vr, f32x4.sub(f32x4.sub(gxh, va), f32x4.mul(xh, vb))));
        }
      }
      for (; k < D; k++) {
        const e = <usize>k << 2;
        const xh = (load<f32>(X + o + e) - mean) * rstd;
        const gxh = load<f32>(GY + o + e) * load<f32>(GAMMA + e);
        store<f32>(GX + o + e, rstd * (gxh - ma - xh * mb));
      }
    }
  }
}

/**
 * The parameter half of f32_layernorm_bwd for the columns [c0, c1) only: GGAMMA[j] += sum_i gy xh and GBETA[j] +=
 * sum_i gy, rows in increasing order with the same expressions, so each column gets the bits the fused kernel gives
 * it. Threads split the columns (disjoint outputs) while f32_layernorm_bwd without parameter outputs does the rows.
 */
export function f32_layernorm_bwd_params(
  X: usize, GY: usize, M: i32, D: i32, MEAN: usize, RSTD: usize, GGAMMA: usize, GBETA: usize, c0: i32, c1: i32,
): void {
  for (let i = 0; i < M; i++) {
    const o = (<usize>i * <usize>D) << 2;
    const mean = load<f32>(MEAN + (<usize>i << 2));
    const rstd = load<f32>(RSTD + (<usize>i << 2));
    let j = c0;
    if (ASC_FEATURE_SIMD) {
      const vm = f32x4.splat(mean);
      const vr = f32x4.splat(rstd);
      for (; j + 4 <= c1; j += 4) {
        const e = <usize>j << 2;
        const xh = f32x4.mul(f32x4.sub(v128.load(X + o + e), vm), vr);
        const gy = v128.load(GY + o + e);
        v128.store(GGAMMA + e, f32x4.add(v128.load(GGAMMA + e), f32x4.mul(gy, xh)));
        v128.store(GBETA + e, f32x4.add(v128.load(GBETA + e), gy));
      }
    }
    for (; j < c1; j++) {
      const e = <usize>j << 2;
      const xh = (load<f32>(X + o + e) - mean) * rstd;
      const gy = load<f32>(GY + o + e);
      store<f32>(GGAMMA + e, load<f32>(GGAMMA + e) + gy * xh);
      store<f32>(GBETA + e, load<f32>(GBETA + e) + gy);
    }
  }
}

/**
 * XH [M, D] = (x - mean) * rstd: the normalised input of f32_layernorm_fwd, with the expression its backward uses.
 * Four columns per vector in the SIMD build, the same IEEE operations per value, so both builds give the same bits.
 */
export function f32_layernorm_xhat(X: usize, M: i32, D: i32, MEAN: usize, RSTD: usize, XH: usize): void {
  for (let i = 0; i < M; i++) {
    const o = (<usize>i * <usize>D) << 2;
    const mean = load<f32>(MEAN + (<usize>i << 2));
    const rstd = load<f32>(RSTD + (<usize>i << 2));
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      const vm = f32x4.splat(mean);
      const vr = f32x4.splat(rstd);
      for (; j + 4 <= D; j += 4) {
        const e = o + (<usize>j << 2);
        v128.store(XH + e, f32x4.mul(f32x4.sub(v128.load(X + e), vm), vr));
      }
    }
    for (; j < D; j++) {
      const e = o + (<usize>j << 2);
      store<f32>(XH + e, (load<f32>(X + e) - mean) * rstd);
    }
  }
}

/**
 * The parameter gradients of y = LN(x) W^T + b without the input gradient, from G = gY^T xh [N, K] and
 * S = colsum(gY) [N] (W [N, K] = [out, in]; LN's output a = xh * gamma + beta; K = LN's width):
 *   GW[k, j] += gamma[j] G[k, j] + beta[j] S[k]      = sum_i gY[i, k] a[i, j]
 *   GB[k]    += S[k]
 *   GGAMMA[j] += sum_k W[k, j] G[k, j]               = sum_i gA[i, j] xh[i, j],  gA = gY W
 *   GBETA[j]  += sum_k W[k, j] S[k]                  = sum_i gA[i, j]
 * So LayerNorm's parameters get their gradients without gA, a GEMM as large as the layer's forward. k runs in
 * increasing order for every j; the SIMD build takes four j per vector with the scalar build's operations, so both
 * builds give the same bits.
 */
export function f32_ln_linear_param_grads(
  G: usize, S: usize, W: usize, GAMMA: usize, BETA: usize, N: i32, K: i32, GW: usize, GB: usize, GGAMMA: usize,
  GBETA: usize,
): void {
  for (let k = 0; k < N; k++) {
    const o = (<usize>k * <usize>K) << 2;
    const s = load<f32>(S + (<usize>k << 2));
    store<f32>(GB + (<usize>k << 2), load<f32>(GB + (<usize>k << 2)) + s);
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      const vs = f32x4.splat(s);
      for (; j + 4 <= K; j += 4) {
        const e = <usize>j << 2;
        const g = v128.load(G + o + e);
        const w = v128.load(W + o + e);
        const gw = f32x4.add(f32x4.mul(v128.load(GAMMA + e), g), f32x4.mul(v128.load(BETA + e), vs));
        v128.store(GW + o + e, f32x4.add(v128.load(GW + o + e), gw));
        v128.store(GGAMMA + e, f32x4.add(v128.load(GGAMMA + e), f32x4.mul(w, g)));
        v128.store(GBETA + e, f32x4.add(v128.load(GBETA + e), f32x4.mul(w, vs)));
      }
    }
    for (; j < K; j++) {
      const e = <usize>j << 2;
      const g = load<f32>(G + o + e);
      const w = load<f32>(W + o + e);
      const gw = load<f32>(GAMMA + e) * g + load<f32>(BETA + e) * s;
      store<f32>(GW + o + e, load<f32>(GW + o + e) + gw);
      store<f32>(GGAMMA + e, load<f32>(GGAMMA + e) + w * g);
      store<f32>(GBETA + e, load<f32>(GBETA + e) + w * s);
    }
  }
}

// GELU in float64, two lanes at a time in the SIMD build (f64x2) and one in the scalar build, with the same IEEE
// operations in the same order, so both builds round identically (wasm never fuses a multiply and an add).
//
// erfc(x) to a relative error below 1.2e-7 everywhere (Numerical Recipes' Chebyshev fit erfc(z) = t exp(-z^2 + P(t)),
// t = 1 / (1 + z / 2)): float32 accuracy for GELU. exp is ours, not libm's: Cody-Waite reduction x = n ln2 + r,
// |r| <= ln2 / 2, the degree-7 Taylor polynomial of e^r (truncation < 6e-9 relative, far below the fit's error) and
// 2^n from the exponent bits. Arguments are clamped to >= -700 (e^-700 ~ 1e-304: every product it enters rounds to
// 0 in float32), which keeps 2^n a normal number. Both polynomials use Estrin's scheme: they are shorter chains than
// Horner's (14.6 -> 13.7 ns per value). Per value, forward / backward: libm's exp on one lane (the first version, timed in a training step)
// 21 / 31 ns, this SIMD build 12 / 16 ns (10.8 / 15.4 since 2^n comes from a shifted add: bench/experiments/gelu.ts),
// this scalar build 27 / 36 ns (1.26 M values in [-4, 4], best of 5).

const LOG2E: f64 = 1.4426950408889634;
const LN2_HI: f64 = 0.6931471803691238; // ln 2 rounded to 32 significant bits: n * LN2_HI is exact for |n| < 2^21
const LN2_LO: f64 = 1.9082149292705877e-10; // ln 2 - LN2_HI
const EXP_MIN: f64 = -700.0;
const EXP_SHIFTER: f64 = 6755399441055744.0; // 1.5 * 2^52
const SQRT1_2: f64 = 0.7071067811865476;
const INV_SQRT_2PI: f64 = 0.3989422804014327;

// Taylor coefficients 1/k!, k = 2..7.
const E2: f64 = 0.5;
const E3: f64 = 0.16666666666666666;
const E4: f64 = 0.041666666666666664;
const E5: f64 = 0.008333333333333333;
const E6: f64 = 0.001388888888888889;
const E7: f64 = 0.0001984126984126984;

// erfc fit coefficients (Numerical Recipes' erfcc): -z^2 + C0 + t (C1 + C2 t + ... + C9 t^8).
const C0: f64 = -1.26551223;
const C1: f64 = 1.00002368;
const C2: f64 = 0.37409196;
const C3: f64 = 0.09678418;
const C4: f64 = -0.18628806;
const C5: f64 = 0.27886807;
const C6: f64 = -1.13520398;
const C7: f64 = 1.48851587;
const C8: f64 = -0.82215223;
const C9: f64 = 0.17087277;

@inline
function exp64(x0: f64): f64 {
  const x = select<f64>(EXP_MIN, x0, x0 < EXP_MIN); // as f64x2.pmax: NaN stays NaN
  const n = nearest<f64>(x * LOG2E);
  const r = (x - n * LN2_HI) - n * LN2_LO;
  const r2 = r * r;
  const r4 = r2 * r2;
  const p = ((1.0 + r) + r2 * (E2 + r * E3)) + r4 * ((E4 + r * E5) + r2 * (E6 + r * E7));
  return p * reinterpret<f64>((<i64>(<i32>n + 1023)) << 52);
}

// The SIMD paths read their constants as [v, v] pairs from this table: V8 folds a load into the arithmetic, while
// each f64x2.splat of a constant cost three instructions (measured: forward 13.7 -> 12.0 ns per value).
const K64 = memory.data<f64>([EXP_MIN, EXP_MIN, LOG2E, LOG2E, LN2_HI, LN2_HI, LN2_LO, LN2_LO, 1.0, 1.0, E2, E2, E3, E3, E4, E4, E5, E5, E6, E6, E7, E7, 0.5, 0.5, C1, C1, C2, C2, C3, C3, C4, C4, C5, C5, C6, C6, C7, C7, C8, C8, C9, C9, C0, C0, 2.0, 2.0, 0, 0, SQRT1_2, SQRT1_2, INV_SQRT_2PI, INV_SQRT_2PI, -0.5, -0.5, EXP_SHIFTER, EXP_SHIFTER]);

@inline
function exp64x2(x0: v128): v128 {
  const x = f64x2.pmax(x0, v128.load(K64, 0)); // x0 < EXP_MIN ? EXP_MIN : x0 (NaN stays NaN)
  const n = f64x2.nearest(f64x2.mul(x, v128.load(K64, 16)));
  const r = f64x2.sub(f64x2.sub(x, f64x2.mul(n, v128.load(K64, 32))), f64x2.mul(n, v128.load(K64, 48)));
  const r2 = f64x2.mul(r, r);
  const r4 = f64x2.mul(r2, r2);
  const lo = f64x2.add(f64x2.add(v128.load(K64, 64), r), f64x2.mul(r2, f64x2.add(v128.load(K64, 80), f64x2.mul(r, v128.load(K64, 96)))));
  const hi = f64x2.add(
    f64x2.add(v128.load(K64, 112), f64x2.mul(r, v128.load(K64, 128))),
    f64x2.mul(r2, f64x2.add(v128.load(K64, 144), f64x2.mul(r, v128.load(K64, 160)))),
  );
  const p = f64x2.add(lo, f64x2.mul(r4, hi));
  // 2^n from n's bits: n + 1.5 * 2^52 holds n in its low mantissa bits (n is an integer with |n| <= 1011, so the sum
  // is exact), and the shift keeps the low 12 bits of n + 1023: the exponent field. One add instead of V8's
  // saturating f64 -> i32 conversion and a sign extension; the same value as the scalar build's (n + 1023) << 52.
  const e = i64x2.shl(i64x2.add(f64x2.add(n, v128.load(K64, 432)), i64x2.splat(1023)), 52);
  return f64x2.mul(p, e);
}

@inline
function erfc64(x: f64): f64 {
  const z = Math.abs(x);
  const t = 1.0 / (1.0 + 0.5 * z);
  const t2 = t * t;
  const t4 = t2 * t2;
  const q = (((C1 + C2 * t) + t2 * (C3 + C4 * t)) + t4 * ((C5 + C6 * t) + t2 * (C7 + C8 * t))) + (t4 * t4) * C9;
  const r = t * exp64((-z * z + C0) + t * q);
  return x >= 0 ? r : 2.0 - r;
}

@inline
function erfc64x2(x: v128): v128 {
  const z = f64x2.abs(x);
  const t = f64x2.div(v128.load(K64, 64), f64x2.add(v128.load(K64, 64), f64x2.mul(v128.load(K64, 176), z)));
  const t2 = f64x2.mul(t, t);
  const t4 = f64x2.mul(t2, t2);
  const a = f64x2.add(
    f64x2.add(v128.load(K64, 192), f64x2.mul(v128.load(K64, 208), t)),
    f64x2.mul(t2, f64x2.add(v128.load(K64, 224), f64x2.mul(v128.load(K64, 240), t))),
  );
  const b = f64x2.add(
    f64x2.add(v128.load(K64, 256), f64x2.mul(v128.load(K64, 272), t)),
    f64x2.mul(t2, f64x2.add(v128.load(K64, 288), f64x2.mul(v128.load(K64, 304), t))),
  );
  const q = f64x2.add(f64x2.add(a, f64x2.mul(t4, b)), f64x2.mul(f64x2.mul(t4, t4), v128.load(K64, 320)));
  const arg = f64x2.add(f64x2.add(f64x2.mul(f64x2.neg(z), z), v128.load(K64, 336)), f64x2.mul(t, q));
  const r = f64x2.mul(t, exp64x2(arg));
  return v128.bitselect(r, f64x2.sub(v128.load(K64, 352), r), f64x2.ge(x, v128.load(K64, 368)));
}

/** erfc(-x / sqrt 2), in float64: GELU's forward and backward share it (2 Phi(x)). */
@inline
function erfcOfX64x2(x: v128): v128 {
  return erfc64x2(f64x2.mul(f64x2.neg(x), v128.load(K64, 384)));
}

/** gelu'(x) = 0.5 erfc(-x / sqrt 2) + x exp(-x^2 / 2) / sqrt(2 pi), in float64, from ec = erfc(-x / sqrt 2). */
@inline
function geluDerivative64x2(x: v128, ec: v128): v128 {
  const phi = f64x2.mul(f64x2.mul(x, v128.load(K64, 400)), exp64x2(f64x2.mul(f64x2.mul(v128.load(K64, 416), x), x)));
  return f64x2.add(f64x2.mul(v128.load(K64, 176), ec), phi);
}

/**
 * Y[n] = gelu(X[n]) = x * Phi(x) = 0.5 x erfc(-x / sqrt 2). Y may alias X. ERFC (float64 [n], or 0: not wanted)
 * receives erfc(-x / sqrt 2) for f32_gelu_bwd, which then skips its own (the same value, so the same bits; erfc is
 * about 60% of the backward's time).
 */
export function f32_gelu_fwd(X: usize, n: i32, Y: usize, ERFC: usize): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 4 <= n; i += 4) {
      const e = <usize>i << 2;
      const x = v128.load(X + e);
      const xlo = f64x2.promote_low_f32x4(x);
      const xhi = f64x2.promote_low_f32x4(i32x4.shuffle(x, x, 2, 3, 2, 3));
      const elo = erfcOfX64x2(xlo);
      const ehi = erfcOfX64x2(xhi);
      if (ERFC) {
        v128.store(ERFC + (<usize>i << 3), elo);
        v128.store(ERFC + (<usize>i << 3), ehi, 16);
      }
      const lo = f64x2.mul(f64x2.mul(v128.load(K64, 176), xlo), elo);
      const hi = f64x2.mul(f64x2.mul(v128.load(K64, 176), xhi), ehi);
      v128.store(Y + e, i32x4.shuffle(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5));
    }
  }
  for (; i < n; i++) {
    const e = <usize>i << 2;
    const x = <f64>load<f32>(X + e);
    const ec = erfc64(-x * SQRT1_2);
    if (ERFC) store<f64>(ERFC + (<usize>i << 3), ec);
    store<f32>(Y + e, <f32>(0.5 * x * ec));
  }
}

/** GX[i..i+4) = GY * gelu'(X) from the four values' erfc(-x / sqrt 2) (elo: values i, i+1; ehi: i+2, i+3). */
@inline
function geluBwd4(X: usize, GY: usize, GX: usize, i: i32, elo: v128, ehi: v128): void {
  const e = <usize>i << 2;
  const x = v128.load(X + e);
  const g = v128.load(GY + e);
  const lo = f64x2.mul(f64x2.promote_low_f32x4(g), geluDerivative64x2(f64x2.promote_low_f32x4(x), elo));
  const hi = f64x2.mul(
    f64x2.promote_low_f32x4(i32x4.shuffle(g, g, 2, 3, 2, 3)),
    geluDerivative64x2(f64x2.promote_low_f32x4(i32x4.shuffle(x, x, 2, 3, 2, 3)), ehi),
  );
  v128.store(GX + e, i32x4.shuffle(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5));
}

/**
 * GX[n] = GY * gelu'(X), gelu'(x) = Phi(x) + x phi(x). GX may alias GY. ERFC: what f32_gelu_fwd stored for these X,
 * or 0 to compute it here.
 */
export function f32_gelu_bwd(X: usize, GY: usize, n: i32, GX: usize, ERFC: usize): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    // Two loops rather than a choice per value: with the choice inside, V8 computed erfc at 22 instead of 16 ns/value.
    if (ERFC) {
      for (; i + 4 <= n; i += 4) {
        geluBwd4(X, GY, GX, i, v128.load(ERFC + (<usize>i << 3)), v128.load(ERFC + (<usize>i << 3), 16));
      }
    } else {
      for (; i + 4 <= n; i += 4) {
        const x = v128.load(X + (<usize>i << 2));
        const elo = erfcOfX64x2(f64x2.promote_low_f32x4(x));
        const ehi = erfcOfX64x2(f64x2.promote_low_f32x4(i32x4.shuffle(x, x, 2, 3, 2, 3)));
        geluBwd4(X, GY, GX, i, elo, ehi);
      }
    }
  }
  for (; i < n; i++) {
    const e = <usize>i << 2;
    const x = <f64>load<f32>(X + e);
    const ec = ERFC ? load<f64>(ERFC + (<usize>i << 3)) : erfc64(-x * SQRT1_2);
    const d = 0.5 * ec + x * INV_SQRT_2PI * exp64(-0.5 * x * x);
    store<f32>(GX + e, <f32>(<f64>load<f32>(GY + e) * d));
  }
}
