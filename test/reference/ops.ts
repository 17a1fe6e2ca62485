/**
 * Float64 reference oracle for the FDT head (see shared/FDT-SPEC.md).
 *
 * Written for clarity, not speed. Every array is a row-major flat Float64Array and every dimension is passed
 * explicitly. Conventions: forward `op(inputs..., dims..., options...)`; its vector-Jacobian product
 * `opVjp(forward inputs..., upstream gradient, dims..., options...)` recomputes what it needs from the inputs.
 */

// ---------------------------------------------------------------------------------------------------------------
// Linear

/**
 * Linear layer: y = x W^T + b.
 * @param x [M, K]  @param W [N, K] (PyTorch layout: [out, in])  @param b [N] or null
 * @returns y [M, N]
 */
export function linear(
  x: Float64Array, W: Float64Array, b: Float64Array | null, M: number, K: number, N: number,
): Float64Array {
  const y = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let acc = b ? b[n] : 0;
      for (let k = 0; k < K; k++) acc += x[m * K + k] * W[n * K + k];
      y[m * N + n] = acc;
    }
  }
  return y;
}

/**
 * VJP of {@link linear}: gx = gy W [M, K]; gW = gy^T x [N, K]; gb = sum over rows of gy [N].
 * @param gy [M, N]
 */
export function linearVjp(
  x: Float64Array, W: Float64Array, gy: Float64Array, M: number, K: number, N: number,
): { gx: Float64Array; gW: Float64Array; gb: Float64Array } {
  const gx = new Float64Array(M * K);
  const gW = new Float64Array(N * K);
  const gb = new Float64Array(N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      const g = gy[m * N + n];
      gb[n] += g;
      for (let k = 0; k < K; k++) {
        gx[m * K + k] += g * W[n * K + k];
        gW[n * K + k] += g * x[m * K + k];
      }
    }
  }
  return { gx, gW, gb };
}

// ---------------------------------------------------------------------------------------------------------------
// LayerNorm

/**
 * LayerNorm over the last dimension with biased variance:
 * y = (x - mean) / sqrt(var + eps) * gamma + beta, var = mean((x - mean)^2).
 * @param x [M, D]  @param gamma [D]  @param beta [D]  @returns y [M, D]
 */
export function layerNorm(
  x: Float64Array, gamma: Float64Array, beta: Float64Array, M: number, D: number, eps = 1e-5,
): Float64Array {
  const y = new Float64Array(M * D);
  for (let m = 0; m < M; m++) {
    const { mean, rstd } = rowStats(x, m, D, eps);
    for (let i = 0; i < D; i++) y[m * D + i] = (x[m * D + i] - mean) * rstd * gamma[i] + beta[i];
  }
  return y;
}

/**
 * VJP of {@link layerNorm}. With xhat = (x - mean) * rstd and gh = gy * gamma:
 * gx = rstd * (gh - mean(gh) - xhat * mean(gh * xhat)); gGamma = sum_m gy * xhat; gBeta = sum_m gy.
 * @param gy [M, D]
 */
export function layerNormVjp(
  x: Float64Array, gamma: Float64Array, gy: Float64Array, M: number, D: number, eps = 1e-5,
): { gx: Float64Array; gGamma: Float64Array; gBeta: Float64Array } {
  const gx = new Float64Array(M * D);
  const gGamma = new Float64Array(D);
  const gBeta = new Float64Array(D);
  const xhat = new Float64Array(D);
  const gh = new Float64Array(D);
  for (let m = 0; m < M; m++) {
    const { mean, rstd } = rowStats(x, m, D, eps);
    let meanGh = 0;
    let meanGhXhat = 0;
    for (let i = 0; i < D; i++) {
      const g = gy[m * D + i];
      xhat[i] = (x[m * D + i] - mean) * rstd;
      gh[i] = g * gamma[i];
      gGamma[i] += g * xhat[i];
      gBeta[i] += g;
      meanGh += gh[i];
      meanGhXhat += gh[i] * xhat[i];
    }
    meanGh /= D;
    meanGhXhat /= D;
    for (let i = 0; i < D; i++) gx[m * D + i] = rstd * (gh[i] - meanGh - xhat[i] * meanGhXhat);
  }
  return { gx, gGamma, gBeta };
}

function rowStats(x: Float64Array, m: number, D: number, eps: number): { mean: number; rstd: number } {
  let mean = 0;
  for (let i = 0; i < D; i++) mean += x[m * D + i];
  mean /= D;
  let v = 0;
  for (let i = 0; i < D; i++) {
    const c = x[m * D + i] - mean;
    v += c * c;
  }
  v /= D;
  return { mean, rstd: 1 / Math.sqrt(v + eps) };
}

// ---------------------------------------------------------------------------------------------------------------
// erf and GELU

const TWO_OVER_SQRT_PI = 1.1283791670955126; // 2 / sqrt(pi)
const INV_SQRT_PI = 0.5641895835477563; // 1 / sqrt(pi)
const INV_SQRT_2PI = 0.3989422804014327; // 1 / sqrt(2 pi)

/**
 * The error function erf(x) = 2/sqrt(pi) * integral_0^x exp(-t^2) dt, to about 1-2 ulp in float64.
 * For |x| < 1.5: the all-positive series erf(x) = 2/sqrt(pi) exp(-x^2) sum_n 2^n x^(2n+1) / (1*3*...*(2n+1))
 * (no cancellation, unlike the Maclaurin series), summed with Kahan compensation. For |x| >= 1.5: erf = 1 - erfc
 * with the continued fraction erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))), a_n = n/2,
 * evaluated by modified Lentz; erfc(1.5) ~ 0.034, so its relative error shrinks 30-fold in erf.
 * Odd: erf(-x) = -erf(x). Measured against glibc on [0, 7) in steps of 0.01: within 1.5 ulp.
 */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 0) return -erf(-x);
  if (x < 1.5) return erfSeries(x);
  if (x > 6) return 1; // erfc(6) ~ 2e-17 < half an ulp of 1
  return 1 - erfcContinuedFraction(x);
}

function erfSeries(x: number): number {
  const x2 = x * x;
  let term = x;
  let sum = x;
  let comp = 0; // Kahan compensation
  for (let n = 1; n < 200; n++) {
    term *= (2 * x2) / (2 * n + 1);
    const y = term - comp;
    const t = sum + y;
    comp = t - sum - y;
    sum = t;
    if (term < sum * 1e-17) break;
  }
  return TWO_OVER_SQRT_PI * Math.exp(-x2) * sum;
}

function erfcContinuedFraction(x: number): number {
  // f = x + a1/(x + a2/(x + ...)), a_n = n/2; modified Lentz (x >= 1.5 keeps every denominator positive).
  let f = x;
  let C = x;
  let D = 0;
  for (let n = 1; n < 2000; n++) {
    const a = n / 2;
    D = 1 / (x + a * D);
    C = x + a / C;
    const delta = C * D;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return (Math.exp(-x * x) * INV_SQRT_PI) / f;
}

/** Exact GELU: gelu(x) = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)). */
export function gelu(x: number): number {
  return 0.5 * x * (1 + erf(x * Math.SQRT1_2));
}

/** d gelu / dx = Phi(x) + x phi(x), phi(x) = exp(-x^2/2) / sqrt(2 pi). */
export function geluDerivative(x: number): number {
  return 0.5 * (1 + erf(x * Math.SQRT1_2)) + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x);
}

/** Elementwise {@link gelu}. */
export function geluArray(x: Float64Array): Float64Array {
  return x.map(gelu);
}

/** VJP of {@link geluArray}: gx = gy * gelu'(x). */
export function geluVjp(x: Float64Array, gy: Float64Array): Float64Array {
  return x.map((v, i) => gy[i] * geluDerivative(v));
}

// ---------------------------------------------------------------------------------------------------------------
// Query MLP

/**
 * Parameters of the query MLP q = Lin2(LN2(GELU(Lin1(LN1(x))))): official names q_map.0 (LN1), q_map.1 (Lin1),
 * q_map.3 (LN2), q_map.4 (Lin2). Shapes: ln1 [Din]; lin1Weight [Dh, Din], lin1Bias [Dh]; ln2 [Dh];
 * lin2Weight [Dout, Dh], lin2Bias [Dout]. The dimensions are read from these lengths.
 */
export interface QueryMlpParams {
  ln1Weight: Float64Array;
  ln1Bias: Float64Array;
  lin1Weight: Float64Array;
  lin1Bias: Float64Array;
  ln2Weight: Float64Array;
  ln2Bias: Float64Array;
  lin2Weight: Float64Array;
  lin2Bias: Float64Array;
}

function mlpDims(p: QueryMlpParams): { Din: number; Dh: number; Dout: number } {
  return { Din: p.ln1Weight.length, Dh: p.lin1Bias.length, Dout: p.lin2Bias.length };
}

/** Every activation of the query MLP, row-major [M, *]. */
export interface QueryMlpActivations {
  a1: Float64Array; // LN1(x)        [M, Din]
  h1: Float64Array; // Lin1(a1)      [M, Dh]
  g1: Float64Array; // GELU(h1)      [M, Dh]
  a2: Float64Array; // LN2(g1)       [M, Dh]
  q: Float64Array; //  Lin2(a2)      [M, Dout]
}

/** Forward of the query MLP keeping every activation. @param x [M, Din] */
export function queryMlpForward(x: Float64Array, p: QueryMlpParams, M: number): QueryMlpActivations {
  const { Din, Dh, Dout } = mlpDims(p);
  const a1 = layerNorm(x, p.ln1Weight, p.ln1Bias, M, Din);
  const h1 = linear(a1, p.lin1Weight, p.lin1Bias, M, Din, Dh);
  const g1 = geluArray(h1);
  const a2 = layerNorm(g1, p.ln2Weight, p.ln2Bias, M, Dh);
  const q = linear(a2, p.lin2Weight, p.lin2Bias, M, Dh, Dout);
  return { a1, h1, g1, a2, q };
}

/** Query MLP q = Lin2(LN2(GELU(Lin1(LN1(x))))), per row. @param x [M, Din] @returns q [M, Dout] */
export function queryMlp(x: Float64Array, p: QueryMlpParams, M: number): Float64Array {
  return queryMlpForward(x, p, M).q;
}

/** VJP of {@link queryMlp}: gradients of x and of every parameter (same keys as the params). @param gq [M, Dout] */
export function queryMlpVjp(
  x: Float64Array, p: QueryMlpParams, M: number, gq: Float64Array,
): { gx: Float64Array; grads: QueryMlpParams } {
  const { Din, Dh, Dout } = mlpDims(p);
  const act = queryMlpForward(x, p, M);
  const l2 = linearVjp(act.a2, p.lin2Weight, gq, M, Dh, Dout);
  const n2 = layerNormVjp(act.g1, p.ln2Weight, l2.gx, M, Dh);
  const gh1 = geluVjp(act.h1, n2.gx);
  const l1 = linearVjp(act.a1, p.lin1Weight, gh1, M, Din, Dh);
  const n1 = layerNormVjp(x, p.ln1Weight, l1.gx, M, Din);
  return {
    gx: n1.gx,
    grads: {
      ln1Weight: n1.gGamma, ln1Bias: n1.gBeta,
      lin1Weight: l1.gW, lin1Bias: l1.gb,
      ln2Weight: n2.gGamma, ln2Bias: n2.gBeta,
      lin2Weight: l2.gW, lin2Bias: l2.gb,
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Relevance (token scores + max pool over the tokens of each input)

/**
 * 'official': padded slots are multiplied by valid = 0 (score exactly +-0) and take part in the max (FDT-SPEC
 * quirk 1: padding floors text relevance at 0). 'exclude': padded slots are left out of the max.
 */
export type MaskMode = 'official' | 'exclude';

/**
 * Relevance of every dictionary token to every input.
 * S[b,l,c] = (q[b,l] . T[c]) / sqrt(d), times valid[b,l] in 'official' mode, then / temperature;
 * r[b,c] = max_l S[b,l,c], first index on ties (like torch.max).
 * @param q [B, L, d]  @param T [C, d]  @param valid [B, L] of 0/1 (1 = real token), or null for no mask (images)
 * @returns scores S [B, L, C] (padded slots: +-0 in 'official', NaN in 'exclude'), r [B, C], and
 *   argmax [B, C]: the winning l, or -1 when a padded slot won (official) or no slot is valid (exclude, r = -inf).
 */
export function relevance(
  q: Float64Array, T: Float64Array, valid: Float64Array | null,
  B: number, L: number, C: number, d: number, temperature: number, maskMode: MaskMode = 'official',
): { scores: Float64Array; r: Float64Array; argmax: Int32Array } {
  const scale = 1 / Math.sqrt(d);
  const scores = new Float64Array(B * L * C);
  const r = new Float64Array(B * C).fill(-Infinity);
  const argmax = new Int32Array(B * C).fill(-1);
  for (let b = 0; b < B; b++) {
    for (let c = 0; c < C; c++) {
      let best = -Infinity;
      let bestL = -1;
      for (let l = 0; l < L; l++) {
        const v = valid ? valid[b * L + l] : 1;
        let s: number;
        if (v === 0 && maskMode === 'exclude') {
          s = NaN;
        } else {
          let dot = 0;
          for (let k = 0; k < d; k++) dot += q[(b * L + l) * d + k] * T[c * d + k];
          s = (dot * scale * v) / temperature;
          if (bestL === -1 || s > best) {
            best = s;
            bestL = l;
          }
        }
        scores[(b * L + l) * C + c] = s;
      }
      r[b * C + c] = best;
      argmax[b * C + c] = bestL >= 0 && (valid ? valid[b * L + bestL] : 1) !== 0 ? bestL : -1;
    }
  }
  return { scores, r, argmax };
}

/**
 * VJP of {@link relevance} through the arg-max only (FDT-SPEC quirk 2): for each (b, c) with l = argmax[b,c] >= 0,
 * gq[b,l] += gR[b,c] / (temperature sqrt(d)) * T[c] and gT[c] += gR[b,c] / (temperature sqrt(d)) * q[b,l].
 * A padded winner (argmax -1) passes no gradient. @param gR [B, C] @returns gq [B, L, d], gT [C, d]
 */
export function relevanceVjp(
  q: Float64Array, T: Float64Array, argmax: Int32Array, gR: Float64Array,
  B: number, L: number, C: number, d: number, temperature: number,
): { gq: Float64Array; gT: Float64Array } {
  const gq = new Float64Array(B * L * d);
  const gT = new Float64Array(C * d);
  const scale = 1 / (Math.sqrt(d) * temperature);
  for (let b = 0; b < B; b++) {
    for (let c = 0; c < C; c++) {
      const l = argmax[b * C + c];
      if (l < 0) continue;
      const g = gR[b * C + c] * scale;
      for (let k = 0; k < d; k++) {
        gq[(b * L + l) * d + k] += g * T[c * d + k];
        gT[c * d + k] += g * q[(b * L + l) * d + k];
      }
    }
  }
  return { gq, gT };
}

// ---------------------------------------------------------------------------------------------------------------
// Normalisers over the C tokens

/**
 * Sparsemax per row (Martins & Astudillo 2016), sort-based: with z sorted descending and cumulative sums cs,
 * k = max{ j : 1 + j z_(j) > cs_j }, tau = (cs_k - 1) / k, p = max(0, z - tau).
 * @param z [rows, n] @returns p [rows, n]
 */
export function sparsemaxSort(z: Float64Array, rows: number, n: number): Float64Array {
  const p = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) {
    // Shift by the row maximum first (sparsemax is shift-invariant): rows beyond 2^53 would lose the "- 1".
    const raw = z.subarray(r * n, (r + 1) * n);
    const m = Math.max(...raw);
    const row = raw.map((v) => v - m);
    const tau = sparsemaxThreshold(row);
    for (let i = 0; i < n; i++) p[r * n + i] = Math.max(0, row[i] - tau);
  }
  return p;
}

/** The sparsemax threshold tau* of one row (see {@link sparsemaxSort}). */
export function sparsemaxThreshold(row: Float64Array): number {
  const sorted = Array.from(row).sort((a, b) => b - a);
  let cs = 0;
  let csK = 0;
  let k = 0;
  for (let j = 1; j <= sorted.length; j++) {
    cs += sorted[j - 1];
    if (1 + j * sorted[j - 1] > cs) {
      k = j;
      csK = cs;
    }
  }
  return (csK - 1) / k;
}

/**
 * VJP of sparsemax (closed form, FDT-SPEC quirk 3): gz = s * (g - mean over the support of g), s = 1[p > 0].
 * @param p the sparsemax output [rows, n]  @param g [rows, n]
 */
export function sparsemaxVjp(p: Float64Array, g: Float64Array, rows: number, n: number): Float64Array {
  const gz = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    let count = 0;
    for (let i = 0; i < n; i++) {
      if (p[r * n + i] > 0) {
        sum += g[r * n + i];
        count++;
      }
    }
    const mean = count > 0 ? sum / count : 0;
    for (let i = 0; i < n; i++) gz[r * n + i] = p[r * n + i] > 0 ? g[r * n + i] - mean : 0;
  }
  return gz;
}

/** Softmax per row: p_i = exp(z_i - max z) / sum_j exp(z_j - max z). @param z [rows, n] */
export function softmax(z: Float64Array, rows: number, n: number): Float64Array {
  const p = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) {
    let mx = -Infinity;
    for (let i = 0; i < n; i++) mx = Math.max(mx, z[r * n + i]);
    let sum = 0;
    for (let i = 0; i < n; i++) {
      p[r * n + i] = Math.exp(z[r * n + i] - mx);
      sum += p[r * n + i];
    }
    for (let i = 0; i < n; i++) p[r * n + i] /= sum;
  }
  return p;
}

/** VJP of softmax: gz = p * (g - sum_j p_j g_j). @param p the softmax output [rows, n] */
export function softmaxVjp(p: Float64Array, g: Float64Array, rows: number, n: number): Float64Array {
  const gz = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) {
    let dot = 0;
    for (let i = 0; i < n; i++) dot += p[r * n + i] * g[r * n + i];
    for (let i = 0; i < n; i++) gz[r * n + i] = p[r * n + i] * (g[r * n + i] - dot);
  }
  return gz;
}

// ---------------------------------------------------------------------------------------------------------------
// Weighted sum and L2 normalisation

/** FDT embedding e = w T. @param w [B, C] @param T [C, d] @returns e [B, d] */
export function weightedSum(w: Float64Array, T: Float64Array, B: number, C: number, d: number): Float64Array {
  const e = new Float64Array(B * d);
  for (let b = 0; b < B; b++) {
    for (let c = 0; c < C; c++) {
      const wv = w[b * C + c];
      for (let k = 0; k < d; k++) e[b * d + k] += wv * T[c * d + k];
    }
  }
  return e;
}

/** VJP of {@link weightedSum}: gw = gE T^T [B, C]; gT = w^T gE [C, d]. @param gE [B, d] */
export function weightedSumVjp(
  w: Float64Array, T: Float64Array, gE: Float64Array, B: number, C: number, d: number,
): { gw: Float64Array; gT: Float64Array } {
  const gw = new Float64Array(B * C);
  const gT = new Float64Array(C * d);
  for (let b = 0; b < B; b++) {
    for (let c = 0; c < C; c++) {
      let acc = 0;
      for (let k = 0; k < d; k++) {
        acc += gE[b * d + k] * T[c * d + k];
        gT[c * d + k] += w[b * C + c] * gE[b * d + k];
      }
      gw[b * C + c] = acc;
    }
  }
  return { gw, gT };
}

/** Row L2 normalisation y = e / (||e||_2 + eps). @param e [B, d] */
export function l2normalize(e: Float64Array, B: number, d: number, eps = 1e-10): Float64Array {
  const y = new Float64Array(B * d);
  for (let b = 0; b < B; b++) {
    const n = rowNorm(e, b, d);
    for (let k = 0; k < d; k++) y[b * d + k] = e[b * d + k] / (n + eps);
  }
  return y;
}

/**
 * VJP of {@link l2normalize} (exact): with n = ||e||, y = e / (n + eps),
 * ge = (gy - y (y . gy) (n + eps) / n) / (n + eps). (FDT-SPEC's backward line writes the ratio as n / (n + eps);
 * the two differ by O(eps / n) only; this is the true derivative, which torch autograd also computes.)
 * A zero row gets ge = gy / eps. @param gy [B, d]
 */
export function l2normalizeVjp(e: Float64Array, gy: Float64Array, B: number, d: number, eps = 1e-10): Float64Array {
  const ge = new Float64Array(B * d);
  for (let b = 0; b < B; b++) {
    const n = rowNorm(e, b, d);
    const den = n + eps;
    let dot = 0;
    for (let k = 0; k < d; k++) dot += (e[b * d + k] / den) * gy[b * d + k];
    const ratio = n > 0 ? den / n : 0;
    for (let k = 0; k < d; k++) ge[b * d + k] = (gy[b * d + k] - (e[b * d + k] / den) * dot * ratio) / den;
  }
  return ge;
}

function rowNorm(e: Float64Array, b: number, d: number): number {
  let s = 0;
  for (let k = 0; k < d; k++) s += e[b * d + k] * e[b * d + k];
  return Math.sqrt(s);
}

// ---------------------------------------------------------------------------------------------------------------
// InfoNCE (symmetric CLIP loss)

/**
 * s = min(exp(logitScaleParam), 100); logitsPerImage = s Ei Et^T [B, B]; logitsPerText = its transpose;
 * loss = (CE(logitsPerImage, arange B) + CE(logitsPerText, arange B)) / 2, each CE a mean over the batch.
 * @param Ei [B, d] @param Et [B, d] (normalised embeddings)
 */
export function infoNce(
  Ei: Float64Array, Et: Float64Array, B: number, d: number, logitScaleParam: number,
): { logitsPerImage: Float64Array; logitsPerText: Float64Array; loss: number; scaleUsed: number } {
  const scaleUsed = Math.min(Math.exp(logitScaleParam), 100);
  const logitsPerImage = new Float64Array(B * B);
  const logitsPerText = new Float64Array(B * B);
  for (let i = 0; i < B; i++) {
    for (let j = 0; j < B; j++) {
      let dot = 0;
      for (let k = 0; k < d; k++) dot += Ei[i * d + k] * Et[j * d + k];
      logitsPerImage[i * B + j] = scaleUsed * dot;
      logitsPerText[j * B + i] = scaleUsed * dot;
    }
  }
  const loss = (crossEntropyDiag(logitsPerImage, B) + crossEntropyDiag(logitsPerText, B)) / 2;
  return { logitsPerImage, logitsPerText, loss, scaleUsed };
}

/**
 * VJP of {@link infoNce}'s loss (times gLoss). With G = dL/d logitsPerImage (both CE terms folded in):
 * gEi = s G Et, gEt = s G^T Ei, gLogitScaleParam = (sum G * logitsPerImage / s) * exp(logitScaleParam), with the
 * UNCLAMPED exp (FDT-SPEC quirk 4: the clamp at 100 is invisible to autograd).
 */
export function infoNceVjp(
  Ei: Float64Array, Et: Float64Array, B: number, d: number, logitScaleParam: number, gLoss = 1,
): { gEi: Float64Array; gEt: Float64Array; gLogitScaleParam: number } {
  const { logitsPerImage, logitsPerText, scaleUsed } = infoNce(Ei, Et, B, d, logitScaleParam);
  const gImg = crossEntropyDiagVjp(logitsPerImage, B);
  const gTxt = crossEntropyDiagVjp(logitsPerText, B);
  const G = new Float64Array(B * B);
  for (let i = 0; i < B; i++) {
    for (let j = 0; j < B; j++) G[i * B + j] = (gLoss / 2) * (gImg[i * B + j] + gTxt[j * B + i]);
  }
  const gEi = new Float64Array(B * d);
  const gEt = new Float64Array(B * d);
  let gScale = 0;
  for (let i = 0; i < B; i++) {
    for (let j = 0; j < B; j++) {
      const g = G[i * B + j];
      if (scaleUsed > 0) gScale += (g * logitsPerImage[i * B + j]) / scaleUsed; // exp underflowed: every logit and the derivative are 0
      for (let k = 0; k < d; k++) {
        gEi[i * d + k] += scaleUsed * g * Et[j * d + k];
        gEt[j * d + k] += scaleUsed * g * Ei[i * d + k];
      }
    }
  }
  return { gEi, gEt, gLogitScaleParam: gScale * Math.exp(logitScaleParam) };
}

/** Mean over rows i of -log softmax(logits[i])[i]. @param logits [B, B] */
function crossEntropyDiag(logits: Float64Array, B: number): number {
  let total = 0;
  for (let i = 0; i < B; i++) total += logSumExpRow(logits, i, B) - logits[i * B + i];
  return total / B;
}

/** d crossEntropyDiag / d logits = (softmax(row i) - onehot(i)) / B. */
function crossEntropyDiagVjp(logits: Float64Array, B: number): Float64Array {
  const g = new Float64Array(B * B);
  for (let i = 0; i < B; i++) {
    const lse = logSumExpRow(logits, i, B);
    for (let j = 0; j < B; j++) g[i * B + j] = (Math.exp(logits[i * B + j] - lse) - (i === j ? 1 : 0)) / B;
  }
  return g;
}

function logSumExpRow(x: Float64Array, i: number, B: number): number {
  let mx = -Infinity;
  for (let j = 0; j < B; j++) mx = Math.max(mx, x[i * B + j]);
  let s = 0;
  for (let j = 0; j < B; j++) s += Math.exp(x[i * B + j] - mx);
  return mx + Math.log(s);
}
