import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FdtValueError } from '../../src/errors.js';
import { loadEmojiDataset } from '../../src/data/dataset.js';
import { loadImageEncoder } from '../../src/encoders/image.js';

const dir = mkdtempSync(join(tmpdir(), 'fdtkit-dataset-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Everything used here (nsfwjs MobileNetV2, tfjs wasm, wink embeddings) ships in devDependencies and runs offline.
describe('MobileNetV2 patch features and the assembled dataset', () => {
  it('cuts MobileNetV2 at block_13_expand_relu: 112 px -> [7, 7, 576]', async () => {
    const enc = await loadImageEncoder({ inputSize: 112 });
    expect(enc.grid).toEqual([7, 7]);
    expect(enc.patches).toBe(49);
    expect(enc.dim).toBe(576);
    const white = new Uint8Array(2 * 112 * 112 * 3).fill(255);
    const f = enc.encode(white, 2, 1);
    expect(f.length).toBe(2 * 49 * 576);
    expect(f.every(Number.isFinite)).toBe(true);
    expect(Array.from(f.subarray(0, 49 * 576))).toEqual(Array.from(f.subarray(49 * 576)));
    expect(() => enc.encode(white, 3)).toThrow(/bytes/);
    await expect(loadImageEncoder({ layer: 'nope' })).rejects.toThrow(FdtValueError);
  }, 60_000);

  it('assembles ~8 concepts end to end, then serves the same data from the cache', async () => {
    const opts = { styles: ['noto', 'openmoji'], size: 112, seed: 3, cacheDir: dir, maxConcepts: 8, onProgress: false as const };
    const d = await loadEmojiDataset(opts);
    const N = 8;
    expect(d.conceptIds.length).toBe(N);
    expect(d.report.commonConcepts).toBeGreaterThanOrEqual(1594);
    expect(d.report.counts).toEqual({ train: 6, val: 1, test: 1, total: 8 });
    expect(d.report.grid).toEqual([7, 7]);
    expect(d.text.shape).toEqual([N, 16, 100]);
    expect(d.text.valid.length).toBe(N * 16);
    expect(d.text.features.length).toBe(N * 16 * 100);
    for (let n = 0; n < N; n++) {
      const row = Array.from(d.text.valid.subarray(n * 16, (n + 1) * 16));
      const k = row.filter((v) => v === 1).length;
      expect(k).toBe(d.text.tokens[n]!.length);
      expect(k).toBeGreaterThan(0);
      expect(row).toEqual([...new Array(k).fill(1), ...new Array(16 - k).fill(0)]);
    }
    const rows = [...d.split.train, ...d.split.val, ...d.split.test].sort((a, b) => a - b);
    expect(rows).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(Array.from(d.splitOf).filter((s) => s === 0).length).toBe(6);
    for (const style of opts.styles) {
      const s = d.byStyle[style]!;
      expect(s.shape).toEqual([N, 49, 576]);
      expect(s.features.length).toBe(N * 49 * 576);
      expect(s.conceptIds).toEqual(d.conceptIds);
      expect(s.captions).toEqual(d.captions);
      expect(s.text.shape).toEqual([N, 16, 100]);
      expect(s.iconNames.length).toBe(N);
      expect(d.report.timings.features[style]!.computedImages).toBe(N);
    }
    expect(d.byStyle.noto!.features).not.toEqual(d.byStyle.openmoji!.features);

    const again = await loadEmojiDataset(opts);
    expect(again.conceptIds).toEqual(d.conceptIds);
    expect(again.split).toEqual(d.split);
    expect(again.report.timings.wordVectorsExtracted).toBe(false);
    for (const style of opts.styles) {
      expect(again.report.timings.features[style]!.cachedImages).toBe(N);
      expect(Buffer.compare(Buffer.from(again.byStyle[style]!.features.buffer), Buffer.from(d.byStyle[style]!.features.buffer))).toBe(0);
    }
    expect(Array.from(again.text.features)).toEqual(Array.from(d.text.features));
  }, 60_000);

  it('rejects bad styles', async () => {
    await expect(loadEmojiDataset({ styles: [] })).rejects.toThrow(FdtValueError);
    await expect(loadEmojiDataset({ styles: ['noto', 'noto'] })).rejects.toThrow(/distinct/);
    await expect(loadEmojiDataset({ styles: ['nope'], cacheDir: dir })).rejects.toThrow(/installed/);
  });
});
