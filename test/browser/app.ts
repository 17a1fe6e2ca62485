// The browser page's code (bundled by esbuild for the browser test): runs a golden case through the FDT head and
// one training step, in the page and in a Web Worker, and exposes the results to the test.
import { FDT, Trainer } from '../../src/index.js';
import { checkWebGpuTies, type TiesCheck } from '../webgpu-ties-check.js';

interface Golden {
  config: { fdt_num: number; fdt_dim: number; img_token_dim: number; txt_token_dim: number; temperature: number; att_func: 'sparsemax' | 'softmax' };
  params: Record<string, unknown>;
  inputs: { patch_features: number[][][]; word_features: number[][][]; text_valid: number[][] };
}

const flat = (x: unknown): number[] => (Array.isArray(x) ? x.flatMap(flat) : [x as number]);

/**
 * The bit patterns of float32 values: the browsers' result channels (JSON over the DevTools protocol or WebDriver)
 * turn -0 into 0 and NaN into null, so values are compared as patterns, which they carry exactly.
 */
const bitsOf = (x: Float32Array): number[] => Array.from(new Uint32Array(Float32Array.from(x).buffer));

/** The float32 values of bit patterns made by bitsOf. */
export const floatsOf = (bits: readonly number[]): number[] => Array.from(new Float32Array(Uint32Array.from(bits).buffer));

/**
 * What the page (and its worker) computes, float32 arrays as bit patterns (bitsOf); the Node side computes the same
 * and compares. `threads` starts the engine's worker pool (a cross-origin-isolated page), with every pooled kernel's
 * work threshold at 0 so that each one with more than one unit of work is split over it (the golden case's
 * relevance, C = 16, is one panel: not split). `build: 'relaxed'` runs the opt-in FMA build.
 */
export async function runCase(g: Golden, threads?: number, build?: 'relaxed'): Promise<Record<string, number[] | number | string>> {
  const c = g.config;
  const params = Object.fromEntries(Object.entries(g.params).map(([k, v]) => [k, flat(v)]));
  const model = await FDT.fromParams(
    { numTokens: c.fdt_num, dim: c.fdt_dim, imageDim: c.img_token_dim, textDim: c.txt_token_dim, temperature: c.temperature, normalizer: c.att_func },
    params, { ...(threads ? { threads } : {}), ...(build ? { build } : {}) },
  );
  if (threads) model.wasm.parallel.minParallelFlops = 0;
  const batch = { patches: g.inputs.patch_features, tokens: g.inputs.word_features, valid: g.inputs.text_valid };
  const r = await model.gradients(batch);
  const trainer = new Trainer(model, { schedule: { lr: 1e-3, warmupStartLr: 1e-3, warmupSteps: 0, totalSteps: 10 } });
  const step = await trainer.stepOn(batch);
  return {
    threads: model.threads,
    build: model.build,
    loss: r.loss,
    imageEmbeddings: bitsOf(r.image.embeddings),
    textWeights: bitsOf(r.text.weights),
    gradSpaceDict: bitsOf(r.grads.params['space_dict']!),
    stepLoss: step.loss,
    dictionaryAfterStep: bitsOf(model.getParam('space_dict')),
  };
}

/**
 * The tfjs engine on WebGPU in this browser, when it offers an adapter: a golden case through the tfjs engine on the
 * user's own tf namespace with the webgpu backend, and the arg-max check on tied patches (test/webgpu-ties-check.ts).
 * Returns the reason when WebGPU is unavailable.
 */
export async function runWebGpu(g: Golden): Promise<{ skipped: string } | { adapter: string; engine: string; loss: number; imageEmbeddings: number[]; textWeights: number[]; gradSpaceDict: number[]; ties: TiesCheck }> {
  const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<{ info?: { description?: string; vendor?: string } } | null> } }).gpu;
  if (!gpu) return { skipped: 'navigator.gpu is undefined in this browser (WebGPU not exposed)' };
  const adapter = await gpu.requestAdapter();
  if (!adapter) return { skipped: 'navigator.gpu.requestAdapter() returned null (no WebGPU adapter, hardware or software)' };
  const tf = await import('@tensorflow/tfjs-core');
  await import('@tensorflow/tfjs-backend-webgpu');
  const c = g.config;
  const params = Object.fromEntries(Object.entries(g.params).map(([k, v]) => [k, flat(v)]));
  const model = await FDT.fromParams(
    { numTokens: c.fdt_num, dim: c.fdt_dim, imageDim: c.img_token_dim, textDim: c.txt_token_dim, temperature: c.temperature, normalizer: c.att_func },
    params, { engine: 'tfjs', tf: tf as never, backends: ['webgpu'] },
  );
  const r = await model.gradients({ patches: g.inputs.patch_features, tokens: g.inputs.word_features, valid: g.inputs.text_valid });
  return {
    adapter: adapter.info?.description || adapter.info?.vendor || 'not disclosed by the browser',
    engine: model.lastEngine,
    loss: r.loss,
    imageEmbeddings: Array.from(r.image.embeddings),
    textWeights: Array.from(r.text.weights),
    gradSpaceDict: Array.from(r.grads.params['space_dict']!),
    ties: await checkWebGpuTies(['webgpu'], tf as never),
  };
}
