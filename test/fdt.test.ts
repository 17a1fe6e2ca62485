// The FDT API on the wasm engine (both builds): golden parity through `verifyGolden`, agreement with the float64
// reference head on shapes around the tiles, bad input, and parameter access.
import { describe, expect, it } from 'vitest';
import { FDT, FdtEngineError, FdtShapeError, FdtValueError, Trainer } from '../src/index.js';
import { verifyGolden } from '../src/verify/golden.js';
import { GOLDEN_DIR, GOLDEN_SKIP_REASON, goldenHeadFiles, HAS_GOLDEN } from './golden-io.js';
import { BUILDS, expectClose, expectIdentical } from './helpers/close.js';
import { f32round } from './helpers/kernel-harness.js';
import { referenceHead, referenceHeadGrads } from './reference/head.js';
import { Rng } from './reference/rng.js';
import { relaxedSimdSupported } from '../bindings/kernels.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const RELAXED = relaxedSimdSupported();

describe.skipIf(!HAS_GOLDEN)(`golden parity of the whole head ${GOLDEN_SKIP_REASON}`, () => {
  // The relaxed build runs where the runtime has relaxed SIMD (Deno, Bun here); elsewhere its rows are skipped.
  for (const build of [...BUILDS, 'relaxed'] as const) {
    for (const file of goldenHeadFiles()) {
      it.skipIf(build === 'relaxed' && !RELAXED)(`${file} on the ${build} build: every intermediate, output and gradient within 1e-4 * max(1, max|expected|)${build === 'relaxed' && !RELAXED ? ' (skipped: no relaxed SIMD in this runtime)' : ''}`, async () => {
        const doc = JSON.parse(readFileSync(path.join(GOLDEN_DIR, file), 'utf8'));
        const rep = await verifyGolden(doc, { build });
        const bad = rep.fields.filter((f) => !f.ok);
        expect(bad, JSON.stringify(bad)).toEqual([]);
        expect(rep.build).toBe(build);
        // Every gradient in the file was compared, not skipped.
        const grads = rep.fields.filter((f) => f.field.startsWith('grads.'));
        expect(grads.length).toBe(Object.keys(doc.grads).length);
        expect(grads.every((f) => !f.skipped)).toBe(true);
        // The training path (parameter gradients only) was compared for every parameter gradient too.
        const paramGrads = Object.keys(doc.grads).filter((k) => k.startsWith('param.'));
        expect(rep.fields.filter((f) => f.field.startsWith('train.grads.')).map((f) => f.field).sort())
          .toEqual(paramGrads.map((k) => `train.grads.${k}`).sort());
      });
    }
  }
});

interface Case { B: number; N: number; L: number; Di: number; Dt: number; d: number; C: number; normalizer: 'sparsemax' | 'softmax'; maskMode: 'official' | 'exclude'; temperature: number }

const CASES: Case[] = [
  { B: 1, N: 1, L: 1, Di: 1, Dt: 1, d: 1, C: 1, normalizer: 'sparsemax', maskMode: 'official', temperature: 1 },
  { B: 2, N: 3, L: 4, Di: 5, Dt: 3, d: 15, C: 17, normalizer: 'sparsemax', maskMode: 'official', temperature: 0.5 },
  { B: 3, N: 2, L: 5, Di: 17, Dt: 16, d: 16, C: 16, normalizer: 'sparsemax', maskMode: 'exclude', temperature: 1 },
  { B: 2, N: 5, L: 3, Di: 4, Dt: 9, d: 17, C: 33, normalizer: 'softmax', maskMode: 'official', temperature: 2 },
  { B: 4, N: 1, L: 2, Di: 33, Dt: 2, d: 5, C: 15, normalizer: 'sparsemax', maskMode: 'official', temperature: 1000 },
];

function caseInputs(c: Case, seed: number) {
  const rng = new Rng(seed);
  const patches = f32round(rng.normals(c.B * c.N * c.Di));
  const tokens = f32round(rng.normals(c.B * c.L * c.Dt));
  // Caption b has max(1, L - b) real tokens.
  const valid = Float64Array.from({ length: c.B * c.L }, (_, i) => (i % c.L < Math.max(1, c.L - Math.floor(i / c.L)) ? 1 : 0));
  return { patches, tokens, valid };
}

/** caseInputs as an FDT batch. */
function caseBatch(c: Case, seed: number) {
  const x = caseInputs(c, seed);
  return { patches: { data: x.patches, shape: [c.B, c.N, c.Di] }, tokens: { data: x.tokens, shape: [c.B, c.L, c.Dt] }, valid: { data: x.valid, shape: [c.B, c.L] } };
}

describe.each(BUILDS)('FDT API on the %s build', (build) => {
  it.each(CASES.map((c, i) => [i, c] as const))('case %i matches the float64 reference head, forward and backward', async (i, c) => {
    const model = await FDT.create({
      numTokens: c.C, dim: c.d, imageDim: c.Di, textDim: c.Dt, normalizer: c.normalizer, maskMode: c.maskMode,
      temperature: c.temperature, seed: 100 + i, build,
    });
    const x = caseInputs(c, 200 + i);
    const r = await model.gradients({
      patches: { data: x.patches, shape: [c.B, c.N, c.Di] },
      tokens: { data: x.tokens, shape: [c.B, c.L, c.Dt] },
      valid: { data: x.valid, shape: [c.B, c.L] },
    });
    const params = Object.fromEntries(Object.entries(model.stateDict()).map(([k, v]) => [k, Float64Array.from(v)]));
    const inputs = { patchFeatures: x.patches, wordFeatures: x.tokens, textValid: x.valid, B: c.B, N: c.N, L: c.L };
    const cfg = { normaliser: c.normalizer, temperature: c.temperature, maskMode: c.maskMode };
    const ref = referenceHead(params, inputs, cfg);
    const refG = referenceHeadGrads(params, inputs, cfg);
    expect(Math.abs(r.loss - ref.loss)).toBeLessThanOrEqual(1e-4 * Math.max(1, ref.loss));
    expectClose('logits_per_image', r.logitsPerImage, ref.logits_per_image);
    expectClose('logits_per_text', r.logitsPerText, ref.logits_per_text);
    expectClose('relevance_img', r.image.relevance, ref.relevance_img);
    expectClose('relevance_txt', r.text.relevance, ref.relevance_txt);
    expectClose('weights_img', r.image.weights, ref.weights_img);
    expectClose('weights_txt', r.text.weights, ref.weights_txt);
    expectClose('embeddings_img', r.image.embeddings, ref.embed_img_normalized);
    expectClose('embeddings_txt', r.text.embeddings, ref.embed_txt_normalized);
    expectClose('grad patches', r.grads.patches, refG['patch_features']!);
    expectClose('grad tokens', r.grads.tokens, refG['word_features']!);
    for (const [name, g] of Object.entries(r.grads.params)) expectClose(`grad ${name}`, g, refG[`param.${name}`]!);
    expect(Object.keys(r.grads.params).length).toBe(Object.keys(refG).length - 2);
  });

  it.each(CASES.map((c, i) => [i, c] as const))('case %i without input gradients (the training path) matches the float64 reference head', async (i, c) => {
    const model = await FDT.create({
      numTokens: c.C, dim: c.d, imageDim: c.Di, textDim: c.Dt, normalizer: c.normalizer, maskMode: c.maskMode,
      temperature: c.temperature, seed: 100 + i, build,
    });
    const x = caseInputs(c, 200 + i);
    const r = await model.gradients(caseBatch(c, 200 + i), { inputs: false });
    const params = Object.fromEntries(Object.entries(model.stateDict()).map(([k, v]) => [k, Float64Array.from(v)]));
    const inputs = { patchFeatures: x.patches, wordFeatures: x.tokens, textValid: x.valid, B: c.B, N: c.N, L: c.L };
    const refG = referenceHeadGrads(params, inputs, { normaliser: c.normalizer, temperature: c.temperature, maskMode: c.maskMode });
    for (const [name, g] of Object.entries(r.grads.params)) expectClose(`grad ${name}`, g, refG[`param.${name}`]!);
    expect(Object.keys(r.grads.params).length).toBe(Object.keys(refG).length - 2);
  });

  it('gradients(batch, { inputs: false }): no input gradients; LN1 and Lin1 weight gradients within float32 rounding of the full path, every other parameter gradient the same bits', async () => {
    const c = CASES[1]!;
    const model = await FDT.create({ numTokens: c.C, dim: c.d, imageDim: c.Di, textDim: c.Dt, temperature: 0.5, seed: 8, build });
    const batch = caseBatch(c, 10);
    const full = await model.gradients(batch);
    const params = await model.gradients(batch, { inputs: false });
    expect(params.loss).toBe(full.loss);
    expect('patches' in params.grads || 'tokens' in params.grads).toBe(false);
    expect(Object.keys(params.grads.params).sort()).toEqual(Object.keys(full.grads.params).sort());
    // Without input gradients, LN1's parameter gradients are summed through G = gY^T xhat (no gA1 = gY W1), and
    // Lin1's weight gradient is gamma G + beta colsum(gY): the same sums in another order.
    const reordered = /q_map\.(0\.(weight|bias)|1\.weight)$/;
    let reorderedCount = 0;
    for (const [k, g] of Object.entries(full.grads.params)) {
      if (reordered.test(k)) {
        reorderedCount++;
        expectClose(k, params.grads.params[k]!, g, 1e-5);
      } else {
        expect(Array.from(params.grads.params[k]!), k).toEqual(Array.from(g));
      }
    }
    expect(reorderedCount).toBe(6);
  });

  it.each(['official', 'exclude'] as const)('padded caption slots (%s mode): the query MLP runs on the real slots only, with the bits of running it on every slot', async (maskMode) => {
    // trace: true keeps every slot's query (the trace returns them), so it runs the MLP on all B*L rows.
    const [B, N, L, Di, Dt] = [4, 3, 9, 6, 5];
    const model = await FDT.create({ numTokens: 40, dim: 8, imageDim: Di, textDim: Dt, temperature: 0.5, maskMode, seed: 12, build });
    const rng = new Rng(31);
    const lengths = [9, 3, 1, maskMode === 'official' ? 0 : 2]; // a caption with no real slot is valid in official mode
    const valid = Int32Array.from({ length: B * L }, (_, i) => (i % L < lengths[Math.floor(i / L)]! ? 1 : 0));
    const batch = {
      patches: { data: Float32Array.from({ length: B * N * Di }, () => rng.normal()), shape: [B, N, Di] },
      tokens: { data: Float32Array.from({ length: B * L * Dt }, () => rng.normal()), shape: [B, L, Dt] },
      valid: { data: valid, shape: [B, L] },
    };
    const compact = await model.gradients(batch);
    const every = await model.gradients(batch, { trace: true });
    const same = (name: string, a: ArrayLike<number> | undefined, b: ArrayLike<number> | undefined) => {
      expect(a?.length, `${name}: present and not empty`).toBeGreaterThan(0);
      expectIdentical(name, a!, b!);
    };
    expect(compact.loss).toBe(every.loss);
    same('logits', compact.logitsPerImage, every.logitsPerImage);
    same('text relevance', compact.text.relevance, every.text.relevance);
    same('text weights', compact.text.weights, every.text.weights);
    same('grad tokens', compact.grads.tokens, every.grads.tokens);
    same('grad patches', compact.grads.patches, every.grads.patches);
    for (const [k, g] of Object.entries(every.grads.params)) same(`grad ${k}`, compact.grads.params[k], g);
    // A padded slot's input gradient is exactly zero either way.
    const gt = compact.grads.tokens!;
    for (let i = 0; i < B * L; i++) if (!valid[i]) for (let j = 0; j < Dt; j++) expect(gt[i * Dt + j]).toBe(0);
    const enc = await model.encodeText(batch.tokens, batch.valid);
    same('encodeText weights', enc.weights, every.text.weights);
  });

  it('encodeImage / encodeText give the same embeddings and sparse tokens as the batch forward', async () => {
    const c = CASES[1]!;
    const model = await FDT.create({ numTokens: c.C, dim: c.d, imageDim: c.Di, textDim: c.Dt, temperature: 0.5, seed: 7, build });
    const batch = caseBatch(c, 9);
    const all = await model.loss(batch);
    const img = await model.encodeImage(batch.patches);
    const txt = await model.encodeText(batch.tokens, batch.valid);
    expect(Array.from(img.embeddings)).toEqual(Array.from(all.image.embeddings));
    expect(Array.from(txt.weights)).toEqual(Array.from(all.text.weights));
    const row = img.tokens(0);
    expect(row.indices.length).toBe(img.activeCounts[0]);
    let sum = 0;
    for (const v of row.values) sum += v;
    expect(Math.abs(sum - 1)).toBeLessThan(1e-5);
    expect(() => img.tokens(c.B)).toThrow(FdtValueError);
  });
});

describe('FDT model basics', () => {
  it('initialisation is seeded and reproducible, with the official scales', async () => {
    const a = await FDT.create({ numTokens: 64, dim: 8, imageDim: 12, textDim: 10, seed: 5 });
    const b = await FDT.create({ numTokens: 64, dim: 8, imageDim: 12, textDim: 10, seed: 5 });
    const c = await FDT.create({ numTokens: 64, dim: 8, imageDim: 12, textDim: 10, seed: 6 });
    expect(Array.from(a.getParam('space_dict'))).toEqual(Array.from(b.getParam('space_dict')));
    expect(Array.from(a.getParam('space_dict'))).not.toEqual(Array.from(c.getParam('space_dict')));
    expect(a.getParam('logit_scale')[0]).toBeCloseTo(Math.log(1 / 0.07), 6);
    expect(Array.from(a.getParam('img_query_model.q_map.0.weight'))).toEqual(new Array(12).fill(1));
    const w1 = a.getParam('img_query_model.q_map.1.weight');
    expect(Math.max(...w1.map(Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(12));
    const T = a.getParam('space_dict');
    const mean = T.reduce((s, v) => s + v, 0) / T.length;
    const varT = T.reduce((s, v) => s + (v - mean) ** 2, 0) / T.length;
    expect(Math.abs(varT - 1)).toBeLessThan(0.15);
  });

  it('setParam changes results and is validated; stateDict returns copies', async () => {
    const m = await FDT.create({ numTokens: 16, dim: 4, imageDim: 3, textDim: 2, temperature: 1, seed: 1 });
    const x = { data: new Float32Array(2 * 3 * 3).map((_, i) => Math.sin(i)), shape: [2, 3, 3] };
    const before = await m.encodeImage(x);
    const T = m.getParam('space_dict').map((v) => v * 2);
    m.setParam('space_dict', T);
    const after = await m.encodeImage(x);
    expect(Array.from(after.relevance)).not.toEqual(Array.from(before.relevance));
    expect(() => m.setParam('space_dict', new Float32Array(3))).toThrow(/space_dict.*\[16,4\].*found 3/);
    expect(() => m.setParam('nope', [1])).toThrow(FdtValueError);
    expect(() => m.setParam('logit_scale', [NaN])).toThrow(/found NaN at index 0/);
    // Finite in float64, Infinity once stored as float32: refused, and the parameter is left as it was.
    expect(() => m.setParam('logit_scale', [1e39])).toThrow(new FdtValueError('setParam(logit_scale): expected finite values, found 1e+39 at index 0, beyond the float32 range (|x| <= 3.4028e38)'));
    expect(m.getParam('logit_scale')[0]).toBeCloseTo(Math.log(1 / 0.07), 6);
    const sd0 = m.stateDict();
    sd0['space_dict'] = new Float64Array(sd0['space_dict']!.length).fill(-3.5e38) as unknown as Float32Array;
    await expect(FDT.fromParams(m.config, sd0)).rejects.toThrow(/params\.space_dict: expected finite values, found -3\.5e\+38 at index \[0, 0\], beyond the float32 range/);
    const sd = m.stateDict();
    sd['space_dict']![0] = 1234;
    expect(m.getParam('space_dict')[0]).not.toBe(1234);
  });

  it('a call that needs more than wasm memory can hold is an FdtEngineError naming the sizes, and the engine goes on', async () => {
    // C = 2^20 tokens of d = 16 (a 64 MiB dictionary): 1,100 images' relevance rows alone are 4.4 GB, past wasm32's 4 GiB.
    const m = await FDT.create({ numTokens: 2 ** 20, dim: 16, imageDim: 2, textDim: 2, seed: 1, threads: 1 });
    const small = { data: new Float32Array(2 * 1 * 2).fill(0.5), shape: [2, 1, 2] };
    const first = await m.encodeImage(small);
    const live = m.wasm.mod.arena.liveBytes;
    const big = { data: new Float32Array(1100 * 1 * 2).fill(0.5), shape: [1100, 1, 2] };
    await expect(m.encodeImage(big)).rejects.toThrow(FdtEngineError);
    await expect(m.encodeImage(big)).rejects.toThrow(/wasm engine: wasm memory: a block of [\d.]+ MiB needs [\d.]+ MiB of memory; .* split the batch into smaller calls/);
    expect(m.wasm.mod.arena.liveBytes).toBe(live);
    expectIdentical('the same call after the refusal', (await m.encodeImage(small)).embeddings, first.embeddings);
    m.dispose();
  });

  it('memory stops growing after the first call of a shape', async () => {
    const m = await FDT.create({ numTokens: 300, dim: 24, imageDim: 20, textDim: 12, seed: 2 });
    const rng = new Rng(3);
    const batch = {
      patches: { data: rng.normals(4 * 7 * 20), shape: [4, 7, 20] },
      tokens: { data: rng.normals(4 * 5 * 12), shape: [4, 5, 12] },
    };
    await m.gradients(batch);
    const bytes = m.wasm.memoryBytes;
    const live = m.wasm.mod.arena.liveBytes;
    for (let i = 0; i < 200; i++) await m.gradients(batch);
    expect(m.wasm.memoryBytes).toBe(bytes);
    expect(m.wasm.mod.arena.liveBytes).toBe(live);
  });
});

describe('bad input gets a typed error naming the argument, the expected and the found', () => {
  const make = () => FDT.create({ numTokens: 16, dim: 4, imageDim: 3, textDim: 2, seed: 1 });
  const patches = (B: number, N = 2, D = 3) => ({ data: new Float32Array(B * N * D).fill(0.5), shape: [B, N, D] });
  const tokens = (B: number, L = 3, D = 2) => ({ data: new Float32Array(B * L * D).fill(0.25), shape: [B, L, D] });

  it('wrong rank, wrong feature size, data/shape mismatch, empty batch', async () => {
    const m = await make();
    await expect(m.encodeImage({ data: new Float32Array(6), shape: [2, 3] })).rejects.toThrow(/patches: expected rank 3 \[B, N, imageDim=3\], found rank 2 \[2,3\]/);
    await expect(m.encodeImage(patches(2, 2, 4))).rejects.toThrow(/patches: dimension 2 \(imageDim\) expected 3, found 4/);
    await expect(m.encodeImage({ data: new Float32Array(5), shape: [1, 2, 3] })).rejects.toThrow(/patches: shape \[1,2,3\] needs 6 values, found 5/);
    await expect(m.encodeImage(patches(0))).rejects.toThrow(FdtShapeError);
    await expect(m.encodeImage(patches(0))).rejects.toThrow(/dimension 0 \(B\) expected a positive size, found 0/);
    await expect(m.encodeText(tokens(1, 0))).rejects.toThrow(/dimension 1 \(L\) expected a positive size, found 0/);
    await expect(m.loss({ patches: patches(2), tokens: tokens(3) })).rejects.toThrow(/patches has 2 images but tokens has 3 captions/);
  });

  it('non-finite values name the first bad index', async () => {
    const m = await make();
    const p = patches(2);
    p.data[7] = NaN;
    await expect(m.encodeImage(p)).rejects.toThrow(/patches: expected finite values, found NaN at index \[1, 0, 1\]/);
    const t = tokens(1);
    t.data[5] = Infinity;
    await expect(m.encodeText(t)).rejects.toThrow(FdtValueError);
  });

  it('a float32 overflow inside the head (query MLP or relevance) is an FdtValueError, not a silently zeroed row', async () => {
    const m = await FDT.create({ numTokens: 16, dim: 8, imageDim: 3, textDim: 2, seed: 1 });
    const W = 'img_query_model.q_map.4.weight';
    const x = patches(2);
    const finite = m.getParam(W);
    // Finite parameters whose sums overflow: the second LayerNorm's bias at 1e38, then a Linear of ones over d = 8.
    m.setParam('img_query_model.q_map.3.bias', new Float32Array(8).fill(1e38));
    m.setParam(W, new Float32Array(finite.length).fill(1));
    await expect(m.encodeImage(x)).rejects.toThrow(/^image queries \(the query MLP's output\): -?Infinity at \[0, \d\]: its weights or inputs overflow float32$/);
    await expect(m.gradients({ patches: x, tokens: tokens(2) })).rejects.toThrow(FdtValueError);
    m.setParam('img_query_model.q_map.3.bias', new Float32Array(8));
    m.setParam(W, finite.map((v) => v * 1e18));
    m.setParam('space_dict', m.getParam('space_dict').map((v) => v * 1e22));
    await expect(m.encodeImage(x)).rejects.toThrow(/^image relevance: -?Infinity at \[0, \d+\]: the queries times the dictionary overflow float32$/);
  });

  it('mask of the wrong shape or with values other than 0/1', async () => {
    const m = await make();
    await expect(m.encodeText(tokens(2), { data: [1, 1, 1], shape: [1, 3] })).rejects.toThrow(/valid: dimension 0 \(B\) expected 2, found 1/);
    await expect(m.encodeText(tokens(1), { data: [1, 0.5, 0], shape: [1, 3] })).rejects.toThrow(/valid: expected 0 or 1, found 0.5 at index \[0, 1\]/);
  });

  it('a caption with no real token scores 0 in official mode and is an error in exclude mode', async () => {
    const m = await make();
    const r = await m.encodeText(tokens(1), { data: [0, 0, 0], shape: [1, 3] });
    expect(Array.from(r.relevance)).toEqual(new Array(16).fill(0));
    const ex = await FDT.create({ numTokens: 16, dim: 4, imageDim: 3, textDim: 2, seed: 1, maskMode: 'exclude' });
    await expect(ex.encodeText(tokens(1), { data: [0, 0, 0], shape: [1, 3] })).rejects.toThrow(/caption 0 has no real token/);
  });

  it('bad configs: temperature <= 0, unknown normaliser, non-integer sizes; bad params', async () => {
    await expect(FDT.create({ temperature: 0 })).rejects.toThrow(/temperature: expected a finite number > 0, found 0/);
    await expect(FDT.create({ temperature: -1 })).rejects.toThrow(FdtValueError);
    await expect(FDT.create({ normalizer: 'sigmoid' as never })).rejects.toThrow(/normalizer: expected 'sparsemax' or 'softmax', found "sigmoid"/);
    await expect(FDT.create({ numTokens: 2.5 })).rejects.toThrow(/numTokens: expected a positive integer, found 2.5/);
    await expect(FDT.fromParams({ numTokens: 4, dim: 2, imageDim: 2, textDim: 2 }, {})).rejects.toThrow(/params: missing space_dict \[4,2\]/);
    // A misspelt option is refused, not ignored (the temperature would stay at its default).
    await expect(FDT.create({ temprature: 0.01 } as never)).rejects.toThrow(new FdtValueError('config: unknown option "temprature"; known: numTokens, dim, imageDim, textDim, normalizer, temperature, maskMode'));
    await expect(FDT.create({ numTokens: 2 ** 31, dim: 512 })).rejects.toThrow(/numTokens x dim: expected at most 67108864 values .*, found 2147483648 x 512 = 1099511627776/);
    await expect(FDT.create({ numTokens: 8, dim: 2 ** 13, imageDim: 2 ** 14 })).rejects.toThrow(/imageDim x dim: expected at most 67108864 values/);
    for (const seed of [-1, 2 ** 32, 0.5]) {
      await expect(FDT.create({ numTokens: 8, dim: 2, imageDim: 2, textDim: 2, seed })).rejects.toThrow(new FdtValueError(`seed: expected an integer in [0, 2^32), found ${seed}`));
    }
  });

  it('where-to-run options: engine, build, backends, threads and tf are checked before anything starts', async () => {
    const bad: [object, string][] = [
      [{ engine: 'gpu' }, `engine: expected 'auto', 'wasm' or 'tfjs', found "gpu"`],
      [{ build: 'fast' }, `build: expected 'auto', 'simd', 'scalar' or 'relaxed', found "fast"`],
      [{ backends: 'webgl' }, `backends: expected an array of tfjs backend names such as ['webgpu', 'wasm'], found "webgl"`],
      [{ backends: ['webgl', 3] }, `backends: expected an array of tfjs backend names such as ['webgpu', 'wasm'], found ["webgl",3]`],
      [{ threads: 0 }, 'threads: expected an integer from 1 to 256, found 0'],
      [{ threads: 1.5 }, 'threads: expected an integer from 1 to 256, found 1.5'],
      [{ threads: 1e6 }, 'threads: expected an integer from 1 to 256, found 1000000'],
      [{ tf: 'tf' }, "tf: expected a TensorFlow.js namespace (import * as tf from '@tensorflow/tfjs'), found string"],
      [{ tf: null }, "tf: expected a TensorFlow.js namespace (import * as tf from '@tensorflow/tfjs'), found null"],
    ];
    for (const [options, message] of bad) {
      await expect(FDT.create({ numTokens: 8, dim: 2, imageDim: 2, textDim: 2, ...options }), message).rejects.toThrow(new FdtValueError(message));
    }
    const m = await make();
    await expect(m.encodeImage(patches(1), { engine: 'gpu' as never })).rejects.toThrow(new FdtValueError(`options.engine: expected 'auto', 'wasm' or 'tfjs', found "gpu"`));
    await expect(m.to('cpu' as never)).rejects.toThrow(new FdtValueError(`engine: expected 'auto', 'wasm' or 'tfjs', found "cpu"`));
  });

  it('a user tf namespace: each thread count gets its own wasm engine', async () => {
    // Nothing here reaches tfjs (the engine choice stays 'auto' and no call is made): any object stands for the namespace.
    const tf = {} as never;
    const one = await FDT.create({ numTokens: 8, dim: 2, imageDim: 2, textDim: 2, tf, threads: 1 });
    const two = await FDT.create({ numTokens: 8, dim: 2, imageDim: 2, textDim: 2, tf, threads: 2 });
    expect([one.threads, two.threads]).toEqual([1, 2]);
  });

  it('FDT.load and Trainer.restore take a path, a Uint8Array or an ArrayBuffer (a fetch response), and say so otherwise', async () => {
    const m = await make();
    const bytes = m.toBytes();
    const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    const loaded = await FDT.load(buffer as ArrayBuffer);
    expect(Array.from(loaded.params['space_dict']!)).toEqual(Array.from(m.params['space_dict']!));
    await expect(FDT.load(42 as never)).rejects.toThrow(new FdtValueError('FDT.load: expected a path, a Uint8Array or an ArrayBuffer, found number'));
    await expect(FDT.load(new Float32Array(4) as never)).rejects.toThrow(new FdtValueError('FDT.load: expected a path, a Uint8Array or an ArrayBuffer, found Float32Array'));
    const ckpt = await new Trainer(m).checkpoint();
    const restored = await Trainer.restore(ckpt.buffer.slice(ckpt.byteOffset, ckpt.byteOffset + ckpt.byteLength) as ArrayBuffer);
    expect(restored.trainer.step).toBe(0);
    await expect(Trainer.restore(null as never)).rejects.toThrow(new FdtValueError('Trainer.restore: expected a path, a Uint8Array or an ArrayBuffer, found null'));
  });
});
