// Sparsemax (Martins & Astudillo 2016): the Euclidean projection of each row z onto the probability simplex,
// p = max(0, z - tau) with sum(p) = 1.
//
// Forward: Condat's (2016) single pass finds a superset of the support and a lower bound of tau in expected linear
// time; Michelot's iteration on that superset then gives the exact sort-based threshold
// tau = (sum of the support - 1) / k, accumulated in float64. No sort.
// Backward: g_z = s * (g_p - mean over the support of g_p), s = 1[p > 0] (FDT-SPEC quirk 3).

/** Scratch bytes f32_sparsemax_fwd needs for rows of C values (two float64 lists of up to C values). */
export function sparsemax_scratch_bytes(C: i32): usize {
  return <usize>C << 4;
}

/** Z, P [R, C] float32; SUPPORT [R] int32 out (or 0); scratch: sparsemax_scratch_bytes(C). */
export function f32_sparsemax_fwd(Z: usize, R: i32, C: i32, P: usize, SUPPORT: usize, scratch: usize): void {
  const v = scratch;
  const vt = scratch + (<usize>C << 3);
  for (let r = 0; r < R; r++) {
    const z = Z + ((<usize>r * <usize>C) << 2);
    // Work on y = z - max(z): sparsemax is shift-invariant, and without the shift a row whose values exceed 2^53
    // would see max - 1 == max in float64 (tau = -inf, every output +inf).
    let zmax: f32 = load<f32>(z);
    for (let n = 1; n < C; n++) zmax = max(zmax, load<f32>(z + (<usize>n << 2)));
    const shift = <f64>zmax;
    // Condat step 1-2: one pass keeping candidate set v and rho, a running lower bound of tau.
    let vlen = 1;
    let vtlen = 0;
    store<f64>(v, <f64>load<f32>(z) - shift);
    let rho: f64 = <f64>load<f32>(z) - shift - 1.0;
    for (let n = 1; n < C; n++) {
      const y = <f64>load<f32>(z + (<usize>n << 2)) - shift;
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
    // Condat step 3: re-admit set-aside values above the bound.
    for (let i = 0; i < vtlen; i++) {
      const y = load<f64>(vt + (<usize>i << 3));
      if (y > rho) {
        store<f64>(v + (<usize>vlen << 3), y);
        vlen++;
        rho += (y - rho) / <f64>vlen;
      }
    }
    // Michelot on the superset: exact tau from float64 sums; terminates when no element leaves.
    let tau: f64 = 0;
    while (true) {
      let sum: f64 = 0;
      for (let i = 0; i < vlen; i++) sum += load<f64>(v + (<usize>i << 3));
      tau = (sum - 1.0) / <f64>vlen;
      let kept = 0;
      for (let i = 0; i < vlen; i++) {
        const y = load<f64>(v + (<usize>i << 3));
        if (y > tau) {
          store<f64>(v + (<usize>kept << 3), y);
          kept++;
        }
      }
      if (kept == vlen) break;
      vlen = kept;
    }
    const p = P + ((<usize>r * <usize>C) << 2);
    let count = 0;
    for (let n = 0; n < C; n++) {
      const y = <f64>load<f32>(z + (<usize>n << 2)) - shift;
      let out: f32 = 0;
      if (y > tau) {
        out = <f32>(y - tau);
        count++;
      }
      store<f32>(p + (<usize>n << 2), out);
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
