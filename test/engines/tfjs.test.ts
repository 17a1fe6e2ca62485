// The TensorFlow.js engine: official goldens (every intermediate, output and gradient), parity with the wasm
// engine on random configs (both mask modes, sparsemax and softmax), AdamW parity, tensor counts, and the loader
// (memoised promise, user namespace, every-candidate-fails report). Runs on every tfjs backend that loads in Node
// here (cpu, wasm); a backend that does not load is skipped with its reason.
import { describe, expect, it } from 'vitest';
import type { FdtConfig } from '../../src/config.js';
import { TfjsEngine } from '../../src/engines/tfjs/engine.js';
import { loadTf, TF_CANDIDATES, TfLoader, tfNamespaceOf, type ModuleImporter, type TfNamespace } from '../../src/engines/tfjs/load.js';
import { hostTensor } from '../../src/engines/tfjs/upload.js';
import type { HeadBatch, HeadOutput } from '../../src/engines/types.js';
import { FdtEngineError, FdtShapeError, FdtValueError } from '../../src/errors.js';
import { FDT } from '../../src/fdt.js';
import { isDecayed } from '../../src/params.js';
import { Rng } from '../../src/rng.js';
import { GOLDEN_DIR, GOLDEN_SKIP_REASON, HAS_GOLDEN, type Tensor, goldenHeadFiles, loadGolden, loadGoldenHead } from '../golden-io.js';
import { activeCounts, sparsemax } from '../../src/engines/tfjs/normalizers.js';
import type { Tensor as TfTensor, Tensor2D as TfTensor2D } from '@tensorflow/tfjs-core';
import { expectClose } from '../helpers/close.js';
import { referenceHead, referenceHeadGrads } from '../reference/head.js';

const wasmEngine = async () => (await import('../../src/engines/registry.js')).getWasmEngine();

/** An engine per tfjs backend, or the reason it did not load here. */
async function tryEngine(backend: 'cpu' | 'wasm'): Promise<{ engine?: TfjsEngine; reason: string }> {
  try {
    const engine = await TfjsEngine.create({ backends: [backend] });
    return { engine, reason: '' };
  } catch (e) {
    return { reason: `tfjs ${backend} backend did not load: ${(e as Error).message.split('\n').slice(0, 3).join(' ')}` };
  }
}

const BACKENDS = { cpu: await tryEngine('cpu'), wasm: await tryEngine('wasm') };

/** Runs a call and asserts tf.memory().numTensors is unchanged by it. */
async function sameTensorCount<T>(tf: TfNamespace, label: string, f: () => Promise<T>): Promise<T> {
  const before = tf.memory().numTensors;
  const r = await f();
  expect(tf.memory().numTensors, `${label}: tensor count`).toBe(before);
  return r;
}

function randomArray(rng: Rng, n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal() * scale;
  return a;
}

/** A random batch; caption lengths cycle through 1, L (no padding) and values in between. */
function randomBatch(c: FdtConfig, B: number, N: number, L: number, seed: number): HeadBatch {
  const rng = new Rng(seed);
  const valid = new Int32Array(B * L);
  for (let b = 0; b < B; b++) {
    const len = b === 0 ? L : b === 1 ? 1 : 1 + Math.floor(rng.uniform() * L);
    for (let l = 0; l < len; l++) valid[b * L + l] = 1;
  }
  return { B, N, L, patches: randomArray(rng, B * N * c.imageDim), tokens: randomArray(rng, B * L * c.textDim), valid };
}

/** Every field of two head outputs agrees (float fields to rtol, counts and arg-max exactly). */
function expectSameOutput(label: string, a: HeadOutput, e: HeadOutput, trace = true, rtol = 1e-4): void {
  for (const m of ['image', 'text'] as const) {
    for (const k of ['embeddings', 'embeddingsRaw', 'weights', 'relevance'] as const) {
      expectClose(`${label} ${m}.${k}`, a[m][k], e[m][k], rtol);
    }
    expect(Array.from(a[m].activeCounts), `${label} ${m}.activeCounts`).toEqual(Array.from(e[m].activeCounts));
    if (trace) {
      expectClose(`${label} ${m}.queries`, a[m].queries!, e[m].queries!, rtol);
      expect(Array.from(a[m].argmax!), `${label} ${m}.argmax`).toEqual(Array.from(e[m].argmax!));
    } else {
      expect(a[m].queries, `${label} ${m}.queries untraced`).toBeUndefined();
      expect(a[m].argmax, `${label} ${m}.argmax untraced`).toBeUndefined();
    }
  }
  expectClose(`${label} logitsPerImage`, a.logitsPerImage, e.logitsPerImage, rtol);
  expectClose(`${label} loss`, [a.loss], [e.loss], rtol);
  expectClose(`${label} logitScaleUsed`, [a.logitScaleUsed], [e.logitScaleUsed], rtol);
  expect(a.grads === undefined, `${label}: grads present`).toBe(e.grads === undefined);
  if (e.grads) {
    expect(Object.keys(a.grads!.params).sort(), `${label} gradient names`).toEqual(Object.keys(e.grads.params).sort());
    for (const [k, g] of Object.entries(e.grads.params)) expectClose(`${label} grads.${k}`, a.grads!.params[k]!, g, rtol);
    expectClose(`${label} grads.patches`, a.grads!.patches!, e.grads.patches!, rtol);
    expectClose(`${label} grads.tokens`, a.grads!.tokens!, e.grads.tokens!, rtol);
  }
}

const RANDOM_CASES: { name: string; config: Partial<FdtConfig>; B: number; N: number; L: number }[] = [
  { name: 'sparsemax T1 official', config: { numTokens: 40, dim: 24, imageDim: 20, textDim: 18, temperature: 1, normalizer: 'sparsemax', maskMode: 'official' }, B: 5, N: 6, L: 7 },
  { name: 'sparsemax T1 exclude', config: { numTokens: 33, dim: 16, imageDim: 12, textDim: 10, temperature: 1, normalizer: 'sparsemax', maskMode: 'exclude' }, B: 4, N: 5, L: 9 },
  { name: 'softmax T0.5 exclude', config: { numTokens: 17, dim: 8, imageDim: 9, textDim: 7, temperature: 0.5, normalizer: 'softmax', maskMode: 'exclude' }, B: 3, N: 4, L: 6 },
  { name: 'softmax T1 official', config: { numTokens: 50, dim: 32, imageDim: 24, textDim: 20, temperature: 1, normalizer: 'softmax', maskMode: 'official' }, B: 6, N: 3, L: 5 },
  { name: 'sparsemax T1000 dense', config: { numTokens: 64, dim: 16, imageDim: 12, textDim: 10, temperature: 1000, normalizer: 'sparsemax', maskMode: 'official' }, B: 4, N: 5, L: 6 },
];

for (const [backend, { engine, reason }] of Object.entries(BACKENDS)) {
  describe.skipIf(!engine)(`tfjs engine on the tfjs ${backend} backend ${reason}`, () => {
    const eng = engine!;

    it(`runs on the requested backend`, () => {
      expect(eng.name).toBe('tfjs');
      expect(eng.backend).toBe(backend);
      expect(eng.loaded.candidate).toBe(backend);
    });

    describe.skipIf(!HAS_GOLDEN)(`official goldens ${GOLDEN_SKIP_REASON}`, () => {
      const files = goldenHeadFiles();
      it(`finds the golden head files in ${GOLDEN_DIR}`, () => {
        expect(files.length).toBeGreaterThanOrEqual(3);
      });
      it('sparsemax on the official edge cases: outputs, support sizes and the closed-form VJP (1e-5)', async () => {
        const tf = eng.tf;
        await tf.setBackend(backend);
        const cases = loadGolden('sparsemax_cases.json').cases as { name: string; z: Tensor; out: Tensor; upstream_grad: Tensor; vjp_closed_form: Tensor; support_size: Tensor }[];
        expect(cases.length).toBeGreaterThan(0);
        for (const c of cases) {
          const [R, C] = c.z.shape as [number, number];
          const z = tf.tensor2d(Float32Array.from(c.z.data), [R, C]);
          const g = tf.tensor2d(Float32Array.from(c.upstream_grad.data), [R, C]);
          const p = sparsemax(tf, z);
          // The op's own VJP with upstream g (tfjs-core alone registers no gradient for anything around it).
          const gz = tf.grad((x: TfTensor) => sparsemax(tf, x as TfTensor2D))(z, g);
          const counts = activeCounts(tf, p);
          expectClose(`sparsemax case ${c.name}`, await p.data() as Float32Array, c.out.data, 1e-5);
          expect(Array.from(await counts.data()), `support of ${c.name}`).toEqual(Array.from(c.support_size.data));
          expectClose(`sparsemax vjp ${c.name}`, await gz.data() as Float32Array, c.vjp_closed_form.data, 1e-5);
          tf.dispose([z, g, p, gz, counts]);
        }
      });
      for (const file of files) {
        it(`${file}: every intermediate, output and gradient within 1e-4`, async () => {
          const gc = loadGoldenHead(file);
          const cfg = gc.config as Record<string, number | string>;
          const model = await FDT.fromParams({
            numTokens: cfg['fdt_num'] as number, dim: cfg['fdt_dim'] as number, imageDim: cfg['img_token_dim'] as number,
            textDim: cfg['txt_token_dim'] as number, temperature: cfg['temperature'] as number,
            normalizer: cfg['att_func'] as 'sparsemax' | 'softmax',
          }, gc.params);
          const { B, N, L } = gc.inputs;
          const batch: HeadBatch = {
            B, N, L,
            patches: Float32Array.from(gc.inputs.patchFeatures),
            tokens: Float32Array.from(gc.inputs.wordFeatures),
            valid: Int32Array.from(gc.inputs.textValid!),
          };
          const out = await eng.forwardBackward(model, batch, { grads: true, trace: true });
          const logitsPerText = new Float32Array(B * B);
          for (let i = 0; i < B; i++) for (let j = 0; j < B; j++) logitsPerText[j * B + i] = out.logitsPerImage[i * B + j]!;
          const actual: Record<string, ArrayLike<number>> = {
            q_img: out.image.queries!, q_txt: out.text.queries!,
            relevance_img: out.image.relevance, relevance_txt: out.text.relevance,
            text_relevance_floored_by_padding: Float32Array.from(out.text.argmax!, (a) => (a < 0 ? 1 : 0)),
            weights_img: out.image.weights, weights_txt: out.text.weights,
            nonzero_img: out.image.activeCounts, nonzero_txt: out.text.activeCounts,
            fdt_embed_img: out.image.embeddingsRaw, fdt_embed_txt: out.text.embeddingsRaw,
            logits_per_image: out.logitsPerImage, logits_per_text: logitsPerText,
            loss: [out.loss], logit_scale_used: [out.logitScaleUsed],
            patch_features: out.grads!.patches!, word_features: out.grads!.tokens!,
          };
          for (const [k, g] of Object.entries(out.grads!.params)) actual[`param.${k}`] = g;
          // The [B, L, C] token scores are internal here too (only their max leaves the engine); labels are arange.
          const notCompared = new Set(['token_scores_img_derived', 'token_scores_txt_derived', 'labels']);
          let compared = 0;
          for (const section of [gc.intermediates, gc.outputs, gc.grads] as Record<string, Tensor | number>[]) {
            for (const [key, v] of Object.entries(section)) {
              if (notCompared.has(key)) continue;
              expect(actual, `${file}: field ${key} not produced`).toHaveProperty([key]);
              const expected = typeof v === 'number' ? [v] : v.data;
              if (key.startsWith('nonzero_')) expect(Array.from(actual[key]!), key).toEqual(Array.from(expected));
              else expectClose(`${file} ${key}`, actual[key]!, expected, 1e-4);
              compared++;
            }
          }
          expect(Object.keys(out.grads!.params).sort()).toEqual(Object.keys(gc.grads).filter((k) => k.startsWith('param.')).map((k) => k.slice(6)).sort());
          expect(compared).toBeGreaterThan(30);
          eng.release(model);
        });
      }
    });

    describe('agrees with the float64 reference head on random configs (forward, every gradient)', () => {
      for (const [i, rc] of RANDOM_CASES.entries()) {
        it(rc.name, async () => {
          const model = await FDT.create({ ...rc.config, seed: 100 + i });
          model.setParam('space_dict', randomArray(new Rng(7 + i), model.params['space_dict']!.length, 1));
          const batch = randomBatch(model.config, rc.B, rc.N, rc.L, 31 + i);
          const out = await eng.forwardBackward(model, batch, { grads: true, trace: true });
          const c = model.config;
          const params = Object.fromEntries(Object.entries(model.stateDict()).map(([k, v]) => [k, Float64Array.from(v)]));
          const inputs = {
            patchFeatures: Float64Array.from(batch.patches), wordFeatures: Float64Array.from(batch.tokens),
            textValid: Float64Array.from(batch.valid), B: batch.B, N: batch.N, L: batch.L,
          };
          const cfg = { normaliser: c.normalizer, temperature: c.temperature, maskMode: c.maskMode };
          const ref = referenceHead(params, inputs, cfg);
          const refG = referenceHeadGrads(params, inputs, cfg);
          expectClose(`${rc.name} loss`, [out.loss], [ref.loss]);
          expectClose(`${rc.name} logits_per_image`, out.logitsPerImage, ref.logits_per_image);
          for (const [m, k] of [['image', 'img'], ['text', 'txt']] as const) {
            expectClose(`${rc.name} relevance_${k}`, out[m].relevance, ref[`relevance_${k}`]);
            expectClose(`${rc.name} weights_${k}`, out[m].weights, ref[`weights_${k}`]);
            expectClose(`${rc.name} embeddings_${k}`, out[m].embeddings, ref[`embed_${k}_normalized`]);
          }
          expectClose(`${rc.name} grad patches`, out.grads!.patches!, refG['patch_features']!);
          expectClose(`${rc.name} grad tokens`, out.grads!.tokens!, refG['word_features']!);
          for (const [name, g] of Object.entries(out.grads!.params)) expectClose(`${rc.name} grad ${name}`, g, refG[`param.${name}`]!);
          expect(Object.keys(out.grads!.params).length).toBe(Object.keys(refG).length - 2);
          eng.release(model);
        });
      }
    });

    describe('agrees with the wasm engine on random configs', () => {
      for (const [i, rc] of RANDOM_CASES.entries()) {
        it(rc.name, async () => {
          const tf = eng.tf;
          const wasm = await wasmEngine();
          const model = await FDT.create({ ...rc.config, seed: 100 + i });
          // Larger dictionary and MLP weights than the default init, so sparsemax keeps a handful of tokens.
          model.setParam('space_dict', randomArray(new Rng(7 + i), model.params['space_dict']!.length, 1));
          const batch = randomBatch(model.config, rc.B, rc.N, rc.L, 31 + i);
          const expected = await wasm.forwardBackward(model, batch, { grads: true, trace: true });
          // The first call uploads the parameters (and only that); every later call leaves the tensor count unchanged.
          const start = tf.memory().numTensors;
          const first = await eng.forwardBackward(model, batch, { grads: true, trace: true });
          // All but logit_scale_sd, plus the transposes the GEMMs multiply by (the dictionary and the four Linear weights).
          const transposes = Object.keys(model.params).filter((n) => n === 'space_dict' || /\.(1|4)\.weight$/.test(n)).length;
          expect(transposes).toBe(5);
          expect(eng.residentTensors(model)).toBe(Object.keys(model.params).length - 1 + transposes);
          expect(tf.memory().numTensors).toBe(start + eng.residentTensors(model));
          expectSameOutput(rc.name, first, expected);
          const again = await sameTensorCount(tf, 'forwardBackward(grads)', () => eng.forwardBackward(model, batch, { grads: true, trace: true }));
          expectSameOutput(`${rc.name} (again)`, again, expected);
          const paramsOnly = await sameTensorCount(tf, 'forwardBackward(no input grads)', () => eng.forwardBackward(model, batch, { grads: true, inputGrads: false, trace: true }));
          expect(paramsOnly.grads!.patches === undefined && paramsOnly.grads!.tokens === undefined, 'input gradients absent').toBe(true);
          for (const [k, g] of Object.entries(first.grads!.params)) expectClose(`${rc.name} params-only grads.${k}`, paramsOnly.grads!.params[k]!, g);
          const fwd = await sameTensorCount(tf, 'forwardBackward(no grads)', () => eng.forwardBackward(model, batch, { grads: false }));
          expectSameOutput(`${rc.name} (forward only)`, fwd, await wasm.forwardBackward(model, batch, { grads: false }), false);
          // encode: each modality alone, equal to the wasm engine's.
          for (const m of ['image', 'text'] as const) {
            const x = m === 'image' ? batch.patches : batch.tokens;
            const L = m === 'image' ? batch.N : batch.L;
            const valid = m === 'image' ? null : batch.valid;
            const a = await sameTensorCount(tf, `encode(${m})`, () => eng.encode(model, m, x, batch.B, L, valid));
            const e = await wasm.encode(model, m, x, batch.B, L, valid);
            for (const k of ['embeddings', 'embeddingsRaw', 'weights', 'relevance'] as const) expectClose(`encode ${m}.${k}`, a[k], e[k]);
            expect(Array.from(a.activeCounts)).toEqual(Array.from(e.activeCounts));
          }
          // A parameter write is seen on the next call (the version changed, the resident copy is re-uploaded).
          const T2 = model.getParam('space_dict').map((v) => v * 0.5);
          model.setParam('space_dict', T2);
          const changed = await sameTensorCount(tf, 'forwardBackward after setParam', () => eng.forwardBackward(model, batch, { grads: true, trace: true }));
          expectSameOutput(`${rc.name} (after setParam)`, changed, await wasm.forwardBackward(model, batch, { grads: true, trace: true }));
          const held = eng.residentTensors(model);
          expect(held).toBeGreaterThan(0);
          const before = tf.memory().numTensors;
          eng.release(model);
          expect(tf.memory().numTensors).toBe(before - held);
          wasm.release(model);
        });
      }
    });

    it('AdamW steps agree with the wasm engine (1e-5) and the new values are used next', async () => {
      const tf = eng.tf;
      const wasm = await wasmEngine();
      const rc = RANDOM_CASES[0]!;
      const a = await FDT.create({ ...rc.config, seed: 5 });
      const b = await FDT.fromParams(a.config, a.stateDict());
      const batch = randomBatch(a.config, rc.B, rc.N, rc.L, 9);
      const h = { lr: 1e-2, beta1: 0.9, beta2: 0.98, eps: 1e-8, weightDecay: 0.1 };
      // A forward first: it makes the dictionary's transposed copy resident, which the steps then make stale.
      await eng.forwardBackward(b, batch, { grads: false });
      for (let step = 1; step <= 3; step++) {
        const grads = (await wasm.forwardBackward(a, batch, { grads: true })).grads!.params;
        const versions = { ...b.versions };
        await wasm.adamwStep(a, grads, step, h, isDecayed);
        if (step === 1) await eng.adamwStep(b, grads, step, h, isDecayed); // creates the moments
        else await sameTensorCount(tf, `adamwStep ${step}`, () => eng.adamwStep(b, grads, step, h, isDecayed));
        for (const name of Object.keys(grads)) {
          expectClose(`step ${step} ${name}`, b.params[name]!, a.params[name]!, 1e-5);
          expect(b.versions[name]).not.toBe(versions[name]);
        }
        expect(b.versions['logit_scale_sd']).toBe(versions['logit_scale_sd']);
      }
      const momentsW = (await wasm.readMoments(a))!;
      const momentsT = (await eng.readMoments(b))!;
      for (const [name, mv] of Object.entries(momentsW)) {
        expectClose(`m ${name}`, momentsT[name]!.m, mv.m, 1e-5);
        expectClose(`v ${name}`, momentsT[name]!.v, mv.v, 1e-5);
      }
      // The tfjs engine's resident copies hold the stepped values: its forward equals the wasm one on `a`.
      const out = await sameTensorCount(tf, 'forwardBackward after adamw', () => eng.forwardBackward(b, batch, { grads: true, trace: true }));
      expectSameOutput('after AdamW', out, await wasm.forwardBackward(a, batch, { grads: true, trace: true }));
      const held = eng.residentTensors(b);
      const before = tf.memory().numTensors;
      eng.release(b);
      expect(tf.memory().numTensors).toBe(before - held);
      wasm.release(a);
    });

    it('a float32 overflow in the query MLP or the relevance is an FdtValueError, as on the wasm engine, with no tensor left', async () => {
      const tf = eng.tf;
      const m = await FDT.create({ numTokens: 16, dim: 8, imageDim: 3, textDim: 2, seed: 1 });
      const x = new Float32Array(2 * 2 * 3).fill(0.5).map((v, i) => v + i / 10);
      m.setParam('img_query_model.q_map.3.bias', new Float32Array(8).fill(1e38));
      m.setParam('img_query_model.q_map.4.weight', new Float32Array(64).fill(1));
      await sameTensorCount(tf, 'overflowing encode (first upload)', async () => {
        await expect(eng.encode(m, 'image', x, 2, 2, null)).rejects.toThrow(/^image queries or relevance: not finite: .*overflow float32$/);
        eng.release(m);
      });
      await expect((await wasmEngine()).encode(m, 'image', x, 2, 2, null)).rejects.toThrow(FdtValueError);
      const tokens = new Float32Array(2 * 3 * 2).fill(0.25);
      await expect(eng.forwardBackward(m, { B: 2, N: 2, L: 3, patches: x, tokens, valid: new Int32Array(6).fill(1) }, { grads: true })).rejects.toThrow(/^image queries or relevance: not finite/);
      eng.release(m);
    });

    it('an AdamW step that throws part way leaves no tensor behind and changes no parameter', async () => {
      const tf = eng.tf;
      const rc = RANDOM_CASES[0]!;
      const model = await FDT.create({ ...rc.config, seed: 6 });
      const batch = randomBatch(model.config, rc.B, rc.N, rc.L, 10);
      const grads = (await (await wasmEngine()).forwardBackward(model, batch, { grads: true })).grads!.params;
      const h = { lr: 1e-2, beta1: 0.9, beta2: 0.98, eps: 1e-8, weightDecay: 0.1 };
      await eng.adamwStep(model, grads, 1, h, isDecayed); // moments and resident copies made
      const before = model.stateDict();
      let calls = 0;
      const throwsOnThird = (n: string) => {
        if (++calls === 3) throw new Error('decay rule failed');
        return isDecayed(n);
      };
      await sameTensorCount(tf, 'failed adamwStep', () => eng.adamwStep(model, grads, 2, h, throwsOnThird).catch((e: Error) => e.message));
      const after = model.stateDict();
      for (const [k, v] of Object.entries(before)) expect(Array.from(after[k]!), k).toEqual(Array.from(v));
      eng.release(model);
    });

    it('the logit-scale gradient goes through the unclamped exp (FDT-SPEC quirk 4)', async () => {
      const wasm = await wasmEngine();
      const model = await FDT.create({ ...RANDOM_CASES[0]!.config, seed: 3 });
      model.setParam('logit_scale', [5.5]); // exp(5.5) = 244.7 > 100: the scale used is clamped
      const batch = randomBatch(model.config, 4, 6, 7, 4);
      const out = await eng.forwardBackward(model, batch, { grads: true });
      const ref = await wasm.forwardBackward(model, batch, { grads: true });
      expect(out.logitScaleUsed).toBe(100);
      expect(Math.abs(out.grads!.params['logit_scale']![0]!)).toBeGreaterThan(0);
      expectClose('grads.logit_scale', out.grads!.params['logit_scale']!, ref.grads!.params['logit_scale']!);
      eng.release(model);
      wasm.release(model);
    });

    it('resident parameters are copies: writing into model.params without a version bump changes nothing', async () => {
      const model = await FDT.create({ ...RANDOM_CASES[2]!.config, seed: 21 });
      const x = randomArray(new Rng(22), 2 * 5 * model.config.imageDim);
      const first = await eng.encode(model, 'image', x, 2, 5, null);
      for (const p of Object.values(model.params)) p.fill(0.25); // in place, no bumpVersion: the resident copies must not see it
      const again = await eng.encode(model, 'image', x, 2, 5, null);
      expect(again.relevance).toEqual(first.relevance);
      eng.release(model);
    });

    it('maxBufferBytes: encodes run in chunks of items that fit, with the same outputs; a batch that does not fit is refused', async () => {
      const rc = RANDOM_CASES[4]!; // C = 64, d = 16, image width 12, text width 10
      const model = await FDT.create({ ...rc.config, seed: 31 });
      const c = model.config;
      const batch = randomBatch(c, 7, 5, 6, 32);
      // One text item's widest tensor: 6 rows x 64 tokens x 4 bytes = 1,536; a limit of 3 items' worth splits 7 as 3 + 3 + 1.
      const small = await TfjsEngine.create({ backends: [backend], maxBufferBytes: 3 * 6 * 64 * 4 + 100 });
      expect(small.maxBufferBytes).toBe(3 * 6 * 64 * 4 + 100);
      expect(eng.maxBufferBytes).toBe(Infinity); // a CPU backend: unbounded
      const calls: number[] = [];
      const inner = (small as unknown as { encodeItems: (...a: unknown[]) => Promise<unknown> }).encodeItems.bind(small);
      (small as unknown as { encodeItems: (...a: unknown[]) => Promise<unknown> }).encodeItems = (...a: unknown[]) => {
        calls.push(a[3] as number);
        return inner(...a);
      };
      for (const [m, x, L, valid] of [['image', batch.patches, 5, null], ['text', batch.tokens, 6, batch.valid]] as const) {
        const whole = await eng.encode(model, m, x, 7, L, valid, true);
        await small.encode(model, m, x, 7, L, valid); // the first call makes the parameters resident
        calls.length = 0;
        const chunked = await sameTensorCount(small.tf, `chunked ${m} encode`, () => small.encode(model, m, x, 7, L, valid, true));
        expect(calls, `${m}: items per call`).toEqual([3, 3, 1]); // an image item: 5 x 64 x 4 = 1,280 bytes, also 3 a call
        expect(chunked, m).toEqual(whole);
        expect(chunked.queries, `${m}: traced`).toHaveLength(7 * L * c.dim);
      }
      await expect(small.forwardBackward(model, batch, { grads: true })).rejects.toThrow(FdtEngineError);
      const overBatch = /this batch's widest tensor, 7 items of 6 rows of up to 64 float32 \(10752 bytes\), is over the largest buffer of backend '.*' \(4708 bytes\); use at most 3 items per batch on it, or the wasm engine$/;
      await expect(small.forwardBackward(model, batch, { grads: false })).rejects.toThrow(overBatch);
      const tf = small.tf;
      const [P, W, V] = [tf.tensor3d(batch.patches, [7, 5, 12]), tf.tensor3d(batch.tokens, [7, 6, 10]), tf.tensor2d(Float32Array.from(batch.valid), [7, 6])];
      expect(() => small.lossTensor(model, P, W, V)).toThrow(overBatch);
      tf.dispose([P, W, V]);
      const tiny = await TfjsEngine.create({ backends: [backend], maxBufferBytes: 1000 });
      await expect(tiny.encode(model, 'text', batch.tokens, 7, 6, batch.valid)).rejects.toThrow(/one text item's widest tensor, 6 rows of 64 float32 \(1536 bytes\), is over .* \(1000 bytes\); use the wasm engine/);
      await expect(tiny.forwardBackward(model, batch, { grads: false })).rejects.toThrow(/\(1000 bytes\); use the wasm engine$/);
      await expect(TfjsEngine.create({ backends: [backend], maxBufferBytes: 0 })).rejects.toThrow(/maxBufferBytes: expected a number of bytes > 0, found 0/);
      for (const e of [eng, small, tiny]) e.release(model);
    });

    it('a traced encode gives the wasm engine\'s queries and arg-max', async () => {
      const wasm = await wasmEngine();
      const model = await FDT.create({ ...RANDOM_CASES[0]!.config, seed: 41 });
      const batch = randomBatch(model.config, 3, 4, 5, 42);
      const t = await eng.encode(model, 'text', batch.tokens, 3, 5, batch.valid, true);
      const w = await wasm.encode(model, 'text', batch.tokens, 3, 5, batch.valid, true);
      expectClose('queries', t.queries!, w.queries!);
      expect(Array.from(t.argmax!)).toEqual(Array.from(w.argmax!));
      eng.release(model);
      wasm.release(model);
    });

    it('hostTensor: the values at the shape, refused at another length, copied on request', async () => {
      const tf = eng.tf;
      await tf.setBackend(backend); // the engine's backend (its calls re-activate it; this test calls hostTensor directly)
      // On 'cpu' tf.tensor keeps the array it is given, so only ownCopy keeps `own` from seeing the write below;
      // tfjs-backend-wasm copies into its memory either way.
      const values = Float32Array.from([1, 2, 3, 4, 5, 6]);
      expect(() => hostTensor(tf, values, [4, 2])).toThrow(FdtShapeError);
      expect(() => hostTensor(tf, values, [4, 2])).toThrow(/values: expected 8 values for shape \[4,2\], found 6/);
      const own = hostTensor(tf, values, [2, 3], true);
      values[0] = 99;
      expect(Array.from(await own.data())).toEqual([1, 2, 3, 4, 5, 6]);
      expect(own.shape).toEqual([2, 3]);
      own.dispose();
      const empty = hostTensor(tf, new Float32Array(0), [0, 3]);
      expect(empty.shape).toEqual([0, 3]);
      empty.dispose();
    });
  });
}

describe('loadTf', () => {
  const realImport: ModuleImporter = (s) => import(/* @vite-ignore */ s);

  it('concurrent first calls share one promise; a later call reuses it', async () => {
    const calls: string[] = [];
    const loader = new TfLoader((s) => {
      calls.push(s);
      return realImport(s);
    });
    const p1 = loader.load({ backends: ['cpu'] });
    const p2 = loader.load({ backends: ['cpu'] });
    expect(p2).toBe(p1);
    const [a, b] = await Promise.all([p1, p2]);
    expect(a).toBe(b);
    expect(a.backend).toBe('cpu');
    expect(calls).toEqual(['@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-cpu']);
    expect(loader.load({ backends: ['cpu'] })).toBe(p1);
    // The shared default loader too.
    const q1 = loadTf({ backends: ['cpu'] });
    expect(loadTf({ backends: ['cpu'] })).toBe(q1);
    expect((await q1).tf).toBe(a.tf); // one tfjs-core: the loader never brings a second copy
  });

  it('the default order: each candidate before the chosen one failed, with its reason', async () => {
    const loaded = await new TfLoader().load();
    const at = TF_CANDIDATES.indexOf(loaded.candidate as (typeof TF_CANDIDATES)[number]);
    expect(at).toBeGreaterThanOrEqual(0);
    expect(loaded.attempts.map((a) => a.candidate)).toEqual(TF_CANDIDATES.slice(0, at));
    for (const a of loaded.attempts) expect(a.error.length).toBeGreaterThan(0);
    expect(loaded.tf.getBackend()).toBe(loaded.backend);
  });

  it('a loader whose every candidate fails throws FdtEngineError listing each attempt, and does not cache it', async () => {
    let fail = true;
    const calls: string[] = [];
    const loader = new TfLoader((s) => {
      calls.push(s);
      return fail ? Promise.reject(new Error(`Cannot find package '${s}'`)) : realImport(s);
    });
    const err = await loader.load().then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(FdtEngineError);
    const msg = (err as Error).message;
    for (const c of ['tfjs-node-gpu', 'tfjs-node', 'webgpu', 'webgl', 'wasm', 'cpu']) expect(msg).toContain(`- ${c} (`);
    expect(msg).toContain("Cannot find package '@tensorflow/tfjs-node-gpu'");
    expect(msg).toContain("Cannot find package '@tensorflow/tfjs-core'");
    expect(msg).toContain('npm install @tensorflow/tfjs-core @tensorflow/tfjs-backend-cpu');
    expect(msg).toContain('npm install @tensorflow/tfjs-node-gpu');
    expect(msg).toMatch(/CUDA/);
    expect(calls).toEqual(['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node', '@tensorflow/tfjs-core']);
    // Not cached: the next call tries again, and succeeds once a backend is there.
    fail = false;
    const ok = await loader.load({ backends: ['tfjs-node', 'cpu'] });
    expect(ok.backend).toBe('cpu');
    expect(ok.attempts.map((a) => a.candidate)).toEqual(['tfjs-node']);
  });

  it('reports a backend whose package imports but whose initialisation fails', async () => {
    const fakeTf = {
      tensor() {}, tidy() {}, dispose() {}, grads() {}, valueAndGrads() {}, customGrad() {}, memory() {},
      ready: async () => {},
      getBackend: () => 'none',
      setBackend: async (name: string) => {
        console.warn(`Initialization of backend ${name} failed`);
        return false;
      },
    };
    const loader = new TfLoader(async (s) => (s === '@tensorflow/tfjs-core' ? { default: fakeTf } : {}));
    const err = await loader.load({ backends: ['webgl', 'cpu'] }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(FdtEngineError);
    expect((err as Error).message).toContain("- webgl (@tensorflow/tfjs-backend-webgl): tf.setBackend('webgl') failed to initialise the backend: Initialization of backend webgl failed");
    expect((err as Error).message).toContain("- cpu (@tensorflow/tfjs-backend-cpu): tf.setBackend('cpu') failed");
  });

  it('uses an injected tf namespace as is, importing nothing', async () => {
    const userTf = tfNamespaceOf(await import('@tensorflow/tfjs-core'));
    await import('@tensorflow/tfjs-backend-cpu');
    const imported: string[] = [];
    const loader = new TfLoader((s) => {
      imported.push(s);
      return Promise.reject(new Error('must not import'));
    });
    const loaded = await loader.load({ tf: userTf, backends: ['cpu'] });
    expect(loaded.tf).toBe(userTf);
    expect(loaded.candidate).toBe('user');
    expect(loaded.backend).toBe('cpu');
    const engine = await TfjsEngine.create({ tf: userTf, backends: ['cpu'], loader });
    expect(engine.tf).toBe(userTf);
    // It computes what the wasm engine does.
    const wasm = await wasmEngine();
    const model = await FDT.create({ ...RANDOM_CASES[1]!.config, seed: 11 });
    model.setParam('space_dict', randomArray(new Rng(12), model.params['space_dict']!.length, 1));
    const batch = randomBatch(model.config, 3, 4, 5, 13);
    expectSameOutput('user tf', await engine.forwardBackward(model, batch, { grads: true, trace: true }), await wasm.forwardBackward(model, batch, { grads: true, trace: true }));
    engine.release(model);
    wasm.release(model);
    // Without `backends` it follows the namespace's active backend.
    const follow = await loader.load({ tf: userTf });
    expect(follow.pinned).toBe(false);
    expect(follow.backend).toBe(userTf.getBackend());
    expect(imported).toEqual([]);
  });

  it.skipIf(!BACKENDS.wasm.engine)(`one user namespace, two backend lists: two engines, each on its own backend, same results ${BACKENDS.wasm.reason}`, async () => {
    const userTf = tfNamespaceOf(await import('@tensorflow/tfjs-core'));
    await import('@tensorflow/tfjs-backend-cpu');
    await import('@tensorflow/tfjs-backend-wasm');
    const base = await FDT.create({ ...RANDOM_CASES[1]!.config, seed: 21 });
    base.setParam('space_dict', randomArray(new Rng(22), base.params['space_dict']!.length, 1));
    const batch = { patches: { data: randomArray(new Rng(23), 3 * 4 * base.config.imageDim), shape: [3, 4, base.config.imageDim] } };
    const results = [];
    for (const backend of ['cpu', 'wasm', 'cpu']) {
      const m = await FDT.fromParams(base.config, base.stateDict(), { tf: userTf as never, backends: [backend], engine: 'tfjs' });
      const r = await m.encodeImage(batch.patches);
      expect(m.lastEngine).toBe(`tfjs ${backend}`);
      results.push(r.embeddings);
      m.dispose();
    }
    const onWasm = await base.encodeImage(batch.patches, { engine: 'wasm' });
    for (const r of results) expectClose('user namespace embeddings', r, onWasm.embeddings);
    // Issued together, without awaiting: the namespace's calls queue, each on its own engine's backend.
    const onCpu = await FDT.fromParams(base.config, base.stateDict(), { tf: userTf as never, backends: ['cpu'], engine: 'tfjs' });
    const onTfWasm = await FDT.fromParams(base.config, base.stateDict(), { tf: userTf as never, backends: ['wasm'], engine: 'tfjs' });
    const together = await Promise.all([onCpu.encodeImage(batch.patches), onTfWasm.encodeImage(batch.patches), onCpu.encodeImage(batch.patches), onTfWasm.encodeImage(batch.patches)]);
    for (const r of together) expectClose('interleaved embeddings', r.embeddings, onWasm.embeddings);
    expect([onCpu.lastEngine, onTfWasm.lastEngine]).toEqual(['tfjs cpu', 'tfjs wasm']);
    onCpu.dispose();
    onTfWasm.dispose();
  });

  it('refuses something that is not a tf namespace', async () => {
    const loader = new TfLoader(() => Promise.reject(new Error('must not import')));
    await expect(loader.load({ tf: { tensor: 1 } as unknown as TfNamespace })).rejects.toThrow(FdtEngineError);
    await expect(loader.load({ backends: ['tpu'] })).rejects.toThrow(/unknown candidate/);
  });
});
