import { describe, expect, it } from 'vitest';
import { FDT, FdtEngineError, FdtValueError, learningRate, Trainer, type TrainerOptions } from '../src/index.js';
import { firstNonFinite } from '../src/tensor.js';
import { Rng } from './reference/rng.js';
import { expectIdentical } from './helpers/close.js';

/** A toy retrieval problem: 8 concepts; images and captions are noisy views of each concept's two prototypes. */
function toyBatch(rng: Rng, B: number, N: number, L: number, Di: number, Dt: number, protos: { img: Float64Array; txt: Float64Array }) {
  const patches = new Float32Array(B * N * Di);
  const tokens = new Float32Array(B * L * Dt);
  for (let b = 0; b < B; b++) {
    const c = b % 8;
    for (let n = 0; n < N; n++) for (let k = 0; k < Di; k++) patches[(b * N + n) * Di + k] = protos.img[c * Di + k]! + 0.3 * rng.normal();
    for (let l = 0; l < L; l++) for (let k = 0; k < Dt; k++) tokens[(b * L + l) * Dt + k] = protos.txt[c * Dt + k]! + 0.3 * rng.normal();
  }
  return { patches: { data: patches, shape: [B, N, Di] }, tokens: { data: tokens, shape: [B, L, Dt] } };
}

describe('Trainer', () => {
  it('the loss falls on a learnable toy problem, the logit scale stays in [3, 6], and steps are reproducible', async () => {
    const run = async () => {
      const model = await FDT.create({ numTokens: 64, dim: 16, imageDim: 12, textDim: 10, temperature: 1, seed: 3 });
      const trainer = new Trainer(model, { schedule: { lr: 3e-3, warmupStartLr: 3e-4, warmupSteps: 5, totalSteps: 60 } });
      const rng = new Rng(4);
      const protos = { img: rng.normals(8 * 12), txt: rng.normals(8 * 10) };
      const losses: number[] = [];
      for (let s = 0; s < 60; s++) {
        const r = await trainer.stepOn(toyBatch(rng, 8, 3, 4, 12, 10, protos));
        losses.push(r.loss);
        expect(r.logitScale).toBeGreaterThanOrEqual(3);
        expect(r.logitScale).toBeLessThanOrEqual(6);
      }
      return { losses, T: model.getParam('space_dict'), steps: trainer.step };
    };
    const a = await run();
    const first = a.losses.slice(0, 5).reduce((s, v) => s + v, 0) / 5;
    const last = a.losses.slice(-5).reduce((s, v) => s + v, 0) / 5;
    expect(last).toBeLessThan(first * 0.5);
    expect(a.steps).toBe(60);
    const b = await run();
    expect(Array.from(b.T)).toEqual(Array.from(a.T));
  });

  it('weight decay reaches T and the Linear weights only', async () => {
    const model = await FDT.create({ numTokens: 16, dim: 4, imageDim: 3, textDim: 2, temperature: 1, seed: 1 });
    const before = model.stateDict();
    const trainer = new Trainer(model, { schedule: { lr: 1e-2, warmupStartLr: 1e-2, warmupSteps: 0, totalSteps: 10 } });
    // A batch of one pair: B = 1 gives zero InfoNCE gradient, so only decay moves parameters.
    await trainer.stepOn({ patches: { data: new Float32Array(6).fill(1), shape: [1, 2, 3] }, tokens: { data: new Float32Array(4).fill(1), shape: [1, 2, 2] } });
    const after = model.stateDict();
    for (const name of Object.keys(before)) {
      const moved = after[name]!.some((v, i) => v !== before[name]![i]);
      const decayed = name === 'space_dict' || /q_map\.[14]\.weight$/.test(name);
      if (decayed) expect(moved, name).toBe(true);
      if (/\.[03]\.(weight|bias)$/.test(name) || name === 'logit_scale_sd') expect(moved, name).toBe(false);
    }
    // logit_scale started at log(1/0.07) = 2.66 and is clamped into [3, 6].
    expect(after['logit_scale']![0]).toBe(3);
  });

  it('a non-finite loss stops the step with an error naming the step, and changes no parameter', async () => {
    const model = await FDT.create({ numTokens: 16, dim: 4, imageDim: 3, textDim: 2, temperature: 1e-30, seed: 1 });
    const before = model.stateDict();
    const trainer = new Trainer(model);
    const big = { patches: { data: new Float32Array(12).map((_, i) => (i % 2 ? 3e38 : -3e38)), shape: [2, 2, 3] }, tokens: { data: new Float32Array(8).fill(3e38), shape: [2, 2, 2] } };
    await expect(trainer.stepOn(big)).rejects.toThrow(/^step 1: (the loss is|gradient of|image queries .*: NaN at \[\d+, \d+\]: .*; no parameter was changed$)/);
    await expect(trainer.stepOn(big)).rejects.toThrow(FdtValueError);
    expect(trainer.step).toBe(0);
    const after = model.stateDict();
    for (const name of Object.keys(before)) expect(Array.from(after[name]!), name).toEqual(Array.from(before[name]!));
  });

  it('firstNonFinite finds the first NaN or infinity (or -1), whatever the values around it', () => {
    const g = new Float32Array(1000).map((_, i) => (i % 7) - 3 + i * 1e30);
    expect(firstNonFinite(g)).toBe(-1);
    expect(firstNonFinite(new Float32Array(0))).toBe(-1);
    for (const bad of [NaN, Infinity, -Infinity]) {
      for (const at of [0, 499, 999]) {
        const h = g.slice();
        h[at] = bad;
        if (at < 999) h[999] = NaN;
        expect(firstNonFinite(h), `${bad} at ${at}`).toBe(at);
      }
    }
  });

  it('gradients kept in wasm memory (the wasm path) give the parameters and moments that host-copied gradients give, bit for bit, on 1 and 2 threads', async () => {
    const cfg = { numTokens: 300, dim: 24, imageDim: 12, textDim: 10, temperature: 0.5, seed: 7 };
    const schedule = { lr: 3e-3, warmupStartLr: 3e-4, warmupSteps: 2, totalSteps: 20 };
    const train = async (threads: number, kept: boolean) => {
      const model = await FDT.create({ ...cfg, threads });
      // Every split taken (no work threshold): AdamW runs on both threads even at this size.
      (model.wasm as unknown as { parallel: { minParallelFlops: number } }).parallel.minParallelFlops = 0;
      // Without trainingGradients the Trainer takes the path every other head takes: host arrays in, uploaded.
      if (!kept) Object.defineProperty(model, 'trainingGradients', { value: undefined });
      const trainer = new Trainer(model, { schedule });
      const rng = new Rng(9);
      const protos = { img: rng.normals(8 * 12), txt: rng.normals(8 * 10) };
      const losses: number[] = [];
      for (let i = 0; i < 4; i++) losses.push((await trainer.stepOn(toyBatch(rng, 8, 3, 4, 12, 10, protos))).loss);
      const state = { losses, params: model.stateDict(), moments: (await model.wasm.readMoments(model))! };
      model.dispose();
      return state;
    };
    const ref = await train(1, false);
    for (const [threads, kept] of [[1, true], [2, true], [2, false]] as const) {
      const got = await train(threads, kept);
      const what = `${threads} thread(s), ${kept ? 'kept' : 'host'} gradients`;
      expect(got.losses, what).toEqual(ref.losses);
      for (const name of Object.keys(ref.params)) expect(Array.from(got.params[name]!), `${name}, ${what}`).toEqual(Array.from(ref.params[name]!));
      for (const name of Object.keys(ref.moments)) {
        expect(Array.from(got.moments[name]!.v), `v of ${name}, ${what}`).toEqual(Array.from(ref.moments[name]!.v));
      }
    }
  });

  it('dispose() mid-training keeps the AdamW moments (parked on the host): training on gives the uninterrupted run\'s bits', async () => {
    const cfg = { numTokens: 60, dim: 8, imageDim: 6, textDim: 5, temperature: 0.5, seed: 4 };
    const schedule = { lr: 3e-3, warmupStartLr: 3e-3, warmupSteps: 0, totalSteps: 20 };
    const run = async (disposeAfter: number | null) => {
      const model = await FDT.create(cfg);
      const trainer = new Trainer(model, { schedule });
      const rng = new Rng(12);
      const protos = { img: rng.normals(8 * 6), txt: rng.normals(8 * 5) };
      for (let i = 0; i < 4; i++) {
        await trainer.stepOn(toyBatch(rng, 4, 2, 3, 6, 5, protos));
        if (i === disposeAfter) {
          const moments = (await model.wasm.readMoments(model))!;
          model.dispose();
          // A checkpoint taken while they are parked holds the same moments.
          expect(await model.wasm.readMoments(model)).toEqual(moments);
        }
      }
      return model.stateDict();
    };
    const straight = await run(null);
    const disposed = await run(1);
    for (const [k, v] of Object.entries(straight)) expect(Array.from(disposed[k]!), k).toEqual(Array.from(v));
  });

  it('an AdamW round that fails part way: the parameters stay the host\'s, and training refuses to go on until a checkpoint is restored', async () => {
    const model = await FDT.create({ numTokens: 40, dim: 8, imageDim: 6, textDim: 5, temperature: 1, seed: 2 });
    const trainer = new Trainer(model, { schedule: { lr: 1e-2, warmupStartLr: 1e-2, warmupSteps: 0, totalSteps: 10 } });
    const rng = new Rng(8);
    const protos = { img: rng.normals(8 * 6), txt: rng.normals(8 * 5) };
    const b = toyBatch(rng, 4, 2, 3, 6, 5, protos);
    await trainer.stepOn(b);
    const saved = await trainer.checkpoint();
    const before = model.stateDict();
    const encoded = await model.encodeImage(b.patches);
    const parallel = (model.wasm as unknown as { parallel: { adamw: (items: unknown[], ...rest: unknown[]) => Promise<void> } }).parallel;
    const adamw = parallel.adamw.bind(parallel);
    // The first parameter's share runs, then a "worker" fails.
    parallel.adamw = async (items, ...rest) => {
      await adamw(items.slice(0, 1), ...rest);
      throw new Error('worker lost');
    };
    try {
      await expect(trainer.stepOn(b)).rejects.toThrow(/worker lost/);
    } finally {
      parallel.adamw = adamw;
    }
    const after = model.stateDict();
    for (const [k, v] of Object.entries(before)) expect(Array.from(after[k]!), k).toEqual(Array.from(v));
    expectIdentical('encode after the failed round', (await model.encodeImage(b.patches)).embeddings, encoded.embeddings);
    await expect(trainer.stepOn(b)).rejects.toThrow(new FdtEngineError("wasm engine: a failed AdamW step left this model's optimiser moments partly updated; restore a training checkpoint (Trainer.restore) to go on training"));
    await expect(trainer.checkpoint()).rejects.toThrow(/partly updated/);
    const { trainer: restored } = await Trainer.restore(saved);
    expect((await restored.stepOn(b)).step).toBe(2);
  });

  it('a setParam while an AdamW round runs wins over the step (the newer write), and is what the engine uses next', async () => {
    const model = await FDT.create({ numTokens: 40, dim: 8, imageDim: 6, textDim: 5, temperature: 1, seed: 2 });
    const trainer = new Trainer(model);
    const rng = new Rng(9);
    const b = toyBatch(rng, 4, 2, 3, 6, 5, { img: rng.normals(8 * 6), txt: rng.normals(8 * 5) });
    const mine = model.getParam('space_dict').map((v) => v * 0.5);
    const parallel = (model.wasm as unknown as { parallel: { adamw: (...a: unknown[]) => Promise<void> } }).parallel;
    const adamw = parallel.adamw.bind(parallel);
    parallel.adamw = async (...a) => {
      model.setParam('space_dict', mine); // an un-awaited write landing mid-round
      await adamw(...a);
    };
    try {
      await trainer.stepOn(b);
    } finally {
      parallel.adamw = adamw;
    }
    expectIdentical('space_dict after the step', model.getParam('space_dict'), mine);
    const fresh = await FDT.fromParams(model.config, model.stateDict());
    expectIdentical('the engine uses the written value', (await model.encodeImage(b.patches)).embeddings, (await fresh.encodeImage(b.patches)).embeddings);
  });

  it('a non-finite kept gradient stops the step with its parameter and index, and changes no parameter', async () => {
    const model = await FDT.create({ numTokens: 40, dim: 8, imageDim: 6, textDim: 5, temperature: 1, seed: 2 });
    const trainer = new Trainer(model, { schedule: { warmupSteps: 0, totalSteps: 10 } });
    const rng = new Rng(5);
    const protos = { img: rng.normals(8 * 6), txt: rng.normals(8 * 5) };
    await trainer.stepOn(toyBatch(rng, 4, 2, 3, 6, 5, protos));
    const before = model.stateDict();
    // Spoil one value of the dictionary's kept gradient after the backward wrote it.
    const engine = model.wasm as unknown as { kept: WeakMap<object, { blocks: Map<string, number> }>; mod: { f32(p: number, n: number): Float32Array } };
    const own = model.trainingGradients.bind(model);
    Object.defineProperty(model, 'trainingGradients', {
      value: async (b: Parameters<typeof own>[0]) => {
        const r = await own(b);
        engine.mod.f32(engine.kept.get(model)!.blocks.get('space_dict')!, 40 * 8)[8 * 3 + 5] = -Infinity;
        return r;
      },
    });
    await expect(trainer.stepOn(toyBatch(rng, 4, 2, 3, 6, 5, protos))).rejects.toThrow(/step 2: gradient of space_dict is -Infinity at index 29; no parameter was changed/);
    expect(trainer.step).toBe(1);
    const after = model.stateDict();
    for (const name of Object.keys(before)) expect(Array.from(after[name]!), name).toEqual(Array.from(before[name]!));
  });

  it('kept gradients that a later call replaced are refused, not applied', async () => {
    const model = await FDT.create({ numTokens: 40, dim: 8, imageDim: 6, textDim: 5, temperature: 1, seed: 2 });
    const rng = new Rng(6);
    const protos = { img: rng.normals(8 * 6), txt: rng.normals(8 * 5) };
    const first = await model.trainingGradients(toyBatch(rng, 4, 2, 3, 6, 5, protos));
    await model.trainingGradients(toyBatch(rng, 4, 2, 3, 6, 5, protos));
    const h = { lr: 1e-3, beta1: 0.9, beta2: 0.98, eps: 1e-8, weightDecay: 0.1 };
    await expect(model.wasm.adamwStep(model, first.grads.kept!, 1, h, () => true)).rejects.toThrow(FdtEngineError);
    expect(() => model.wasm.firstNonFinite(model, first.grads.kept!)).toThrow(/kept gradients are gone/);
  });

  it('the schedule: linear warm-up then cosine to 0', () => {
    const s = { lr: 1e-3, warmupStartLr: 1e-4, warmupSteps: 2500, totalSteps: 86560 };
    expect(learningRate(s, 0)).toBeCloseTo(1e-4, 12);
    expect(learningRate(s, 1250)).toBeCloseTo(5.5e-4, 12);
    expect(learningRate(s, 2500)).toBeCloseTo(1e-3, 12);
    expect(learningRate(s, (2500 + 86560) / 2)).toBeCloseTo(5e-4, 12);
    expect(learningRate(s, 86560)).toBe(0);
    expect(() => new Trainer({} as FDT, { schedule: { totalSteps: 10, warmupSteps: 20 } })).toThrow(/totalSteps: expected >= warmupSteps/);
  });

  it('refuses AdamW options that would write NaN parameters: beta = 1 (no bias correction), eps = 0 (0 / 0)', () => {
    const make = (o: TrainerOptions) => () => new Trainer({} as FDT, o);
    expect(make({ beta1: 1 })).toThrow(new FdtValueError('beta1: expected a number in [0, 1), found 1'));
    expect(make({ beta2: 1.5 })).toThrow(new FdtValueError('beta2: expected a number in [0, 1), found 1.5'));
    expect(make({ beta1: -0.1 })).toThrow(/beta1: expected a number in \[0, 1\)/);
    expect(make({ eps: 0 })).toThrow(new FdtValueError('eps: expected a finite number > 0, found 0'));
    expect(make({ eps: Infinity })).toThrow(/eps: expected a finite number > 0, found Infinity/);
    expect(make({ weightDecay: -1 })).toThrow(new FdtValueError('weightDecay: expected a finite number >= 0, found -1'));
    expect(make({ beta1: 0, beta2: 0, eps: 1e-30, weightDecay: 0 })).not.toThrow();
  });
});
