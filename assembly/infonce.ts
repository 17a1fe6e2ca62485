// Symmetric InfoNCE over a batch of B matched pairs, forward and backward in one call (float64 inside).
//   s = min(exp(logit_scale), 100)     L = s * EI ET^T (logits_per_image; logits_per_text = L^T)
//   loss = (CE(L, arange B) + CE(L^T, arange B)) / 2, each a mean over the batch
//   G = dloss/dL = (softmax_rows(L) - I + softmax_cols(L) - I) / (2B)
//   dEI = s G ET      dET = s G^T EI
//   dlogit_scale = sum(G * L) / s * exp(logit_scale)    (the clamp is invisible to autograd: FDT-SPEC quirk 4)

export const MAX_LOGIT_SCALE: f64 = 100;

/** Scratch bytes f32_infonce needs for a batch of B. */
export function infonce_scratch_bytes(B: i32): usize {
  return (<usize>B * <usize>B) << 4;
}

/**
 * EI, ET [B, d] (L2-normalised embeddings); LOGITS [B, B] out (logits_per_image); GEI, GET [B, d] out (or 0);
 * OUT f64[3] out: loss, d loss / d logit_scale, the scale used. scratch: infonce_scratch_bytes(B).
 */
export function f32_infonce(
  EI: usize, ET: usize, B: i32, d: i32, logitScale: f64, LOGITS: usize, GEI: usize, GET: usize, OUT: usize,
  scratch: usize,
): void {
  const e = Math.exp(logitScale);
  const s = min(e, MAX_LOGIT_SCALE);
  const Lm = scratch;
  const Gm = scratch + ((<usize>B * <usize>B) << 3);
  for (let i = 0; i < B; i++) {
    for (let j = 0; j < B; j++) {
      let acc: f64 = 0;
      for (let k = 0; k < d; k++) {
        acc += <f64>load<f32>(EI + ((<usize>i * <usize>d + <usize>k) << 2)) *
          <f64>load<f32>(ET + ((<usize>j * <usize>d + <usize>k) << 2));
      }
      const l = s * acc;
      store<f64>(Lm + ((<usize>i * <usize>B + <usize>j) << 3), l);
      store<f64>(Gm + ((<usize>i * <usize>B + <usize>j) << 3), 0);
      store<f32>(LOGITS + ((<usize>i * <usize>B + <usize>j) << 2), <f32>l);
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
  store<f64>(OUT + 8, gl / s * e);
  store<f64>(OUT + 16, s);
  for (let k = 0; k < d; k++) {
    for (let i = 0; i < B; i++) {
      let ai: f64 = 0;
      let at_: f64 = 0;
      for (let j = 0; j < B; j++) {
        ai += load<f64>(Gm + ((<usize>i * <usize>B + <usize>j) << 3)) *
          <f64>load<f32>(ET + ((<usize>j * <usize>d + <usize>k) << 2));
        at_ += load<f64>(Gm + ((<usize>j * <usize>B + <usize>i) << 3)) *
          <f64>load<f32>(EI + ((<usize>j * <usize>d + <usize>k) << 2));
      }
      if (GEI) store<f32>(GEI + ((<usize>i * <usize>d + <usize>k) << 2), <f32>(s * ai));
      if (GET) store<f32>(GET + ((<usize>i * <usize>d + <usize>k) << 2), <f32>(s * at_));
    }
  }
}

/** Byte offset of element (i, j) of L (dir 0) or of L^T (dir 1) in a [B, B] float64 matrix. */
@inline
function at(dir: i32, i: i32, j: i32, B: i32): usize {
  return dir == 0 ? (<usize>i * <usize>B + <usize>j) << 3 : (<usize>j * <usize>B + <usize>i) << 3;
}
