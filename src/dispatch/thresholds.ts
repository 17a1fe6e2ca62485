/**
 * Calibrated thresholds, stored per user in a small JSON file (Node, Deno, Bun): $FDTKIT_CACHE_DIR/thresholds.json,
 * else ~/.cache/fdtkit/thresholds.json. `fdt calibrate` writes it; the dispatcher reads it once. Where there is no
 * file system (browsers) the defaults apply.
 */
import { FdtFormatError } from '../errors.js';
import { detectRuntime } from '../runtime.js';
import type { Thresholds } from './policy.js';

/** The calibration file: thresholds plus the measurements they came from. */
export interface CalibrationFile extends Thresholds {
  measured: { B: number; flops: number; wasmMs: number; tfjsMs: number }[];
  machine: string;
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

/** Reads and validates the calibration file; null when there is none. A malformed file is an error naming it. */
export async function readCalibration(): Promise<CalibrationFile | null> {
  const file = await thresholdsPath();
  if (!file) return null;
  const fs = await nodeModule<typeof import('node:fs/promises')>('node:fs/promises');
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
    throw new FdtFormatError(`${file}: expected {backend, crossoverFlops, source, measured}; run \`fdt calibrate\` again`);
  }
  return { ...(o as CalibrationFile), crossoverFlops: o.crossoverFlops === null ? Infinity : o.crossoverFlops! };
}

/** Writes the calibration file atomically (JSON has no Infinity: "never" is stored as null). */
export async function writeCalibration(c: CalibrationFile): Promise<string> {
  const file = (await thresholdsPath())!;
  const path = await nodeModule<typeof import('node:path')>('node:path');
  const fs = await nodeModule<typeof import('node:fs/promises')>('node:fs/promises');
  await fs.mkdir(path.dirname(file), { recursive: true });
  const { writeFileAtomic } = await nodeModule<typeof import('../io/atomic-write.js')>('../io/atomic-write.js');
  const json = JSON.stringify({ ...c, crossoverFlops: Number.isFinite(c.crossoverFlops) ? c.crossoverFlops : null }, null, 2);
  await writeFileAtomic(file, new TextEncoder().encode(json + '\n'));
  return file;
}
