// The relevance kernel: fused GEMM + max over tokens, never materialising the [B, L, C] scores.
//
//   r[b, c]   = scale * max over valid l of (q[b, l] . T[c])       scale = 1 / (sqrt(d) * temperature) > 0
//   arg[b, c] = the l that gave the max (first index on ties), -1 when the padding floor won (official mode)
//
// Mask modes (FDT-SPEC quirk 1): MASK_OFFICIAL multiplies padded scores by 0, so a caption with any padding has
// r = max(0, max over real l); the padding slot then wins ties by index order exactly as torch.max would.
// MASK_EXCLUDE ignores padded slots. valid = 0 means every slot is real (images).
import { DEPTH_CHUNK, NR, panelBytes, tile_2x16, tileDepthChunk } from './gemm';
import { axpy, termAdd, termsEnd, termsStart } from './vec';

export const MASK_OFFICIAL: i32 = 0;
export const MASK_EXCLUDE: i32 = 1;

/** Items whose query rows take one pass over each dictionary panel together (at most). */
const MAX_ITEMS_PER_PASS: i32 = 8;
/** Query rows of the items of one pass (L x d floats each) up to this size stay in L2 (1 MiB per core here). */
const ITEMS_IN_CACHE_BYTES: usize = 512 << 10;

// Scratch layout of the forward: per item of a pass its 16 maxima and 16 arg-maxima (128 bytes), then the 2x16 tile,
// then each item's first padded slot, then the pass's real slots (int32 each) and their items' offsets (int32 each),
// then (16-byte aligned) the running sums of the pass's row pairs over a depth in chunks (32 floats per pair).
const TILE_AT: usize = <usize>MAX_ITEMS_PER_PASS << 7;
const PADS_AT: usize = TILE_AT + 128;
const SLOTS_AT: usize = PADS_AT + ((<usize>MAX_ITEMS_PER_PASS << 2) + 15 & ~15);

/** Bytes before the running sums of the row pairs: the layout above for L slots, 16-byte aligned. */
@inline
function sumsAt(L: i32): usize {
  return SLOTS_AT + ((<usize>MAX_ITEMS_PER_PASS * <usize>L) << 3) + 15 & ~15;
}

/** Scratch bytes f32_relevance_fwd needs for L token slots (the layout above, then 128 bytes per row pair). */
export function relevance_scratch_bytes(L: i32): usize {
  return sumsAt(L) + ((<usize>MAX_ITEMS_PER_PASS * <usize>L + 1) >> 1 << 7);
}

@inline
function updateMax(maxp: usize, argp: usize, tile: usize, l: i32): void {
  if (ASC_FEATURE_SIMD) {
    const vl = i32x4.splat(l);
    for (let q: usize = 0; q < 64; q += 16) {
      const m = v128.load(maxp + q);
      const t = v128.load(tile + q);
      const gt = f32x4.gt(t, m);
      v128.store(maxp + q, v128.bitselect(t, m, gt));
      v128.store(argp + q, v128.bitselect(vl, v128.load(argp + q), gt));
    }
  } else {
    for (let j: usize = 0; j < 64; j += 4) {
      const t = load<f32>(tile + j);
      if (t > load<f32>(maxp + j)) {
        store<f32>(maxp + j, t);
        store<i32>(argp + j, l);
      }
    }
  }
}

/**
 * Q [B, L, d] query rows; Tp the dictionary T [C, d] packed by f32_pack_nt (ceil(C/16) panels of depth d);
 * valid [B, L] int32 0/1 or 0 (none); R [B, C] float32 out; ARG [B, C] int32 out;
 * scratch: relevance_scratch_bytes(L) bytes, 16-byte aligned.
 */
export function f32_relevance_fwd(
  Q: usize, B: i32, L: i32, d: i32, Tp: usize, C: i32, scale: f32, valid: usize, mode: i32,
  R: usize, ARG: usize, scratch: usize,
): void {
  f32_relevance_fwd_part(Q, B, L, d, Tp, C, scale, valid, mode, R, ARG, scratch, 0, (C + NR - 1) / NR);
}

/**
 * f32_relevance_fwd for the dictionary panels [p0, p1) only (tokens 16 p0 .. 16 p1 - 1): threads split the
 * dictionary and each writes its own columns of R and ARG, so the result does not depend on the thread count.
 *
 * Items go G at a time (G = 1..MAX_ITEMS_PER_PASS, as many as keep their query rows within ITEMS_IN_CACHE_BYTES:
 * 5 at the paper's image side, 3 at its caption side, 8 at the demo's). Their real slots form one list (item b's,
 * then item b + 1's, ..., each in slot order) and the 2x16 tile takes consecutive pairs of that list. So each panel
 * of the dictionary is read from memory once per G items instead of once per item, and an item with an odd count of
 * real slots shares its last tile with the next item's first slot instead of computing a row twice. Every (item,
 * token) still takes the max over its own slots in increasing slot order with the same comparison, so values and
 * arg-maxima are those of one item at a time.
 *
 * A panel deeper than DEPTH_CHUNK (512: 32 KiB, the paper's d stays whole) is walked a chunk at a time: every row
 * pair of the pass takes the chunk while it stays in L1, its sums carried in scratch (tileDepthChunk), and the maxima
 * are folded once the sums are whole, so the bits are those of one full-depth tile. (With 256-deep chunks, on the
 * Cascade Lake's 32 KiB L1, the paper's d = 512 measured 1.00-1.09x faster chunked than whole with the host at its
 * speed, bench/results/2026-11-27-relevance-depth-chunks*.txt; on the Zen 5's 48 KiB L1 whole is 1.03-1.04x faster,
 * see DEPTH_CHUNK.) The unchunked path stays a loop of its own: a version with one loop for both ran ~5% slower at
 * d = 128 (a run that was not kept).
 */
export function f32_relevance_fwd_part(
  Q: usize, B: i32, L: i32, d: i32, Tp: usize, C: i32, scale: f32, valid: usize, mode: i32,
  R: usize, ARG: usize, scratch: usize, p0: i32, p1: i32,
): void {
  // Item i of a pass: maxima at scratch + 128 i, arg-maxima 64 bytes after them.
  const tileAt = scratch + TILE_AT;
  const sums = scratch + sumsAt(L);
  const pads = scratch + PADS_AT;
  const rows = scratch + SLOTS_AT;
  const owners = rows + ((<usize>MAX_ITEMS_PER_PASS * <usize>L) << 2);
  const rowBytes = <usize>d << 2;
  const itemBytes = <usize>L * rowBytes;
  const G = <i32>min<usize>(<usize>MAX_ITEMS_PER_PASS, max<usize>(1, ITEMS_IN_CACHE_BYTES / max<usize>(itemBytes, 1)));
  for (let b = 0; b < B; b += G) {
    const items = min(G, B - b);
    // The real slots of the pass's items as indices into their items x L query rows, with the item of each (i, as
    // the byte offset 128 i of its maxima); each item's first padded slot.
    let nv = 0;
    for (let i = 0; i < items; i++) {
      store<i32>(pads + (<usize>i << 2), -1);
      for (let l = 0; l < L; l++) {
        const j = i * L + l;
        if (valid == 0 || load<i32>(valid + ((<usize>b * <usize>L + <usize>j) << 2)) != 0) {
          store<i32>(rows + (<usize>nv << 2), j);
          store<i32>(owners + (<usize>nv << 2), i << 7);
          nv++;
        } else if (load<i32>(pads + (<usize>i << 2)) < 0) {
          store<i32>(pads + (<usize>i << 2), l);
        }
      }
    }
    const qb = Q + <usize>b * itemBytes;
    for (let p = p0; p < p1; p++) {
      const bp = Tp + <usize>p * panelBytes(d);
      for (let i = 0; i < items; i++) {
        const m = scratch + (<usize>i << 7);
        for (let q: usize = 0; q < 64; q += 4) {
          store<f32>(m + q, -Infinity);
          store<i32>(m + 64 + q, -1);
        }
      }
      if (d > DEPTH_CHUNK) {
        // Chunk by chunk of depth, every row pair's sums carried in scratch; then the maxima from the full sums.
        for (let k0 = 0; k0 < d; k0 += DEPTH_CHUNK) {
          const kc = min(DEPTH_CHUNK, d - k0);
          for (let t = 0; t < nv; t += 2) {
            const j0 = load<i32>(rows + (<usize>t << 2));
            const j1 = t + 1 < nv ? load<i32>(rows + (<usize>(t + 1) << 2)) : j0;
            tileDepthChunk(qb + <usize>j0 * rowBytes, qb + <usize>j1 * rowBytes, bp, k0, kc, sums + (<usize>t << 6));
          }
        }
        for (let t = 0; t < nv; t += 2) pairMaxima(scratch, rows, owners, nv, t, L, sums + (<usize>t << 6));
      } else {
        for (let t = 0; t < nv; t += 2) {
          const j0 = load<i32>(rows + (<usize>t << 2));
          const j1 = t + 1 < nv ? load<i32>(rows + (<usize>(t + 1) << 2)) : j0;
          tile_2x16(qb + <usize>j0 * rowBytes, qb + <usize>j1 * rowBytes, bp, d, tileAt);
          pairMaxima(scratch, rows, owners, nv, t, L, tileAt);
        }
      }
      const n0 = p * NR;
      const w = min(NR, C - n0);
      for (let i = 0; i < items; i++) {
        storeMaxima(scratch + (<usize>i << 7), R, ARG, (<usize>(b + i) * <usize>C + <usize>n0) << 2, w, scale, mode,
          load<i32>(pads + (<usize>i << 2)));
      }
    }
  }
}

/** Folds the scores of row pair t (rows t and t + 1 of the pass, the second only when t + 1 < nv) into their items' maxima. */
@inline
function pairMaxima(scratch: usize, rows: usize, owners: usize, nv: i32, t: i32, L: i32, tile: usize): void {
  const j0 = load<i32>(rows + (<usize>t << 2));
  const o0 = load<i32>(owners + (<usize>t << 2));
  updateMax(scratch + <usize>o0, scratch + <usize>o0 + 64, tile, j0 - (o0 >> 7) * L);
  if (t + 1 < nv) {
    const j1 = load<i32>(rows + (<usize>(t + 1) << 2));
    const o1 = load<i32>(owners + (<usize>(t + 1) << 2));
    updateMax(scratch + <usize>o1, scratch + <usize>o1 + 64, tile + 64, j1 - (o1 >> 7) * L);
  }
}

/**
 * Writes one item's w maxima (at m, arg-maxima at m + 64) times scale to R and ARG at byte offset out; in the official
 * mode an item with padding (firstPad >= 0) is floored at 0, the padding slot winning (arg -1) where the best real
 * score is below 0, or equal to 0 at a later slot.
 */
@inline
function storeMaxima(m: usize, R: usize, ARG: usize, out: usize, w: i32, scale: f32, mode: i32, firstPad: i32): void {
  const floor = mode == MASK_OFFICIAL && firstPad >= 0;
  for (let j = 0; j < w; j++) {
    let v = load<f32>(m + (<usize>j << 2));
    let a = load<i32>(m + 64 + (<usize>j << 2));
    if (floor && (v < 0 || (v == 0 && firstPad < a))) {
      v = 0;
      a = -1;
    }
    store<f32>(R + out + (<usize>j << 2), v * scale);
    store<i32>(ARG + out + (<usize>j << 2), a);
  }
}

/**
 * Backward of f32_relevance_fwd through the recorded arg-max, touching only entries with GR != 0 (the sparsemax
 * support), so it costs O(B k d):
 *   GQ[b, arg[b,c]] += GR[b,c] * scale * T[c]      GT[c] += GR[b,c] * scale * Q[b, arg[b,c]]
 * T [C, d] is the unpacked dictionary; GQ [B, L, d] and GT [C, d] accumulate (either may be 0: not wanted).
 * A dictionary beyond L2 goes outside, batch rows inside: each T[c] and GT[c] is read once per call, not once per
 * batch row (T is 32 MiB at paper scale, beyond the caches), and GT[c] takes its terms four per pass (axpy4). One that
 * fits in L2 (DICT_IN_CACHE_BYTES) goes inside instead, see the two parts. Every GQ row receives its terms in
 * increasing c and every GT row in increasing b, rounded one by one, in either order, so the bits are those of one
 * axpy per term. Per call at paper scale (B = 32, L = 77, ~4,700 active): ~200 ms with batch rows outside,
 * 100-150 (noisy) with dictionary rows outside and axpy4.
 */
export function f32_relevance_bwd(
  GR: usize, ARG: usize, Q: usize, T: usize, B: i32, L: i32, C: i32, d: i32, scale: f32, GQ: usize, GT: usize,
): void {
  if (GQ) f32_relevance_bwd_gq_part(GR, ARG, T, B, L, C, d, scale, GQ, 0, B);
  if (GT) f32_relevance_bwd_gt_part(GR, ARG, Q, B, L, C, d, scale, GT, 0, C);
}

/**
 * The query row (arg-max slot) that entry o of the relevance gradient goes to, or -1 when it contributes nothing: a
 * zero gradient (off the sparsemax support) or a padding floor that won the max (arg -1).
 */
@inline
function activeArg(GR: usize, ARG: usize, o: usize): i32 {
  return load<f32>(GR + o) == 0 ? -1 : load<i32>(ARG + o);
}

/** Dictionary rows (of T or of GT) up to this size stay in L2 (1 MiB per core here) while a batch row passes. */
const DICT_IN_CACHE_BYTES: usize = 512 << 10;

/**
 * The GQ half of f32_relevance_bwd for batch rows [b0, b1): threads split the batch (disjoint GQ rows). Every GQ row
 * receives its terms in increasing c whichever loop is outside, so both orders give the same bits. A dictionary that
 * fits in L2 goes inside (one batch row's L x d block of GQ stays in L1 while the dictionary passes); a larger one
 * goes outside, read once per call (each row then updates rows of GQ spread over B L d floats).
 */
export function f32_relevance_bwd_gq_part(
  GR: usize, ARG: usize, T: usize, B: i32, L: i32, C: i32, d: i32, scale: f32, GQ: usize, b0: i32, b1: i32,
): void {
  const rowBytes = <usize>d << 2;
  if (<usize>C * rowBytes <= DICT_IN_CACHE_BYTES) {
    for (let b = b0; b < b1; b++) {
      const gq = GQ + <usize>b * <usize>L * rowBytes;
      for (let c = 0; c < C; c++) {
        const o = (<usize>b * <usize>C + <usize>c) << 2;
        const a = activeArg(GR, ARG, o);
        if (a < 0) continue;
        const g = load<f32>(GR + o);
        axpy(gq + <usize>a * rowBytes, T + <usize>c * rowBytes, g * scale, d);
      }
    }
    return;
  }
  for (let c = 0; c < C; c++) {
    const t = T + <usize>c * rowBytes;
    for (let b = b0; b < b1; b++) {
      const o = (<usize>b * <usize>C + <usize>c) << 2;
      const a = activeArg(GR, ARG, o);
      if (a < 0) continue;
      const g = load<f32>(GR + o);
      axpy(GQ + (<usize>b * <usize>L + <usize>a) * rowBytes, t, g * scale, d);
    }
  }
}

/**
 * The GT half of f32_relevance_bwd for dictionary rows [c0, c1): threads split the dictionary (disjoint GT rows).
 * Every GT row receives its terms in increasing b, rounded one by one, in either order below (the same bits). When
 * the GT rows fit in L2 the batch goes outside (one batch row's L x d block of queries stays in L1 while they pass);
 * otherwise the dictionary rows go outside, four terms per pass over a GT row (axpy4 through the term queue).
 */
export function f32_relevance_bwd_gt_part(
  GR: usize, ARG: usize, Q: usize, B: i32, L: i32, C: i32, d: i32, scale: f32, GT: usize, c0: i32, c1: i32,
): void {
  const rowBytes = <usize>d << 2;
  if (<usize>(c1 - c0) * rowBytes <= DICT_IN_CACHE_BYTES) {
    for (let b = 0; b < B; b++) {
      const q = Q + <usize>b * <usize>L * rowBytes;
      for (let c = c0; c < c1; c++) {
        const o = (<usize>b * <usize>C + <usize>c) << 2;
        const a = activeArg(GR, ARG, o);
        if (a < 0) continue;
        const g = load<f32>(GR + o);
        axpy(GT + <usize>c * rowBytes, q + <usize>a * rowBytes, g * scale, d);
      }
    }
    return;
  }
  for (let c = c0; c < c1; c++) {
    termsStart(GT + <usize>c * rowBytes);
    for (let b = 0; b < B; b++) {
      const o = (<usize>b * <usize>C + <usize>c) << 2;
      const a = activeArg(GR, ARG, o);
      if (a < 0) continue;
      const g = load<f32>(GR + o);
      termAdd(Q + (<usize>b * <usize>L + <usize>a) * rowBytes, g * scale, d);
    }
    termsEnd(d);
  }
}
