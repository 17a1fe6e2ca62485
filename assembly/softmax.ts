// Softmax over each row of C values (the official code's alternative normaliser), float64 accumulation.
//   p = exp(z - max z) / sum exp(z - max z)        g_z = p * (g - sum(p * g))

/** Z, P [R, C] float32. */
export function f32_softmax_fwd(Z: usize, R: i32, C: i32, P: usize): void {
  for (let r = 0; r < R; r++) {
    const o = (<usize>r * <usize>C) << 2;
    let m: f32 = -Infinity;
    for (let n = 0; n < C; n++) m = max(m, load<f32>(Z + o + (<usize>n << 2)));
    let sum: f64 = 0;
    for (let n = 0; n < C; n++) sum += Math.exp(<f64>load<f32>(Z + o + (<usize>n << 2)) - <f64>m);
    const inv = 1.0 / sum;
    for (let n = 0; n < C; n++) {
      const e = o + (<usize>n << 2);
      store<f32>(P + e, <f32>(Math.exp(<f64>load<f32>(Z + e) - <f64>m) * inv));
    }
  }
}

/** GZ [R, C] = P * (G - sum(P * G)) per row. */
export function f32_softmax_bwd(P: usize, G: usize, R: i32, C: i32, GZ: usize): void {
  for (let r = 0; r < R; r++) {
    const o = (<usize>r * <usize>C) << 2;
    let s: f64 = 0;
    for (let n = 0; n < C; n++) {
      const e = o + (<usize>n << 2);
      s += <f64>load<f32>(P + e) * <f64>load<f32>(G + e);
    }
    for (let n = 0; n < C; n++) {
      const e = o + (<usize>n << 2);
      store<f32>(GZ + e, <f32>(<f64>load<f32>(P + e) * (<f64>load<f32>(G + e) - s)));
    }
  }
}
