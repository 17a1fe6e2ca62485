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
/**
 * Depth per chunk of the forward: a panel pair deeper than this (the paper's d = 512: 64 KiB) is walked 256 rows of
 * depth at a time, so the pair's 32 KiB slice and a row's 1 KiB stay in L1 while every row of the pass takes them.
 */
const PAIR_DEPTH_CHUNK: i32 = 256;

// Scratch layout of the forward: per item of a pass, for each of the two panels of a pair, its 16 maxima and 16
// arg-maxima (256 bytes per item), then the 1x32 tile's 32 sums, then each item's first padded slot, then the pass's
// real slots (int32 each) and their items' offsets (int32 each), then (16-byte aligned) each real slot's running sums
// over a depth in chunks (32 floats per slot).
const TILE_AT: usize = <usize>MAX_ITEMS_PER_PASS << 8;
const PADS_AT: usize = TILE_AT + 128;
const SLOTS_AT: usize = PADS_AT + ((<usize>MAX_ITEMS_PER_PASS << 2) + 15 & ~15);

/** Bytes before the running sums of the slots: the layout above for L slots, 16-byte aligned. */
@inline
function sumsAt(L: i32): usize {
  return SLOTS_AT + ((<usize>MAX_ITEMS_PER_PASS * <usize>L) << 3) + 15 & ~15;
}

/** Scratch bytes f32_relevance_fwd needs for L token slots (the layout above, then 128 bytes per slot). */
export function relevance_scratch_bytes(L: i32): usize {
  return sumsAt(L) + ((<usize>MAX_ITEMS_PER_PASS * <usize>L) << 7);
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
 * The forward's micro-kernel: out[j] = sum_k a[k] * panel0[k][j] and out[16 + j] = sum_k a[k] * panel1[k][j] for one
 * row a of K floats and the two 16-column panels at bp and bq (a panel pair: 32 tokens). Each lane adds its terms in k
 * order, a multiply then an add (one fused multiply-add in the relaxed build), so the sums are the bits of tile_2x16's.
 *
 * Why one row against 32 columns rather than 2 rows against 16: on the Zen 5 a broadcast from memory takes a slot of
 * the FP pipes that the tile's multiplies and adds fill, and 1x32 broadcasts once per 16 FP instructions where 2x16
 * does twice. Natively (gcc -O2, 128-bit mul + add, in L1) 2x16 ran 5.0 cycles per k step and 1x32 4.56; in Node 20
 * with its k loop unrolled four times (fewer of V8's loop instructions per step, and no spills: 8 accumulators, one
 * row value, one product) 58.3 GFLOP/s against 52.1 for the 2x16 tile.
 */
export function tile_1x32(a: usize, bp: usize, bq: usize, K: i32, out: usize): void {
  tile1x32(a, bp, bq, K, out, false);
}

/** tile_1x32 continuing the sums in out, each lane's terms added in k order after the ones before. */
function tile_1x32_acc(a: usize, bp: usize, bq: usize, K: i32, out: usize): void {
  tile1x32(a, bp, bq, K, out, true);
}

@inline
function tile1x32(a: usize, bp: usize, bq: usize, K: i32, out: usize, acc: bool): void {
  if (ASC_FEATURE_SIMD) {
    let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0);
    let c4 = f32x4.splat(0), c5 = f32x4.splat(0), c6 = f32x4.splat(0), c7 = f32x4.splat(0);
    if (acc) {
      c0 = v128.load(out); c1 = v128.load(out, 16); c2 = v128.load(out, 32); c3 = v128.load(out, 48);
      c4 = v128.load(out, 64); c5 = v128.load(out, 80); c6 = v128.load(out, 96); c7 = v128.load(out, 112);
    }
    const end4 = bp + (<usize>(K & ~3) << 6);
    // Four k steps per iteration (a quarter of V8's loop instructions per step; 8 accumulators, one row value and one
    // product in registers, no spills).
    while (bp < end4) {
      {
        const x = v128.load32_splat(a);
        c0 = mac(x, v128.load(bp), c0);
        c1 = mac(x, v128.load(bp, 16), c1);
        c2 = mac(x, v128.load(bp, 32), c2);
        c3 = mac(x, v128.load(bp, 48), c3);
        c4 = mac(x, v128.load(bq), c4);
        c5 = mac(x, v128.load(bq, 16), c5);
        c6 = mac(x, v128.load(bq, 32), c6);
        c7 = mac(x, v128.load(bq, 48), c7);
      }
      {
        const x = v128.load32_splat(a, 4);
        c0 = mac(x, v128.load(bp, 64), c0);
        c1 = mac(x, v128.load(bp, 80), c1);
        c2 = mac(x, v128.load(bp, 96), c2);
        c3 = mac(x, v128.load(bp, 112), c3);
        c4 = mac(x, v128.load(bq, 64), c4);
        c5 = mac(x, v128.load(bq, 80), c5);
        c6 = mac(x, v128.load(bq, 96), c6);
        c7 = mac(x, v128.load(bq, 112), c7);
      }
      {
        const x = v128.load32_splat(a, 8);
        c0 = mac(x, v128.load(bp, 128), c0);
        c1 = mac(x, v128.load(bp, 144), c1);
        c2 = mac(x, v128.load(bp, 160), c2);
        c3 = mac(x, v128.load(bp, 176), c3);
        c4 = mac(x, v128.load(bq, 128), c4);
        c5 = mac(x, v128.load(bq, 144), c5);
        c6 = mac(x, v128.load(bq, 160), c6);
        c7 = mac(x, v128.load(bq, 176), c7);
      }
      {
        const x = v128.load32_splat(a, 12);
        c0 = mac(x, v128.load(bp, 192), c0);
        c1 = mac(x, v128.load(bp, 208), c1);
        c2 = mac(x, v128.load(bp, 224), c2);
        c3 = mac(x, v128.load(bp, 240), c3);
        c4 = mac(x, v128.load(bq, 192), c4);
        c5 = mac(x, v128.load(bq, 208), c5);
        c6 = mac(x, v128.load(bq, 224), c6);
        c7 = mac(x, v128.load(bq, 240), c7);
      }
      a += 16;
      bp += 256;
      bq += 256;
    }
    v128.store(out, c0);
    v128.store(out, c1, 16);
    v128.store(out, c2, 32);
    v128.store(out, c3, 48);
    v128.store(out, c4, 64);
    v128.store(out, c5, 80);
    v128.store(out, c6, 96);
    v128.store(out, c7, 112);
    // The last K mod 4 steps in a function of their own: with a second loop here V8 spilled the unrolled loop's
    // values (30 GFLOP/s in L1 instead of 52-58).
    if (K & 3) tile1x32Rest(a, bp, bq, K & 3, out);
  } else {
    // Four columns at a time, each its own sum in k order (one row value read per four multiply-adds).
    for (let h: usize = 0; h < 2; h++) {
      const panel = h ? bq : bp;
      for (let j: usize = 0; j < 64; j += 16) {
        const o = out + (h << 6) + j;
        let s0: f32 = acc ? load<f32>(o) : 0;
        let s1: f32 = acc ? load<f32>(o, 4) : 0;
        let s2: f32 = acc ? load<f32>(o, 8) : 0;
        let s3: f32 = acc ? load<f32>(o, 12) : 0;
        let pa = a;
        let pb = panel + j;
        for (let k = 0; k < K; k++) {
          const x = load<f32>(pa);
          s0 += x * load<f32>(pb);
          s1 += x * load<f32>(pb, 4);
          s2 += x * load<f32>(pb, 8);
          s3 += x * load<f32>(pb, 12);
          pa += 4;
          pb += 64;
        }
        store<f32>(o, s0);
        store<f32>(o, s1, 4);
        store<f32>(o, s2, 8);
        store<f32>(o, s3, 12);
      }
    }
  }
}

/** One lane-wise multiply-add of the 1x32 tile: acc + x * b, a multiply then an add (fused in the relaxed build). */
@inline
function mac(x: v128, b: v128, acc: v128): v128 {
  return ASC_FEATURE_RELAXED_SIMD ? f32x4.relaxed_madd(x, b, acc) : f32x4.add(acc, f32x4.mul(x, b));
}

/** The SIMD 1x32 tile's last K (1..3) steps, continuing the sums in out. */
function tile1x32Rest(a: usize, bp: usize, bq: usize, K: i32, out: usize): void {
  let c0 = v128.load(out), c1 = v128.load(out, 16), c2 = v128.load(out, 32), c3 = v128.load(out, 48);
  let c4 = v128.load(out, 64), c5 = v128.load(out, 80), c6 = v128.load(out, 96), c7 = v128.load(out, 112);
  const end = bp + (<usize>K << 6);
  while (bp < end) {
    const x = v128.load32_splat(a);
    c0 = mac(x, v128.load(bp), c0);
    c1 = mac(x, v128.load(bp, 16), c1);
    c2 = mac(x, v128.load(bp, 32), c2);
    c3 = mac(x, v128.load(bp, 48), c3);
    c4 = mac(x, v128.load(bq), c4);
    c5 = mac(x, v128.load(bq, 16), c5);
    c6 = mac(x, v128.load(bq, 32), c6);
    c7 = mac(x, v128.load(bq, 48), c7);
    a += 4;
    bp += 64;
    bq += 64;
  }
  v128.store(out, c0);
  v128.store(out, c1, 16);
  v128.store(out, c2, 32);
  v128.store(out, c3, 48);
  v128.store(out, c4, 64);
  v128.store(out, c5, 80);
  v128.store(out, c6, 96);
  v128.store(out, c7, 112);
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
 * then item b + 1's, ..., each in slot order) that the tile walks, so each panel of the dictionary is read from
 * memory once per G items instead of once per item. Every (item, token) takes the max over its own slots in
 * increasing slot order with the same comparison, so values and arg-maxima are those of one item at a time, and of
 * any split of the panels.
 *
 * Two micro-kernels give the same bits (each lane's terms in k order): tile_1x32 (relevanceFwd1x32, the module's
 * default) and tile_2x16 (relevanceFwd2x16); relevance_set_tile picks one. The bindings set tile_2x16 unless tile_1x32
 * wins their timing by 5%. Which is faster depends on the engine and the core: on
 * the Zen 5, Node 20 runs the 1x32 tile at 55.7 GFLOP/s in L1 against 50-52 for 2x16, and Bun (JavaScriptCore) 53.7
 * against 60.3; the bindings time both on each process's first instance (bindings/tile-choice.ts).
 *
 * A pair (1x32) deeper than PAIR_DEPTH_CHUNK or a panel (2x16) deeper than DEPTH_CHUNK is walked a chunk of depth at
 * a time: every slot (or pair of slots) of the pass takes the chunk while it stays in L1, its sums carried in
 * scratch, and the maxima are folded once the sums are whole, so the bits are those of one full-depth tile.
 */
let relevanceOn1x32: bool = true;

/** Sets the relevance forward's micro-kernel (non-zero: tile_1x32, the default; 0: tile_2x16); returns the previous. */
export function relevance_set_tile(on1x32: i32): i32 {
  const previous = relevanceOn1x32 ? 1 : 0;
  relevanceOn1x32 = on1x32 != 0;
  return previous;
}

export function f32_relevance_fwd_part(
  Q: usize, B: i32, L: i32, d: i32, Tp: usize, C: i32, scale: f32, valid: usize, mode: i32,
  R: usize, ARG: usize, scratch: usize, p0: i32, p1: i32,
): void {
  if (relevanceOn1x32) relevanceFwd1x32(Q, B, L, d, Tp, C, scale, valid, mode, R, ARG, scratch, p0, p1);
  else relevanceFwd2x16(Q, B, L, d, Tp, C, scale, valid, mode, R, ARG, scratch, p0, p1);
}

/** Items per pass for L slots of depth d: as many as keep their query rows within ITEMS_IN_CACHE_BYTES, 1..8. */
@inline
function itemsPerPass(L: i32, d: i32): i32 {
  const itemBytes = <usize>L * (<usize>d << 2);
  return <i32>min<usize>(<usize>MAX_ITEMS_PER_PASS, max<usize>(1, ITEMS_IN_CACHE_BYTES / max<usize>(itemBytes, 1)));
}

/**
 * Lists the real slots of items b .. b + items - 1 as indices into their items x L query rows (at rows), each with its
 * item's maxima offset i << ownerShift (at owners), and each item's first padded slot (at pads, -1 for none); returns
 * the count of real slots.
 */
@inline
function passSlots(valid: usize, b: i32, L: i32, items: i32, rows: usize, owners: usize, pads: usize, ownerShift: i32): i32 {
  let nv = 0;
  for (let i = 0; i < items; i++) {
    store<i32>(pads + (<usize>i << 2), -1);
    for (let l = 0; l < L; l++) {
      const j = i * L + l;
      if (valid == 0 || load<i32>(valid + ((<usize>b * <usize>L + <usize>j) << 2)) != 0) {
        store<i32>(rows + (<usize>nv << 2), j);
        store<i32>(owners + (<usize>nv << 2), i << ownerShift);
        nv++;
      } else if (load<i32>(pads + (<usize>i << 2)) < 0) {
        store<i32>(pads + (<usize>i << 2), l);
      }
    }
  }
  return nv;
}

/**
 * The forward on tile_1x32: the real slots of a pass one at a time against a pair of consecutive panels (a lone last
 * panel of the range is paired with itself, its second half of the sums unused).
 */
function relevanceFwd1x32(
  Q: usize, B: i32, L: i32, d: i32, Tp: usize, C: i32, scale: f32, valid: usize, mode: i32,
  R: usize, ARG: usize, scratch: usize, p0: i32, p1: i32,
): void {
  // Item i of a pass: panel h's maxima at scratch + 256 i + 128 h, arg-maxima 64 bytes after them.
  const tileAt = scratch + TILE_AT;
  const sums = scratch + sumsAt(L);
  const pads = scratch + PADS_AT;
  const rows = scratch + SLOTS_AT;
  const owners = rows + ((<usize>MAX_ITEMS_PER_PASS * <usize>L) << 2);
  const rowBytes = <usize>d << 2;
  const itemBytes = <usize>L * rowBytes;
  const G = itemsPerPass(L, d);
  for (let b = 0; b < B; b += G) {
    const items = min(G, B - b);
    // The pass's real slots, each with its item's maxima (byte offset 256 i), and each item's first padded slot.
    const nv = passSlots(valid, b, L, items, rows, owners, pads, 8);
    const qb = Q + <usize>b * itemBytes;
    for (let p = p0; p < p1; p += 2) {
      const halves = p + 1 < p1 ? 2 : 1;
      const bp = Tp + <usize>p * panelBytes(d);
      const bq = halves == 2 ? bp + panelBytes(d) : bp;
      for (let i = 0; i < items; i++) {
        const m = scratch + (<usize>i << 8);
        for (let q: usize = 0; q < 64; q += 4) {
          store<f32>(m + q, -Infinity);
          store<i32>(m + 64 + q, -1);
          store<f32>(m + 128 + q, -Infinity);
          store<i32>(m + 192 + q, -1);
        }
      }
      if (d > PAIR_DEPTH_CHUNK) {
        // Chunk by chunk of depth, every slot's sums carried in scratch; then the maxima from the full sums.
        for (let k0 = 0; k0 < d; k0 += PAIR_DEPTH_CHUNK) {
          const kc = min(PAIR_DEPTH_CHUNK, d - k0);
          const koff = <usize>k0 << 6;
          for (let t = 0; t < nv; t++) {
            const a = qb + <usize>load<i32>(rows + (<usize>t << 2)) * rowBytes + (<usize>k0 << 2);
            if (k0 == 0) tile_1x32(a, bp, bq, kc, sums + (<usize>t << 7));
            else tile_1x32_acc(a, bp + koff, bq + koff, kc, sums + (<usize>t << 7));
          }
        }
        for (let t = 0; t < nv; t++) slotMaxima(scratch, rows, owners, t, L, sums + (<usize>t << 7));
      } else {
        for (let t = 0; t < nv; t++) {
          tile_1x32(qb + <usize>load<i32>(rows + (<usize>t << 2)) * rowBytes, bp, bq, d, tileAt);
          slotMaxima(scratch, rows, owners, t, L, tileAt);
        }
      }
      for (let h = 0; h < halves; h++) {
        const n0 = (p + h) * NR;
        const w = min(NR, C - n0);
        for (let i = 0; i < items; i++) {
          storeMaxima(scratch + (<usize>i << 8) + (<usize>h << 7), R, ARG, (<usize>(b + i) * <usize>C + <usize>n0) << 2, w, scale,
            mode, load<i32>(pads + (<usize>i << 2)));
        }
      }
    }
  }
}

/**
 * The forward on tile_2x16: consecutive pairs of the pass's real slots against one panel at a time (an item with an
 * odd count of real slots shares its last tile with the next item's first slot), a panel deeper than DEPTH_CHUNK in
 * chunks, the pairs' sums carried in scratch (tileDepthChunk).
 */
function relevanceFwd2x16(
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
  const G = itemsPerPass(L, d);
  for (let b = 0; b < B; b += G) {
    const items = min(G, B - b);
    // The pass's real slots, each with its item's maxima (byte offset 128 i), and each item's first padded slot.
    const nv = passSlots(valid, b, L, items, rows, owners, pads, 7);
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

/** Folds the 32 scores of slot t of the pass (at tile) into its item's maxima for the pair's two panels. */
@inline
function slotMaxima(scratch: usize, rows: usize, owners: usize, t: i32, L: i32, tile: usize): void {
  const j = load<i32>(rows + (<usize>t << 2));
  const o = load<i32>(owners + (<usize>t << 2));
  const l = j - (o >> 8) * L;
  const m = scratch + <usize>o;
  updateMax(m, m + 64, tile, l);
  updateMax(m + 128, m + 192, tile + 64, l);
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
