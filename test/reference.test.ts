/**
 * The float64 reference oracle (test/reference/) against the official goldens, central differences and the
 * spec's examples and quirks.
 */
import { describe, expect, it } from 'vitest';
import {
  GOLDEN_SKIP_REASON, HAS_GOLDEN, type Tensor, goldenHeadFiles, loadGolden, loadGoldenHead,
} from './golden-io.js';
import { type HeadConfig, type HeadInputs, referenceHead, referenceHeadGrads } from './reference/head.js';
import {
  type MaskMode, type QueryMlpParams,
  erf, gelu, geluArray, geluDerivative, geluVjp, infoNce, infoNceVjp, l2normalize, l2normalizeVjp, layerNorm,
  layerNormVjp, linear, linearVjp, queryMlp, queryMlpVjp, relevance, relevanceVjp, softmax, softmaxVjp,
  sparsemaxSort, sparsemaxThreshold, sparsemaxVjp, weightedSum, weightedSumVjp,
} from './reference/ops.js';
import { Rng } from './reference/rng.js';

// ---------------------------------------------------------------------------------------------------------------
// helpers

/** max |a - e| / max(1, max |e|): the "relative-or-absolute" error used throughout. */
function relAbsErr(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  expect(actual.length).toBe(expected.length);
  let scale = 1;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]));
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const diff = Math.abs(actual[i] - expected[i]);
    worst = Math.max(worst, Number.isNaN(diff) ? Infinity : diff);
  }
  return worst / scale;
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, label: string): void {
  const err = relAbsErr(actual, expected);
  expect(err, `${label}: error ${err.toExponential(2)} > ${tol}`).toBeLessThanOrEqual(tol);
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

/**
 * Check analytic VJPs against central differences of L(xs) = <g, f(xs)>, every coordinate of every input.
 * f must not keep references to xs (inputs are perturbed in place and restored).
 */
function gradCheck(
  label: string, f: (xs: Float64Array[]) => ArrayLike<number>, xs: Float64Array[], g: ArrayLike<number>,
  analytic: Float64Array[], h = 1e-6, tol = 1e-6,
): void {
  xs.forEach((x, i) => {
    const numeric = new Float64Array(x.length);
    for (let j = 0; j < x.length; j++) {
      const x0 = x[j];
      x[j] = x0 + h;
      const lp = dot(g, f(xs));
      x[j] = x0 - h;
      const lm = dot(g, f(xs));
      x[j] = x0;
      numeric[j] = (lp - lm) / (2 * h);
    }
    expectClose(analytic[i], numeric, tol, `${label} input ${i}`);
  });
}

const rng = new Rng(20230314);

// ---------------------------------------------------------------------------------------------------------------
// (1) official goldens

describe.skipIf(!HAS_GOLDEN)(`golden FDT head ${GOLDEN_SKIP_REASON}`, () => {
  const TOL = 1e-9;
  const files = goldenHeadFiles();

  it('finds the golden head files', () => {
    expect(files.length).toBeGreaterThanOrEqual(3);
  });

  for (const file of files) {
    describe(file, () => {
      const gc = loadGoldenHead(file);
      const fwd = referenceHead(gc.params, gc.inputs, gc.headConfig) as unknown as Record<string, unknown>;
      const { B } = gc.inputs;

      it('reproduces every intermediate', () => {
        for (const [key, t] of Object.entries(gc.intermediates)) {
          expect(fwd, `missing intermediate ${key}`).toHaveProperty(key);
          if (key.startsWith('nonzero_')) continue; // compared below, where the margin allows
          expectClose(fwd[key] as Float64Array, t.data, TOL, key);
        }
      });

      it('reproduces the support sizes where every margin |z - tau| exceeds 1e-9', () => {
        let compared = 0;
        for (const m of ['img', 'txt']) {
          const r = fwd[`relevance_${m}`] as Float64Array;
          const nz = fwd[`nonzero_${m}`] as Float64Array;
          const Cn = r.length / B;
          for (let b = 0; b < B; b++) {
            const row = r.subarray(b * Cn, (b + 1) * Cn);
            let margin = Infinity;
            if (gc.headConfig.normaliser === 'sparsemax') {
              const tau = sparsemaxThreshold(row);
              for (const z of row) margin = Math.min(margin, Math.abs(z - tau));
            }
            if (margin > 1e-9) {
              expect(nz[b], `nonzero_${m}[${b}]`).toBe(gc.intermediates[`nonzero_${m}`].data[b]);
              compared++;
            }
          }
        }
        // Most rows are far from a tie: a check that compared none would say nothing.
        expect(compared, 'rows compared').toBeGreaterThanOrEqual(B);
      });

      it('reproduces the outputs (logits, loss, logit scale)', () => {
        for (const [key, v] of Object.entries(gc.outputs)) {
          expect(fwd, `missing output ${key}`).toHaveProperty(key);
          const expected = typeof v === 'number' ? [v] : (v as Tensor).data;
          const actual = typeof fwd[key] === 'number' ? [fwd[key] as number] : (fwd[key] as Float64Array);
          expectClose(actual, expected, TOL, key);
        }
      });

      it('reproduces every gradient', () => {
        const grads = referenceHeadGrads(gc.params, gc.inputs, gc.headConfig);
        expect(Object.keys(grads).sort()).toEqual(Object.keys(gc.grads).sort());
        for (const [key, t] of Object.entries(gc.grads)) expectClose(grads[key], t.data, TOL, key);
      });
    });
  }
});

// ---------------------------------------------------------------------------------------------------------------
// (2) sparsemax edge cases from the official code

describe.skipIf(!HAS_GOLDEN)(`golden sparsemax cases ${GOLDEN_SKIP_REASON}`, () => {
  const cases = HAS_GOLDEN ? loadGolden('sparsemax_cases.json').cases : [];
  for (const c of cases) {
    it(c.name, () => {
      const [rows, n] = c.z.shape;
      const p = sparsemaxSort(c.z.data, rows, n);
      expectClose(p, c.out.data, 1e-12, 'out');
      for (let r = 0; r < rows; r++) {
        const support = p.subarray(r * n, (r + 1) * n).filter((v) => v > 0).length;
        expect(support).toBe(c.support_size.data[r]);
      }
      const gz = sparsemaxVjp(p, c.upstream_grad.data, rows, n);
      expectClose(gz, c.vjp_closed_form.data, 1e-12, 'closed-form vjp');
      // Autograd differs from the closed form only at exact boundary ties z = tau* (FDT-SPEC quirk 3).
      if (!c.name.startsWith('boundary')) expectClose(gz, c.vjp_official_autograd.data, 1e-12, 'autograd vjp');
    });
  }
});

// ---------------------------------------------------------------------------------------------------------------
// (3) every VJP against central differences

describe('erf and GELU', () => {
  it('erf matches known values to ~1e-15', () => {
    const known: [number, number][] = [
      [0, 0], [0.01, 0.011283415555849616], [0.1, 0.1124629160182849], [0.25, 0.2763263901682369],
      [0.5, 0.5204998778130465], [0.75, 0.7111556336535151], [1, 0.8427007929497149],
      [1.25, 0.9229001282564582], [1.5, 0.9661051464753108], [1.75, 0.9866716712191824],
      [2, 0.9953222650189527], [2.5, 0.999593047982555], [3, 0.9999779095030014], [3.5, 0.9999992569016276],
      [4, 0.9999999845827421], [5, 0.9999999999984626], [10, 1],
    ];
    for (const [x, e] of known) {
      expect(Math.abs(erf(x) - e), `erf(${x})`).toBeLessThanOrEqual(1e-15 * Math.max(Math.abs(e), 1e-300) + 1e-300);
      expect(erf(-x)).toBe(-erf(x));
    }
    expect(erf(1e-12)).toBeCloseTo(1.1283791670955126e-12, 25);
    expect(erf(Infinity)).toBe(1);
    expect(Number.isNaN(erf(NaN))).toBe(true);
  });

  it('gelu matches x * Phi(x) and its derivative matches central differences', () => {
    expect(gelu(0)).toBe(0);
    expect(gelu(1)).toBeCloseTo(0.8413447460685429, 15);
    expect(gelu(-1)).toBeCloseTo(-0.15865525393145707, 15);
    for (const x of [-6, -3, -1.5, -0.7, -1e-3, 0, 0.3, 1, 1.5, 2.2, 4, 8]) {
      const numeric = (gelu(x + 1e-6) - gelu(x - 1e-6)) / 2e-6;
      expect(Math.abs(geluDerivative(x) - numeric), `gelu'(${x})`).toBeLessThan(1e-8);
    }
    const x = rng.normals(7, 2);
    const g = rng.normals(7);
    gradCheck('geluArray', ([a]) => geluArray(a), [x], g, [geluVjp(x, g)]);
  });
});

describe('gradient checks (central differences, h = 1e-6)', () => {
  for (const [M, K, N] of [[3, 4, 2], [1, 1, 1], [2, 1, 3]]) {
    it(`linear M=${M} K=${K} N=${N}`, () => {
      const xs = [rng.normals(M * K), rng.normals(N * K), rng.normals(N)];
      const g = rng.normals(M * N);
      const { gx, gW, gb } = linearVjp(xs[0], xs[1], g, M, K, N);
      gradCheck('linear', ([x, W, b]) => linear(x, W, b, M, K, N), xs, g, [gx, gW, gb]);
    });
  }

  for (const [M, D] of [[3, 5], [1, 1], [1, 4], [2, 2]]) {
    it(`layerNorm M=${M} D=${D}`, () => {
      const xs = [rng.normals(M * D, 1.5), rng.normals(D), rng.normals(D)];
      const g = rng.normals(M * D);
      const { gx, gGamma, gBeta } = layerNormVjp(xs[0], xs[1], g, M, D);
      gradCheck('layerNorm', ([x, ga, be]) => layerNorm(x, ga, be, M, D), xs, g, [gx, gGamma, gBeta]);
    });
  }

  for (const [M, Din, Dh, Dout] of [[3, 5, 4, 3], [1, 2, 1, 1], [2, 1, 3, 2]]) {
    it(`queryMlp M=${M} Din=${Din} Dh=${Dh} Dout=${Dout}`, () => {
      const keys: (keyof QueryMlpParams)[] = [
        'ln1Weight', 'ln1Bias', 'lin1Weight', 'lin1Bias', 'ln2Weight', 'ln2Bias', 'lin2Weight', 'lin2Bias',
      ];
      const sizes = [Din, Din, Dh * Din, Dh, Dh, Dh, Dout * Dh, Dout];
      const xs = [rng.normals(M * Din), ...sizes.map((s) => rng.normals(s))];
      const toParams = (ps: Float64Array[]) =>
        Object.fromEntries(keys.map((k, i) => [k, ps[i]])) as unknown as QueryMlpParams;
      const g = rng.normals(M * Dout);
      const { gx, grads } = queryMlpVjp(xs[0], toParams(xs.slice(1)), M, g);
      gradCheck('queryMlp', ([x, ...ps]) => queryMlp(x, toParams(ps), M), xs, g, [gx, ...keys.map((k) => grads[k])]);
    });
  }

  const relevanceShapes: [number, number, number, number, boolean][] = [
    [2, 3, 4, 3, true], [1, 1, 1, 1, false], [3, 4, 5, 2, true], [1, 2, 1, 3, false],
  ];
  for (const [B, L, C, d, masked] of relevanceShapes) {
    for (const mode of ['official', 'exclude'] as MaskMode[]) {
      it(`relevance ${mode} B=${B} L=${L} C=${C} d=${d} masked=${masked}`, () => {
        // valid: row b keeps max(1, L - b) real tokens, so padding appears when L > 1 and B > 1.
        const valid = masked ? Float64Array.from({ length: B * L }, (_, i) => (i % L < Math.max(1, L - Math.floor(i / L)) ? 1 : 0)) : null;
        const tau = 0.7;
        const xs = [rng.normals(B * L * d), rng.normals(C * d)];
        const g = rng.normals(B * C);
        const { argmax } = relevance(xs[0], xs[1], valid, B, L, C, d, tau, mode);
        const { gq, gT } = relevanceVjp(xs[0], xs[1], argmax, g, B, L, C, d, tau);
        gradCheck('relevance', ([q, T]) => relevance(q, T, valid, B, L, C, d, tau, mode).r, xs, g, [gq, gT]);
      });
    }
  }

  for (const [rows, n, spread] of [[3, 6, 1], [2, 9, 0.3], [1, 1, 1], [2, 2, 2]]) {
    it(`sparsemax rows=${rows} n=${n}`, () => {
      const z = rng.normals(rows * n, spread);
      const g = rng.normals(rows * n);
      const p = sparsemaxSort(z, rows, n);
      gradCheck('sparsemax', ([a]) => sparsemaxSort(a, rows, n), [z], g, [sparsemaxVjp(p, g, rows, n)]);
    });
    it(`softmax rows=${rows} n=${n}`, () => {
      const z = rng.normals(rows * n, spread);
      const g = rng.normals(rows * n);
      const p = softmax(z, rows, n);
      gradCheck('softmax', ([a]) => softmax(a, rows, n), [z], g, [softmaxVjp(p, g, rows, n)]);
    });
  }

  for (const [B, C, d] of [[2, 5, 3], [1, 1, 1], [3, 2, 1]]) {
    it(`weightedSum B=${B} C=${C} d=${d}`, () => {
      const xs = [rng.normals(B * C), rng.normals(C * d)];
      const g = rng.normals(B * d);
      const { gw, gT } = weightedSumVjp(xs[0], xs[1], g, B, C, d);
      gradCheck('weightedSum', ([w, T]) => weightedSum(w, T, B, C, d), xs, g, [gw, gT]);
    });
  }

  for (const [B, d] of [[3, 4], [1, 1], [2, 1], [1, 5]]) {
    it(`l2normalize B=${B} d=${d}`, () => {
      const e = rng.normals(B * d);
      const g = rng.normals(B * d);
      gradCheck('l2normalize', ([a]) => l2normalize(a, B, d), [e], g, [l2normalizeVjp(e, g, B, d)]);
    });
  }

  for (const [B, d, p] of [[3, 4, Math.log(1 / 0.07)], [1, 2, 0.3], [4, 1, -0.5], [2, 3, 4.5]]) {
    it(`infoNce B=${B} d=${d} logitScaleParam=${p.toFixed(3)}`, () => {
      const xs = [rng.normals(B * d, 0.5), rng.normals(B * d, 0.5), Float64Array.of(p)];
      const { gEi, gEt, gLogitScaleParam } = infoNceVjp(xs[0], xs[1], B, d, p);
      gradCheck('infoNce', ([a, b, s]) => [infoNce(a, b, B, d, s[0]).loss], xs, [1],
        [gEi, gEt, Float64Array.of(gLogitScaleParam)]);
      const { logitsPerImage, logitsPerText } = infoNce(xs[0], xs[1], B, d, p);
      for (let i = 0; i < B; i++) for (let j = 0; j < B; j++) {
        expect(logitsPerText[j * B + i]).toBe(logitsPerImage[i * B + j]);
      }
    });
  }

  /** A random tiny FDT head with official parameter names. */
  function randomHead(B: number, N: number, L: number, Di: number, Dt: number, d: number, C: number) {
    const params: Record<string, Float64Array> = {
      space_dict: rng.normals(C * d),
      logit_scale: Float64Array.of(Math.log(1 / 0.07)),
    };
    for (const [prefix, Din] of [['img_query_model', Di], ['txt_query_model', Dt]] as [string, number][]) {
      params[`${prefix}.q_map.0.weight`] = rng.uniforms(Din, 0.5, 1.5);
      params[`${prefix}.q_map.0.bias`] = rng.normals(Din, 0.1);
      params[`${prefix}.q_map.1.weight`] = rng.normals(d * Din, 1 / Math.sqrt(Din));
      params[`${prefix}.q_map.1.bias`] = rng.normals(d, 0.1);
      params[`${prefix}.q_map.3.weight`] = rng.uniforms(d, 0.5, 1.5);
      params[`${prefix}.q_map.3.bias`] = rng.normals(d, 0.1);
      params[`${prefix}.q_map.4.weight`] = rng.normals(d * d, 1 / Math.sqrt(d));
      params[`${prefix}.q_map.4.bias`] = rng.normals(d, 0.1);
    }
    const lengths = Array.from({ length: B }, (_, b) => Math.max(1, L - b));
    const inputs: HeadInputs = {
      patchFeatures: rng.normals(B * N * Di),
      wordFeatures: rng.normals(B * L * Dt),
      textValid: Float64Array.from({ length: B * L }, (_, i) => (i % L < lengths[Math.floor(i / L)] ? 1 : 0)),
      B, N, L,
    };
    return { params, inputs };
  }

  const headConfigs: HeadConfig[] = [
    { normaliser: 'sparsemax', temperature: 0.5, maskMode: 'official' },
    { normaliser: 'softmax', temperature: 1, maskMode: 'official' },
    { normaliser: 'sparsemax', temperature: 0.3, maskMode: 'exclude' },
  ];
  for (const config of headConfigs) {
    it(`whole head ${config.normaliser} tau=${config.temperature} ${config.maskMode}`, () => {
      const { params, inputs } = randomHead(3, 2, 3, 3, 2, 2, 6);
      const grads = referenceHeadGrads(params, inputs, config);
      const loss = () => referenceHead(params, inputs, config).loss;
      const targets: [string, Float64Array][] = [
        ['patch_features', inputs.patchFeatures], ['word_features', inputs.wordFeatures],
        ...Object.entries(params).filter(([k]) => k !== 'logit_scale_sd').map(([k, v]) => [`param.${k}`, v] as [string, Float64Array]),
      ];
      for (const [key, x] of targets) {
        gradCheck(key, () => [loss()], [x], [1], [grads[key]]);
      }
    });
  }
});

// ---------------------------------------------------------------------------------------------------------------
// (4) spec examples, (5) quirks

describe('FDT-SPEC examples and quirks', () => {
  it('sparsemax([1, 0.8, 0.1]) = [0.6, 0.4, 0] and sparsemax([2, 1, 0.1]) = [1, 0, 0]', () => {
    expectClose(sparsemaxSort(Float64Array.of(1, 0.8, 0.1), 1, 3), [0.6, 0.4, 0], 1e-15, 'generic');
    expectClose(sparsemaxSort(Float64Array.of(2, 1, 0.1), 1, 3), [1, 0, 0], 1e-15, 'boundary tie');
  });

  it('sparsemax lies on the simplex and is shift invariant', () => {
    const z = rng.normals(40, 3);
    const p = sparsemaxSort(z, 4, 10);
    const shifted = sparsemaxSort(z.map((v) => v + 123.5), 4, 10);
    for (let r = 0; r < 4; r++) {
      const row = p.subarray(r * 10, r * 10 + 10);
      expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 14);
      expect(Math.min(...row)).toBeGreaterThanOrEqual(0);
    }
    expectClose(shifted, p, 1e-12, 'shift');
  });

  it('padding floors text relevance at 0 in official mode; exclude mode gives the true max (quirk 1, 2)', () => {
    // One caption, L = 3 slots (2 real + 1 padding), one dictionary token T = [1, 0], d = 2.
    const q = Float64Array.of(-1, 0.5, -2, 0.1, 5, 0); // the padded slot would win if it were not masked
    const T = Float64Array.of(1, 0);
    const valid = Float64Array.of(1, 1, 0);
    const official = relevance(q, T, valid, 1, 3, 1, 2, 1, 'official');
    expect(official.r[0]).toBe(0);
    expect(official.argmax[0]).toBe(-1);
    expect(official.scores[2]).toBe(0); // padded score is exactly (+-)0
    const excluded = relevance(q, T, valid, 1, 3, 1, 2, 1, 'exclude');
    expect(excluded.r[0]).toBeCloseTo(-1 / Math.SQRT2, 15);
    expect(excluded.argmax[0]).toBe(0);
    // temperature divides after the max is taken over the same slots
    expect(relevance(q, T, valid, 1, 3, 1, 2, 0.5, 'exclude').r[0]).toBeCloseTo(-2 / Math.SQRT2, 15);
    // gradients: none when the padding floor won; all to the arg-max token otherwise
    const gOfficial = relevanceVjp(q, T, official.argmax, Float64Array.of(1), 1, 3, 1, 2, 1);
    expect(Array.from(gOfficial.gq).every((v) => v === 0)).toBe(true);
    expect(Array.from(gOfficial.gT).every((v) => v === 0)).toBe(true);
    const gExcl = relevanceVjp(q, T, excluded.argmax, Float64Array.of(1), 1, 3, 1, 2, 1);
    expectClose(gExcl.gq, [1 / Math.SQRT2, 0, 0, 0, 0, 0], 1e-15, 'gq');
    expectClose(gExcl.gT, [-1 / Math.SQRT2, 0.5 / Math.SQRT2], 1e-15, 'gT');
  });

  it('max pool breaks ties at the first index, like torch.max', () => {
    const q = Float64Array.of(1, 1, 1); // L = 3 identical tokens, d = 1
    const out = relevance(q, Float64Array.of(2), null, 1, 3, 1, 1, 1);
    expect(out.argmax[0]).toBe(0);
    // a padded slot tying with a real token that scores exactly 0: the earlier real token wins
    const tie = relevance(Float64Array.of(0, 3), Float64Array.of(1), Float64Array.of(1, 0), 1, 2, 1, 1, 1);
    expect(tie.argmax[0]).toBe(0);
  });

  it('the logit-scale clamp at 100 is invisible to autograd: d/dp uses the unclamped exp (quirk 4)', () => {
    const B = 3;
    const d = 4;
    const Ei = l2normalize(rng.normals(B * d), B, d);
    const Et = l2normalize(rng.normals(B * d), B, d);
    const p = 5; // exp(5) ~ 148 > 100
    const f = infoNce(Ei, Et, B, d, p);
    expect(f.scaleUsed).toBe(100);
    // dL/ds at s = 100 by a one-sided second-order difference below the clamp
    const lossAt = (s: number) => infoNce(Ei, Et, B, d, Math.log(s)).loss;
    const h = 1e-4;
    const dLds = (3 * lossAt(100) - 4 * lossAt(100 - h) + lossAt(100 - 2 * h)) / (2 * h);
    const { gLogitScaleParam } = infoNceVjp(Ei, Et, B, d, p);
    expect(Math.abs(gLogitScaleParam - dLds * Math.exp(p))).toBeLessThan(1e-6 * Math.abs(dLds * Math.exp(p)) + 1e-9);
    expect(gLogitScaleParam).not.toBe(0);
  });
});
