/**
 * Where model and checkpoint bytes come from: a path (Node, Deno and Bun, through the Node-only file module) or bytes
 * the caller already holds (a Uint8Array, or the ArrayBuffer of `await response.arrayBuffer()` in a browser).
 */
import { FdtValueError } from '../errors.js';
import { detectRuntime } from '../runtime.js';

// The Node-only file module, imported by a specifier held in a variable: bundlers do not follow it, so a browser
// bundle of the library contains no `node:` import. Paths work where the runtime has a file system (Node, Deno, Bun).
const NODE_FILES = './files.js';

/** The Node-only file module; FdtValueError in a runtime without a file system. */
export async function nodeFiles(): Promise<typeof import('./files.js')> {
  const rt = detectRuntime();
  if (rt !== 'node' && rt !== 'deno' && rt !== 'bun') {
    throw new FdtValueError(`file paths need Node, Deno or Bun (this runtime is ${rt}); pass the file's bytes as a Uint8Array`);
  }
  return (await import(/* @vite-ignore */ NODE_FILES)) as typeof import('./files.js');
}

/** Bytes from a path, a Uint8Array (used as is) or an ArrayBuffer (viewed, not copied). */
export async function readSource(name: string, source: string | Uint8Array | ArrayBuffer): Promise<Uint8Array> {
  if (typeof source === 'string') return (await nodeFiles()).readModelFile(source);
  if (source instanceof Uint8Array) return source;
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  const found = source === null ? 'null' : ArrayBuffer.isView(source) ? (source as object).constructor.name : typeof source;
  throw new FdtValueError(`${name}: expected a path, a Uint8Array or an ArrayBuffer, found ${found}`);
}
