import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { chooseEngine, defaultThresholds, predictedRatio, relevanceFlops, seriesFor, type Capabilities, type CostSeries, type Thresholds, type Work } from '../src/dispatch/policy.js';
import { Dispatcher } from '../src/dispatch/dispatcher.js';
import { readCalibration } from '../src/dispatch/thresholds.js';
import { writeCalibration } from '../src/dispatch/write-thresholds.js';
import { describeCapabilities } from '../src/dispatch/capabilities.js';
import { classifyDevice } from '../src/engines/tfjs/device.js';
import type { TfjsEngine } from '../src/engines/tfjs/engine.js';
import { FDT, FdtEngineError, FdtFormatError, Trainer } from '../src/index.js';
import { SHARED_DIR } from './golden-io.js';
import { expectClose } from './helpers/close.js';

const caps = (tfjs: Partial<Capabilities['tfjs']>): Capabilities => ({ runtime: 'node', wasmSimd: true, threads: true, tfjs: { available: true, gpu: false, ...tfjs } });
const PAPER_B32 = relevanceFlops(32, 49, 512, 16384);

describe('the policy (a pure function)', () => {
  const cases: [string, Capabilities, Thresholds | null, number, 'auto' | 'wasm' | 'tfjs', 'wasm' | 'tfjs', RegExp][] = [
    ['no tfjs at all', caps({ available: false, error: 'cannot import @tensorflow/tfjs-core' }), null, PAPER_B32, 'auto', 'wasm', /tfjs is not available \(cannot import/],
    ['tfjs on CPU (wasm backend), no GPU', caps({ backend: 'wasm' }), null, PAPER_B32, 'auto', 'wasm', /no GPU: tfjs runs on backend 'wasm'/],
    ['tfjs-cpu, no GPU, huge work', caps({ backend: 'cpu' }), null, 1e15, 'auto', 'wasm', /no GPU/],
    ['GPU, large batch', caps({ backend: 'webgpu', gpu: true }), null, PAPER_B32, 'auto', 'tfjs', /crossover 2.00 GFLOP on 'webgpu' \(default\)/],
    ['GPU, single image', caps({ backend: 'webgpu', gpu: true }), null, relevanceFlops(1, 49, 512, 1024), 'auto', 'wasm', /< crossover/],
    ['GPU, calibrated crossover', caps({ backend: 'webgl', gpu: true }), { backend: 'webgl', crossoverFlops: 5e10, source: 'calibrated 2026-11-26' }, PAPER_B32, 'auto', 'wasm', /< crossover 50.00 GFLOP .*calibrated/],
    ['GPU, calibrated: never wins', caps({ backend: 'webgl', gpu: true }), { backend: 'webgl', crossoverFlops: Infinity, source: 'calibrated' }, 1e15, 'auto', 'wasm', /never beat the wasm engine/],
    ['calibration of another backend is ignored', caps({ backend: 'webgpu', gpu: true }), { backend: 'wasm', crossoverFlops: Infinity, source: 'calibrated' }, PAPER_B32, 'auto', 'tfjs', /\(default\)/],
    ['forced wasm on a GPU', caps({ backend: 'webgpu', gpu: true }), null, PAPER_B32, 'wasm', 'wasm', /forced/],
    ['forced tfjs without GPU', caps({ backend: 'cpu' }), null, 10, 'tfjs', 'tfjs', /forced/],
    ['WebGPU on a software adapter, large batch', caps({ backend: 'webgpu', gpu: false, softwareDevice: true, device: 'llvmpipe (LLVM 15.0.6, 256 bits)' }), null, PAPER_B32, 'auto', 'wasm', /software device \(llvmpipe/],
  ];
  it.each(cases)('%s', (_name, c, t, flops, override, want, reason) => {
    const d = chooseEngine({ op: 'encode', flops }, c, t ?? defaultThresholds(c), override);
    expect(d.engine).toBe(want);
    expect(d.reason).toMatch(reason);
  });
});

describe('the policy and the largest buffer of the tfjs backend', () => {
  // A GPU whose largest storage buffer is 128 MiB (WebGPU's default limit; llvmpipe, many mobile GPUs).
  const small = caps({ backend: 'webgpu', gpu: true, maxBufferBytes: 128 * 2 ** 20 });
  const t = defaultThresholds(small);
  const scores = (B: number) => 4 * B * 77 * 16384; // the paper's captions: [B, 77, 16384] float32

  it('a training or loss batch whose scores do not fit goes to wasm, with the sizes', () => {
    for (const op of ['train', 'loss'] as const) {
      const d = chooseEngine({ op, flops: relevanceFlops(32, 126, 512, 16384), bytes: scores(32) }, small, t);
      expect(d.engine).toBe('wasm');
      expect(d.reason).toBe(`the ${op} batch's relevance scores (154.0 MiB) are over the largest buffer of tfjs backend 'webgpu' (128.0 MiB)`);
    }
    // An encode runs in chunks of items: it goes to wasm only when one item does not fit.
    const huge = chooseEngine({ op: 'encode', flops: relevanceFlops(1, 77, 512, 2 ** 19), bytes: 4 * 77 * 2 ** 19 }, small, t);
    expect(huge.engine).toBe('wasm');
    expect(huge.reason).toBe("an encoded item's relevance scores (154.0 MiB) are over the largest buffer of tfjs backend 'webgpu' (128.0 MiB)");
  });

  it('a batch that fits, an encode whose items fit, and a backend without a limit stay with the usual rule', () => {
    expect(chooseEngine({ op: 'train', flops: relevanceFlops(16, 126, 512, 16384), bytes: scores(16) }, small, t).engine).toBe('tfjs');
    expect(chooseEngine({ op: 'encode', flops: relevanceFlops(32, 77, 512, 16384), bytes: scores(1) }, small, t).engine).toBe('tfjs');
    const unbounded = caps({ backend: 'webgpu', gpu: true });
    expect(chooseEngine({ op: 'train', flops: relevanceFlops(32, 126, 512, 16384), bytes: scores(32) }, unbounded, defaultThresholds(unbounded)).engine).toBe('tfjs');
  });
});

describe('the policy with calibrated series', () => {
  // Shaped on an H100 under Deno's WebGPU: tfjs lost image encodes at B = 32 and won caption encodes and training.
  const flops = (B: number, rows: number) => relevanceFlops(B, rows, 512, 16384);
  const pt = (B: number, rows: number, ratio: number) => ({ B, flops: flops(B, rows), wasmMs: 100, tfjsMs: 100 * ratio });
  const gpu = caps({ backend: 'webgpu', gpu: true });
  const cal: Thresholds = {
    backend: 'webgpu', crossoverFlops: Infinity, source: 'calibrated 2026-11-27',
    series: [
      { op: 'encode', rows: 49, points: [pt(1, 49, 2.08), pt(8, 49, 1.09), pt(32, 49, 1.16)] },
      { op: 'encode', rows: 77, points: [pt(1, 77, 2.0), pt(32, 77, 0.88)] },
      { op: 'train', points: [pt(8, 126, 1.2), pt(32, 126, 0.69)] },
    ],
  };
  const cases: [string, Work, 'wasm' | 'tfjs', RegExp][] = [
    ['image encode, B = 32: the image series says wasm', { op: 'encode', flops: flops(32, 49), rows: 49 }, 'wasm', /~ 1\.16 .*encode series, 49 rows/],
    ['caption encode, B = 32: the caption series says tfjs', { op: 'encode', flops: flops(32, 77), rows: 77 }, 'tfjs', /~ 0\.88 .*encode series, 77 rows/],
    ['beyond the largest batch measured, its ratio holds', { op: 'encode', flops: flops(256, 49), rows: 49 }, 'wasm', /~ 1\.16/],
    ['below the smallest, its ratio holds', { op: 'encode', flops: 1e6, rows: 77 }, 'wasm', /~ 2\.00/],
    ['60 rows are nearest to 49 (in ratio)', { op: 'encode', flops: flops(32, 60), rows: 60 }, 'wasm', /49 rows/],
    ['a loss (forward only) uses the encode series nearest its mean rows', { op: 'loss', flops: flops(32, 126), rows: 63 }, 'tfjs', /77 rows/],
    ['training uses the training series', { op: 'train', flops: flops(32, 126) }, 'tfjs', /~ 0\.69 .*training series/],
    ['between two sizes the ratio is interpolated', { op: 'train', flops: flops(16, 126) }, 'tfjs', /~ 0\.91 /],
  ];
  it.each(cases)('%s', (_name, work, want, reason) => {
    const d = chooseEngine(work, gpu, cal);
    expect(d.engine).toBe(want);
    expect(d.reason).toMatch(reason);
  });

  it('interpolates log(ratio) linearly in log(work)', () => {
    const s: CostSeries = { op: 'encode', rows: 49, points: [{ B: 1, flops: 1, wasmMs: 1, tfjsMs: 2 }, { B: 4, flops: 4, wasmMs: 2, tfjsMs: 1 }] };
    expect(predictedRatio(s, 2)).toBeCloseTo(1, 12);
    expect(predictedRatio(s, 0.5)).toBe(2);
    expect(predictedRatio(s, 8)).toBe(0.5);
  });

  it('with no series of the kind asked, the other kind stands in; with none at all, the crossover decides', () => {
    expect(seriesFor({ op: 'train', flops: 1 }, cal.series!.slice(0, 2))!.rows).toBe(49);
    expect(seriesFor({ op: 'encode', flops: 1 }, cal.series!.slice(2))!.op).toBe('train');
    expect(seriesFor({ op: 'encode', flops: 1 }, [])).toBeNull();
    expect(chooseEngine({ op: 'encode', flops: PAPER_B32 }, gpu, { ...cal, series: [], crossoverFlops: 1e9 }).reason).toMatch(/>= crossover/);
  });
});

describe('the device behind a GPU backend', () => {
  it.each([
    [['65541', '', '0', 'llvmpipe (LLVM 15.0.6, 256 bits)'], false, true], // Deno's wgpu on Mesa, no GPU
    [['google', 'swiftshader'], false, true], // Chromium / Dawn without a GPU
    [['Google Inc. (Google)', 'ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device (Subzero)), SwiftShader driver)'], false, true],
    [['Microsoft Basic Render Driver'], false, true], // WARP
    [['nvidia', 'ampere', '', 'NVIDIA H100'], false, false],
    [['apple', 'metal-3'], false, false],
    [['', '', '', ''], true, true], // isFallbackAdapter
    [['', '', '', ''], false, false],
  ] as [string[], boolean, boolean][])('%j (fallback %s) -> software %s', (parts, fallback, software) => {
    expect(classifyDevice(parts, fallback).software).toBe(software);
  });

  it('a software adapter is not a GPU for the dispatcher', () => {
    const engine = { backend: 'webgpu', loaded: { candidate: 'webgpu' }, device: { description: 'llvmpipe', software: true } } as unknown as TfjsEngine;
    expect(describeCapabilities({ engine }).tfjs).toMatchObject({ gpu: false, softwareDevice: true, device: 'llvmpipe' });
    const real = { backend: 'webgpu', loaded: { candidate: 'webgpu' }, device: { description: 'nvidia ampere', software: false } } as unknown as TfjsEngine;
    expect(describeCapabilities({ engine: real }).tfjs.gpu).toBe(true);
    expect(describeCapabilities({ engine: real }).tfjs.maxBufferBytes).toBeUndefined();
    const limited = { ...real, maxBufferBytes: 128 * 2 ** 20 } as unknown as TfjsEngine;
    expect(describeCapabilities({ engine: limited }).tfjs.maxBufferBytes).toBe(128 * 2 ** 20);
  });
});

describe('what the FDT class tells the dispatcher', () => {
  it('each call names the bytes of its smallest tfjs call: one item for an encode, the batch for a loss or a step', async () => {
    const m = await FDT.create({ numTokens: 64, dim: 16, imageDim: 12, textDim: 10, seed: 1 });
    const works: Work[] = [];
    const d = (m as unknown as { dispatcher: Dispatcher }).dispatcher;
    const original = d.engineFor.bind(d);
    d.engineFor = (work, override) => {
      works.push(work);
      return original(work, override);
    };
    await m.encodeImage({ data: new Float32Array(3 * 5 * 12), shape: [3, 5, 12] });
    await m.encodeText({ data: new Float32Array(3 * 6 * 10), shape: [3, 6, 10] });
    const batch = { patches: { data: new Float32Array(3 * 5 * 12).fill(0.1), shape: [3, 5, 12] }, tokens: { data: new Float32Array(3 * 6 * 10).fill(0.2), shape: [3, 6, 10] } };
    await m.loss(batch);
    await m.gradients(batch, { inputs: false });
    expect(works.map((w) => [w.op, w.bytes])).toEqual([
      ['encode', 5 * 64 * 4], ['encode', 6 * 64 * 4], ['loss', 3 * 6 * 64 * 4], ['train', 3 * 6 * 64 * 4],
    ]);
    m.dispose();
  });
});

describe('the dispatcher', () => {
  it('runs small work on wasm without probing tfjs, and picks wasm on this GPU-less machine for large work', async () => {
    const d = new Dispatcher({ backends: ['cpu'] });
    const small = await d.engineFor({ op: 'encode', flops: 1e6 });
    expect(small.engine.name).toBe('wasm');
    expect(small.decision.reason).toMatch(/below any crossover/);
    const big = await d.engineFor({ op: 'train', flops: PAPER_B32 });
    expect(big.engine.name).toBe('wasm');
    const c = await d.capabilities();
    expect(c.tfjs.available).toBe(true);
    expect(c.tfjs.gpu).toBe(false);
    expect(big.decision.reason).toMatch(/no GPU/);
  });

  it('concurrent first calls share one initialisation', async () => {
    const d = new Dispatcher({ backends: ['cpu'] });
    const [a, b, c] = await Promise.all([d.tfjs(), d.tfjs(), d.engineFor({ op: 'loss', flops: 1e12 }, 'tfjs')]);
    expect(a).toBe(b);
    expect(c.engine).toBe(a);
  });

  it('falls back to wasm when tfjs cannot initialise, keeping the reason; forcing it throws with install instructions', async () => {
    const d = new Dispatcher({ backends: ['tfjs-node-gpu'] });
    const r = await d.engineFor({ op: 'train', flops: 1e12 });
    expect(r.engine.name).toBe('wasm');
    expect(r.decision.reason).toMatch(/tfjs is not available/);
    await expect(d.engineFor({ op: 'train', flops: 1 }, 'tfjs')).rejects.toThrow(FdtEngineError);
    await expect(d.tfjs()).rejects.toThrow(/npm install/);
    await expect(FDT.create({ numTokens: 8, dim: 4, imageDim: 2, textDim: 2, engine: 'tfjs', backends: ['tfjs-node-gpu'] })).rejects.toThrow(/tfjs-node-gpu/);
  });

  it('calibration files round trip; "never" is stored as null', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'fdt-cal-'));
    const prev = process.env['FDTKIT_CACHE_DIR'];
    process.env['FDTKIT_CACHE_DIR'] = dir;
    try {
      expect(await readCalibration()).toBeNull();
      const file = await writeCalibration({ backend: 'wasm', crossoverFlops: Infinity, source: 'calibrated test', series: [], machine: 'test' });
      expect(JSON.parse(readFileSync(file, 'utf8')).crossoverFlops).toBeNull();
      expect((await readCalibration())!.crossoverFlops).toBe(Infinity);
      const point = { B: 1, flops: 1e9, wasmMs: 10, tfjsMs: 20 };
      await writeCalibration({ backend: 'webgpu', crossoverFlops: 1e9, source: 'calibrated test', series: [{ op: 'encode', rows: 49, points: [point] }], machine: 'test' });
      expect((await readCalibration())!.series![0]!.points[0]).toEqual(point);
      const bad = (series: unknown) => writeFileSync(file, JSON.stringify({ backend: 'webgpu', crossoverFlops: null, source: 'x', series, machine: 'm' }));
      bad([{ op: 'encode', rows: 49, points: [{ ...point, tfjsMs: -1 }] }]);
      await expect(readCalibration()).rejects.toThrow(/series\[0\]\.points\[0\]\.tfjsMs: expected a positive finite number/);
      bad([{ op: 'encode', points: Array.from({ length: 65 }, () => point) }]);
      await expect(readCalibration()).rejects.toThrow(/series\[0\]\.points: expected an array of at most 64/);
      bad([{ op: 'decode', points: [] }]);
      await expect(readCalibration()).rejects.toThrow(FdtFormatError);
      // A dispatcher ignores the unusable file with one warning naming it, and dispatches on default thresholds.
      const warnings: string[] = [];
      const warn = console.warn;
      console.warn = (m: string) => warnings.push(m);
      try {
        const d = new Dispatcher({ backends: ['cpu'] });
        expect(await d.calibration()).toBeNull();
        await d.calibration();
        expect(warnings).toEqual([expect.stringMatching(/^fdtkit: ignoring the calibration file, default thresholds apply: .*thresholds\.json: .*op/)]);
      } finally {
        console.warn = warn;
      }
      writeFileSync(file, ' '.repeat((1 << 20) + 1));
      await expect(readCalibration()).rejects.toThrow(/thresholds\.json: 1048577 bytes, more than a calibration file's 1048576/);
    } finally {
      if (prev === undefined) delete process.env['FDTKIT_CACHE_DIR'];
      else process.env['FDTKIT_CACHE_DIR'] = prev;
    }
  });
});

const FIXTURE = path.join(SHARED_DIR, 'fixtures', 'official-fdt-mini.pth.tar');
const EXPECTED = path.join(SHARED_DIR, 'fixtures', 'official-fdt-mini.expected.json');

describe.skipIf(!existsSync(FIXTURE))(`one API over both engines: the official checkpoint${existsSync(FIXTURE) ? '' : ` (skipped: no fixture at ${FIXTURE})`}`, () => {
  it.each(['wasm', 'tfjs'] as const)('the official checkpoint reproduces the official outputs on the %s engine', async (engine) => {
    const m = await FDT.load(FIXTURE, { engine, backends: ['cpu'] });
    const exp = JSON.parse(readFileSync(EXPECTED, 'utf8'));
    const r = await m.loss({ patches: exp.inputs.patch_features, tokens: exp.inputs.word_features, valid: exp.inputs.text_valid });
    expect(m.lastDecision!.engine).toBe(engine);
    expectClose('fdt_embed_img', r.image.embeddingsRaw, exp.outputs.fdt_embed_img.flat());
    expectClose('weights_txt', r.text.weights, exp.outputs.weights_txt.flat());
    expectClose('logits_per_image', r.logitsPerImage, exp.outputs.logits_per_image.flat());
    expect(Math.abs(r.loss - exp.outputs.loss)).toBeLessThan(1e-4);
  });

});

describe('one API over both engines', () => {
  it('model.to() and the per-call engine option switch engines with the same results', async () => {
    const m = await FDT.create({ numTokens: 40, dim: 8, imageDim: 6, textDim: 5, temperature: 0.5, seed: 4, backends: ['cpu'] });
    const batch = { patches: { data: Float32Array.from({ length: 3 * 4 * 6 }, (_, i) => Math.sin(i)), shape: [3, 4, 6] }, tokens: { data: Float32Array.from({ length: 3 * 2 * 5 }, (_, i) => Math.cos(i)), shape: [3, 2, 5] } };
    const w = await m.gradients(batch, { engine: 'wasm' });
    await m.to('tfjs');
    const t = await m.gradients(batch);
    expect(m.lastDecision!.reason).toMatch(/forced: engine 'tfjs'/);
    expectClose('loss', [t.loss], [w.loss]);
    for (const [k, g] of Object.entries(w.grads.params)) expectClose(`grad ${k}`, t.grads.params[k]!, g);
    await m.to('auto');
    await m.loss(batch);
    expect(m.lastDecision!.engine).toBe('wasm');
    m.dispose();
  });

  it('a Trainer trains a model forced onto tfjs (its gradients, AdamW on wasm) as it trains one on wasm', async () => {
    const make = () => FDT.create({ numTokens: 40, dim: 8, imageDim: 6, textDim: 5, temperature: 0.5, seed: 4, backends: ['cpu'] });
    const onWasm = await make();
    const onTfjs = await (await make()).to('tfjs');
    const batch = {
      patches: { data: Float32Array.from({ length: 4 * 3 * 6 }, (_, i) => Math.sin(0.7 * i)), shape: [4, 3, 6] },
      tokens: { data: Float32Array.from({ length: 4 * 2 * 5 }, (_, i) => Math.cos(1.3 * i)), shape: [4, 2, 5] },
    };
    const schedule = { lr: 1e-2, warmupStartLr: 1e-2, warmupSteps: 0, totalSteps: 10 };
    const tw = new Trainer(onWasm, { schedule });
    const tt = new Trainer(onTfjs, { schedule });
    for (let s = 0; s < 3; s++) {
      const a = await tw.stepOn(batch);
      const b = await tt.stepOn(batch);
      expect(onTfjs.lastDecision!.engine).toBe('tfjs');
      expectClose(`step ${s + 1} loss`, [b.loss], [a.loss]);
    }
    for (const [k, v] of Object.entries(onWasm.params)) expectClose(`${k} after 3 steps`, onTfjs.params[k]!, v);
    expect(Array.from(onTfjs.params['space_dict']!)).not.toEqual(Array.from((await make()).params['space_dict']!));
    onWasm.dispose();
    onTfjs.dispose();
  });
});
