// Output paths are checked before a command does its work: a training run or a demo must not end by failing to
// write its result (and lose it) because the folder is missing, is a file, or cannot be written.
import { accessSync, constants, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { UsageError } from './usage.js';

function kind(path: string): 'file' | 'dir' | 'other' | null {
  try {
    const s = statSync(path);
    return s.isDirectory() ? 'dir' : s.isFile() ? 'file' : 'other';
  } catch {
    return null;
  }
}

function writable(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** A file the command will write (atomically, replacing it): its folder exists and is writable, it is no folder. */
export function checkOutFile(flag: string, path: string): void {
  const full = resolve(path);
  const k = kind(full);
  if (k === 'dir' || k === 'other') throw new UsageError(`${flag} ${path}: expected a file path, found a ${k === 'dir' ? 'folder' : 'special file'}`);
  const parent = dirname(full);
  if (kind(parent) !== 'dir') throw new UsageError(`${flag} ${path}: the folder ${parent} does not exist`);
  if (!writable(parent)) throw new UsageError(`${flag} ${path}: the folder ${parent} is not writable`);
}

/** A folder the command will create if needed and write into: no file sits at its path or above it, and it can be made. */
export function checkOutDir(flag: string, path: string): void {
  let at = resolve(path);
  for (;;) {
    const k = kind(at);
    if (k === 'dir') {
      if (!writable(at)) throw new UsageError(`${flag} ${path}: the folder ${at} is not writable`);
      return;
    }
    if (k !== null) throw new UsageError(`${flag} ${path}: expected a folder, found a file at ${at}`);
    const up = dirname(at);
    if (up === at) throw new UsageError(`${flag} ${path}: no existing folder above it`);
    at = up;
  }
}
