/**
 * Rasterises emoji SVGs with sharp to S x S RGB (white background, fit contain), cached in the git-ignored cache
 * directory in chunks (see chunkedCache) keyed by the set and sharp versions, the size and the concept ids.
 */
import { join } from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { FdtFormatError, FdtValueError } from '../errors.js';
import { chunkedCache, packageVersion, resolveCacheDir } from './cache.js';
import { loadEmojiSet, pairSvg, type EmojiPair } from './emoji.js';
import { silentProgress, stageTracker, type ProgressCallback } from './progress.js';

export interface RasterOptions {
  /** Output side S in pixels (1..1024). */
  size: number;
  /** Cache directory (default `.cache/fdtkit/` under the repository). */
  cacheDir?: string;
  /** Images per cache entry (default 256). */
  chunkSize?: number;
  /** SVGs rendered at once (default 4). */
  concurrency?: number;
  onProgress?: ProgressCallback;
}

export interface RasterBatch {
  set: string;
  size: number;
  /** Concept ids, one per image, in output order. */
  hexcodes: string[];
  /** Pixels [N, S, S, 3], RGB bytes, row-major. */
  pixels: Uint8Array;
  shape: [number, number, number, number];
  /** Images read from the cache (the rest were rendered). */
  cachedImages: number;
}

/**
 * Letterboxes whatever a sharp pipeline decodes into S x S RGB bytes on white (length S*S*3): the one rasterisation
 * the dataset and `fdt explain` share, so an explained image is seen exactly as training images were.
 */
export async function squareRgb(pipeline: Sharp, size: number, what: string): Promise<Uint8Array> {
  const { data, info } = await pipeline
    .resize(size, size, { fit: 'contain', background: '#fff' })
    .flatten({ background: '#fff' })
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.width !== size || info.height !== size || info.channels !== 3) {
    throw new FdtFormatError(`${what}: expected ${size}x${size}x3 pixels, found ${info.width}x${info.height}x${info.channels}`);
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Renders one SVG document to S x S RGB bytes on white (length S*S*3). */
export function rasterizeSvg(svg: string, size: number): Promise<Uint8Array> {
  return squareRgb(sharp(Buffer.from(svg)), size, 'rasterised SVG');
}

function checkSize(size: number): void {
  if (!Number.isInteger(size) || size < 1 || size > 1024) throw new FdtValueError(`size: expected an integer in 1..1024, found ${size}`);
}

/** The pairs of `set` for the given hexcodes (all pairs when omitted), in the given order. */
export function pairsFor(set: string, hexcodes?: readonly string[]): EmojiPair[] {
  const pairs = loadEmojiSet(set).pairs;
  if (hexcodes === undefined) return pairs.slice();
  const byHex = new Map(pairs.map((p) => [p.hexcode, p]));
  return hexcodes.map((h) => {
    const p = byHex.get(h);
    if (!p) throw new FdtValueError(`hexcodes: expected concepts present in emoji set "${set}", found "${h}" which it lacks`);
    return p;
  });
}

/** The settings part of a raster cache key. */
export function rasterKeyMeta(set: string, size: number): Record<string, unknown> {
  const { packageName, version } = loadEmojiSet(set);
  return {
    kind: 'raster',
    format: 1,
    set,
    setPackage: `${packageName}@${version}`,
    sharp: packageVersion('sharp'),
    size,
    fit: 'contain',
    background: '#fff',
    channels: 3,
  };
}

/**
 * Rasterises the pairs of an emoji set (all, or the given hexcodes in that order) to [N, S, S, 3] RGB bytes, reading
 * finished chunks from the cache and rendering and caching the rest.
 */
export async function rasterizeEmojiSet(set: string, hexcodes: readonly string[] | undefined, options: RasterOptions): Promise<RasterBatch> {
  checkSize(options.size);
  const size = options.size;
  const concurrency = options.concurrency ?? 4;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new FdtValueError(`concurrency: expected a positive integer, found ${concurrency}`);
  const pairs = pairsFor(set, hexcodes);
  const byHex = new Map(pairs.map((p) => [p.hexcode, p]));
  const ids = pairs.map((p) => p.hexcode);
  const per = size * size * 3;
  const tracker = stageTracker(options.onProgress ?? silentProgress, `raster ${set} ${size}px`, ids.length);
  const { bytes, cachedItems } = await chunkedCache({
    dir: join(resolveCacheDir(options.cacheDir), 'raster'),
    prefix: `${set}-${size}px`,
    ext: 'u8',
    ids,
    chunkSize: options.chunkSize ?? 256,
    keyMeta: rasterKeyMeta(set, size),
    bytesPerItem: per,
    compute: async (chunk) => {
      const out = new Uint8Array(chunk.length * per);
      let next = 0;
      const worker = async (): Promise<void> => {
        for (let i = next++; i < chunk.length; i = next++) {
          const p = byHex.get(chunk[i]!)!;
          let px: Uint8Array;
          try {
            px = await rasterizeSvg(pairSvg(p, size), size);
          } catch (e) {
            throw new FdtFormatError(`emoji ${set}:${p.iconName} (${p.hexcode}): expected an SVG sharp can render, found an error: ${(e as Error).message}`);
          }
          out.set(px, i * per);
          tracker.tick();
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, chunk.length) }, worker));
      return out;
    },
    onChunk: (n, cached) => {
      if (cached) tracker.tick(n);
    },
  });
  return { set, size, hexcodes: ids, pixels: bytes, shape: [ids.length, size, size, 3], cachedImages: cachedItems };
}
