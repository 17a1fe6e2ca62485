// Small vector helpers shared by the kernels: one SIMD body and one scalar body per helper, chosen at compile time
// by ASC_FEATURE_SIMD. Every helper walks k in increasing order per lane, so the SIMD and the scalar build round
// identically (wasm never fuses a mul and an add).

/** y[0..n) += a * x[0..n). */
@inline
export function axpy(y: usize, x: usize, a: f32, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const va = f32x4.splat(a);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      v128.store(y + o, f32x4.add(v128.load(y + o), f32x4.mul(va, v128.load(x + o))));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, load<f32>(y + o) + a * load<f32>(x + o));
  }
}

/**
 * y[0..n) = (((y + a0 x0) + a1 x1) + a2 x2) + a3 x3: four axpys in one pass over y, rounding exactly as the four in
 * sequence (each sum is rounded before the next term is added), with y loaded and stored once instead of four times.
 */
@inline
export function axpy4(y: usize, x0: usize, a0: f32, x1: usize, a1: f32, x2: usize, a2: f32, x3: usize, a3: f32, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const v0 = f32x4.splat(a0), v1 = f32x4.splat(a1), v2 = f32x4.splat(a2), v3 = f32x4.splat(a3);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      let acc = f32x4.add(v128.load(y + o), f32x4.mul(v0, v128.load(x0 + o)));
      acc = f32x4.add(acc, f32x4.mul(v1, v128.load(x1 + o)));
      acc = f32x4.add(acc, f32x4.mul(v2, v128.load(x2 + o)));
      v128.store(y + o, f32x4.add(acc, f32x4.mul(v3, v128.load(x3 + o))));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    let acc = load<f32>(y + o) + a0 * load<f32>(x0 + o);
    acc = acc + a1 * load<f32>(x1 + o);
    acc = acc + a2 * load<f32>(x2 + o);
    store<f32>(y + o, acc + a3 * load<f32>(x3 + o));
  }
}

// A queue of axpy terms for one destination row y: termsStart(y), then termAdd(x, a, n) for each term in order,
// then termsEnd(n). Terms go out four per pass over y (axpy4) and the last one to three one at a time, so y
// receives exactly the roundings of one axpy per term. The pending terms live in module globals: each instance,
// hence each worker thread, has its own, and one queue serves one destination row at a time.
let qy: usize = 0;
let qk: i32 = 0;
let qx0: usize = 0;
let qx1: usize = 0;
let qx2: usize = 0;
let qa0: f32 = 0;
let qa1: f32 = 0;
let qa2: f32 = 0;

/** Starts a queue of terms for the destination row y. */
@inline
export function termsStart(y: usize): void {
  qy = y;
  qk = 0;
}

/** Queues y += a * x[0..n) (applied with the next three, or by termsEnd). */
@inline
export function termAdd(x: usize, a: f32, n: i32): void {
  if (qk == 0) {
    qx0 = x;
    qa0 = a;
    qk = 1;
  } else if (qk == 1) {
    qx1 = x;
    qa1 = a;
    qk = 2;
  } else if (qk == 2) {
    qx2 = x;
    qa2 = a;
    qk = 3;
  } else {
    axpy4(qy, qx0, qa0, qx1, qa1, qx2, qa2, x, a, n);
    qk = 0;
  }
}

/** Applies the terms still queued, in order. */
@inline
export function termsEnd(n: i32): void {
  if (qk > 0) axpy(qy, qx0, qa0, n);
  if (qk > 1) axpy(qy, qx1, qa1, n);
  if (qk > 2) axpy(qy, qx2, qa2, n);
  qk = 0;
}

/**
 * Dot product of x[0..n) and y[0..n) in sixteen float32 partial sums s_j over i mod 16 (four independent f32x4
 * accumulators: one accumulator waited on its own add latency, 4 cycles per 4 products), reduced as
 * t_l = (s_l + s_{l+4}) + (s_{l+8} + s_{l+12}), then (t_0 + t_1) + (t_2 + t_3), then the n mod 16 tail in order.
 * The same order in both builds.
 */
@inline
export function dot16(x: usize, y: usize, n: i32): f32 {
  let i = 0;
  let s: f32 = 0;
  if (ASC_FEATURE_SIMD) {
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    for (; i + 16 <= n; i += 16) {
      const o = <usize>i << 2;
      a0 = f32x4.add(a0, f32x4.mul(v128.load(x + o), v128.load(y + o)));
      a1 = f32x4.add(a1, f32x4.mul(v128.load(x + o, 16), v128.load(y + o, 16)));
      a2 = f32x4.add(a2, f32x4.mul(v128.load(x + o, 32), v128.load(y + o, 32)));
      a3 = f32x4.add(a3, f32x4.mul(v128.load(x + o, 48), v128.load(y + o, 48)));
    }
    const t = f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3));
    s = (f32x4.extract_lane(t, 0) + f32x4.extract_lane(t, 1)) + (f32x4.extract_lane(t, 2) + f32x4.extract_lane(t, 3));
  } else if (n >= 16) {
    let t0: f32 = 0, t1: f32 = 0, t2: f32 = 0, t3: f32 = 0;
    for (let l = 0; l < 4; l++) {
      let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
      for (i = 0; i + 16 <= n; i += 16) {
        const o = <usize>(i + l) << 2;
        s0 += load<f32>(x + o) * load<f32>(y + o);
        s1 += load<f32>(x + o + 16) * load<f32>(y + o + 16);
        s2 += load<f32>(x + o + 32) * load<f32>(y + o + 32);
        s3 += load<f32>(x + o + 48) * load<f32>(y + o + 48);
      }
      const tl = (s0 + s1) + (s2 + s3);
      if (l == 0) t0 = tl;
      else if (l == 1) t1 = tl;
      else if (l == 2) t2 = tl;
      else t3 = tl;
    }
    s = (t0 + t1) + (t2 + t3);
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    s += load<f32>(x + o) * load<f32>(y + o);
  }
  return s;
}

/** y[0..n) = 0. */
@inline
export function zero(y: usize, n: i32): void {
  memory.fill(y, 0, <usize>n << 2);
}
