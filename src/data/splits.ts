/**
 * Seeded, deterministic train/val/test split of emoji concepts. Only concepts present in every requested style are
 * split; the same (styles, seed, fractions, maxConcepts) always give the same split, whatever the order of `styles`.
 */
import { FdtValueError } from '../errors.js';
import { checkSeed } from '../rng.js';
import { listEmojiPairs, loadEmojiConcepts } from './emoji.js';

export type SplitName = 'train' | 'val' | 'test';

export const SPLIT_NAMES: readonly SplitName[] = ['train', 'val', 'test'];

export interface ConceptSplit {
  seed: number;
  /** Styles whose common concepts were split (sorted). */
  styles: string[];
  fractions: { train: number; val: number; test: number };
  /** Concepts common to all styles before the maxConcepts cut. */
  commonCount: number;
  /** Hexcodes per split, each list in emojibase order. */
  train: string[];
  val: string[];
  test: string[];
  counts: { train: number; val: number; test: number; total: number };
}

export interface SplitOptions {
  /** Seed of the shuffle (a 32-bit unsigned integer). Default 0. */
  seed?: number;
  /** Train/val/test shares (non-negative, sum 1). Default 0.7/0.1/0.2. */
  fractions?: { train: number; val: number; test: number };
  /** Keep only this many concepts (a seeded sample of the common ones) before splitting. */
  maxConcepts?: number;
}

/** mulberry32: a small, fast 32-bit seeded PRNG; returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seeded Fisher-Yates shuffle (returns a new array). */
export function seededShuffle<T>(items: readonly T[], seed: number): T[] {
  const out = items.slice();
  const rand = mulberry32(seed);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = out[i]!;
    out[i] = out[j]!;
    out[j] = t;
  }
  return out;
}

/** Hexcodes present in every given style, in emojibase order. */
export function commonConcepts(styles: readonly string[]): string[] {
  if (!Array.isArray(styles) || styles.length === 0) {
    throw new FdtValueError(`styles: expected a non-empty array of emoji set names, found ${JSON.stringify(styles)}`);
  }
  const present = styles.map((s) => new Set(listEmojiPairs(s).map((p) => p.hexcode)));
  return loadEmojiConcepts()
    .map((c) => c.hexcode)
    .filter((h) => present.every((set) => set.has(h)));
}

function checkSplitOptions(o: SplitOptions): { seed: number; fractions: { train: number; val: number; test: number } } {
  const seed = checkSeed('seed', o.seed ?? 0);
  const fractions = o.fractions ?? { train: 0.7, val: 0.1, test: 0.2 };
  const f = [fractions.train, fractions.val, fractions.test];
  if (f.some((x) => typeof x !== 'number' || !Number.isFinite(x) || x < 0) || Math.abs(f[0]! + f[1]! + f[2]! - 1) > 1e-9) {
    throw new FdtValueError(`fractions: expected non-negative train/val/test shares summing to 1, found ${JSON.stringify(fractions)}`);
  }
  if (o.maxConcepts !== undefined && (!Number.isInteger(o.maxConcepts) || o.maxConcepts < 1)) {
    throw new FdtValueError(`maxConcepts: expected a positive integer, found ${o.maxConcepts}`);
  }
  return { seed, fractions };
}

/**
 * Splits a list of concept hexcodes: a seeded shuffle, an optional cut to `maxConcepts`, then the first
 * round(train * n) go to train, the next round(val * n) to val, the rest to test. Lists come back in input order.
 */
export function splitHexcodes(hexcodes: readonly string[], options: SplitOptions = {}): Pick<ConceptSplit, 'train' | 'val' | 'test' | 'counts'> {
  const { seed, fractions } = checkSplitOptions(options);
  let picked = seededShuffle(hexcodes, seed);
  if (options.maxConcepts !== undefined) picked = picked.slice(0, options.maxConcepts);
  const n = picked.length;
  const nTrain = Math.round(fractions.train * n);
  const nVal = Math.min(n - nTrain, Math.round(fractions.val * n));
  const rank = new Map(hexcodes.map((h, i) => [h, i]));
  const byInput = (a: string, b: string): number => rank.get(a)! - rank.get(b)!;
  const train = picked.slice(0, nTrain).sort(byInput);
  const val = picked.slice(nTrain, nTrain + nVal).sort(byInput);
  const test = picked.slice(nTrain + nVal).sort(byInput);
  return { train, val, test, counts: { train: train.length, val: val.length, test: test.length, total: n } };
}

/** The seeded split of the concepts common to all `styles` (see splitHexcodes). */
export function splitConcepts(styles: readonly string[], options: SplitOptions = {}): ConceptSplit {
  const { seed, fractions } = checkSplitOptions(options);
  const sorted = [...new Set(styles)].sort();
  const common = commonConcepts(sorted);
  return { seed, styles: sorted, fractions, commonCount: common.length, ...splitHexcodes(common, options) };
}
