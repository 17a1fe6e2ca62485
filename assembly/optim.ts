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

/**
 * Index of the first value of X [n] that is NaN or infinite, or -1 when all are finite. x * 0 is 0 for a finite x
 * and NaN otherwise, so a block's sum of x * 0 is 0 exactly when the block is finite; only a block that is not gets
 * scanned value by value. (The Trainer checks 9.6 M gradient values per step at paper scale: ~2 ms here, against
 * ~15 ms for the same sum in JavaScript, whose additions form one dependency chain.)
 */
export function f32_first_nonfinite(X: usize, n: i32): i32 {
  const BLOCK: i32 = 4096;
  for (let b0 = 0; b0 < n; b0 += BLOCK) {
    const b1 = min(n, b0 + BLOCK);
    let i = b0;
    let bad = false;
    if (ASC_FEATURE_SIMD) {
      const z = f32x4.splat(0);
      let a0 = z, a1 = z, a2 = z, a3 = z;
      for (; i + 16 <= b1; i += 16) {
        const p = X + (<usize>i << 2);
        a0 = f32x4.add(a0, f32x4.mul(v128.load(p), z));
        a1 = f32x4.add(a1, f32x4.mul(v128.load(p, 16), z));
        a2 = f32x4.add(a2, f32x4.mul(v128.load(p, 32), z));
        a3 = f32x4.add(a3, f32x4.mul(v128.load(p, 48), z));
      }
      const s = f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3));
      // A lane is NaN exactly when it differs from itself.
      bad = v128.any_true(f32x4.ne(s, s));
    }
    let acc: f32 = 0;
    for (; i < b1; i++) acc += load<f32>(X + (<usize>i << 2)) * 0;
    if (bad || acc != acc) {
      for (let j = b0; j < b1; j++) {
        const x = load<f32>(X + (<usize>j << 2));
        if (x - x != 0) return j;
      }
    }
  }
  return -1;
}
