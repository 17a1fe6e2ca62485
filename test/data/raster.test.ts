import { existsSync, mkdtempSync, readdirSync, rmSync, truncateSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FdtValueError } from '../../src/errors.js';
import { chunkedCache, sweepStaleTemps, writeFileAtomic } from '../../src/data/cache.js';
import { listEmojiPairs } from '../../src/data/emoji.js';
import { rasterizeEmojiSet, rasterizeSvg } from '../../src/data/raster.js';

const dir = mkdtempSync(join(tmpdir(), 'fdtkit-raster-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ids = listEmojiPairs('fluent-emoji-flat').slice(100, 103).map((p) => p.hexcode);

describe('rasterisation', () => {
  it('renders an SVG to S x S RGB on white', async () => {
    const px = await rasterizeSvg('<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8" viewBox="0 0 2 1"><rect width="2" height="1" fill="#f00"/></svg>', 8);
    expect(px.length).toBe(8 * 8 * 3);
    expect([...px.subarray(0, 3)]).toEqual([255, 255, 255]); // letterbox: white
    const mid = (4 * 8 + 4) * 3;
    expect([...px.subarray(mid, mid + 3)]).toEqual([255, 0, 0]);
  });

  it('writes, reads and validates the cache; a partial temp file is ignored', async () => {
    const cacheDir = join(dir, 'a');
    const first = await rasterizeEmojiSet('fluent-emoji-flat', ids, { size: 16, cacheDir, chunkSize: 2 });
    expect(first.shape).toEqual([3, 16, 16, 3]);
    expect(first.cachedImages).toBe(0);
    expect(first.hexcodes).toEqual(ids);
    expect(first.pixels.some((v) => v < 200)).toBe(true);
    const rdir = join(cacheDir, 'raster');
    const files = readdirSync(rdir);
    expect(files.filter((f) => f.endsWith('.u8')).length).toBe(2);
    expect(files.filter((f) => f.endsWith('.json')).length).toBe(2);
    expect(files.some((f) => f.startsWith('.tmp-'))).toBe(false);

    // An interrupted writer leaves only a temp file: it is never read.
    writeFileSync(join(rdir, '.tmp-99999-deadbeef'), 'partial');
    const second = await rasterizeEmojiSet('fluent-emoji-flat', ids, { size: 16, cacheDir, chunkSize: 2 });
    expect(second.cachedImages).toBe(3);
    expect(Buffer.compare(Buffer.from(second.pixels), Buffer.from(first.pixels))).toBe(0);

    // A truncated payload fails validation and is recomputed; a payload without its meta (interrupted between the two
    // renames) is recomputed too; the other chunk resumes from the cache.
    const u8 = files.filter((f) => f.endsWith('.u8')).sort();
    truncateSync(join(rdir, u8[0]!), 10);
    unlinkSync(join(rdir, u8[1]!.replace(/\.u8$/, '.json')));
    const third = await rasterizeEmojiSet('fluent-emoji-flat', ids, { size: 16, cacheDir, chunkSize: 2 });
    expect(third.cachedImages).toBe(0);
    expect(Buffer.compare(Buffer.from(third.pixels), Buffer.from(first.pixels))).toBe(0);
    const fourth = await rasterizeEmojiSet('fluent-emoji-flat', ids, { size: 16, cacheDir, chunkSize: 2 });
    expect(fourth.cachedImages).toBe(3);

    // Another size is another entry.
    const other = await rasterizeEmojiSet('fluent-emoji-flat', ids, { size: 8, cacheDir, chunkSize: 2 });
    expect(other.cachedImages).toBe(0);
    expect(other.shape).toEqual([3, 8, 8, 3]);
  });

  it('resumes after an interruption: finished chunks are kept', async () => {
    const cacheDir = join(dir, 'b');
    let calls = 0;
    const opts = (failAt: number) => ({
      dir: cacheDir,
      prefix: 't',
      ext: 'bin',
      ids: ['a', 'b', 'c', 'd', 'e'],
      chunkSize: 2,
      keyMeta: { v: 1 },
      bytesPerItem: 1,
      compute: async (chunk: string[]) => {
        if (++calls === failAt) throw new Error('interrupted');
        return Uint8Array.from(chunk, (s) => s.charCodeAt(0));
      },
    });
    await expect(chunkedCache(opts(2))).rejects.toThrow('interrupted');
    expect(readdirSync(cacheDir).filter((f) => f.endsWith('.bin')).length).toBe(1);
    calls = 0;
    const r = await chunkedCache(opts(-1));
    expect(r.cachedItems).toBe(2);
    expect(calls).toBe(2);
    expect(Buffer.from(r.bytes).toString()).toBe('abcde');
  });

  it('writeFileAtomic leaves no temp file', () => {
    const f = join(dir, 'c', 'x.txt');
    writeFileAtomic(f, 'hello');
    writeFileAtomic(f, 'world');
    expect(readdirSync(join(dir, 'c'))).toEqual(['x.txt']);
    expect(existsSync(f)).toBe(true);
  });

  it('rejects bad arguments', async () => {
    await expect(rasterizeEmojiSet('fluent-emoji-flat', ids, { size: 0, cacheDir: dir })).rejects.toThrow(FdtValueError);
    await expect(rasterizeEmojiSet('fluent-emoji-flat', ['ZZZZ'], { size: 8, cacheDir: dir })).rejects.toThrow(/lacks/);
  });
});

describe('stale temp files', () => {
  it('are swept when old, kept when fresh', () => {
    const d = join(dir, 'sweep');
    writeFileAtomic(join(d, 'keep.json'), '{}');
    writeFileSync(join(d, '.tmp-1-old'), 'x');
    writeFileSync(join(d, '.tmp-1-new'), 'x');
    const old = new Date(Date.now() - 7 * 3600 * 1000);
    utimesSync(join(d, '.tmp-1-old'), old, old);
    sweepStaleTemps(d);
    expect(readdirSync(d).sort()).toEqual(['.tmp-1-new', 'keep.json']);
  });
});
