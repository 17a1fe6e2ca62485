// End to end on a few real emoji concepts: dataset (cached, or extracted for these few concepts), prompts, both heads
// trained for a few steps, every metric computed, the report written; then the whole demo pipeline on worker threads.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEmojiDataset, type EmojiDataset } from '../../src/data/dataset.js';
import { demoDataFrom, epochBatches, type DemoData } from '../../src/demo/data.js';
import { evaluateSplit, type SplitEval } from '../../src/demo/evaluate.js';
import type { HeadSpec } from '../../src/demo/heads.js';
import { buildPrompts } from '../../src/demo/prompts.js';
import { renderLossSvg, renderMarkdown } from '../../src/demo/report.js';
import { runDemo } from '../../src/demo/run.js';
import { decodeDemoMeta } from '../../src/demo/setup.js';
import { decodeSafetensors } from '../../src/io/safetensors.js';
import { trainRun, type TrainConfig } from '../../src/demo/train.js';
import { FDT } from '../../src/fdt.js';

const STYLES = ['noto', 'twemoji', 'openmoji'];
const TRAIN = ['noto', 'twemoji'];
let ds: EmojiDataset;
let data: DemoData;
const out = mkdtempSync(join(tmpdir(), 'fdt-demo-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

beforeAll(async () => {
  ds = await loadEmojiDataset({ styles: STYLES, maxConcepts: 40, seed: 2, onProgress: false });
  data = demoDataFrom(ds, { val: await buildPrompts(ds, 'val'), test: await buildPrompts(ds, 'test') });
}, 120_000);

function expectFiniteEval(e: SplitEval, styles: string[], fdt: boolean): void {
  expect(e.styles.map((s) => s.style)).toEqual(styles);
  for (const s of e.styles) {
    const r = s.retrieval;
    for (const v of [r.imageToText.r1, r.imageToText.r5, r.imageToText.r10, r.textToImage.r1, r.textToImage.r5, r.textToImage.r10]) {
      expect(Number.isFinite(v) && v >= 0 && v <= 100).toBe(true);
    }
    expect(r.rsum).toBeCloseTo(r.imageToText.r1 + r.imageToText.r5 + r.imageToText.r10 + r.textToImage.r1 + r.textToImage.r5 + r.textToImage.r10, 9);
    expect(s.zeroShot.classes).toBe(r.n);
    expect(s.zeroShotVariants.map((v) => v.name)).toEqual(['generic', 'caption-only']);
    for (const z of [s.zeroShot, ...s.zeroShotVariants]) {
      expect(z.top1).toBeGreaterThanOrEqual(0);
      expect(z.top5).toBeGreaterThanOrEqual(z.top1);
      expect(z.top5).toBeLessThanOrEqual(100);
    }
    if (fdt) {
      for (const a of [s.activeImage!, s.activeText!, s.activePrompt!]) expect(a).toBeGreaterThanOrEqual(1);
    } else expect(s.activeImage).toBeNull();
  }
  for (const v of Object.values(e.mean)) if (v !== null) expect(Number.isFinite(v)).toBe(true);
}

describe('the demo on a few real concepts', () => {
  it('batches hold distinct concepts and cover every (concept, style) pair once per epoch', () => {
    const rows = data.split.train;
    const batches = epochBatches(rows, TRAIN, 8, 5, 1);
    const seen = batches.flat().map((p) => `${p.style}:${p.row}`);
    expect(new Set(seen).size).toBe(rows.length * TRAIN.length);
    expect(seen.length).toBe(rows.length * TRAIN.length);
    for (const b of batches) expect(new Set(b.map((p) => p.row)).size).toBe(b.length);
    expect(epochBatches(rows, TRAIN, 8, 5, 1)).toEqual(batches);
    expect(epochBatches(rows, TRAIN, 8, 5, 2)).not.toEqual(batches);
  });

  it('trains both heads for a few steps: the loss falls, every metric is finite, the report renders', async () => {
    const base = { batchSize: 8, warmupFraction: 0.1, weightDecay: 0.1, seed: 3, trainStyles: TRAIN, epochs: 6 };
    const specs: [string, HeadSpec, number][] = [
      ['baseline', { kind: 'clip', dim: 16 }, 3e-3],
      ['fdt', { kind: 'fdt', numTokens: 32, dim: 16, temperature: 100, normalizer: 'sparsemax', dictScale: 1 }, 3e-3],
    ];
    const runs = [];
    for (const [label, head, lr] of specs) {
      const config: TrainConfig = { label, head, lr, ...base };
      const { result, head: model } = await trainRun(config, data);
      const losses = result.curve.map((p) => p.loss);
      expect(losses.every(Number.isFinite)).toBe(true);
      const k = 4;
      const first = losses.slice(0, k).reduce((a, b) => a + b, 0) / k;
      const last = losses.slice(-k).reduce((a, b) => a + b, 0) / k;
      expect(last, `${label}: ${losses.map((l) => l.toFixed(2)).join(' ')}`).toBeLessThan(first);
      expect(result.epochs).toHaveLength(6);
      expect(result.bestEpoch).toBeGreaterThanOrEqual(1);
      expect(result.timings.pairsPerSecond).toBeGreaterThan(0);
      expectFiniteEval(result.val, TRAIN, head.kind === 'fdt');
      const test = await evaluateSplit(model, data, 'test', TRAIN);
      const heldOut = await evaluateSplit(model, data, 'test', ['openmoji']);
      expectFiniteEval(test, TRAIN, head.kind === 'fdt');
      expectFiniteEval(heldOut, ['openmoji'], head.kind === 'fdt');
      if (model instanceof FDT) {
        // The kept parameters are the model's.
        expect(Array.from(model.getParam('space_dict').subarray(0, 5))).toEqual(Array.from(result.params['space_dict']!.subarray(0, 5)));
      }
      model.dispose();
      runs.push({ name: result.name, curve: result.curve, stepsPerEpoch: result.timings.steps / 6 });
    }
    const svg = renderLossSvg(runs);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<polyline/g)).toHaveLength(2);
    expect(svg).not.toMatch(/NaN|Infinity/);
  }, 120_000);

  it('runs the whole pipeline on two worker threads and writes a complete report', async () => {
    const lines: string[] = [];
    const outcome = await runDemo({
      out,
      quick: false,
      seed: 2,
      maxConcepts: 40,
      epochs: 1,
      workers: 2,
      trainStyles: TRAIN,
      heldOutStyles: ['openmoji'],
      onProgress: false,
      log: (l) => lines.push(l),
      planOverride: {
        baseline: [{ spec: { kind: 'clip', dim: 16 }, lr: 3e-3 }],
        fdt: [
          { spec: { kind: 'fdt', numTokens: 32, dim: 16, temperature: 100, normalizer: 'sparsemax', dictScale: 1 }, lr: 3e-3 },
          { spec: { kind: 'fdt', numTokens: 32, dim: 16, temperature: 10, normalizer: 'sparsemax', dictScale: 1 }, lr: 3e-3 },
        ],
        ablationSizes: [16, 32, 64],
        softmaxAblation: true,
      },
    });
    const r = outcome.report;
    expect(r.runs.filter((x) => x.role === 'ablation').map((x) => x.label).sort()).toEqual(['ablation-C16', 'ablation-C64', 'ablation-softmax']);
    expect(r.runs.filter((x) => x.chosen)).toHaveLength(2);
    for (const run of r.runs) {
      const final = run.chosen || run.role === 'ablation';
      expect(run.test !== undefined).toBe(final);
      if (final) {
        expectFiniteEval(run.test!, TRAIN, run.spec.kind === 'fdt');
        expectFiniteEval(run.heldOut!, ['openmoji'], run.spec.kind === 'fdt');
      }
    }
    expect(r.data.counts.total).toBe(40);
    expect(r.memory.peakRssMB).toBeGreaterThan(0);
    const json = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    expect(json.format).toBe('fdtkit.demo-report');
    expect(json.chosen).toEqual(r.chosen);
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    expect(md).toBe(renderMarkdown(json));
    expect(md).toContain('## Ablations');
    expect(readFileSync(join(out, 'loss-curve.svg'), 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>\n$/);
    const model = await FDT.load(join(out, 'fdt.safetensors'));
    expect(model.config.numTokens).toBe(32);
    model.dispose();
    // The model file names its split, so `fdt eval` rebuilds the one it was trained on (seed 2, 40 concepts).
    const { metadata } = decodeSafetensors(new Uint8Array(readFileSync(join(out, 'fdt.safetensors'))));
    const meta = decodeDemoMeta(metadata, { datasetStyles: [], trainStyles: [], seed: 0, maxConcepts: undefined });
    expect(meta).toEqual({ datasetStyles: [...TRAIN, 'openmoji'], trainStyles: TRAIN, seed: 2, maxConcepts: 40 });
    expect(lines.some((l) => l.startsWith('chosen:'))).toBe(true);
  }, 180_000);
});
