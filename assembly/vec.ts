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

/** Dot product of x[0..n) and y[0..n), accumulated in float32 lanes of four then summed (same order in both builds). */
@inline
export function dot4(x: usize, y: usize, n: i32): f32 {
  // Four partial sums s0..s3 over lanes i mod 4, then ((s0 + s1) + (s2 + s3)) + tail: identical in both builds.
  let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    let acc = f32x4.splat(0);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      acc = f32x4.add(acc, f32x4.mul(v128.load(x + o), v128.load(y + o)));
    }
    s0 = f32x4.extract_lane(acc, 0);
    s1 = f32x4.extract_lane(acc, 1);
    s2 = f32x4.extract_lane(acc, 2);
    s3 = f32x4.extract_lane(acc, 3);
  } else {
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      s0 += load<f32>(x + o) * load<f32>(y + o);
      s1 += load<f32>(x + o + 4) * load<f32>(y + o + 4);
      s2 += load<f32>(x + o + 8) * load<f32>(y + o + 8);
      s3 += load<f32>(x + o + 12) * load<f32>(y + o + 12);
    }
  }
  let s: f32 = (s0 + s1) + (s2 + s3);
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
