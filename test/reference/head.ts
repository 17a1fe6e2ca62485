/**
 * Float64 reference of the whole FDT head (FDT-SPEC "Forward" and "Backward"), built from ./ops.ts.
 * Params use the official state-dict names (no `module.` prefix): space_dict [C, d], logit_scale [1],
 * {img,txt}_query_model.q_map.{0,1,3,4}.{weight,bias} (Linear weights [out, in]).
 */
import {
  type MaskMode, type QueryMlpParams,
  infoNce, infoNceVjp, l2normalize, l2normalizeVjp, queryMlp, queryMlpVjp, relevance, relevanceVjp,
  softmax, softmaxVjp, sparsemaxSort, sparsemaxVjp, weightedSum, weightedSumVjp,
} from './ops.js';

export type Normaliser = 'sparsemax' | 'softmax';

/** Token features of one batch: patches [B, N, Di]; words [B, L, Dt]; textValid [B, L] (1 = real) or null. */
export interface HeadInputs {
  patchFeatures: Float64Array;
  wordFeatures: Float64Array;
  textValid: Float64Array | null;
  B: number;
  N: number;
  L: number;
}

export interface HeadConfig {
  normaliser: Normaliser;
  temperature: number;
  /** default 'official' (padding floors text relevance at 0) */
  maskMode?: MaskMode;
}

/** Every intermediate and output, named like the golden files' `intermediates` and `outputs` entries. */
export interface HeadForward {
  q_img: Float64Array; // [B, N, d]
  q_txt: Float64Array; // [B, L, d]
  token_scores_img_derived: Float64Array; // [B, N, C]  S / tau
  token_scores_txt_derived: Float64Array; // [B, L, C]  S * valid / tau (NaN at padded slots in 'exclude')
  relevance_img: Float64Array; // [B, C]
  relevance_txt: Float64Array; // [B, C]
  text_relevance_floored_by_padding: Float64Array; // [B, C]  1 where a padded slot won the max
  argmax_img: Int32Array; // [B, C]
  argmax_txt: Int32Array; // [B, C]  -1 where a padded slot won
  weights_img: Float64Array; // [B, C]
  weights_txt: Float64Array; // [B, C]
  nonzero_img: Float64Array; // [B]  number of weights > 0
  nonzero_txt: Float64Array; // [B]
  fdt_embed_img: Float64Array; // [B, d]  before L2 normalisation
  fdt_embed_txt: Float64Array; // [B, d]
  embed_img_normalized: Float64Array; // [B, d]
  embed_txt_normalized: Float64Array; // [B, d]
  logits_per_image: Float64Array; // [B, B]
  logits_per_text: Float64Array; // [B, B]
  labels: Float64Array; // [B]  0..B-1
  loss: number;
  logit_scale_used: number;
}

/** The query MLP params of one modality, e.g. prefix 'img_query_model'. */
export function mlpParamsFrom(params: Record<string, Float64Array>, prefix: string): QueryMlpParams {
  const get = (k: string): Float64Array => {
    const v = params[`${prefix}.q_map.${k}`];
    if (!v) throw new Error(`missing parameter ${prefix}.q_map.${k}`);
    return v;
  };
  return {
    ln1Weight: get('0.weight'), ln1Bias: get('0.bias'),
    lin1Weight: get('1.weight'), lin1Bias: get('1.bias'),
    ln2Weight: get('3.weight'), ln2Bias: get('3.bias'),
    lin2Weight: get('4.weight'), lin2Bias: get('4.bias'),
  };
}

/** Official state-dict suffix of each query MLP parameter. */
const MLP_KEYS: Record<keyof QueryMlpParams, string> = {
  ln1Weight: 'q_map.0.weight', ln1Bias: 'q_map.0.bias',
  lin1Weight: 'q_map.1.weight', lin1Bias: 'q_map.1.bias',
  ln2Weight: 'q_map.3.weight', ln2Bias: 'q_map.3.bias',
  lin2Weight: 'q_map.4.weight', lin2Bias: 'q_map.4.bias',
};

function headDims(params: Record<string, Float64Array>): { C: number; d: number } {
  const d = mlpParamsFrom(params, 'img_query_model').lin2Bias.length;
  return { C: params.space_dict.length / d, d };
}

function normalise(z: Float64Array, rows: number, n: number, kind: Normaliser): Float64Array {
  return kind === 'sparsemax' ? sparsemaxSort(z, rows, n) : softmax(z, rows, n);
}

function countPositive(w: Float64Array, B: number, C: number): Float64Array {
  const out = new Float64Array(B);
  for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) if (w[b * C + c] > 0) out[b]++;
  return out;
}

/** Forward of the FDT head for both modalities, returning every intermediate. */
export function referenceHead(
  params: Record<string, Float64Array>, inputs: HeadInputs, config: HeadConfig,
): HeadForward {
  const { B, N, L } = inputs;
  const { C, d } = headDims(params);
  const T = params.space_dict;
  const mode = config.maskMode ?? 'official';
  const tau = config.temperature;

  const q_img = queryMlp(inputs.patchFeatures, mlpParamsFrom(params, 'img_query_model'), B * N);
  const q_txt = queryMlp(inputs.wordFeatures, mlpParamsFrom(params, 'txt_query_model'), B * L);
  const img = relevance(q_img, T, null, B, N, C, d, tau, mode);
  const txt = relevance(q_txt, T, inputs.textValid, B, L, C, d, tau, mode);
  const weights_img = normalise(img.r, B, C, config.normaliser);
  const weights_txt = normalise(txt.r, B, C, config.normaliser);
  const fdt_embed_img = weightedSum(weights_img, T, B, C, d);
  const fdt_embed_txt = weightedSum(weights_txt, T, B, C, d);
  const embed_img_normalized = l2normalize(fdt_embed_img, B, d);
  const embed_txt_normalized = l2normalize(fdt_embed_txt, B, d);
  const nce = infoNce(embed_img_normalized, embed_txt_normalized, B, d, params.logit_scale[0]);

  return {
    q_img, q_txt,
    token_scores_img_derived: img.scores,
    token_scores_txt_derived: txt.scores,
    relevance_img: img.r,
    relevance_txt: txt.r,
    text_relevance_floored_by_padding: Float64Array.from(txt.argmax, (a) => (a < 0 ? 1 : 0)),
    argmax_img: img.argmax,
    argmax_txt: txt.argmax,
    weights_img, weights_txt,
    nonzero_img: countPositive(weights_img, B, C),
    nonzero_txt: countPositive(weights_txt, B, C),
    fdt_embed_img, fdt_embed_txt, embed_img_normalized, embed_txt_normalized,
    logits_per_image: nce.logitsPerImage,
    logits_per_text: nce.logitsPerText,
    labels: Float64Array.from({ length: B }, (_, i) => i),
    loss: nce.loss,
    logit_scale_used: nce.scaleUsed,
  };
}

/**
 * Gradients of the loss w.r.t. the inputs and every trained parameter, keyed like the golden `grads`:
 * 'patch_features', 'word_features', 'param.space_dict', 'param.logit_scale' ([1]),
 * 'param.{img,txt}_query_model.q_map.{0,1,3,4}.{weight,bias}'.
 */
export function referenceHeadGrads(
  params: Record<string, Float64Array>, inputs: HeadInputs, config: HeadConfig,
): Record<string, Float64Array> {
  const { B, N, L } = inputs;
  const { C, d } = headDims(params);
  const T = params.space_dict;
  const tau = config.temperature;
  const f = referenceHead(params, inputs, config);

  const nce = infoNceVjp(f.embed_img_normalized, f.embed_txt_normalized, B, d, params.logit_scale[0]);
  const gT = new Float64Array(C * d);
  const addInto = (acc: Float64Array, g: Float64Array) => g.forEach((v, i) => (acc[i] += v));
  const out: Record<string, Float64Array> = {};

  const modalities = [
    { key: 'patch_features', prefix: 'img_query_model', x: inputs.patchFeatures, rows: N, q: f.q_img,
      argmax: f.argmax_img, w: f.weights_img, e: f.fdt_embed_img, gEhat: nce.gEi },
    { key: 'word_features', prefix: 'txt_query_model', x: inputs.wordFeatures, rows: L, q: f.q_txt,
      argmax: f.argmax_txt, w: f.weights_txt, e: f.fdt_embed_txt, gEhat: nce.gEt },
  ];
  for (const m of modalities) {
    const gE = l2normalizeVjp(m.e, m.gEhat, B, d);
    const ws = weightedSumVjp(m.w, T, gE, B, C, d);
    addInto(gT, ws.gT);
    const gR = config.normaliser === 'sparsemax' ? sparsemaxVjp(m.w, ws.gw, B, C) : softmaxVjp(m.w, ws.gw, B, C);
    const rel = relevanceVjp(m.q, T, m.argmax, gR, B, m.rows, C, d, tau);
    addInto(gT, rel.gT);
    const mlp = queryMlpVjp(m.x, mlpParamsFrom(params, m.prefix), B * m.rows, rel.gq);
    out[m.key] = mlp.gx;
    for (const [name, suffix] of Object.entries(MLP_KEYS)) {
      out[`param.${m.prefix}.${suffix}`] = mlp.grads[name as keyof QueryMlpParams];
    }
  }
  out['param.space_dict'] = gT;
  out['param.logit_scale'] = Float64Array.of(nce.gLogitScaleParam);
  return out;
}
