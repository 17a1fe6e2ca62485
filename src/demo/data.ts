/**
 * The demo's view of the emoji dataset: flat feature arrays (shareable with worker threads), the split, and the
 * seeded mini-batches of training pairs.
 */
import type { EmojiDataset } from '../data/dataset.js';
import type { SplitName } from '../data/splits.js';
import { FdtValueError } from '../errors.js';
import { Rng } from '../rng.js';
import type { Batch } from '../fdt.js';
import type { PromptSet } from './prompts.js';

/** Everything a training or evaluation job reads. Feature arrays may live in SharedArrayBuffers. */
export interface DemoData {
  /** Styles whose images are present in `images`. */
  styles: string[];
  /** Patches per image and patch feature size (49, 576). */
  patches: number;
  imageDim: number;
  /** Token slots per caption and word feature size (16, 100). */
  slots: number;
  textDim: number;
  /** Image patch features per style, [N, patches, imageDim], rows = concepts. */
  images: Record<string, Float32Array>;
  /** Caption token features [N, slots, textDim] and mask [N, slots] (1 = real word). */
  text: Float32Array;
  valid: Float32Array;
  /** Concept rows per split. */
  split: Record<SplitName, number[]>;
  /** Zero-shot prompts per evaluated split (classes = the split's rows, in order). */
  prompts: Partial<Record<SplitName, PromptSet>>;
}

/** Copies a Float32Array into shared memory (so worker threads read it without a copy). */
export function shareFloat32(a: Float32Array): Float32Array {
  const s = new Float32Array(new SharedArrayBuffer(a.byteLength));
  s.set(a);
  return s;
}

/** The demo data of a loaded dataset (the arrays are shared, not copied, unless `share` is set). */
export function demoDataFrom(ds: EmojiDataset, prompts: DemoData['prompts'], options: { share?: boolean } = {}): DemoData {
  const cp = options.share ? shareFloat32 : (a: Float32Array) => a;
  const first = ds.byStyle[ds.styles[0]!]!;
  const images: Record<string, Float32Array> = {};
  for (const s of ds.styles) images[s] = cp(ds.byStyle[s]!.features);
  return {
    styles: ds.styles.slice(),
    patches: first.shape[1],
    imageDim: first.shape[2],
    slots: ds.text.shape[1],
    textDim: ds.text.shape[2],
    images,
    text: cp(ds.text.features),
    valid: cp(ds.text.valid),
    split: { train: ds.split.train.slice(), val: ds.split.val.slice(), test: ds.split.test.slice() },
    prompts: Object.fromEntries(
      Object.entries(prompts).map(([k, p]) => [k, { ...p, groups: p.groups.map((g) => ({ ...g, tokens: cp(g.tokens), valid: cp(g.valid) })) }]),
    ) as DemoData['prompts'],
  };
}

/** Gathers rows of a [N, ...rowSize] array into a new [rows.length, ...] array. */
export function gatherRows(src: Float32Array, rowSize: number, rows: readonly number[], out?: Float32Array): Float32Array {
  const dst = out ?? new Float32Array(rows.length * rowSize);
  rows.forEach((r, i) => dst.set(src.subarray(r * rowSize, (r + 1) * rowSize), i * rowSize));
  return dst;
}

/** One training pair: a concept row seen in one style. */
export interface Pair {
  style: string;
  row: number;
}

/**
 * The mini-batches of one epoch over `rows` x `styles`: every (concept, style) pair exactly once. The epoch is made
 * of one pass per style; each pass visits every concept once in a fresh seeded order, and each concept takes its
 * styles in a seeded rotation across the passes. So no batch holds the same concept twice (two identical captions
 * in one InfoNCE batch would be false negatives), and batches never straddle passes.
 */
export function epochBatches(rows: readonly number[], styles: readonly string[], batchSize: number, seed: number, epoch: number): Pair[][] {
  if (!Number.isInteger(batchSize) || batchSize < 2) throw new FdtValueError(`batchSize: expected an integer >= 2, found ${batchSize}`);
  if (rows.length < 2) throw new FdtValueError(`rows: expected at least 2 training concepts, found ${rows.length}`);
  if (styles.length < 1) throw new FdtValueError('styles: expected at least one training style, found none');
  const rng = new Rng((seed * 7919 + epoch * 104729 + 1) >>> 0);
  const offset = rows.map(() => Math.floor(rng.uniform() * styles.length));
  const batches: Pair[][] = [];
  for (let pass = 0; pass < styles.length; pass++) {
    const order = rng.permutation(rows.length);
    for (let s = 0; s < order.length; s += batchSize) {
      const chunk = Array.from(order.subarray(s, Math.min(order.length, s + batchSize)));
      // A tail shorter than 2 pairs carries no contrastive signal: fold it into the previous batch.
      if (chunk.length < 2 && batches.length > 0 && s > 0) {
        const i = chunk[0]!;
        batches[batches.length - 1]!.push({ style: styles[(offset[i]! + pass) % styles.length]!, row: rows[i]! });
        continue;
      }
      batches.push(chunk.map((i) => ({ style: styles[(offset[i]! + pass) % styles.length]!, row: rows[i]! })));
    }
  }
  return batches;
}

/** The tensors of a batch of pairs. */
export function batchTensors(data: DemoData, pairs: readonly Pair[]): Batch {
  const B = pairs.length;
  const P = data.patches * data.imageDim;
  const T = data.slots * data.textDim;
  const patches = new Float32Array(B * P);
  const tokens = new Float32Array(B * T);
  const valid = new Float32Array(B * data.slots);
  pairs.forEach((p, i) => {
    const img = data.images[p.style];
    if (!img) throw new FdtValueError(`style: expected one of ${Object.keys(data.images).join(', ')}, found ${JSON.stringify(p.style)}`);
    patches.set(img.subarray(p.row * P, (p.row + 1) * P), i * P);
    tokens.set(data.text.subarray(p.row * T, (p.row + 1) * T), i * T);
    valid.set(data.valid.subarray(p.row * data.slots, (p.row + 1) * data.slots), i * data.slots);
  });
  return {
    patches: { data: patches, shape: [B, data.patches, data.imageDim] },
    tokens: { data: tokens, shape: [B, data.slots, data.textDim] },
    valid: { data: valid, shape: [B, data.slots] },
  };
}
