/**
 * Loading the official golden files (shared/golden, a sibling folder of the repository) as flat Float64Arrays.
 * Usage: `describe.skipIf(!HAS_GOLDEN)(...)`; GOLDEN_SKIP_REASON says why when they are absent.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HeadConfig, HeadInputs } from './reference/head.js';

/** A flat row-major array with its shape ([] for a scalar). */
export interface Tensor {
  data: Float64Array;
  shape: number[];
}

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const SHARED_DIR = path.resolve(REPO_ROOT, '..', 'shared');
export const GOLDEN_DIR = path.join(SHARED_DIR, 'golden');
export const HAS_GOLDEN = fs.existsSync(GOLDEN_DIR);
export const GOLDEN_SKIP_REASON = HAS_GOLDEN ? '' : `golden files not found at ${GOLDEN_DIR}`;

/** True for a number or a (nested) array whose leaves are all numbers. */
export function isNumeric(v: unknown): boolean {
  if (typeof v === 'number') return true;
  return Array.isArray(v) && v.length > 0 && v.every(isNumeric);
}

/** Nested numeric JSON array (or a number) -> flat Float64Array + shape. Throws on ragged or non-numeric data. */
export function flatten(nested: unknown): Tensor {
  const shape: number[] = [];
  for (let v = nested; Array.isArray(v); v = v[0]) shape.push(v.length);
  const size = shape.reduce((a, b) => a * b, 1);
  const data = new Float64Array(size);
  let i = 0;
  const walk = (v: unknown, depth: number): void => {
    if (depth === shape.length) {
      if (typeof v !== 'number') throw new Error(`flatten: non-numeric leaf ${JSON.stringify(v)}`);
      data[i++] = v;
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[depth]) throw new Error(`flatten: ragged array at depth ${depth}`);
    for (const x of v) walk(x, depth + 1);
  };
  walk(nested, 0);
  return { data, shape };
}

/** Recursively turn every numeric array into a Tensor; numbers, strings and the `config` object are kept as is. */
function convert(v: unknown, key = ''): unknown {
  if (key === 'config') return v;
  if (Array.isArray(v)) return isNumeric(v) ? flatten(v) : v.map((x) => convert(x));
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, convert(x, k)]));
  }
  return v;
}

/**
 * Load a golden JSON file (a name inside GOLDEN_DIR or a path). Every numeric (nested) array becomes a
 * {@link Tensor}; scalars, strings and `config` stay plain JSON.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function loadGolden(file: string): any {
  const full = path.isAbsolute(file) ? file : path.join(GOLDEN_DIR, file);
  return convert(JSON.parse(fs.readFileSync(full, 'utf8')));
}

/** The fdt_head_*.json files present in GOLDEN_DIR (empty when absent). */
export function goldenHeadFiles(): string[] {
  if (!HAS_GOLDEN) return [];
  return fs.readdirSync(GOLDEN_DIR).filter((f) => /^fdt_head_.*\.json$/.test(f)).sort();
}

/** One fdt_head golden case, ready for the reference head: flat params, inputs, config and expected values. */
export interface GoldenHeadCase {
  name: string;
  config: Record<string, unknown>;
  headConfig: HeadConfig;
  inputs: HeadInputs;
  params: Record<string, Float64Array>;
  intermediates: Record<string, Tensor>;
  outputs: Record<string, Tensor | number>;
  grads: Record<string, Tensor>;
}

/** Load fdt_head_<case>.json into a {@link GoldenHeadCase} (official mask mode). */
export function loadGoldenHead(file: string): GoldenHeadCase {
  const g = loadGolden(file);
  const cfg = g.config;
  const patches: Tensor = g.inputs.patch_features;
  const words: Tensor = g.inputs.word_features;
  const params: Record<string, Float64Array> = {};
  for (const [k, t] of Object.entries(g.params as Record<string, Tensor>)) params[k] = t.data;
  return {
    name: g.name,
    config: cfg,
    headConfig: { normaliser: cfg.att_func, temperature: cfg.temperature, maskMode: 'official' },
    inputs: {
      patchFeatures: patches.data,
      wordFeatures: words.data,
      textValid: g.inputs.text_valid.data,
      B: patches.shape[0],
      N: patches.shape[1],
      L: words.shape[1],
    },
    params,
    intermediates: g.intermediates,
    outputs: g.outputs,
    grads: g.grads,
  };
}
