import type { FdtConfig } from './config.js';
import { FdtShapeError, FdtValueError } from './errors.js';
import { Rng } from './rng.js';
import { expectFinite } from './tensor.js';

/** The parameters of an FDT head by their official state-dict names (FDT-SPEC's table, without `module.`). */
export type FdtParams = Record<string, Float32Array>;

/** The two query MLPs' state-dict prefixes. */
export const MODALITIES = { image: 'img_query_model.q_map', text: 'txt_query_model.q_map' } as const;
export type Modality = keyof typeof MODALITIES;

/** The official name and shape of every parameter, in state-dict order. */
export function paramShapes(c: FdtConfig): [string, number[]][] {
  const mlp = (prefix: string, din: number): [string, number[]][] => [
    [`${prefix}.0.weight`, [din]],
    [`${prefix}.0.bias`, [din]],
    [`${prefix}.1.weight`, [c.dim, din]],
    [`${prefix}.1.bias`, [c.dim]],
    [`${prefix}.3.weight`, [c.dim]],
    [`${prefix}.3.bias`, [c.dim]],
    [`${prefix}.4.weight`, [c.dim, c.dim]],
    [`${prefix}.4.bias`, [c.dim]],
  ];
  return [
    ['space_dict', [c.numTokens, c.dim]],
    ['logit_scale', [1]],
    ['logit_scale_sd', [1]],
    ...mlp(MODALITIES.image, c.imageDim),
    ...mlp(MODALITIES.text, c.textDim),
  ];
}

/** Parameters that AdamW decays (the Linear weights and the dictionary); biases, LayerNorms and scales are not. */
export function isDecayed(name: string): boolean {
  return name === 'space_dict' || /q_map\.[14]\.weight$/.test(name);
}

/** The initial logit scale parameter, log(1 / 0.07), as in CLIP and the official FDT code. */
export const INITIAL_LOGIT_SCALE = Math.log(1 / 0.07);

/**
 * The official initialisation, seeded: T ~ N(0, 1) unscaled; Linear weights and biases U(-1/sqrt(fan_in),
 * 1/sqrt(fan_in)) (PyTorch's default); LayerNorm weight 1, bias 0; logit_scale = log(1/0.07).
 */
export function initParams(c: FdtConfig, seed: number): FdtParams {
  const rng = new Rng(seed);
  const params: FdtParams = {};
  for (const [name, shape] of paramShapes(c)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const p = new Float32Array(n);
    if (name === 'space_dict') {
      for (let i = 0; i < n; i++) p[i] = rng.normal();
    } else if (name === 'logit_scale' || name === 'logit_scale_sd') {
      p[0] = INITIAL_LOGIT_SCALE;
    } else if (/\.[03]\.weight$/.test(name)) {
      p.fill(1);
    } else if (/\.[03]\.bias$/.test(name)) {
      p.fill(0);
    } else {
      // Linear: fan_in is the input dimension (weight [out, in]); the bias uses the same bound.
      const fanIn = name.endsWith('.1.weight') || name.endsWith('.1.bias')
        ? (name.startsWith(MODALITIES.image) ? c.imageDim : c.textDim)
        : c.dim;
      const bound = 1 / Math.sqrt(fanIn);
      for (let i = 0; i < n; i++) p[i] = (rng.uniform() * 2 - 1) * bound;
    }
    params[name] = p;
  }
  return params;
}

/**
 * Checks a full parameter set against the config: every name present with the right size and finite values.
 * Unknown names are refused. Returns float32 copies.
 */
export function checkParams(c: FdtConfig, given: Record<string, ArrayLike<number>>): FdtParams {
  const shapes = paramShapes(c);
  const known = new Set(shapes.map(([n]) => n));
  for (const name of Object.keys(given)) {
    if (!known.has(name)) throw new FdtValueError(`params: unknown parameter ${JSON.stringify(name)}`);
  }
  const out: FdtParams = {};
  for (const [name, shape] of shapes) {
    const v = given[name];
    if (v === undefined) throw new FdtShapeError(`params: missing ${name} [${shape}]`);
    const n = shape.reduce((a, b) => a * b, 1);
    if (v.length !== n) throw new FdtShapeError(`params.${name}: expected [${shape}] (${n} values), found ${v.length} values`);
    expectFinite(`params.${name}`, v, shape);
    out[name] = Float32Array.from(v);
  }
  return out;
}
