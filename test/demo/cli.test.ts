// The demo's commands as a user runs them (through tsx on the sources): error cases and a small embed.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FDT } from '../../src/fdt.js';
import { listInstalledEmojiSets } from '../../src/data/emoji.js';
import { decodeSafetensors } from '../../src/io/safetensors.js';

const run = promisify(execFile);
const REPO = path.resolve(import.meta.dirname, '..', '..');
const dir = mkdtempSync(path.join(tmpdir(), 'fdt-demo-cli-'));
const good = path.join(dir, 'good.safetensors');
const wrong = path.join(dir, 'wrong.safetensors');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function fdt(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: REPO, maxBuffer: 64 << 20 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

beforeAll(async () => {
  const a = await FDT.create({ numTokens: 16, dim: 8, imageDim: 576, textDim: 100, temperature: 10, seed: 1 });
  await a.save(good);
  const b = await FDT.create({ numTokens: 16, dim: 8, imageDim: 24, textDim: 16, temperature: 10, seed: 1 });
  await b.save(wrong);
});

describe('fdt train --help', () => {
  it('states the defaults the command uses', async () => {
    const { TRAIN_USAGE } = await import('../../src/cli/train.js');
    const { DEFAULT_FDT, TRAIN_DEFAULTS, demoPlan } = await import('../../src/demo/run.js');
    const documented = (flag: string) => TRAIN_USAGE.match(new RegExp(`\\n  ${flag} .*\\(default ([^)]+)\\)`))?.[1];
    expect(documented('--normalizer N')).toBeUndefined(); // written as "sparsemax (default)"
    expect(TRAIN_USAGE).toContain(`--normalizer N     ${DEFAULT_FDT.spec.normalizer} (default)`);
    expect(documented('--tokens C')).toBe(String(DEFAULT_FDT.spec.numTokens));
    expect(documented('--dim d')).toBe(String(DEFAULT_FDT.spec.dim));
    expect(documented('--temperature T')).toBe(String(DEFAULT_FDT.spec.temperature));
    expect(documented('--init-scale S')).toBe(String(DEFAULT_FDT.spec.dictScale));
    expect(documented('--lr LR')).toBe(String(DEFAULT_FDT.lr));
    expect(documented('--epochs E')).toBe(String(demoPlan(false).epochs));
    expect(documented('--batch B')).toBe(String(TRAIN_DEFAULTS.batchSize));
  });
});

describe('fdt eval / embed / demo / train: errors', () => {
  it('eval: an unknown style names the installed emoji sets', async () => {
    const r = await fdt('eval', '--model', good, '--style', 'no-such-style');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('FdtValueError');
    expect(r.stderr).toContain('"no-such-style"');
    for (const s of listInstalledEmojiSets()) expect(r.stderr).toContain(s);
  });

  it('eval and embed: a model whose dimensions do not match the features', async () => {
    const r = await fdt('eval', '--model', wrong);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/FdtShapeError: .*wrong\.safetensors: expected a head for the demo's features \(imageDim 576.*textDim 100.*found imageDim 24, textDim 16/);
    const e = await fdt('embed', '--model', wrong, '--captions', 'red apple');
    expect(e.code).toBe(1);
    expect(e.stderr).toMatch(/found imageDim 24, textDim 16/);
  });

  it('missing or bad options say what was expected and found', async () => {
    expect((await fdt('eval')).stderr).toMatch(/--model MODEL\.safetensors is required/);
    expect((await fdt('eval', '--model', path.join(dir, 'absent.safetensors'))).stderr).toMatch(/FdtFormatError: .*absent\.safetensors: cannot read/);
    expect((await fdt('eval', '--model', good, '--split', 'train')).stderr).toMatch(/--split: expected "test" or "val", found "train"/);
    expect((await fdt('embed', '--model', good)).stderr).toMatch(/exactly one non-empty input list .* found none/);
    expect((await fdt('embed', '--model', good, '--captions', 'a', '--emoji', 'noto:red-apple')).stderr).toMatch(/found --emoji and --captions/);
    expect((await fdt('embed', '--model', good, '--emoji', 'no-such-set:apple')).stderr).toMatch(/"no-such-set" is not an installed emoji set \(installed: .*noto/);
    expect((await fdt('embed', '--model', good, '--captions', 'qqzzxq')).stderr).toMatch(/--captions: expected every caption to have a word with a vector, found none in "qqzzxq"/);
    expect((await fdt('demo', '--seed', 'x')).stderr).toMatch(/--seed: expected an integer >= 0, found "x"/);
    expect((await fdt('train', '--normalizer', 'relu')).stderr).toMatch(/--normalizer: expected sparsemax or softmax, found "relu"/);
    expect((await fdt('train', '--temperature', '0')).stderr).toMatch(/--temperature: expected a number > 0, found "0"/);
  });

  it('option values out of range and unusable output paths exit 2 with the usage, before any data is loaded', async () => {
    const cases: [string[], RegExp][] = [
      [['train', '--epochs', '0'], /fdt train: --epochs: expected a positive integer, found "0"/],
      [['train', '--max-concepts', '8'], /fdt train: --max-concepts: expected an integer >= 20, found "8"/],
      [['train', '--out', path.join(dir, 'no-such-folder', 'm.safetensors')], /fdt train: --out .*m\.safetensors: the folder .*no-such-folder does not exist/],
      [['train', '--out', dir], /fdt train: --out .*: expected a file path, found a folder/],
      [['demo', '--out', good], /fdt demo: --out .*good\.safetensors: expected a folder, found a file at/],
      [['demo', '--workers', '100000'], /fdt demo: --workers: expected an integer from 1 to \d+, found "100000"/],
      [['import', path.join(dir, 'x.pth.tar'), '--out', path.join(dir, 'no-such-folder', 'm.safetensors')], /fdt import: --out .*: the folder .*no-such-folder does not exist/],
      [['embed', '--model', good, '--captions', 'red apple', '--out', dir], /fdt embed: --out .*: expected a file path, found a folder/],
    ];
    for (const [args, message] of cases) {
      const r = await fdt(...args);
      expect([r.code, r.stderr], args.join(' ')).toEqual([2, expect.stringMatching(message)]);
      expect(r.stderr, `${args.join(' ')}: the usage follows`).toContain(`\n\nfdt ${args[0]} `);
    }
  });

  it('a model whose split metadata is malformed is refused by eval, not evaluated on another split', async () => {
    const bytes = readFileSync(good);
    const { tensors, metadata } = decodeSafetensors(new Uint8Array(bytes));
    const bad = path.join(dir, 'bad-meta.safetensors');
    const { encodeSafetensors } = await import('../../src/io/safetensors.js');
    writeFileSync(bad, encodeSafetensors(tensors as never, { ...metadata, split_seed: 'x' }));
    const r = await fdt('eval', '--model', bad);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/FdtFormatError: model metadata "split_seed": expected an integer from 0 to 4294967295, found "x"/);
  });
});

describe('fdt embed', () => {
  it('prints caption embeddings with their sparse token weights, and writes safetensors', async () => {
    const r = await fdt('embed', '--model', good, '--captions', 'red apple,pickup truck');
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.modality).toBe('text');
    expect(doc.items).toHaveLength(2);
    for (const it of doc.items) {
      expect(it.embedding).toHaveLength(8);
      expect(it.tokens.indices.length).toBe(it.active);
      expect(it.tokens.values.reduce((a: number, b: number) => a + b, 0)).toBeCloseTo(1, 5);
      const norm = Math.hypot(...it.embedding);
      expect(norm).toBeCloseTo(1, 4);
    }
    const out = path.join(dir, 'e.safetensors');
    const w = await fdt('embed', '--model', good, '--emoji', 'noto:red-apple,pickup truck', '--format', 'safetensors', '--out', out);
    expect(w.code, w.stderr).toBe(0);
    const st = decodeSafetensors(new Uint8Array(readFileSync(out)));
    expect(st.tensors['embeddings']!.shape).toEqual([2, 8]);
    const offsets = st.tensors['token_offsets']!.data as Int32Array;
    expect(offsets.length).toBe(3);
    expect(st.tensors['token_indices']!.shape).toEqual([offsets[2]]);
    expect(JSON.parse(st.metadata['inputs']!)[0]).toMatch(/^noto:.*1F34E red apple/);
  }, 120_000);
});
