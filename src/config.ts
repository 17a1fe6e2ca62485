import { FdtValueError } from './errors.js';

/** The normaliser that turns relevance into token weights. */
export type Normalizer = 'sparsemax' | 'softmax';
/**
 * How padded caption slots enter the max over tokens. 'official' multiplies their scores by 0, as the official code
 * does, so a caption with padding has relevance max(0, max over real tokens); 'exclude' ignores them.
 */
export type MaskMode = 'official' | 'exclude';

/** Dimensions and options of an FDT head. */
export interface FdtConfig {
  /** C: the number of dictionary tokens (16384 in the paper). */
  numTokens: number;
  /** d: the dimension of the dictionary tokens and of the embeddings (512 in the paper). */
  dim: number;
  /** Di: the image patch feature dimension (768 for ViT-B/32). */
  imageDim: number;
  /** Dt: the caption token feature dimension (512 for CLIP's text transformer). */
  textDim: number;
  normalizer: Normalizer;
  /** tau > 0: relevance is divided by it before the normaliser (the released config uses 1000). */
  temperature: number;
  maskMode: MaskMode;
}

export const DEFAULT_CONFIG: FdtConfig = {
  numTokens: 16384,
  dim: 512,
  imageDim: 768,
  textDim: 512,
  normalizer: 'sparsemax',
  temperature: 1000,
  maskMode: 'official',
};

/**
 * Most float32 values one weight matrix (the dictionary C x d, a query MLP's first Linear d x Di) may hold: 2^26, a
 * 256 MiB matrix, 8x the paper's dictionary. Training keeps about five copies of each (the values, the packed or
 * transposed copy, the gradient, AdamW's two moments) in one wasm memory of at most 4 GiB.
 */
const MAX_MATRIX_VALUES = 2 ** 26;

/**
 * Fills defaults and checks every field, throwing FdtValueError naming the field, the expected and the found value.
 * Unknown keys are refused (a misspelt option would otherwise keep its default silently).
 */
export function resolveConfig(partial: Partial<FdtConfig>): FdtConfig {
  const unknown = Object.keys(partial).filter((k) => !Object.hasOwn(DEFAULT_CONFIG, k));
  if (unknown.length) {
    throw new FdtValueError(`config: unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => JSON.stringify(k)).join(', ')}; known: ${Object.keys(DEFAULT_CONFIG).join(', ')}`);
  }
  const c: FdtConfig = { ...DEFAULT_CONFIG, ...stripUndefined(partial) };
  for (const key of ['numTokens', 'dim', 'imageDim', 'textDim'] as const) {
    const v = c[key];
    if (!Number.isSafeInteger(v) || v < 1) throw new FdtValueError(`${key}: expected a positive integer, found ${v}`);
  }
  for (const key of ['numTokens', 'imageDim', 'textDim'] as const) {
    if (c[key] * c.dim > MAX_MATRIX_VALUES) {
      throw new FdtValueError(`${key} x dim: expected at most ${MAX_MATRIX_VALUES} values (a 256 MiB float32 matrix; training keeps about five copies in wasm memory, at most 4 GiB), found ${c[key]} x ${c.dim} = ${c[key] * c.dim}`);
    }
  }
  if (!(typeof c.temperature === 'number' && Number.isFinite(c.temperature) && c.temperature > 0)) {
    throw new FdtValueError(`temperature: expected a finite number > 0, found ${c.temperature}`);
  }
  if (c.normalizer !== 'sparsemax' && c.normalizer !== 'softmax') {
    throw new FdtValueError(`normalizer: expected 'sparsemax' or 'softmax', found ${JSON.stringify(c.normalizer)}`);
  }
  if (c.maskMode !== 'official' && c.maskMode !== 'exclude') {
    throw new FdtValueError(`maskMode: expected 'official' or 'exclude', found ${JSON.stringify(c.maskMode)}`);
  }
  return c;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
