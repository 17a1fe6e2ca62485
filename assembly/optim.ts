// AdamW (Loshchilov & Hutter), in PyTorch's order of operations:
//   p *= 1 - lr * wd;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//   p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps),   bc1 = 1 - b1^t,  bc2 = 1 - b2^t

/** One AdamW step over n parameters P with gradient G and moments M, V (all float32, updated in place). */
export function f32_adamw_step(
  P: usize, G: usize, M: usize, V: usize, n: i32, lr: f32, b1: f32, b2: f32, eps: f32, wd: f32, step: i32,
): void {
  const bc1 = <f32>(1.0 - Math.pow(<f64>b1, <f64>step));
  const bc2s = <f32>Math.sqrt(1.0 - Math.pow(<f64>b2, <f64>step));
  const decay: f32 = 1 - lr * wd;
  const stepSize: f32 = lr / bc1;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const vdecay = f32x4.splat(decay), vb1 = f32x4.splat(b1), vb2 = f32x4.splat(b2);
    const v1b1 = f32x4.splat(1 - b1), v1b2 = f32x4.splat(1 - b2), vbc2s = f32x4.splat(bc2s);
    const veps = f32x4.splat(eps), vstep = f32x4.splat(stepSize);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      const g = v128.load(G + o);
      const m = f32x4.add(f32x4.mul(vb1, v128.load(M + o)), f32x4.mul(v1b1, g));
      const v = f32x4.add(f32x4.mul(vb2, v128.load(V + o)), f32x4.mul(v1b2, f32x4.mul(g, g)));
      const denom = f32x4.add(f32x4.div(f32x4.sqrt(v), vbc2s), veps);
      const p = f32x4.mul(v128.load(P + o), vdecay);
      v128.store(P + o, f32x4.sub(p, f32x4.mul(vstep, f32x4.div(m, denom))));
      v128.store(M + o, m);
      v128.store(V + o, v);
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const g = load<f32>(G + o);
    const m = b1 * load<f32>(M + o) + (1 - b1) * g;
    const v = b2 * load<f32>(V + o) + (1 - b2) * (g * g);
    const denom = Mathf.sqrt(v) / bc2s + eps;
    store<f32>(P + o, load<f32>(P + o) * decay - stepSize * (m / denom));
    store<f32>(M + o, m);
    store<f32>(V + o, v);
  }
}
