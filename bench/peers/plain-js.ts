/**
 * The relevance kernel in plain JavaScript, as a peer: r[b, c] = scale * max_l q[b, l] . T[c], blocked over four
 * dictionary rows at a time so each q row is read once per block (the fastest plain-JS form measured here).
 */
export function relevancePlainJs(
  q: Float32Array, B: number, L: number, d: number, T: Float32Array, C: number, scale: number, r: Float32Array,
): void {
  for (let b = 0; b < B; b++) {
    const qb = b * L * d;
    let c = 0;
    for (; c + 4 <= C; c += 4) {
      let m0 = -Infinity, m1 = -Infinity, m2 = -Infinity, m3 = -Infinity;
      const t0 = c * d, t1 = t0 + d, t2 = t1 + d, t3 = t2 + d;
      for (let l = 0; l < L; l++) {
        const qo = qb + l * d;
        let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (let k = 0; k < d; k++) {
          const x = q[qo + k]!;
          s0 += x * T[t0 + k]!;
          s1 += x * T[t1 + k]!;
          s2 += x * T[t2 + k]!;
          s3 += x * T[t3 + k]!;
        }
        if (s0 > m0) m0 = s0;
        if (s1 > m1) m1 = s1;
        if (s2 > m2) m2 = s2;
        if (s3 > m3) m3 = s3;
      }
      r[b * C + c] = m0 * scale;
      r[b * C + c + 1] = m1 * scale;
      r[b * C + c + 2] = m2 * scale;
      r[b * C + c + 3] = m3 * scale;
    }
    for (; c < C; c++) {
      let m = -Infinity;
      for (let l = 0; l < L; l++) {
        let s = 0;
        for (let k = 0; k < d; k++) s += q[qb + l * d + k]! * T[c * d + k]!;
        if (s > m) m = s;
      }
      r[b * C + c] = m * scale;
    }
  }
}

/**
 * Sparsemax of one row by sorting, as the official code and most ports compute it: sort z descending, find the
 * largest k with 1 + k z_(k) > sum_{j<=k} z_(j), tau = (sum_{j<=k} z_(j) - 1) / k, p = max(0, z - tau). `sorted` is
 * scratch of the row's length. Returns the support size k. O(C log C) per row whatever the support.
 */
export function sparsemaxSortJs(z: Float32Array, out: Float32Array, sorted: Float32Array): number {
  const C = z.length;
  sorted.set(z);
  sorted.sort(); // ascending, numeric (typed arrays)
  let cum = 0;
  let k = 0;
  let sumK = 0;
  for (let i = 0; i < C; i++) {
    const v = sorted[C - 1 - i]!; // the (i+1)-th largest
    cum += v;
    if (1 + (i + 1) * v > cum) {
      k = i + 1;
      sumK = cum;
    }
  }
  const tau = (sumK - 1) / k;
  for (let i = 0; i < C; i++) {
    const p = z[i]! - tau;
    out[i] = p > 0 ? p : 0;
  }
  return k;
}
