import type { ResolvedBuild, WasmBuild } from '../../bindings/kernels.js';
import type { FdtConfig } from '../config.js';
import { FdtFormatError } from '../errors.js';
import { FDT, type GradientResult } from '../fdt.js';

/** One compared field: its largest absolute and relative error and whether it is within tolerance. */
export interface FieldReport {
  field: string;
  maxAbs: number;
  maxRel: number;
  /** The allowed absolute error: rtol * max(1, max |expected|). */
  allowed: number;
  ok: boolean;
  /** Set when the field is not compared, with the reason. */
  skipped?: string;
}

/** The outcome of verifying one golden file. */
export interface VerifyReport {
  name: string;
  /** The engine that ran: 'wasm simd', 'wasm scalar' or 'tfjs <backend>'. */
  engine: string;
  build: ResolvedBuild;
  fields: FieldReport[];
  ok: boolean;
}

/** The tolerance rule for float32 engines: |actual - expected| <= 1e-4 * max(1, max |expected|) per field. */
export const FLOAT32_RTOL = 1e-4;

type Nested = number | Nested[];

function flat(name: string, x: unknown): number[] {
  const out: number[] = [];
  const walk = (v: unknown): void => {
    if (typeof v === 'number') out.push(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else throw new FdtFormatError(`${name}: expected numbers or nested arrays of numbers, found ${v === null ? 'null' : typeof v}`);
  };
  walk(x);
  return out;
}

function shapeOf(x: Nested): number[] {
  const s: number[] = [];
  let cur: Nested = x;
  while (Array.isArray(cur)) {
    s.push(cur.length);
    cur = cur[0] as Nested;
  }
  return s;
}

function obj(name: string, x: unknown): Record<string, unknown> {
  if (x === null || typeof x !== 'object' || Array.isArray(x)) throw new FdtFormatError(`${name}: expected an object, found ${Array.isArray(x) ? 'an array' : x === null ? 'null' : typeof x}`);
  return x as Record<string, unknown>;
}

/**
 * Reads the head's config from a golden file in the official format. Dimensions missing from `config` are read off
 * the inputs and parameters.
 */
export function goldenConfig(doc: Record<string, unknown>): Partial<FdtConfig> {
  const cfg = obj('config', doc['config']);
  const inputs = obj('inputs', doc['inputs']);
  const num = (k: string): number | undefined => (typeof cfg[k] === 'number' ? (cfg[k] as number) : undefined);
  const patches = shapeOf(inputs['patch_features'] as Nested);
  const words = shapeOf(inputs['word_features'] as Nested);
  if (cfg['pool'] !== undefined && cfg['pool'] !== 'max') {
    throw new FdtFormatError(`config.pool: only 'max' pooling is defined by FDT, found ${JSON.stringify(cfg['pool'])}`);
  }
  const att = cfg['att_func'] ?? 'sparsemax';
  if (att !== 'sparsemax' && att !== 'softmax') {
    throw new FdtFormatError(`config.att_func: expected 'sparsemax' or 'softmax', found ${JSON.stringify(att)}`);
  }
  return {
    numTokens: num('fdt_num'),
    dim: num('fdt_dim'),
    imageDim: num('img_token_dim') ?? patches[2],
    textDim: num('txt_token_dim') ?? words[2],
    temperature: num('temperature') ?? 1,
    normalizer: att,
    maskMode: 'official',
  };
}

/**
 * Runs a golden file (the official format: config, inputs, params with official names, intermediates, outputs,
 * grads) through the FDT head on the wasm engine and compares every field it holds.
 * `params` overrides the file's parameters (e.g. read from a checkpoint when the file holds none).
 */
export async function verifyGolden(
  doc: unknown, options: { build?: WasmBuild; engine?: 'wasm' | 'tfjs'; backends?: string[]; params?: Record<string, ArrayLike<number>>; config?: Partial<FdtConfig>; rtol?: number } = {},
): Promise<VerifyReport> {
  const d = obj('golden file', doc);
  const rtol = options.rtol ?? FLOAT32_RTOL;
  let params: Record<string, ArrayLike<number>>;
  if (options.params) params = options.params;
  else {
    if (d['params'] === undefined) throw new FdtFormatError('golden file: it holds no `params`; give the parameters from a checkpoint (--checkpoint)');
    params = Object.fromEntries(Object.entries(obj('params', d['params'])).map(([k, v]) => [k, flat(`params.${k}`, v)]));
  }
  const config = { ...goldenConfig(d), ...options.config };
  const model = await FDT.fromParams(config, params, { build: options.build ?? 'auto', engine: options.engine ?? 'wasm', backends: options.backends });
  const inputs = obj('inputs', d['inputs']);
  const batch = {
    patches: inputs['patch_features'] as number[][][],
    tokens: inputs['word_features'] as number[][][],
    valid: inputs['text_valid'] as number[][] | undefined,
  };
  const r = await model.trace(batch);
  // The training step asks for parameter gradients only, which takes another route through the first LayerNorm and
  // Linear of each query MLP (no input gradient): checked against the same golden gradients.
  const training = d['grads'] === undefined ? null : await model.gradients(batch, { inputs: false });
  model.dispose();
  const fields: FieldReport[] = [];
  const actual = actualFields(r);
  const sections = ['intermediates', 'outputs', 'grads'] as const;
  for (const section of sections) {
    if (d[section] === undefined) continue;
    for (const [key, value] of Object.entries(obj(section, d[section]))) {
      const field = section === 'grads' ? `grads.${key}` : key;
      if (key === 'labels') continue;
      const a = actual[field];
      if (typeof a === 'string') {
        fields.push({ field, maxAbs: 0, maxRel: 0, allowed: 0, ok: true, skipped: a });
        continue;
      }
      if (a === undefined) {
        fields.push({ field, maxAbs: NaN, maxRel: NaN, allowed: 0, ok: false, skipped: 'unknown field: not computed by this engine' });
        continue;
      }
      fields.push(compareField(field, a, flat(field, value), rtol));
      const t = training && key.startsWith('param.') ? training.grads.params[key.slice('param.'.length)] : undefined;
      if (t) fields.push(compareField(`train.grads.${key}`, t, flat(field, value), rtol));
    }
  }
  return { name: typeof d['name'] === 'string' ? d['name'] : 'golden', engine: model.lastEngine, build: model.build, fields, ok: fields.every((f) => f.ok) };
}

/**
 * The largest error of `a` against `e` (same length): max |a - e| and where, the largest relative error, and the
 * scale max(1, max |e| over finite e). Equal values (the same infinity, or NaN on both sides) are no error; a NaN
 * on one side only is an infinite one.
 */
export function maxError(a: ArrayLike<number>, e: ArrayLike<number>): { maxAbs: number; at: number; maxRel: number; scale: number } {
  let maxAbs = 0;
  let at = -1;
  let maxRel = 0;
  let scale = 1;
  for (let i = 0; i < e.length; i++) {
    const x = a[i]!;
    const y = e[i]!;
    const diff = Object.is(x, y) || x === y ? 0 : Math.abs(x - y);
    const err = Number.isNaN(diff) ? Infinity : diff;
    if (err > maxAbs) {
      maxAbs = err;
      at = i;
    }
    maxRel = Math.max(maxRel, err / Math.max(Math.abs(y), 1e-30));
    if (Number.isFinite(y)) scale = Math.max(scale, Math.abs(y));
  }
  return { maxAbs, at, maxRel, scale };
}

/**
 * One field against its expected values: max |a - e|, the largest relative error, and whether max |a - e| is within
 * rtol * max(1, max |e|) (`fdt verify`'s rule; maxError's treatment of non-finite values). maxAbs / allowed with
 * rtol = 1 is the error as a share of the scale.
 */
export function compareField(field: string, a: ArrayLike<number>, e: ArrayLike<number>, rtol: number): FieldReport {
  if (a.length !== e.length) {
    return { field, maxAbs: Infinity, maxRel: Infinity, allowed: 0, ok: false, skipped: `size mismatch: ${a.length} vs expected ${e.length}` };
  }
  const { maxAbs, maxRel, scale } = maxError(a, e);
  const allowed = rtol * scale;
  return { field, maxAbs, maxRel, allowed, ok: maxAbs <= allowed };
}

/** max |a - e| / max(1, max |e|): `fdt verify`'s measure of a field's error as a share of its scale (Infinity on a length mismatch). */
export function relativeError(a: ArrayLike<number>, e: ArrayLike<number>): number {
  if (a.length !== e.length) return Infinity;
  const { maxAbs, scale } = maxError(a, e);
  return maxAbs / scale;
}

function actualFields(r: GradientResult): Record<string, ArrayLike<number> | string> {
  const fused = 'not materialised: the relevance kernel fuses the max and never stores the [B, L, C] scores';
  const floored = Float32Array.from(r.text.argmax!, (a) => (a < 0 ? 1 : 0));
  const out: Record<string, ArrayLike<number> | string> = {
    q_img: r.image.queries!,
    q_txt: r.text.queries!,
    token_scores_img_derived: fused,
    token_scores_txt_derived: fused,
    relevance_img: r.image.relevance,
    relevance_txt: r.text.relevance,
    text_relevance_floored_by_padding: floored,
    weights_img: r.image.weights,
    weights_txt: r.text.weights,
    nonzero_img: r.image.activeCounts,
    nonzero_txt: r.text.activeCounts,
    fdt_embed_img: r.image.embeddingsRaw,
    fdt_embed_txt: r.text.embeddingsRaw,
    logits_per_image: r.logitsPerImage,
    logits_per_text: r.logitsPerText,
    loss: [r.loss],
    logit_scale_used: [r.logitScaleUsed],
    'grads.patch_features': r.grads.patches,
    'grads.word_features': r.grads.tokens,
  };
  for (const [k, v] of Object.entries(r.grads.params)) out[`grads.param.${k}`] = v;
  return out;
}

/** The report as a fixed-width table, one row per field. */
export function formatReport(rep: VerifyReport): string {
  const lines = [`${rep.name} (${rep.engine})`, `${'field'.padEnd(50)} ${'max abs err'.padStart(12)} ${'max rel err'.padStart(12)} ${'allowed'.padStart(10)}  result`];
  for (const f of rep.fields) {
    const res = f.skipped && f.ok ? `skipped (${f.skipped})` : f.ok ? 'ok' : `FAIL${f.skipped ? ` (${f.skipped})` : ''}`;
    lines.push(`${f.field.padEnd(50)} ${fmt(f.maxAbs)} ${fmt(f.maxRel)} ${f.allowed.toExponential(1).padStart(10)}  ${res}`);
  }
  lines.push(rep.ok ? 'PASS: every field within tolerance' : `FAIL: ${rep.fields.filter((f) => !f.ok).length} field(s) out of tolerance`);
  return lines.join('\n');
}

function fmt(x: number): string {
  return (Number.isFinite(x) ? x.toExponential(2) : String(x)).padStart(12);
}
