// Sparsemax (Martins & Astudillo 2016): the Euclidean projection of each row z onto the probability simplex,
// p = max(0, z - tau) with sum(p) = 1.
//
// Forward, per row, on y = z - max(z) in float64 (sparsemax is shift-invariant; without the shift a row whose values
// exceed 2^53 would see max - 1 == max in float64, tau = -inf, every output +inf):
//   1. tau >= max(y) - 1 = -1 (no output exceeds 1), so only y > -1 can be in the support: one pass copies those
//      into a float64 list (the SIMD build tests four values at a time and skips empty groups).
//   2. Michelot (1986) on the list: tau = (sum of the set - 1) / |set|; the next set is {y > tau}; stop when it keeps
//      every element. tau never decreases (it is clamped to the previous one against rounding), no element of the
//      support is ever dropped, and the last tau is the exact sort-based threshold (sum of the support - 1) / k,
//      summed in float64. No sort. Each pass is a masked count-and-sum (SIMD: float64x2 lanes); the list is
//      compacted once the set falls under a quarter of it.
//   3. Michelot needs 4-10 passes on real rows at C = 16384, but adversarial rows can need one per element, so after
//      michelotPasses (32) the set goes through Condat's (2016) pass (expected linear time) and Michelot finishes on
//      its much smaller superset.
// Measured at C = 16384 (one row in cache, min of 40): ~4,400 active values 92 us per row, 2-20 active 35 us. The
// first version ran Condat's pass over the whole row, one serial float64 division per admitted value: 374 and 55 us.
// (Cascade Lake. On the Zen 5, bench suite medians: 33 and 17.5 us; 34 and 13.4 with the float32 pre-filter of the
// compaction and output passes, float32Below.)
// Sums run in four partial sums over positions mod 4 of the list, then (s0 + s1) + (s2 + s3), the same in both
// builds, so the SIMD and scalar builds give identical bits.
// Backward: g_z = s * (g_p - mean over the support of g_p), s = 1[p > 0] (FDT-SPEC quirk 3).

// Michelot passes before Condat's pass takes over (rows at C = 16384 measured 4-10, ~4,400 active included).
let michelotPasses: i32 = 32;

/** Sets the Michelot pass limit (>= 1) and returns the previous one: tests use it to exercise the Condat path. */
export function sparsemax_set_michelot_passes(n: i32): i32 {
  const previous = michelotPasses;
  michelotPasses = max(n, 1);
  return previous;
}

/** Scratch bytes f32_sparsemax_fwd needs for rows of C values (two float64 lists of up to C values). */
export function sparsemax_scratch_bytes(C: i32): usize {
  return <usize>C << 4;
}

/**
 * Largest value of z[0..C), NaN if any value is NaN (max is exact, so any grouping agrees). Four accumulators: V8's
 * NaN-exact f32x4.max is a chain of ~7 instructions, and one accumulator measured 16 cycles per vector, four 4.4.
 */
@inline
function rowMax(z: usize, C: i32): f32 {
  let n = 0;
  let m: f32 = load<f32>(z);
  if (ASC_FEATURE_SIMD) {
    if (C >= 16) {
      let a0 = v128.load(z), a1 = v128.load(z, 16), a2 = v128.load(z, 32), a3 = v128.load(z, 48);
      for (n = 16; n + 16 <= C; n += 16) {
        const o = z + (<usize>n << 2);
        a0 = f32x4.max(a0, v128.load(o));
        a1 = f32x4.max(a1, v128.load(o, 16));
        a2 = f32x4.max(a2, v128.load(o, 32));
        a3 = f32x4.max(a3, v128.load(o, 48));
      }
      const a = f32x4.max(f32x4.max(a0, a1), f32x4.max(a2, a3));
      m = max(max(f32x4.extract_lane(a, 0), f32x4.extract_lane(a, 1)), max(f32x4.extract_lane(a, 2), f32x4.extract_lane(a, 3)));
    }
  } else {
    for (n = 1; n < C; n++) m = max(m, load<f32>(z + (<usize>n << 2)));
  }
  for (; n < C; n++) m = max(m, load<f32>(z + (<usize>n << 2)));
  return m;
}

// The sum left by the last rowPass / listPass.
let passSum: f64 = 0;

/** Count of v[i] > above over i < len; their sum goes to passSum. */
function listPass(v: usize, len: i32, above: f64): i32 {
  let s0: f64 = 0, s1: f64 = 0, s2: f64 = 0, s3: f64 = 0;
  let count = 0;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const va = f64x2.splat(above);
    let a01 = f64x2.splat(0);
    let a23 = f64x2.splat(0);
    let neg = i64x2.splat(0);
    for (; i + 4 <= len; i += 4) {
      const o = v + (<usize>i << 3);
      const y01 = v128.load(o);
      const y23 = v128.load(o + 16);
      const m01 = f64x2.gt(y01, va);
      const m23 = f64x2.gt(y23, va);
      a01 = f64x2.add(a01, v128.and(y01, m01));
      a23 = f64x2.add(a23, v128.and(y23, m23));
      neg = i64x2.add(neg, i64x2.add(m01, m23));
    }
    s0 = f64x2.extract_lane(a01, 0);
    s1 = f64x2.extract_lane(a01, 1);
    s2 = f64x2.extract_lane(a23, 0);
    s3 = f64x2.extract_lane(a23, 1);
    count = -<i32>(i64x2.extract_lane(neg, 0) + i64x2.extract_lane(neg, 1));
  } else {
    for (; i + 4 <= len; i += 4) {
      const o = v + (<usize>i << 3);
      const y0 = load<f64>(o), y1 = load<f64>(o + 8), y2 = load<f64>(o + 16), y3 = load<f64>(o + 24);
      const c0 = y0 > above, c1 = y1 > above, c2 = y2 > above, c3 = y3 > above;
      s0 += select<f64>(y0, 0, c0);
      s1 += select<f64>(y1, 0, c1);
      s2 += select<f64>(y2, 0, c2);
      s3 += select<f64>(y3, 0, c3);
      count += <i32>c0 + <i32>c1 + <i32>c2 + <i32>c3;
    }
  }
  for (; i < len; i++) {
    const y = load<f64>(v + (<usize>i << 3));
    const c = y > above;
    s0 += select<f64>(y, 0, c);
    count += <i32>c;
  }
  passSum = (s0 + s1) + (s2 + s3);
  return count;
}

/**
 * The largest float32 c with f64(c) - shift <= bound, or NaN when shift is NaN: every z <= c has f64(z) - shift <=
 * bound (float64 subtraction of one shift is monotonic in z), so a z that is not > c cannot pass the kernels' own
 * test y = f64(z) - shift > bound. The SIMD passes below test sixteen floats against c in float32 and take the
 * float64 path only for groups where one passes; the set they keep, and its order, are those of the float64 test.
 */
function float32Below(bound: f64, shift: f64): f32 {
  let c = <f32>(bound + shift);
  // Rounding to float32 can land one step above; step down until the float64 test holds (it does at -inf).
  while (<f64>c - shift > bound) {
    const bits = reinterpret<i32>(c);
    c = c == 0 ? -1.4e-45 : reinterpret<f32>(c > 0 ? bits - 1 : bits + 1);
  }
  return c;
}

/** Whether any of the sixteen floats at z is > c (float32 compare; false for NaN). SIMD builds only. */
@inline
function anyAbove16(z: usize, vc: v128): bool {
  return v128.any_true(v128.or(
    v128.or(f32x4.gt(v128.load(z), vc), f32x4.gt(v128.load(z, 16), vc)),
    v128.or(f32x4.gt(v128.load(z, 32), vc), f32x4.gt(v128.load(z, 48), vc)),
  ));
}

/** rowCompact's four values at z + 4n (SIMD builds): appends those with y > above to v at len; returns the new len. */
@inline
function compactQuad(z: usize, n: i32, vs: v128, va: v128, v: usize, len: i32): i32 {
  const x = v128.load(z + (<usize>n << 2));
  const y01 = f64x2.sub(f64x2.promote_low_f32x4(x), vs);
  const y23 = f64x2.sub(f64x2.promote_low_f32x4(i32x4.shuffle(x, x, 2, 3, 2, 3)), vs);
  const bits = i64x2.bitmask(f64x2.gt(y01, va)) | (i64x2.bitmask(f64x2.gt(y23, va)) << 2);
  if (bits == 0) return len;
  store<f64>(v + (<usize>len << 3), f64x2.extract_lane(y01, 0));
  len += bits & 1;
  store<f64>(v + (<usize>len << 3), f64x2.extract_lane(y01, 1));
  len += (bits >> 1) & 1;
  store<f64>(v + (<usize>len << 3), f64x2.extract_lane(y23, 0));
  len += (bits >> 2) & 1;
  store<f64>(v + (<usize>len << 3), f64x2.extract_lane(y23, 1));
  return len + (bits >> 3);
}

/**
 * Writes the y = f64(z[n]) - shift > above, in order, to v; returns their count. The SIMD build first tests sixteen
 * values at a time in float32 against float32Below(above, shift) and skips the groups where none can pass (all but a
 * few at a trained model's 2-20 active tokens), then four at a time in float64.
 */
function rowCompact(z: usize, C: i32, shift: f64, above: f64, v: usize): i32 {
  let len = 0;
  let n = 0;
  if (ASC_FEATURE_SIMD) {
    const vs = f64x2.splat(shift);
    const va = f64x2.splat(above);
    const vc = f32x4.splat(float32Below(above, shift));
    for (; n + 16 <= C; n += 16) {
      if (!anyAbove16(z + (<usize>n << 2), vc)) continue;
      for (let q = 0; q < 16; q += 4) len = compactQuad(z, n + q, vs, va, v, len);
    }
    for (; n + 4 <= C; n += 4) len = compactQuad(z, n, vs, va, v, len);
  }
  for (; n < C; n++) {
    const y = <f64>load<f32>(z + (<usize>n << 2)) - shift;
    if (y > above) {
      store<f64>(v + (<usize>len << 3), y);
      len++;
    }
  }
  return len;
}

/** Keeps the v[i] > above, in order, at the front of v; returns their count. */
function listCompact(v: usize, len: i32, above: f64): i32 {
  let kept = 0;
  for (let i = 0; i < len; i++) {
    const y = load<f64>(v + (<usize>i << 3));
    if (y > above) {
      store<f64>(v + (<usize>kept << 3), y);
      kept++;
    }
  }
  return kept;
}

/**
 * Condat's pass over the list v[0..len), len >= 1: leaves at the front of v a superset of the support (set-aside
 * values go to vt) and returns its length.
 */
function condatSuperset(v: usize, len: i32, vt: usize): i32 {
  let vlen = 1;
  let vtlen = 0;
  let rho: f64 = load<f64>(v) - 1.0;
  for (let i = 1; i < len; i++) {
    const y = load<f64>(v + (<usize>i << 3));
    if (y > rho) {
      rho += (y - rho) / <f64>(vlen + 1);
      if (rho > y - 1.0) {
        store<f64>(v + (<usize>vlen << 3), y);
        vlen++;
      } else {
        memory.copy(vt + (<usize>vtlen << 3), v, <usize>vlen << 3);
        vtlen += vlen;
        store<f64>(v, y);
        vlen = 1;
        rho = y - 1.0;
      }
    }
  }
  for (let i = 0; i < vtlen; i++) {
    const y = load<f64>(vt + (<usize>i << 3));
    if (y > rho) {
      store<f64>(v + (<usize>vlen << 3), y);
      vlen++;
      rho += (y - rho) / <f64>vlen;
    }
  }
  return vlen;
}

/** The exact sparsemax threshold of row z [C] shifted by `shift` (steps 1-4 above); v, vt: C float64 each. */
function threshold(z: usize, C: i32, shift: f64, v: usize, vt: usize): f64 {
  let above: f64 = -1.0;
  let len = rowCompact(z, C, shift, above, v);
  let count = listPass(v, len, -Infinity);
  let sum = passSum;
  let tau: f64 = above;
  for (let pass = 1; count > 0; pass++) {
    if (pass == michelotPasses) {
      len = condatSuperset(v, listCompact(v, len, above), vt);
      count = listPass(v, len, -Infinity);
      sum = passSum;
    }
    tau = max((sum - 1.0) / <f64>count, above);
    const next = listPass(v, len, tau);
    if (next == count) break;
    count = next;
    sum = passSum;
    above = tau;
    if (count < (len >> 2)) len = listCompact(v, len, above);
  }
  return tau;
}

/**
 * The output's four values at 4n (SIMD builds): p = max(0, y - tau) rounded once from float64, y = f64(z) - shift;
 * returns the two lanes' counts of y > tau, negated (i64x2 masks).
 */
@inline
function outputQuad(z: usize, p: usize, n: i32, vs: v128, vtau: v128): v128 {
  const x = v128.load(z + (<usize>n << 2));
  const y01 = f64x2.sub(f64x2.promote_low_f32x4(x), vs);
  const y23 = f64x2.sub(f64x2.promote_low_f32x4(i32x4.shuffle(x, x, 2, 3, 2, 3)), vs);
  const m01 = f64x2.gt(y01, vtau);
  const m23 = f64x2.gt(y23, vtau);
  const d = i32x4.shuffle(f32x4.demote_f64x2_zero(f64x2.sub(y01, vtau)), f32x4.demote_f64x2_zero(f64x2.sub(y23, vtau)), 0, 1, 4, 5);
  v128.store(p + (<usize>n << 2), v128.and(d, i32x4.shuffle(m01, m23, 0, 2, 4, 6)));
  return i64x2.add(m01, m23);
}

/** Z, P [R, C] float32; SUPPORT [R] int32 out (or 0); scratch: sparsemax_scratch_bytes(C). */
export function f32_sparsemax_fwd(Z: usize, R: i32, C: i32, P: usize, SUPPORT: usize, scratch: usize): void {
  const v = scratch;
  const vt = scratch + (<usize>C << 3);
  for (let r = 0; r < R; r++) {
    const z = Z + ((<usize>r * <usize>C) << 2);
    const p = P + ((<usize>r * <usize>C) << 2);
    const shift = <f64>rowMax(z, C);
    const tau = threshold(z, C, shift, v, vt);
    // p = max(0, y - tau), rounded once from float64.
    let count = 0;
    let n = 0;
    if (ASC_FEATURE_SIMD) {
      const vs = f64x2.splat(shift);
      const vtau = f64x2.splat(tau);
      let neg = i64x2.splat(0);
      // Sixteen at a time: a group where no value passes float32Below(tau, shift) is all zeros (the float64 test would
      // give 0 for each), the others go four at a time through the float64 path.
      const vc = f32x4.splat(float32Below(tau, shift));
      const zero = f32x4.splat(0);
      for (; n + 16 <= C; n += 16) {
        const o = <usize>n << 2;
        if (!anyAbove16(z + o, vc)) {
          v128.store(p + o, zero);
          v128.store(p + o, zero, 16);
          v128.store(p + o, zero, 32);
          v128.store(p + o, zero, 48);
          continue;
        }
        for (let q = 0; q < 16; q += 4) neg = i64x2.add(neg, outputQuad(z, p, n + q, vs, vtau));
      }
      for (; n + 4 <= C; n += 4) neg = i64x2.add(neg, outputQuad(z, p, n, vs, vtau));
      count = -<i32>(i64x2.extract_lane(neg, 0) + i64x2.extract_lane(neg, 1));
    }
    for (; n < C; n++) {
      const y = <f64>load<f32>(z + (<usize>n << 2)) - shift;
      const c = y > tau;
      store<f32>(p + (<usize>n << 2), select<f32>(<f32>(y - tau), 0, c));
      count += <i32>c;
    }
    if (SUPPORT) store<i32>(SUPPORT + (<usize>r << 2), count);
  }
}

/** GZ [R, C] = s * (G - mean over the support of G), support = {P > 0}. */
export function f32_sparsemax_bwd(P: usize, G: usize, R: i32, C: i32, GZ: usize): void {
  for (let r = 0; r < R; r++) {
    const o = (<usize>r * <usize>C) << 2;
    let sum: f64 = 0;
    let k = 0;
    for (let n = 0; n < C; n++) {
      const e = o + (<usize>n << 2);
      if (load<f32>(P + e) > 0) {
        sum += <f64>load<f32>(G + e);
        k++;
      }
    }
    const mean = k > 0 ? sum / <f64>k : 0;
    for (let n = 0; n < C; n++) {
      const e = o + (<usize>n << 2);
      store<f32>(GZ + e, load<f32>(P + e) > 0 ? <f32>(<f64>load<f32>(G + e) - mean) : 0);
    }
  }
}
