// The browser page's code (bundled by esbuild for the browser test): runs a golden case through the FDT head and
// one training step, in the page and in a Web Worker, and exposes the results to the test.
import { FDT, Trainer } from '../../src/index.js';

interface Golden {
  config: { fdt_num: number; fdt_dim: number; img_token_dim: number; txt_token_dim: number; temperature: number; att_func: 'sparsemax' | 'softmax' };
  params: Record<string, unknown>;
  inputs: { patch_features: number[][][]; word_features: number[][][]; text_valid: number[][] };
}

const flat = (x: unknown): number[] => (Array.isArray(x) ? x.flatMap(flat) : [x as number]);

/** What the page (and its worker) computes; the Node side computes the same and compares. */
export async function runCase(g: Golden): Promise<Record<string, number[] | number | string>> {
  const c = g.config;
  const params = Object.fromEntries(Object.entries(g.params).map(([k, v]) => [k, flat(v)]));
  const model = await FDT.fromParams(
    { numTokens: c.fdt_num, dim: c.fdt_dim, imageDim: c.img_token_dim, textDim: c.txt_token_dim, temperature: c.temperature, normalizer: c.att_func },
    params,
  );
  const batch = { patches: g.inputs.patch_features, tokens: g.inputs.word_features, valid: g.inputs.text_valid };
  const r = await model.gradients(batch);
  const trainer = new Trainer(model, { schedule: { lr: 1e-3, warmupStartLr: 1e-3, warmupSteps: 0, totalSteps: 10 } });
  const step = await trainer.stepOn(batch);
  return {
    build: model.build,
    loss: r.loss,
    imageEmbeddings: Array.from(r.image.embeddings),
    textWeights: Array.from(r.text.weights),
    gradSpaceDict: Array.from(r.grads.params['space_dict']!),
    stepLoss: step.loss,
    dictionaryAfterStep: Array.from(model.getParam('space_dict')),
  };
}
