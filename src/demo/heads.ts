/**
 * The two heads the demo trains (FDT and the CLIP-style baseline) behind one small interface: create from a spec,
 * embed many rows in batches, report the active dictionary tokens.
 */
import { ClipHead } from '../baseline/clip-head.js';
import type { Normalizer } from '../config.js';
import { FdtValueError } from '../errors.js';
import { FDT } from '../fdt.js';
import { gatherRows } from './data.js';

/** The CLIP baseline: mean-pool + Linear projection to `dim`. */
export interface ClipSpec {
  kind: 'clip';
  dim: number;
}

/** An FDT head. `dictScale` multiplies the N(0, 1) initial dictionary (1 = the official initialisation). */
export interface FdtSpec {
  kind: 'fdt';
  numTokens: number;
  dim: number;
  temperature: number;
  normalizer: Normalizer;
  dictScale: number;
}

export type HeadSpec = ClipSpec | FdtSpec;

export type DemoHead = FDT | ClipHead;

/** A short, readable name of a spec: "CLIP d=128", "FDT sparsemax C=1024 d=128 tau=0.1". */
export function specName(spec: HeadSpec): string {
  if (spec.kind === 'clip') return `CLIP d=${spec.dim}`;
  const scale = spec.dictScale === 1 ? '' : ` init=${spec.dictScale}`;
  return `FDT ${spec.normalizer} C=${spec.numTokens} d=${spec.dim} tau=${spec.temperature}${scale}`;
}

/** Checks a spec's fields (the CLI builds specs from user input). */
export function checkSpec(spec: HeadSpec): void {
  const posInt = (k: string, v: number): void => {
    if (!Number.isSafeInteger(v) || v < 1) throw new FdtValueError(`${k}: expected a positive integer, found ${v}`);
  };
  posInt('dim', spec.dim);
  if (spec.kind === 'clip') return;
  if (spec.kind !== 'fdt') throw new FdtValueError(`head kind: expected "fdt" or "clip", found ${JSON.stringify((spec as { kind: unknown }).kind)}`);
  posInt('numTokens', spec.numTokens);
  if (!(Number.isFinite(spec.temperature) && spec.temperature > 0)) throw new FdtValueError(`temperature: expected a finite number > 0, found ${spec.temperature}`);
  if (!(Number.isFinite(spec.dictScale) && spec.dictScale > 0)) throw new FdtValueError(`dictScale: expected a finite number > 0, found ${spec.dictScale}`);
  if (spec.normalizer !== 'sparsemax' && spec.normalizer !== 'softmax') {
    throw new FdtValueError(`normalizer: expected "sparsemax" or "softmax", found ${JSON.stringify(spec.normalizer)}`);
  }
}

/** A new head for the spec (seeded). */
export async function createHead(spec: HeadSpec, dims: { imageDim: number; textDim: number }, seed: number): Promise<DemoHead> {
  checkSpec(spec);
  if (spec.kind === 'clip') return ClipHead.create({ dim: spec.dim, imageDim: dims.imageDim, textDim: dims.textDim, seed });
  const fdt = await FDT.create({
    numTokens: spec.numTokens,
    dim: spec.dim,
    imageDim: dims.imageDim,
    textDim: dims.textDim,
    temperature: spec.temperature,
    normalizer: spec.normalizer,
    seed,
  });
  if (spec.dictScale !== 1) {
    const T = fdt.getParam('space_dict');
    for (let i = 0; i < T.length; i++) T[i]! *= spec.dictScale;
    fdt.setParam('space_dict', T);
  }
  return fdt;
}

/** Embeddings of many rows ([n, dim], L2-normalised) and, for FDT, the active tokens per row. */
export interface Embedded {
  embeddings: Float32Array;
  dim: number;
  /** Non-zero token weights per row (FDT), null for the baseline. */
  active: Int32Array | null;
  /** Optional sparse token weights per row (FDT, when asked). */
  tokens?: { indices: Int32Array; values: Float32Array }[];
}

/** Embeds images: `features` [N, patches, imageDim]; `rows` picks and orders them (default all). */
export async function embedImages(
  head: DemoHead,
  features: Float32Array,
  patches: number,
  rows: readonly number[] | null = null,
  options: { batchSize?: number; sparse?: boolean } = {},
): Promise<Embedded> {
  const Di = head.config.imageDim;
  const per = patches * Di;
  const ids = rows ?? Array.from({ length: features.length / per }, (_, i) => i);
  return embedChunks(head, ids, options, async (chunk) => {
    const x = { data: gatherRows(features, per, chunk), shape: [chunk.length, patches, Di] };
    return head.encodeImage(x);
  });
}

/** Embeds captions: `tokens` [N, slots, textDim] with mask `valid` [N, slots]; `rows` picks them (default all). */
export async function embedTexts(
  head: DemoHead,
  tokens: Float32Array,
  valid: Float32Array,
  slots: number,
  rows: readonly number[] | null = null,
  options: { batchSize?: number; sparse?: boolean } = {},
): Promise<Embedded> {
  const Dt = head.config.textDim;
  const per = slots * Dt;
  const ids = rows ?? Array.from({ length: tokens.length / per }, (_, i) => i);
  return embedChunks(head, ids, options, async (chunk) => {
    const x = { data: gatherRows(tokens, per, chunk), shape: [chunk.length, slots, Dt] };
    const m = { data: gatherRows(valid, slots, chunk), shape: [chunk.length, slots] };
    return head.encodeText(x, m);
  });
}

type EncodeResult = { embeddings: Float32Array; activeCounts?: Int32Array; weights?: Float32Array };

async function embedChunks(
  head: DemoHead,
  ids: readonly number[],
  options: { batchSize?: number; sparse?: boolean },
  encode: (chunk: number[]) => Promise<EncodeResult>,
): Promise<Embedded> {
  const d = head.config.dim;
  const bs = options.batchSize ?? 256;
  const out = new Float32Array(ids.length * d);
  const isFdt = head instanceof FDT;
  const active = isFdt ? new Int32Array(ids.length) : null;
  const tokens: { indices: Int32Array; values: Float32Array }[] = [];
  for (let s = 0; s < ids.length; s += bs) {
    const chunk = ids.slice(s, s + bs);
    const r = await encode(chunk);
    out.set(r.embeddings, s * d);
    if (active && r.activeCounts) active.set(r.activeCounts, s);
    if (options.sparse && isFdt && r.weights) {
      const C = head.config.numTokens;
      for (let b = 0; b < chunk.length; b++) tokens.push(sparseRow(r.weights.subarray(b * C, (b + 1) * C)));
    }
  }
  const result: Embedded = { embeddings: out, dim: d, active };
  if (options.sparse && isFdt) result.tokens = tokens;
  return result;
}

/** The non-zero entries of a weight row, largest weight first. */
export function sparseRow(row: Float32Array): { indices: Int32Array; values: Float32Array } {
  const idx: number[] = [];
  for (let c = 0; c < row.length; c++) if (row[c] !== 0) idx.push(c);
  idx.sort((a, b) => row[b]! - row[a]! || a - b);
  return { indices: Int32Array.from(idx), values: Float32Array.from(idx, (c) => row[c]!) };
}
