/**
 * Shared plumbing of the data side: where installed packages live, their versions, the cache directory, and atomic
 * file writes (write to a temporary file in the same directory, then rename, so that an interrupted run never leaves
 * a half-written entry under a final name).
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FdtFormatError, FdtValueError } from '../errors.js';

const require = createRequire(import.meta.url);

/** Prefix of every temporary file; readers never open such a file. */
export const TMP_PREFIX = '.tmp-';

/**
 * The directory of an installed package, found through Node's resolution paths (works for packages whose
 * `exports` hide `package.json`, and for data-only packages). Throws FdtValueError when it is not installed.
 */
export function packageDir(name: string): string {
  const paths = require.resolve.paths(name) ?? [];
  for (const p of paths) {
    const dir = join(p, name);
    if (existsSync(join(dir, 'package.json'))) return dir;
  }
  throw new FdtValueError(`package "${name}": expected it to be installed (searched ${paths.length} node_modules directories), found nothing`);
}

const versionMemo = new Map<string, string>();

/** The installed version of a package (from its package.json). */
export function packageVersion(name: string): string {
  let v = versionMemo.get(name);
  if (v === undefined) {
    const file = join(packageDir(name), 'package.json');
    const pkg = readJson(file) as { version?: unknown };
    if (typeof pkg.version !== 'string') throw new FdtFormatError(`${file}: expected a string "version", found ${JSON.stringify(pkg.version)}`);
    v = pkg.version;
    versionMemo.set(name, v);
  }
  return v;
}

/** Parses a JSON file, naming the file on failure. */
export function readJson(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new FdtFormatError(`${file}: expected a readable file, found ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new FdtFormatError(`${file}: expected valid JSON, found a parse error: ${(e as Error).message}`);
  }
}

/** The root of this repository/package (the nearest ancestor directory whose package.json is named "fdtkit"). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj)) {
      try {
        if ((JSON.parse(readFileSync(pj, 'utf8')) as { name?: string }).name === 'fdtkit') return dir;
      } catch {
        /* keep walking */
      }
    }
    const up = dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
}

/** The cache directory: the given path (resolved against the cwd) or `.cache/fdtkit/` under the repository root. */
export function resolveCacheDir(cacheDir?: string): string {
  if (cacheDir !== undefined && (typeof cacheDir !== 'string' || cacheDir.length === 0)) {
    throw new FdtValueError(`cacheDir: expected a non-empty path string, found ${JSON.stringify(cacheDir)}`);
  }
  return cacheDir === undefined ? join(repoRoot(), '.cache', 'fdtkit') : resolve(cacheDir);
}

/** Writes a file atomically: a temporary sibling (named with TMP_PREFIX) is written, then renamed over `file`. */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const dir = dirname(file);
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `${TMP_PREFIX}${process.pid}-${randomBytes(6).toString('hex')}`);
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** Removes temporary files (left by interrupted writers) older than `maxAgeMs` from a directory. */
export function sweepStaleTemps(dir: string, maxAgeMs = 6 * 3600 * 1000): void {
  if (!existsSync(dir)) return;
  const now = Date.now();
  for (const f of readdirSync(dir)) {
    if (!f.startsWith(TMP_PREFIX)) continue;
    try {
      if (now - statSync(join(dir, f)).mtimeMs > maxAgeMs) rmSync(join(dir, f), { force: true });
    } catch {
      /* raced with another process: fine */
    }
  }
}

/** Bytes of a typed array (a view, no copy). */
export function bytesOf(a: Float32Array | Uint8Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** A short hex digest of a value's JSON text (stable for plain data). */
export function hashKey(value: unknown, length = 16): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, length);
}

/** sha256 hex of raw bytes (written into cache metadata and checked on read). */
export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Reads an atomically written entry: `<base>.json` (metadata, written last) + `<base>.<ext>` (payload). */
export function readEntry(base: string, ext: string): { meta: Record<string, unknown>; bytes: Buffer } | null {
  const metaFile = `${base}.json`;
  const dataFile = `${base}.${ext}`;
  if (!existsSync(metaFile) || !existsSync(dataFile)) return null;
  let meta: Record<string, unknown>;
  try {
    meta = JSON.parse(readFileSync(metaFile, 'utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
  if (meta === null || typeof meta !== 'object') return null;
  let bytes: Buffer;
  try {
    bytes = readFileSync(dataFile);
  } catch {
    return null; // unreadable (or a folder): rebuilt like a missing entry
  }
  if (meta.bytes !== bytes.length || meta.sha256 !== sha256(bytes)) return null;
  return { meta, bytes };
}

/** Writes an entry: payload first, then its metadata (with byte count and sha256), both atomically. */
export function writeEntry(base: string, ext: string, meta: Record<string, unknown>, payload: Uint8Array): void {
  writeFileAtomic(`${base}.${ext}`, payload);
  writeFileAtomic(`${base}.json`, JSON.stringify({ ...meta, bytes: payload.byteLength, sha256: sha256(payload) }));
}

/** Copies a Buffer's bytes into a fresh, aligned Float32Array. */
export function toFloat32(bytes: Uint8Array): Float32Array {
  const out = new Float32Array(bytes.byteLength / 4);
  bytesOf(out).set(bytes);
  return out;
}

export interface ChunkedCacheOptions {
  /** Directory of the entries. */
  dir: string;
  /** File-name prefix of the entries, e.g. "noto-112px". */
  prefix: string;
  /** Payload file extension, e.g. "u8" or "f32". */
  ext: string;
  /** Item ids in output order. */
  ids: readonly string[];
  /** Items per cache entry (the unit of resumption). */
  chunkSize: number;
  /** Everything besides the ids that determines the payload (versions, settings); part of the key and the meta. */
  keyMeta: Record<string, unknown>;
  /** Payload bytes per item. */
  bytesPerItem: number;
  /** Computes the payload of a chunk of ids (ids.length * bytesPerItem bytes). */
  compute: (ids: string[]) => Promise<Uint8Array>;
  /** Called after each chunk with its item count and whether it came from the cache. */
  onChunk?: (items: number, cached: boolean) => void;
}

/**
 * A cache of per-item payloads stored in chunks of `chunkSize` consecutive ids. Each chunk is one entry
 * (`<prefix>-<hash>.<ext>` + `.json`), keyed by a hash of keyMeta and the chunk's ids, written atomically and validated
 * on read (ids, byte count, sha256); an invalid or missing entry is recomputed. An interrupted run keeps its finished
 * chunks, so a later run resumes. Returns all payloads concatenated in `ids` order.
 */
export async function chunkedCache(o: ChunkedCacheOptions): Promise<{ bytes: Uint8Array; cachedItems: number }> {
  if (!Number.isInteger(o.chunkSize) || o.chunkSize < 1) throw new FdtValueError(`chunkSize: expected a positive integer, found ${o.chunkSize}`);
  sweepStaleTemps(o.dir);
  const out = new Uint8Array(o.ids.length * o.bytesPerItem);
  let cachedItems = 0;
  for (let start = 0; start < o.ids.length; start += o.chunkSize) {
    const ids = o.ids.slice(start, start + o.chunkSize);
    const key = hashKey({ ...o.keyMeta, ids });
    const base = join(o.dir, `${o.prefix}-${key}`);
    const want = ids.length * o.bytesPerItem;
    const entry = readEntry(base, o.ext);
    let payload: Uint8Array | null = null;
    if (entry && entry.meta.key === key && entry.bytes.length === want && JSON.stringify(entry.meta.ids) === JSON.stringify(ids)) {
      payload = entry.bytes;
      cachedItems += ids.length;
    }
    const cached = payload !== null;
    if (payload === null) {
      payload = await o.compute(ids);
      if (payload.byteLength !== want) {
        throw new FdtFormatError(`${o.prefix} chunk at ${start}: expected ${want} payload bytes, found ${payload.byteLength}`);
      }
      writeEntry(base, o.ext, { ...o.keyMeta, key, ids }, payload);
    }
    out.set(payload, start * o.bytesPerItem);
    o.onChunk?.(ids.length, cached);
  }
  return { bytes: out, cachedItems };
}
