/**
 * Calibrated thresholds, stored per user in a small JSON file (Node, Deno, Bun): $FDTKIT_CACHE_DIR/thresholds.json,
 * else ~/.cache/fdtkit/thresholds.json. `fdt calibrate` writes it (write-thresholds.ts); the dispatcher reads it once. Where there is no
 * file system (browsers) the defaults apply.
 */
import { FdtFormatError } from '../errors.js';
import { detectRuntime } from '../runtime.js';
import type { CostPoint, CostSeries, Thresholds } from './policy.js';

/** The calibration file: thresholds, with the measured series they come from, and the machine they were taken on. */
export interface CalibrationFile extends Thresholds {
  machine: string;
  /** The model size the series were measured at ('d = 512, C = 16384'). */
  size?: string;
}

// A calibration writes a handful of series of a handful of points; more is not a calibration file.
const MAX_SERIES = 16;
const MAX_POINTS = 64;

/** Why `v` is not a valid list of cost series, or null when it is. */
function seriesProblem(v: unknown): string | null {
  if (!Array.isArray(v)) return 'series: expected an array';
  if (v.length > MAX_SERIES) return `series: at most ${MAX_SERIES}, found ${v.length}`;
  for (const [i, s] of v.entries()) {
    const o = s as Partial<CostSeries> | null;
    if (!o || (o.op !== 'encode' && o.op !== 'train')) return `series[${i}].op: expected 'encode' or 'train'`;
    if (o.rows !== undefined && !(Number.isFinite(o.rows) && o.rows > 0)) return `series[${i}].rows: expected a positive number`;
    if (!Array.isArray(o.points) || o.points.length > MAX_POINTS) return `series[${i}].points: expected an array of at most ${MAX_POINTS}`;
    for (const [j, p] of o.points.entries()) {
      const q = p as Partial<CostPoint> | null;
      for (const k of ['B', 'flops', 'wasmMs', 'tfjsMs'] as const) {
        if (!q || typeof q[k] !== 'number' || !(q[k] > 0) || !Number.isFinite(q[k])) return `series[${i}].points[${j}].${k}: expected a positive finite number`;
      }
    }
  }
  return null;
}

// Node built-ins imported by a specifier in a variable: bundlers leave them alone.
async function nodeModule<T>(name: string): Promise<T> {
  return (await import(/* @vite-ignore */ name)) as T;
}

function hasFileSystem(): boolean {
  const rt = detectRuntime();
  return rt === 'node' || rt === 'deno' || rt === 'bun';
}

/** Path of the calibration file, or null where there is no file system. */
export async function thresholdsPath(): Promise<string | null> {
  if (!hasFileSystem()) return null;
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env ?? {};
  const path = await nodeModule<typeof import('node:path')>('node:path');
  const os = await nodeModule<typeof import('node:os')>('node:os');
  const dir = env['FDTKIT_CACHE_DIR'] ?? path.join(os.homedir(), '.cache', 'fdtkit');
  return path.join(dir, 'thresholds.json');
}

/** Largest calibration file read. */
const MAX_CALIBRATION_BYTES = 1 << 20;

/** Reads and validates the calibration file; null when there is none. A malformed file is an error naming it. */
export async function readCalibration(): Promise<CalibrationFile | null> {
  const file = await thresholdsPath();
  if (!file) return null;
  const fs = await nodeModule<typeof import('node:fs/promises')>('node:fs/promises');
  const size = await fs.stat(file).then((s) => s.size, () => null);
  if (size === null) return null;
  // A calibration holds a few series of a few points (a few KiB): anything far larger is not one, and is not read.
  if (size > MAX_CALIBRATION_BYTES) throw new FdtFormatError(`${file}: ${size} bytes, more than a calibration file's ${MAX_CALIBRATION_BYTES}; delete it or run \`fdt calibrate\` again`);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    return null;
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new FdtFormatError(`${file}: not valid JSON; delete it or run \`fdt calibrate\` again`);
  }
  const o = v as Partial<CalibrationFile> & { crossoverFlops?: number | null };
  if (!o || typeof o !== 'object' || typeof o.source !== 'string' || !(o.crossoverFlops === null || typeof o.crossoverFlops === 'number')) {
    throw new FdtFormatError(`${file}: expected {backend, crossoverFlops, source, series}; run \`fdt calibrate\` again`);
  }
  const bad = o.series === undefined ? null : seriesProblem(o.series);
  if (bad) throw new FdtFormatError(`${file}: ${bad}; run \`fdt calibrate\` again`);
  return { ...(o as CalibrationFile), crossoverFlops: o.crossoverFlops === null ? Infinity : o.crossoverFlops! };
}
