// Node-only file access for model files: reads with a size check, writes atomically (temp file + fsync + rename).
// Imported dynamically by FDT.load / FDT.save so that the library's entry point stays free of `node:` imports.
import { readFile, stat } from 'node:fs/promises';
import { FdtFormatError } from '../errors.js';
import { writeFileAtomic } from './atomic-write.js';

/**
 * Largest model file read: 2 GiB - 1, the most Node's readFile returns (past it, an untyped ERR_FS_FILE_TOO_LARGE);
 * the paper-scale head is ~40 MB, and a checkpoint with its AdamW moments three times that.
 */
export const MAX_MODEL_FILE_BYTES = 2 ** 31 - 1;

/** Reads a whole file after checking it is a regular file within the size cap. */
export async function readModelFile(path: string): Promise<Uint8Array> {
  const s = await stat(path).catch((e: Error) => {
    throw new FdtFormatError(`${path}: cannot read: ${e.message}`);
  });
  if (!s.isFile()) throw new FdtFormatError(`${path}: not a regular file`);
  if (s.size > MAX_MODEL_FILE_BYTES) throw new FdtFormatError(`${path}: ${s.size} bytes exceeds the ${MAX_MODEL_FILE_BYTES}-byte cap`);
  const bytes = await readFile(path).catch((e: Error) => {
    throw new FdtFormatError(`${path}: cannot read: ${e.message}`);
  });
  return new Uint8Array(bytes);
}

/** Writes a file atomically: readers see the old file or the new one, never a part. */
export async function writeModelFile(path: string, bytes: Uint8Array): Promise<void> {
  await writeFileAtomic(path, bytes);
}
