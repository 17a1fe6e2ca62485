// Property tests of the normalisers (sparsemax and softmax, forward and backward) on both wasm builds against the
// float64 reference (test/reference/ops.ts), SIMD == scalar bit for bit, and the reference VJPs against central
// differences. Runs, seeds and tolerances: docs/RELIABILITY.md, "Property tests".
import fc from 'fast-check';
import { beforeAll, describe, it } from 'vitest';
import { softmax, softmaxVjp, sparsemaxSort, sparsemaxThreshold, sparsemaxVjp } from '../reference/ops.js';
import {
  centralDiff, check, close, closeScalar, dimArb, direction, dot, draw, fdAgrees, loadBuilds, onBoth, pow2,
  printSummaryAfterAll, Rng, seedArb, type Builds, type Dist,
} from './support.js';

let mods: Builds;
beforeAll(async () => {
  mods = await loadBuilds();
});
printSummaryAfterAll('test/property/normalizers.test.ts');

/** Sparsemax per row computed after subtracting the row maximum (it is shift-invariant): the oracle for any offset. */
function sparsemaxShifted(z: Float64Array, R: number, C: number): { p: Float64Array; zs: Float64Array; tau: Float64Array } {
  const zs = new Float64Array(R * C);
  const tau = new Float64Array(R);
  for (let r = 0; r < R; r++) {
    let mx = -Infinity;
    for (let c = 0; c < C; c++) mx = Math.max(mx, z[r * C + c]!);
    for (let c = 0; c < C; c++) zs[r * C + c] = z[r * C + c]! - mx;
    tau[r] = sparsemaxThreshold(zs.subarray(r * C, (r + 1) * C));
  }
  return { p: sparsemaxSort(zs, R, C), zs, tau };
}

/** Forward (P, SUPPORT) and backward (GZ for upstream g, zeros by default) on both builds. */
function runSparsemax(z: Float64Array, R: number, C: number, g: Float64Array = new Float64Array(R * C)) {
  return onBoth(mods, (m) => {
    const p = m.zeros(R * C);
    const support = m.zeros(R);
    m.k.f32_sparsemax_fwd(m.f32(z), R, C, p, support, m.bytes(m.k.sparsemax_scratch_bytes(C)));
    const gz = m.zeros(R * C);
    m.k.f32_sparsemax_bwd(p, m.f32(g), R, C, gz);
    return { p: m.readF32(p, R * C), support: m.readI32(support, R), gz: m.readF32(gz, R * C) };
  });
}

/** Simplex, equality with the sort-based result, and supports where the margin |z - tau| exceeds 1e-6. */
function checkSparsemax(z: Float64Array, R: number, C: number, p: Float32Array, support: Int32Array): void {
  const ref = sparsemaxShifted(z, R, C);
  for (let r = 0; r < R; r++) {
    let sum = 0;
    let count = 0;
    for (let c = 0; c < C; c++) {
      const v = p[r * C + c]!;
      if (!(v >= 0)) throw new Error(`row ${r}: p[${c}] = ${v} is not >= 0`);
      sum += v;
      if (v > 0) count++;
      const margin = ref.zs[r * C + c]! - ref.tau[r]!;
      if (margin > 1e-6 && !(v > 0)) throw new Error(`row ${r}: z[${c}] is ${margin} above tau but p = ${v}`);
      if (margin < -1e-6 && v !== 0) throw new Error(`row ${r}: z[${c}] is ${-margin} below tau but p = ${v}`);
    }
    if (!(Math.abs(sum - 1) <= 1e-5)) throw new Error(`row ${r}: sum of p = ${sum}`);
    if (support[r] !== count) throw new Error(`row ${r}: SUPPORT says ${support[r]}, ${count} entries are > 0`);
  }
  close('sparsemax p', p, ref.p, 1e-5);
}

const sparsemaxCase = fc.record({
  R: fc.integer({ min: 1, max: 3 }),
  C: dimArb(70),
  dist: fc.constantFrom<Dist>('normal', 'ints', 'wide', 'sparse'),
  spread: fc.constantFrom(1e-3, 0.1, 1, 30),
  offset: fc.constantFrom(0, 1, -1, pow2(10), -pow2(10), pow2(20), -pow2(20)),
  seed: seedArb,
});

describe('sparsemax', () => {
  it('forward: on the simplex, equal to the sort-based definition (rows offset by up to 2^20), supports agree; backward equals the closed-form VJP', () => {
    check('sparsemax fwd+bwd', sparsemaxCase, ({ R, C, dist, spread, offset, seed }) => {
      const rng = new Rng(seed);
      const z = draw(rng, R * C, dist, spread).map((v) => Math.fround(v + offset));
      const g = draw(rng, R * C, 'normal');
      const out = runSparsemax(z, R, C, g);
      checkSparsemax(z, R, C, out.p, out.support);
      close('sparsemax gz', out.gz, sparsemaxVjp(Float64Array.from(out.p), g, R, C));
    }, 3000);
  });

  it('forward with the Condat fallback forced after 1, 2 or 3 Michelot passes: same simplex, same supports', () => {
    check('sparsemax Condat fallback', fc.record({ sparse: sparsemaxCase, passes: fc.constantFrom(1, 2, 3) }), ({ sparse, passes }) => {
      const { R, C, dist, spread, offset, seed } = sparse;
      const z = draw(new Rng(seed), R * C, dist, spread).map((v) => Math.fround(v + offset));
      for (const m of Object.values(mods)) m.k.sparsemax_set_michelot_passes(passes);
      try {
        const out = runSparsemax(z, R, C);
        checkSparsemax(z, R, C, out.p, out.support);
      } finally {
        for (const m of Object.values(mods)) m.k.sparsemax_set_michelot_passes(32);
      }
    }, 1000);
  });

  it('forward at C = 16384 on temperature-like rows (spread 3.7e-4: thousands active) and trained-like rows (few active)', () => {
    check('sparsemax C=16384', fc.record({ spread: fc.constantFrom(3.7e-4, 1e-2, 1), seed: seedArb }), ({ spread, seed }) => {
      const C = 16384;
      const z = draw(new Rng(seed), C, 'normal', spread).map((v) => Math.fround(v + 0.01));
      const out = runSparsemax(z, 1, C);
      checkSparsemax(z, 1, C, out.p, out.support);
    }, 30);
  });

  it('forward on tiny scales (values ~ 2^-100, i.e. ~1e-30): uniform over the row, as the maths says', () => {
    check('sparsemax tiny scale', fc.record({ R: fc.integer({ min: 1, max: 3 }), C: dimArb(40), seed: seedArb }), ({ R, C, seed }) => {
      const z = draw(new Rng(seed), R * C, 'normal', pow2(-100));
      const out = runSparsemax(z, R, C);
      checkSparsemax(z, R, C, out.p, out.support);
    }, 400);
  });

  // Regression: rows whose maximum is >= 2^53 in magnitude once gave tau = -Infinity (max - 1 == max in float64)
  // and +Infinity everywhere; the kernel and the reference now subtract the row maximum first (shift invariance).
  it('forward on huge offsets (rows of small integers times 2^60 or 2^100, ~1e18 / ~1e30) stays on the simplex', () => {
    check('sparsemax huge offsets', fc.record({ R: fc.integer({ min: 1, max: 3 }), C: dimArb(40), e: fc.constantFrom(60, 100), seed: seedArb }),
      ({ R, C, e, seed }) => {
        const z = draw(new Rng(seed), R * C, 'ints', pow2(e));
        const out = runSparsemax(z, R, C);
        checkSparsemax(z, R, C, out.p, out.support);
      }, 20);
  });

  it('reference VJP equals central differences of the sort-based forward (away from support changes)', () => {
    check('sparsemax VJP vs central differences', fc.record({ R: fc.integer({ min: 1, max: 2 }), C: dimArb(40), spread: fc.constantFrom(0.1, 1, 10), seed: seedArb }),
      ({ R, C, spread, seed }) => {
        const rng = new Rng(seed);
        const z = draw(rng, R * C, 'normal', spread);
        const { zs, tau } = sparsemaxShifted(z, R, C);
        let margin = Infinity;
        for (let i = 0; i < R * C; i++) margin = Math.min(margin, Math.abs(zs[i]! - tau[Math.floor(i / C)]!));
        fc.pre(margin > 1e-4); // sparsemax is piecewise linear: differentiate inside one piece
        const g = draw(rng, R * C, 'normal');
        const v = direction(rng, R * C);
        const p = sparsemaxSort(z, R, C);
        fdAgrees('sparsemax', dot(sparsemaxVjp(p, g, R, C), v), centralDiff((x) => dot(g, sparsemaxSort(x, R, C)), z, v, 1e-7));
      }, 1200);
  });
});

describe('softmax', () => {
  const softmaxCase = fc.record({
    R: fc.integer({ min: 1, max: 3 }),
    C: dimArb(70),
    dist: fc.constantFrom<Dist>('normal', 'ints', 'wide', 'sparse'),
    scaleExp: fc.constantFrom(-100, -10, 0, 0, 3, 10, 100),
    offset: fc.constantFrom(0, 0, 50, -50, pow2(20)),
    seed: seedArb,
  });

  it('forward equals the reference (float64 exp, inputs from 2^-100 to 2^100 times the distribution) and sums to 1; backward equals the reference VJP', () => {
    check('softmax fwd+bwd', softmaxCase, ({ R, C, dist, scaleExp, offset, seed }) => {
      const rng = new Rng(seed);
      const z = draw(rng, R * C, dist, pow2(scaleExp)).map((v) => Math.fround(v + offset));
      const g = draw(rng, R * C, 'normal');
      const out = onBoth(mods, (m) => {
        const p = m.zeros(R * C);
        m.k.f32_softmax_fwd(m.f32(z), R, C, p);
        const gz = m.zeros(R * C);
        m.k.f32_softmax_bwd(p, m.f32(g), R, C, gz);
        return { p: m.readF32(p, R * C), gz: m.readF32(gz, R * C) };
      });
      close('softmax p', out.p, softmax(z, R, C), 1e-5);
      for (let r = 0; r < R; r++) {
        let s = 0;
        for (let c = 0; c < C; c++) s += out.p[r * C + c]!;
        closeScalar(`softmax row ${r} sum`, s, 1, 1e-5);
      }
      close('softmax gz', out.gz, softmaxVjp(Float64Array.from(out.p), g, R, C));
    }, 3000);
  });

  it('reference VJP equals central differences of the forward', () => {
    check('softmax VJP vs central differences', fc.record({ R: fc.integer({ min: 1, max: 2 }), C: dimArb(40), spread: fc.constantFrom(0.1, 1, 5), seed: seedArb }),
      ({ R, C, spread, seed }) => {
        const rng = new Rng(seed);
        const z = draw(rng, R * C, 'normal', spread);
        const g = draw(rng, R * C, 'normal');
        const v = direction(rng, R * C);
        fdAgrees('softmax', dot(softmaxVjp(softmax(z, R, C), g, R, C), v), centralDiff((x) => dot(g, softmax(x, R, C)), z, v, 1e-6));
      }, 1200);
  });
});
