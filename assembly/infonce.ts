// Symmetric InfoNCE over a batch of B matched pairs, forward and backward in one call (float64 inside).
//   s = min(exp(logit_scale), 100)     L = s * EI ET^T (logits_per_image; logits_per_text = L^T)
//   loss = (CE(L, arange B) + CE(L^T, arange B)) / 2, each a mean over the batch
//   G = dloss/dL = (softmax_rows(L) - I + softmax_cols(L) - I) / (2B)
//   dEI = s G ET      dET = s G^T EI
//   dlogit_scale = sum(G * L) / s * exp(logit_scale)    (the clamp is invisible to autograd: FDT-SPEC quirk 4)

export const MAX_LOGIT_SCALE: f64 = 100;

/**
 * Scratch bytes f32_infonce needs for a batch of B embeddings of d, all float64: L and G [B, B], the embeddings
 * EI and ET [B, d] widened once, and two [d] rows.
 */
export function infonce_scratch_bytes(B: i32, d: i32): usize {
  return ((<usize>B * <usize>B) << 4) + ((<usize>B * <usize>d) << 4) + ((<usize>d) << 4);
}

/**
 * EI, ET [B, d] (L2-normalised embeddings); LOGITS [B, B] out (logits_per_image); GEI, GET [B, d] out (or 0);
 * OUT f64[3] out: loss, d loss / d logit_scale, the scale used. scratch: infonce_scratch_bytes(B, d).
 */
export function f32_infonce(
  EI: usize, ET: usize, B: i32, d: i32, logitScale: f64, LOGITS: usize, GEI: usize, GET: usize, OUT: usize,
  scratch: usize,
): void {
  const e = Math.exp(logitScale);
  const s = min(e, MAX_LOGIT_SCALE);
  const Lm = scratch;
  const Gm = Lm + ((<usize>B * <usize>B) << 3);
  const EI64 = Gm + ((<usize>B * <usize>B) << 3);
  const ET64 = EI64 + ((<usize>B * <usize>d) << 3);
  const rowI = ET64 + ((<usize>B * <usize>d) << 3);
  const rowT = rowI + ((<usize>d) << 3);
  // Every product below is of float64 values widened from float32 (exact), so widening once is the same as per use.
  widen(EI, B * d, EI64);
  widen(ET, B * d, ET64);
  // Each logit is one float64 dot product over k in increasing order; four of them run side by side (independent
  // chains: one alone waits on the add's latency), which leaves every sum's order, and so its bits, unchanged.
  for (let i = 0; i < B; i++) {
    const ei = EI64 + ((<usize>i * <usize>d) << 3);
    let j = 0;
    for (; j + 4 <= B; j += 4) {
      const e0 = ET64 + ((<usize>j * <usize>d) << 3);
      const e1 = e0 + ((<usize>d) << 3);
      const e2 = e1 + ((<usize>d) << 3);
      const e3 = e2 + ((<usize>d) << 3);
      let a0: f64 = 0;
      let a1: f64 = 0;
      let a2: f64 = 0;
      let a3: f64 = 0;
      for (let k = 0; k < d; k++) {
        const o = <usize>k << 3;
        const x = load<f64>(ei + o);
        a0 += x * load<f64>(e0 + o);
        a1 += x * load<f64>(e1 + o);
        a2 += x * load<f64>(e2 + o);
        a3 += x * load<f64>(e3 + o);
      }
      storeLogit(Lm, Gm, LOGITS, i, j, B, s * a0);
      storeLogit(Lm, Gm, LOGITS, i, j + 1, B, s * a1);
      storeLogit(Lm, Gm, LOGITS, i, j + 2, B, s * a2);
      storeLogit(Lm, Gm, LOGITS, i, j + 3, B, s * a3);
    }
    for (; j < B; j++) {
      const ej = ET64 + ((<usize>j * <usize>d) << 3);
      let acc: f64 = 0;
      for (let k = 0; k < d; k++) acc += load<f64>(ei + (<usize>k << 3)) * load<f64>(ej + (<usize>k << 3));
      storeLogit(Lm, Gm, LOGITS, i, j, B, s * acc);
    }
  }
  const inv2B = 1.0 / (2.0 * <f64>B);
  let loss: f64 = 0;
  // Two passes: rows of L (image -> text), then columns (text -> image).
  for (let dir = 0; dir < 2; dir++) {
    for (let i = 0; i < B; i++) {
      let m: f64 = -Infinity;
      for (let j = 0; j < B; j++) m = max(m, load<f64>(Lm + at(dir, i, j, B)));
      let z: f64 = 0;
      for (let j = 0; j < B; j++) z += Math.exp(load<f64>(Lm + at(dir, i, j, B)) - m);
      const lse = m + Math.log(z);
      loss += lse - load<f64>(Lm + at(dir, i, i, B));
      for (let j = 0; j < B; j++) {
        const o = at(dir, i, j, B);
        const p = Math.exp(load<f64>(Lm + o) - lse) - (i == j ? 1.0 : 0.0);
        store<f64>(Gm + o, load<f64>(Gm + o) + p * inv2B);
      }
    }
  }
  loss = loss * inv2B;
  let gl: f64 = 0;
  for (let i = 0; i < B * B; i++) gl += load<f64>(Gm + (<usize>i << 3)) * load<f64>(Lm + (<usize>i << 3));
  store<f64>(OUT, loss);
  // With logit_scale below about -745 exp underflows to 0: every logit is 0, and so is the derivative (the quotient
  // would be 0 / 0).
  store<f64>(OUT + 8, s > 0 ? gl / s * e : 0);
  store<f64>(OUT + 16, s);
  // dEI[i] = s sum_j G[i, j] ET[j] and dET[i] = s sum_j G[j, i] EI[j], each sum over j in increasing order into a
  // float64 row (the order a k-outer loop of dot products would take, so the same bits), reading ET and EI by rows.
  for (let i = 0; i < B; i++) {
    memory.fill(rowI, 0, (<usize>d) << 4);
    for (let j = 0; j < B; j++) {
      axpyF64(rowI, load<f64>(Gm + ((<usize>i * <usize>B + <usize>j) << 3)), ET64 + ((<usize>j * <usize>d) << 3), d);
      axpyF64(rowT, load<f64>(Gm + ((<usize>j * <usize>B + <usize>i) << 3)), EI64 + ((<usize>j * <usize>d) << 3), d);
    }
    if (GEI) storeScaled(GEI + ((<usize>i * <usize>d) << 2), rowI, s, d);
    if (GET) storeScaled(GET + ((<usize>i * <usize>d) << 2), rowT, s, d);
  }
}

/** OUT [n] float64 = X [n] float32. */
@inline
function widen(X: usize, n: i32, OUT: usize): void {
  for (let k = 0; k < n; k++) store<f64>(OUT + (<usize>k << 3), <f64>load<f32>(X + (<usize>k << 2)));
}

/** L[i, j] = l (float64 scratch), LOGITS[i, j] = (float32) l, G[i, j] = 0. */
@inline
function storeLogit(Lm: usize, Gm: usize, LOGITS: usize, i: i32, j: i32, B: i32, l: f64): void {
  const ij = <usize>i * <usize>B + <usize>j;
  store<f64>(Lm + (ij << 3), l);
  store<f64>(Gm + (ij << 3), 0);
  store<f32>(LOGITS + (ij << 2), <f32>l);
}

/** acc[k] += g * x[k] for k < d, float64; two lanes at a time in the SIMD build, the same operations. */
@inline
function axpyF64(acc: usize, g: f64, x: usize, d: i32): void {
  let k = 0;
  if (ASC_FEATURE_SIMD) {
    const vg = f64x2.splat(g);
    for (; k + 2 <= d; k += 2) {
      const a = acc + (<usize>k << 3);
      v128.store(a, f64x2.add(v128.load(a), f64x2.mul(vg, v128.load(x + (<usize>k << 3)))));
    }
  }
  for (; k < d; k++) {
    const a = acc + (<usize>k << 3);
    store<f64>(a, load<f64>(a) + g * load<f64>(x + (<usize>k << 3)));
  }
}

/** out[k] = (float32)(s * acc[k]) for k < d. */
@inline
function storeScaled(out: usize, acc: usize, s: f64, d: i32): void {
  for (let k = 0; k < d; k++) store<f32>(out + (<usize>k << 2), <f32>(s * load<f64>(acc + (<usize>k << 3))));
}

/** Byte offset of element (i, j) of L (dir 0) or of L^T (dir 1) in a [B, B] float64 matrix. */
@inline
function at(dir: i32, i: i32, j: i32, B: i32): usize {
  return dir == 0 ? (<usize>i * <usize>B + <usize>j) << 3 : (<usize>j * <usize>B + <usize>i) << 3;
}
