/**
 * Evaluation metrics of the demo (FDT-SPEC "Evaluation protocol"), on plain embedding arrays so that they can be
 * tested with hand-made numbers:
 *
 * - retrieval: cosine between every image and every caption of a set with one caption per image (matched by row);
 *   Recall@1/5/10 image->text and text->image, in percent, and rsum = the sum of the six;
 * - zero-shot classification: per class, the text embeddings of several prompts are L2-normalised, averaged and
 *   re-normalised into a class prototype; an image gets the class of highest cosine; top-1 and top-5 in percent;
 * - the mean number of active dictionary tokens per row.
 *
 * Ties. Sparsemax can give several inputs exactly the same embedding (one active token: e = T[c]), and two captions can
 * be identical after out-of-vocabulary words are dropped. A recall that broke ties in the target's favour would reward
 * that collapse, one that broke them against it would punish it arbitrarily. Every recall here is the EXPECTED recall
 * under a uniformly random order of tied scores: with g scores strictly above the target's and t others equal to it,
 * the target's rank is uniform on g+1 .. g+t+1, so P(rank <= K) = clamp((K - g) / (t + 1), 0, 1).
 */
import { FdtShapeError, FdtValueError } from '../errors.js';

/** Recall@1/5/10 of one direction, in percent. */
export interface Recalls {
  r1: number;
  r5: number;
  r10: number;
}

/** Retrieval in both directions over n matched pairs. */
export interface RetrievalMetrics {
  /** Pairs (images = captions = n). */
  n: number;
  imageToText: Recalls;
  textToImage: Recalls;
  /** Sum of the six recalls (0..600). */
  rsum: number;
}

/** Zero-shot classification accuracies, in percent. */
export interface ZeroShotMetrics {
  /** Images classified. */
  n: number;
  /** Classes. */
  classes: number;
  top1: number;
  top5: number;
}

function checkRows(name: string, x: ArrayLike<number>, d: number): number {
  if (!Number.isInteger(d) || d < 1) throw new FdtValueError(`d: expected a positive integer, found ${d}`);
  if (x.length % d !== 0) throw new FdtShapeError(`${name}: expected [n, ${d}] (a multiple of ${d} values), found ${x.length} values`);
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i]!)) throw new FdtValueError(`${name}: expected finite values, found ${x[i]} at index ${i}`);
  }
  return x.length / d;
}

/** Row-wise L2 normalisation [n, d] -> a new array; a zero row stays zero. */
export function l2NormalizeRows(x: ArrayLike<number>, d: number): Float32Array {
  const n = checkRows('x', x, d);
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let k = 0; k < d; k++) s += x[i * d + k]! * x[i * d + k]!;
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let k = 0; k < d; k++) out[i * d + k] = x[i * d + k]! * inv;
  }
  return out;
}

/** Dot products of every row of a [na, d] with every row of b [nb, d] -> [na, nb] (cosines for unit rows). */
export function similarityMatrix(a: ArrayLike<number>, b: ArrayLike<number>, d: number): Float32Array {
  const na = checkRows('a', a, d);
  const nb = checkRows('b', b, d);
  const out = new Float32Array(na * nb);
  const bf = Float64Array.from(b as ArrayLike<number>);
  const row = new Float64Array(d);
  for (let i = 0; i < na; i++) {
    for (let k = 0; k < d; k++) row[k] = a[i * d + k]!;
    for (let j = 0; j < nb; j++) {
      let s = 0;
      const o = j * d;
      for (let k = 0; k < d; k++) s += row[k]! * bf[o + k]!;
      out[i * nb + j] = s;
    }
  }
  return out;
}

/** Where the target stands in one row of scores: scores strictly above it, and other scores equal to it. */
export function targetRank(scores: ArrayLike<number>, offset: number, length: number, target: number): { greater: number; ties: number } {
  if (!Number.isInteger(target) || target < 0 || target >= length) {
    throw new FdtValueError(`target: expected an index in [0, ${length}), found ${target}`);
  }
  const t = scores[offset + target]!;
  let greater = 0;
  let ties = 0;
  for (let j = 0; j < length; j++) {
    if (j === target) continue;
    const v = scores[offset + j]!;
    if (v > t) greater++;
    else if (v === t) ties++;
  }
  return { greater, ties };
}

/** P(rank <= k) when the target's rank is uniform on greater+1 .. greater+ties+1 (random order of ties). */
export function hitProbability(rank: { greater: number; ties: number }, k: number): number {
  return Math.min(1, Math.max(0, (k - rank.greater) / (rank.ties + 1)));
}

/** Expected Recall@k in percent for each k, over rows of `scores` [n, m] whose targets are `targets[i]`. */
export function recallAtK(scores: ArrayLike<number>, n: number, m: number, targets: ArrayLike<number>, ks: readonly number[]): number[] {
  if (scores.length !== n * m) throw new FdtShapeError(`scores: expected [${n}, ${m}] = ${n * m} values, found ${scores.length}`);
  if (targets.length !== n) throw new FdtShapeError(`targets: expected ${n} values, found ${targets.length}`);
  if (n === 0) throw new FdtValueError('scores: expected at least one row, found 0');
  const hits = ks.map(() => 0);
  for (let i = 0; i < n; i++) {
    const r = targetRank(scores, i * m, m, targets[i]!);
    ks.forEach((k, q) => (hits[q]! += hitProbability(r, k)));
  }
  return hits.map((h) => (100 * h) / n);
}

/**
 * Retrieval between n images and n captions matched by row (caption i describes image i), both [n, d] and already
 * L2-normalised (cosine = dot product).
 */
export function retrievalMetrics(imageEmbeddings: ArrayLike<number>, textEmbeddings: ArrayLike<number>, d: number): RetrievalMetrics {
  const n = checkRows('imageEmbeddings', imageEmbeddings, d);
  const nt = checkRows('textEmbeddings', textEmbeddings, d);
  if (n !== nt) throw new FdtShapeError(`textEmbeddings: expected one caption per image (${n} rows), found ${nt} rows`);
  const sim = similarityMatrix(imageEmbeddings, textEmbeddings, d);
  const simT = new Float32Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) simT[j * n + i] = sim[i * n + j]!;
  const diag = Int32Array.from({ length: n }, (_, i) => i);
  const [i1, i5, i10] = recallAtK(sim, n, n, diag, [1, 5, 10]) as [number, number, number];
  const [t1, t5, t10] = recallAtK(simT, n, n, diag, [1, 5, 10]) as [number, number, number];
  return {
    n,
    imageToText: { r1: i1, r5: i5, r10: i10 },
    textToImage: { r1: t1, r5: t5, r10: t10 },
    rsum: i1 + i5 + i10 + t1 + t5 + t10,
  };
}

/**
 * Class prototypes from prompt embeddings [P, d]: each prompt embedding is L2-normalised, the prompts of a class are
 * averaged, and the mean is re-normalised. `promptClass[p]` is the class of prompt p (0..classes-1); every class needs
 * at least one prompt.
 */
export function classPrototypes(promptEmbeddings: ArrayLike<number>, promptClass: ArrayLike<number>, classes: number, d: number): Float32Array {
  const P = checkRows('promptEmbeddings', promptEmbeddings, d);
  if (promptClass.length !== P) throw new FdtShapeError(`promptClass: expected ${P} values (one per prompt), found ${promptClass.length}`);
  if (!Number.isInteger(classes) || classes < 1) throw new FdtValueError(`classes: expected a positive integer, found ${classes}`);
  const unit = l2NormalizeRows(promptEmbeddings, d);
  const sum = new Float64Array(classes * d);
  const count = new Int32Array(classes);
  for (let p = 0; p < P; p++) {
    const c = promptClass[p]!;
    if (!Number.isInteger(c) || c < 0 || c >= classes) throw new FdtValueError(`promptClass[${p}]: expected a class in [0, ${classes}), found ${c}`);
    count[c]!++;
    for (let k = 0; k < d; k++) sum[c * d + k] += unit[p * d + k]!;
  }
  const missing = [...count.keys()].filter((c) => count[c] === 0);
  if (missing.length) throw new FdtValueError(`promptClass: expected at least one prompt per class, found none for class(es) ${missing.slice(0, 10).join(', ')}`);
  for (let c = 0; c < classes; c++) for (let k = 0; k < d; k++) sum[c * d + k] /= count[c]!;
  return l2NormalizeRows(sum, d);
}

/**
 * Zero-shot accuracy: images [n, d] (L2-normalised) against class prototypes [classes, d]; labels[i] is image i's
 * class. Top-1 and top-5 in percent (expected values under random order of ties).
 */
export function zeroShotAccuracy(imageEmbeddings: ArrayLike<number>, labels: ArrayLike<number>, prototypes: ArrayLike<number>, d: number): ZeroShotMetrics {
  const n = checkRows('imageEmbeddings', imageEmbeddings, d);
  const K = checkRows('prototypes', prototypes, d);
  if (labels.length !== n) throw new FdtShapeError(`labels: expected ${n} values (one per image), found ${labels.length}`);
  const sim = similarityMatrix(imageEmbeddings, prototypes, d);
  const [top1, top5] = recallAtK(sim, n, K, labels, [1, 5]) as [number, number];
  return { n, classes: K, top1, top5 };
}

/** Mean of a list of counts (0 for an empty list). */
export function meanOf(values: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i]!;
  return values.length ? s / values.length : 0;
}
