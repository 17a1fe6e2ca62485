/**
 * Writing the calibration file: Node, Deno and Bun only (`fdt calibrate`). Kept apart from thresholds.ts, which the
 * browser-safe dispatcher imports, so that its `node:` imports and the atomic writer are plain static imports that
 * bundlers resolve (a specifier in a variable left '../io/atomic-write.js' unresolved in a bundled build).
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../io/atomic-write.js';
import { thresholdsPath, type CalibrationFile } from './thresholds.js';

/** Writes the calibration file atomically (JSON has no Infinity: "never" is stored as null); returns its path. */
export async function writeCalibration(c: CalibrationFile): Promise<string> {
  const file = (await thresholdsPath())!;
  await mkdir(dirname(file), { recursive: true });
  const json = JSON.stringify({ ...c, crossoverFlops: Number.isFinite(c.crossoverFlops) ? c.crossoverFlops : null }, null, 2);
  await writeFileAtomic(file, new TextEncoder().encode(json + '\n'));
  return file;
}
