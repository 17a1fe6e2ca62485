import { describe, expect, it } from 'vitest';
import { FdtShapeError, FdtValueError } from '../../src/errors.js';
import {
  classPrototypes,
  hitProbability,
  l2NormalizeRows,
  meanOf,
  recallAtK,
  retrievalMetrics,
  similarityMatrix,
  targetRank,
  zeroShotAccuracy,
} from '../../src/demo/metrics.js';

/** Unit vector along axis k of R^d. */
const axis = (k: number, d: number): number[] => Array.from({ length: d }, (_, i) => (i === k ? 1 : 0));

describe('retrieval metrics', () => {
  it('perfect matching gives 100 everywhere and rsum 600', () => {
    const d = 12;
    const e = Float32Array.from(Array.from({ length: 12 }, (_, i) => axis(i, d)).flat());
    const m = retrievalMetrics(e, e, d);
    expect(m.n).toBe(12);
    expect(m.imageToText).toEqual({ r1: 100, r5: 100, r10: 100 });
    expect(m.textToImage).toEqual({ r1: 100, r5: 100, r10: 100 });
    expect(m.rsum).toBe(600);
  });

  it('counts the rank of the matched caption in each direction', () => {
    // 3 pairs in 2-d. Images: a0 = (1,0), a1 = (0,1), a2 = (0.6,0.8). Texts: t0 = (0,1), t1 = (1,0), t2 = (0.6,0.8).
    // Image->text: a0 ranks t1, t2, t0 -> t0 at rank 3; a1 ranks t0, t2, t1 -> rank 3; a2 ranks t2 first -> rank 1.
    // Text->image: t0 ranks a1, a2, a0 -> rank 3; t1 ranks a0, a2, a1 -> rank 3; t2 ranks a2 first -> rank 1.
    const img = [1, 0, 0, 1, 0.6, 0.8];
    const txt = [0, 1, 1, 0, 0.6, 0.8];
    const m = retrievalMetrics(img, txt, 2);
    expect(m.imageToText.r1).toBeCloseTo(100 / 3, 10);
    expect(m.imageToText.r5).toBe(100);
    expect(m.textToImage.r1).toBeCloseTo(100 / 3, 10);
    expect(m.rsum).toBeCloseTo(100 / 3 + 100 + 100 + 100 / 3 + 100 + 100, 10);
  });

  it('gives the expected recall under a random order of ties', () => {
    // Every caption identical: each image sees n tied scores, so R@k = k / n.
    const n = 20;
    const img = Float32Array.from(Array.from({ length: n }, (_, i) => [Math.cos(i), Math.sin(i)]).flat());
    const txt = Float32Array.from(Array.from({ length: n }, () => [1, 0]).flat());
    const m = retrievalMetrics(img, txt, 2);
    expect(m.imageToText.r1).toBeCloseTo(5, 10);
    expect(m.imageToText.r5).toBeCloseTo(25, 10);
    expect(m.imageToText.r10).toBeCloseTo(50, 10);
    expect(hitProbability({ greater: 2, ties: 3 }, 1)).toBe(0);
    expect(hitProbability({ greater: 2, ties: 3 }, 3)).toBe(0.25);
    expect(hitProbability({ greater: 2, ties: 3 }, 6)).toBe(1);
    expect(targetRank([0.5, 0.9, 0.5, 0.1], 0, 4, 2)).toEqual({ greater: 1, ties: 1 });
  });

  it('recallAtK works on rectangular score tables', () => {
    // Row 0: target 2 (0.3) has 0.9 above it -> rank 2. Row 1: target 0 (0.8) is first.
    const scores = [0.1, 0.9, 0.3, 0.2, 0.8, 0.1, 0.7, 0.6];
    expect(recallAtK(scores, 2, 4, [2, 0], [1, 2, 3])).toEqual([50, 100, 100]);
  });

  it('refuses mismatched shapes and non-finite values, naming the input', () => {
    expect(() => retrievalMetrics([1, 0, 0, 1], [1, 0], 2)).toThrow(FdtShapeError);
    expect(() => retrievalMetrics([1, 0, 0, 1], [1, 0], 2)).toThrow(/textEmbeddings: expected one caption per image \(2 rows\), found 1 rows/);
    expect(() => retrievalMetrics([1, 0, 0], [1, 0, 0], 2)).toThrow(/imageEmbeddings: expected \[n, 2\]/);
    expect(() => retrievalMetrics([1, NaN], [1, 0], 2)).toThrow(FdtValueError);
    expect(() => recallAtK([1, 2], 1, 2, [2], [1])).toThrow(/target: expected an index in \[0, 2\), found 2/);
  });
});

describe('zero-shot classification with prompt ensembling', () => {
  it('normalises prompts, averages per class and re-normalises', () => {
    // Class 0 has prompts (2, 0) and (0, 5): unit vectors (1,0) and (0,1) -> mean (0.5,0.5) -> (1/sqrt2, 1/sqrt2).
    // Class 1 has one prompt (0, -3) -> (0, -1).
    const protos = classPrototypes([2, 0, 0, 5, 0, -3], [0, 0, 1], 2, 2);
    expect(protos[0]).toBeCloseTo(Math.SQRT1_2, 6);
    expect(protos[1]).toBeCloseTo(Math.SQRT1_2, 6);
    expect(Array.from(protos.subarray(2))).toEqual([0, -1]);
  });

  it('scores top-1 and top-5 among the classes', () => {
    const d = 8;
    const K = 8;
    const protos = Float32Array.from(Array.from({ length: K }, (_, k) => axis(k, d)).flat());
    // Image i points mostly at class (i + 1) % K and a little at its own class i: top-1 wrong, top-5 right.
    const img = l2NormalizeRows(Float32Array.from(Array.from({ length: K }, (_, i) => axis((i + 1) % K, d).map((v, j) => v + (j === i ? 0.5 : 0))).flat()), d);
    const labels = Int32Array.from({ length: K }, (_, i) => i);
    const z = zeroShotAccuracy(img, labels, protos, d);
    expect(z).toEqual({ n: K, classes: K, top1: 0, top5: 100 });
    const exact = zeroShotAccuracy(protos, labels, protos, d);
    expect(exact.top1).toBe(100);
  });

  it('refuses a class without prompts and a bad class index', () => {
    expect(() => classPrototypes([1, 0, 0, 1], [0, 0], 2, 2)).toThrow(/at least one prompt per class, found none for class\(es\) 1/);
    expect(() => classPrototypes([1, 0], [3], 2, 2)).toThrow(/promptClass\[0\]: expected a class in \[0, 2\), found 3/);
    expect(() => zeroShotAccuracy([1, 0], [0, 1], [1, 0], 2)).toThrow(/labels: expected 1 values/);
  });
});

describe('helpers', () => {
  it('similarityMatrix, l2NormalizeRows and meanOf', () => {
    expect(Array.from(similarityMatrix([1, 2, 3, 4], [1, 0, 0, 1, 1, 1], 2))).toEqual([1, 2, 3, 3, 4, 7]);
    const u = l2NormalizeRows([3, 4, 0, 0], 2);
    expect(Array.from(u)).toEqual([Math.fround(0.6), Math.fround(0.8), 0, 0]);
    expect(meanOf(Int32Array.of(1, 2, 6))).toBe(3);
    expect(meanOf([])).toBe(0);
  });
});
