// The qualitative explanation (src/demo/explain.ts) and `fdt explain` (src/cli/explain.ts): token heat maps over the
// MobileNetV2 patch grid, checked against an independent encoding of the same pixels.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MODEL_PATH, runExplain } from '../../src/cli/explain.js';
import { pairSvg } from '../../src/data/emoji.js';
import { rasterizeSvg } from '../../src/data/raster.js';
import { argMax, explainImage, findEmoji, type ExplainSummary } from '../../src/demo/explain.js';
import { loadImageEncoder } from '../../src/encoders/image.js';
import { encodeCaptions, loadWordVectors } from '../../src/encoders/text.js';
import { FdtFormatError, FdtShapeError, FdtValueError } from '../../src/errors.js';
import { FDT } from '../../src/fdt.js';

const REPO_ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const CONFIG = { numTokens: 64, dim: 16, imageDim: 576, textDim: 100, temperature: 0.1, seed: 1 } as const;

let dir: string;
let modelPath: string;
let model: FDT;
const made: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'fdt-explain-'));
  made.push(dir);
  modelPath = path.join(dir, 'model.safetensors');
  await (await FDT.create(CONFIG)).save(modelPath);
  model = await FDT.load(modelPath);
});

afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

/** 112 x 112 RGB: a red disc on a blue-to-green gradient. */
function syntheticPixels(S = 112): Uint8Array {
  const px = new Uint8Array(S * S * 3);
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      const p = (y * S + x) * 3;
      const inDisc = (x - 70) ** 2 + (y - 40) ** 2 < 22 ** 2;
      px[p] = inDisc ? 230 : 20;
      px[p + 1] = inDisc ? 30 : Math.round((200 * y) / S);
      px[p + 2] = inDisc ? 40 : Math.round(255 - (200 * y) / S);
    }
  }
  return px;
}

async function expectPng(file: string, width: number, height: number): Promise<void> {
  expect(existsSync(file), file).toBe(true);
  const meta = await sharp(file).metadata();
  expect(meta.format).toBe('png');
  expect([meta.width, meta.height]).toEqual([width, height]);
}

/**
 * Checks a summary against an independent run of the same pixels through the encoder and the model: the tokens are
 * the top-K active ones with the same weights, each heat map is q . T[c] / (sqrt(d) tau) and its arg-max is the
 * traced arg-max patch; the files exist with the right sizes.
 */
async function checkSummary(s: ExplainSummary, pixels: Uint8Array, topK: number, size: number): Promise<void> {
  const encoder = await loadImageEncoder({ inputSize: 112 });
  const feats = encoder.encode(pixels, 1);
  const enc = await model.encodeImage({ data: feats, shape: [1, 49, 576] }, { trace: true });
  const row = enc.tokens(0);
  const active = Array.from(row.indices, (id, i) => ({ id, w: row.values[i]! })).sort((a, b) => b.w - a.w || a.id - b.id);
  expect(s.activeTokens).toBe(active.length);
  expect(s.tokens).toHaveLength(Math.min(topK, active.length));
  expect(s.grid).toEqual([7, 7]);
  const dict = model.getParam('space_dict');
  const d = CONFIG.dim;
  for (const [i, t] of s.tokens.entries()) {
    expect(t.rank).toBe(i + 1);
    expect(t.id).toBe(active[i]!.id);
    expect(t.weight).toBeCloseTo(active[i]!.w, 5);
    const heat = t.heat.flat();
    expect(heat).toHaveLength(49);
    for (let n = 0; n < 49; n++) {
      let dot = 0;
      for (let k = 0; k < d; k++) dot += enc.queries![n * d + k]! * dict[t.id * d + k]!;
      expect(heat[n]).toBeCloseTo(dot / (Math.sqrt(d) * CONFIG.temperature), 4);
    }
    expect(t.patchIndex).toBe(enc.argmax![t.id]);
    expect(argMax(heat)).toBe(t.patchIndex);
    expect(t.patch).toEqual([Math.floor(t.patchIndex / 7), t.patchIndex % 7]);
    expect(Math.max(...heat)).toBeCloseTo(enc.relevance[t.id]!, 3);
    expect(t.relevance).toBeCloseTo(enc.relevance[t.id]!, 6);
    expect(path.basename(t.file)).toContain(`token${t.id}-w${t.weight.toFixed(4)}`);
    await expectPng(t.file, size, size);
    expect(s.files).toContain(t.file);
  }
  const overview = s.files.find((f) => f.endsWith('-overview.png'))!;
  const meta = await sharp(overview).metadata();
  expect(meta.format).toBe('png');
  expect(meta.width!).toBeGreaterThanOrEqual((s.tokens.length + 1) * size);
  expect(meta.height!).toBeGreaterThanOrEqual(size);
  const json = s.files.find((f) => f.endsWith('-explain.json'))!;
  expect(JSON.parse(readFileSync(json, 'utf8'))).toEqual(JSON.parse(JSON.stringify(s)));
  expect(s.files).toHaveLength(s.tokens.length + 2);
}

/** Each listed word's one-word caption activates the token with that weight, and no other word of the text does. */
async function checkWords(s: ExplainSummary): Promise<void> {
  if (s.text.words.length === 0) return;
  const vectors = await loadWordVectors(s.text.words);
  const one = encodeCaptions(s.text.words, vectors, { maxTokens: 1 });
  const w = (await model.encodeText({ data: one.features, shape: one.shape }, { data: one.valid, shape: [s.text.words.length, 1] })).weights;
  const C = CONFIG.numTokens;
  for (const t of s.tokens) {
    const expected = s.text.words.map((word, j) => ({ word, weight: w[j * C + t.id]! })).filter((x) => x.weight > 0);
    expect(t.words.map((x) => x.word).sort()).toEqual(expected.map((x) => x.word).sort());
    for (const x of t.words) expect(x.weight).toBeCloseTo(expected.find((e) => e.word === x.word)!.weight, 6);
  }
}

describe('explainImage', () => {
  it('explains an emoji by name: top-K tokens, heat maps, arg-max patches, caption words, PNGs', async () => {
    const outDir = path.join(dir, 'emoji');
    const s = await explainImage(model, { image: 'noto:dog face' }, { outDir, topK: 3, size: 96 });
    expect(s.image).toMatchObject({ kind: 'emoji', set: 'noto', hexcode: '1F436', label: 'dog face' });
    expect(s.text.source).toBe('emoji caption');
    expect(s.text.words).toContain('dog');
    const pair = findEmoji('noto:1F436')!;
    expect(findEmoji('dog face')!.hexcode).toBe('1F436');
    expect(findEmoji('🐶')!.hexcode).toBe('1F436');
    await checkSummary(s, await rasterizeSvg(pairSvg(pair, 112), 112), 3, 96);
    await checkWords(s);
    for (const t of s.tokens) expect(t.caption).not.toBeNull();
  });

  it('explains a PNG file, and the same pixels given raw, with --text words', async () => {
    const pixels = syntheticPixels();
    const png = path.join(dir, 'disc.png');
    await sharp(pixels, { raw: { width: 112, height: 112, channels: 3 } }).png().toFile(png);
    const s = await explainImage(model, { image: png }, { outDir: path.join(dir, 'png'), topK: 2, size: 64, text: 'red ball in the blue sky' });
    expect(s.image).toMatchObject({ kind: 'file', name: 'disc.png' });
    expect(s.text.source).toBe('text');
    expect(path.basename(s.files.at(-2)!)).toBe('disc-overview.png');
    await checkSummary(s, pixels, 2, 64);
    await checkWords(s);
    const raw = await explainImage(model, { image: { data: pixels, width: 112, height: 112 } }, { outDir: path.join(dir, 'raw'), topK: 2, size: 64 });
    expect(raw.image.kind).toBe('raw');
    expect(raw.text.source).toBe('none');
    expect(raw.tokens.map((t) => [t.id, t.weight, t.patchIndex])).toEqual(s.tokens.map((t) => [t.id, t.weight, t.patchIndex]));
  });

  it('rejects a missing file, an undecodable file, an unknown emoji, bad options and models of other dimensions', async () => {
    const outDir = path.join(dir, 'err');
    await expect(explainImage(model, { image: path.join(dir, 'nope.png') }, { outDir })).rejects.toThrow(FdtValueError);
    await expect(explainImage(model, { image: path.join(dir, 'nope.png') }, { outDir })).rejects.toThrow(/nope\.png: expected an existing image file, found no such file/);
    const bad = path.join(dir, 'bad.png');
    writeFileSync(bad, 'this is not an image');
    await expect(explainImage(model, { image: bad }, { outDir })).rejects.toThrow(FdtFormatError);
    await expect(explainImage(model, { image: bad }, { outDir })).rejects.toThrow(/bad\.png: expected an image sharp can decode/);
    await expect(explainImage(model, { image: 'noto:not an emoji at all' }, { outDir })).rejects.toThrow(/no such file and no such emoji/);
    await expect(explainImage(model, { image: 'noto:dog face' }, { outDir, topK: 0 })).rejects.toThrow(/topK: expected an integer in 1\.\.64, found 0/);
    await expect(explainImage(model, { image: { data: new Uint8Array(10), width: 4, height: 4 } }, { outDir })).rejects.toThrow(FdtShapeError);
    const wide = await FDT.create({ ...CONFIG, imageDim: 768 });
    await expect(explainImage(wide, { image: 'noto:dog face' }, { outDir })).rejects.toThrow(/expected imageDim 576 .* found imageDim 768 and textDim 100/);
    const text512 = await FDT.create({ ...CONFIG, textDim: 512 });
    await expect(explainImage(text512, { image: 'noto:dog face' }, { outDir })).rejects.toThrow(FdtShapeError);
    expect(existsSync(outDir)).toBe(false);
  });
});

describe('fdt explain', () => {
  it('explains with --model, prints a report, and without --model uses only fdt-out/fdt.safetensors', async () => {
    let text = '';
    const stdout = (s: string): void => void (text += s);
    const code = await runExplain(['noto:dog face', '--model', modelPath, '--top', '2', '--out', 'cli-out', '--size', '48'], { cwd: dir, stdout });
    expect(code).toBe(0);
    expect(text).toContain('explain dog face (noto:1F436) with model.safetensors (C=64, d=16, sparsemax, temperature 0.1)');
    expect(text).toContain(path.join('cli-out', 'noto-dog-face-overview.png'));
    expect((await sharp(path.join(dir, 'cli-out', 'noto-dog-face-overview.png')).metadata()).format).toBe('png');
    const top1 = readdirSync(path.join(dir, 'cli-out')).find((f) => /^noto-dog-face-top1-token\d+-w[\d.]+\.png$/.test(f));
    expect(top1).toBeDefined();
    await expectPng(path.join(dir, 'cli-out', top1!), 48, 48);

    const empty = mkdtempSync(path.join(tmpdir(), 'fdt-explain-nomodel-'));
    made.push(empty);
    await expect(runExplain(['noto:dog face'], { cwd: empty, stdout })).rejects.toThrow(/expected --model MODEL\.safetensors .*no default model at fdt-out\/fdt\.safetensors/);
    mkdirSync(path.join(empty, 'fdt-out'));
    await model.save(path.join(empty, DEFAULT_MODEL_PATH));
    text = '';
    expect(await runExplain(['1F436', '--top', '1', '--json'], { cwd: empty, stdout })).toBe(0);
    const summary = JSON.parse(text) as ExplainSummary;
    expect(summary.tokens).toHaveLength(1);
    expect(existsSync(path.join(empty, 'fdt-out', 'explain', 'noto-dog-face-overview.png'))).toBe(true);

    await expect(runExplain(['a', 'b', '--model', modelPath], { cwd: dir })).rejects.toThrow(/expected one IMAGE/);
    await expect(runExplain(['1F436', '--model', modelPath, '--top', 'x'], { cwd: dir })).rejects.toThrow(/--top: expected a positive integer, found "x"/);
    const wrong = path.join(dir, 'wide.safetensors');
    await (await FDT.create({ ...CONFIG, imageDim: 768 })).save(wrong);
    await expect(runExplain(['1F436', '--model', wrong], { cwd: dir })).rejects.toThrow(/expected imageDim 576/);
  });

  it('as a command: exit 1 with a message naming an undecodable file', async () => {
    const bad = path.join(dir, 'broken.jpg');
    writeFileSync(bad, Buffer.from([0xff, 0xd8, 0xff, 0x00, 1, 2, 3]));
    const r = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'explain', bad, '--model', modelPath, '--out', path.join(dir, 'x')], { cwd: REPO_ROOT }).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`FdtFormatError: image ${bad}: expected an image sharp can decode`);
  });
});
