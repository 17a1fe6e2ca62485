/**
 * Frozen image patch features from the MobileNetV2 that nsfwjs@4.3.0 ships inside its package (model topology and
 * weights are bundled as JS modules under nsfwjs/dist/models/mobilenet_v2, so loading needs no network). The model is
 * cut at an inner layer (default 'block_13_expand_relu', stride 16): a 112 px input gives a [7, 7, 576] grid, i.e.
 * 49 patches of 576 dims. Runs on tfjs with the wasm backend. Inputs are RGB values scaled to 0..1.
 */
import { join } from 'node:path';
import type * as TF from '@tensorflow/tfjs';
import { FdtEngineError, FdtShapeError, FdtValueError } from '../errors.js';
import { bytesOf, chunkedCache, hashKey, packageVersion, readJson, resolveCacheDir, writeFileAtomic } from '../data/cache.js';
import { loadEmojiSet } from '../data/emoji.js';
import { silentProgress, stageTracker, type ProgressCallback } from '../data/progress.js';
import { rasterKeyMeta, rasterizeEmojiSet } from '../data/raster.js';

export const DEFAULT_IMAGE_LAYER = 'block_13_expand_relu';

export interface ImageEncoder {
  /** The layer the network is cut at. */
  layer: string;
  /** Input side in pixels. */
  inputSize: number;
  /** Output grid [height, width]. */
  grid: [number, number];
  /** Patches per image (grid height * width). */
  patches: number;
  /** Channels per patch. */
  dim: number;
  /**
   * Patch features of `n` RGB images [n, S, S, 3] (bytes 0..255, scaled to 0..1 here) -> Float32 [n, patches, dim],
   * computed `batchSize` images at a time.
   */
  encode(pixels: Uint8Array, n: number, batchSize?: number, onBatch?: (images: number) => void): Float32Array;
  /** Frees the cut model's tensors (the shared loaded network stays). */
  dispose(): void;
}

let netPromise: Promise<{ tf: typeof TF; net: TF.LayersModel }> | null = null;

/** Versions that determine the features (part of every feature cache key). */
export function imageEncoderVersions(): Record<string, string> {
  return {
    nsfwjs: packageVersion('nsfwjs'),
    tfjs: packageVersion('@tensorflow/tfjs'),
    tfjsBackendWasm: packageVersion('@tensorflow/tfjs-backend-wasm'),
  };
}

/**
 * Loads (once per process) the bundled MobileNetV2 of nsfwjs on the wasm backend. tfjs and nsfwjs are imported here,
 * lazily, so that runs served from the feature cache never pay for them.
 */
export function loadMobileNetV2(): Promise<{ tf: typeof TF; net: TF.LayersModel }> {
  netPromise ??= (async () => {
    const tf = await import('@tensorflow/tfjs');
    await import('@tensorflow/tfjs-backend-wasm');
    const nsfwjs = await import('nsfwjs');
    let ok: boolean;
    try {
      ok = await tf.setBackend('wasm');
      await tf.ready();
    } catch (e) {
      throw new FdtEngineError(`tfjs backend: expected the wasm backend to initialise, found an error: ${(e as Error).message}`);
    }
    if (!ok || tf.getBackend() !== 'wasm') {
      throw new FdtEngineError(`tfjs backend: expected "wasm" to be active after setBackend('wasm'), found "${tf.getBackend()}"`);
    }
    const info = console.info;
    console.info = () => {}; // nsfwjs logs a hosting hint on every load
    let net: Awaited<ReturnType<typeof nsfwjs.load>>;
    try {
      net = await nsfwjs.load('MobileNetV2');
    } finally {
      console.info = info;
    }
    const model = net.model;
    if (!(model instanceof tf.LayersModel)) {
      throw new FdtEngineError(`nsfwjs MobileNetV2: expected a tfjs LayersModel, found ${(model as object).constructor?.name}`);
    }
    return { tf, net: model };
  })();
  netPromise.catch(() => {
    netPromise = null;
  });
  return netPromise;
}

/**
 * An image encoder: MobileNetV2 cut at `layer`, taking `inputSize` x `inputSize` RGB inputs. The real output grid is
 * measured by running one blank image (e.g. 112 px at block_13_expand_relu -> [7, 7, 576]).
 */
export async function loadImageEncoder(options: { layer?: string; inputSize?: number } = {}): Promise<ImageEncoder> {
  const layer = options.layer ?? DEFAULT_IMAGE_LAYER;
  const inputSize = options.inputSize ?? 112;
  if (!Number.isInteger(inputSize) || inputSize < 16 || inputSize > 1024) {
    throw new FdtValueError(`inputSize: expected an integer in 16..1024, found ${inputSize}`);
  }
  const { tf, net } = await loadMobileNetV2();
  let out: TF.SymbolicTensor;
  try {
    out = net.getLayer(layer).output as TF.SymbolicTensor;
  } catch {
    const names = net.layers.map((l) => l.name);
    throw new FdtValueError(`layer: expected a MobileNetV2 layer name (${names.length} layers, e.g. ${names.filter((n) => n.endsWith('_relu')).slice(-6).join(', ')}), found ${JSON.stringify(layer)}`);
  }
  const cut = tf.model({ inputs: net.inputs, outputs: out });
  const outName = cut.outputs[0]!.name;
  // `execute` runs the graph on any spatial size (predict() would insist on the declared 224 px input).
  const run = (x: TF.Tensor4D): TF.Tensor => cut.execute(x, outName) as TF.Tensor;
  const probe = tf.tidy(() => run(tf.zeros([1, inputSize, inputSize, 3])));
  const shape = probe.shape;
  probe.dispose();
  if (shape.length !== 4) throw new FdtShapeError(`layer ${layer}: expected a [1, h, w, c] output, found [${shape}]`);
  const [, gh, gw, dim] = shape as [number, number, number, number];
  const patches = gh * gw;
  return {
    layer,
    inputSize,
    grid: [gh, gw],
    patches,
    dim,
    encode(pixels, n, batchSize = 16, onBatch) {
      const per = inputSize * inputSize * 3;
      if (!Number.isInteger(n) || n < 0 || pixels.length !== n * per) {
        throw new FdtShapeError(`pixels: expected ${n} x ${inputSize} x ${inputSize} x 3 = ${n * per} bytes, found ${pixels.length}`);
      }
      if (!Number.isInteger(batchSize) || batchSize < 1) throw new FdtValueError(`batchSize: expected a positive integer, found ${batchSize}`);
      const outArr = new Float32Array(n * patches * dim);
      for (let s = 0; s < n; s += batchSize) {
        const b = Math.min(batchSize, n - s);
        const input = new Float32Array(b * per);
        const src = pixels.subarray(s * per, (s + b) * per);
        for (let i = 0; i < input.length; i++) input[i] = src[i]! / 255;
        const y = tf.tidy(() => run(tf.tensor4d(input, [b, inputSize, inputSize, 3])));
        try {
          if (y.size !== b * patches * dim) throw new FdtShapeError(`layer ${layer}: expected ${b * patches * dim} values for ${b} images, found ${y.size}`);
          outArr.set(y.dataSync() as Float32Array, s * patches * dim);
        } finally {
          y.dispose();
        }
        onBatch?.(b);
      }
      return outArr;
    },
    dispose() {
      // The cut model shares every weight with the loaded network; nothing of its own to free.
    },
  };
}

export interface FeatureOptions {
  /** Raster size S = encoder input size (default 112 -> 7 x 7 = 49 patches). */
  size?: number;
  cacheDir?: string;
  layer?: string;
  /** Images per forward pass (default 16). */
  batchSize?: number;
  /** Images per cache entry (default 256; the unit of resumption). */
  chunkSize?: number;
  onProgress?: ProgressCallback;
}

export interface FeatureBatch {
  set: string;
  size: number;
  layer: string;
  /** Concept ids, one per image. */
  hexcodes: string[];
  /** Patch features [N, patches, dim]. */
  features: Float32Array;
  shape: [number, number, number];
  grid: [number, number];
  cachedImages: number;
  /** Images run through the network in this call, and the milliseconds that took (rasterising excluded). */
  computedImages: number;
  computeMs: number;
}

/** The key settings of a feature cache entry. */
export function featureKeyMeta(set: string, size: number, layer: string): Record<string, unknown> {
  return { kind: 'features', format: 1, model: 'nsfwjs MobileNetV2', layer, inputSize: size, ...imageEncoderVersions(), raster: rasterKeyMeta(set, size) };
}

/**
 * The output grid and channels of (layer, size): from a small cached JSON when present, else measured by loading the
 * network (and then cached), so that a fully cached feature request never loads tfjs.
 */
async function featureGeometry(cacheDir: string, layer: string, size: number, getEncoder: () => Promise<ImageEncoder>): Promise<{ grid: [number, number]; dim: number }> {
  const keyMeta = { kind: 'geometry', layer, inputSize: size, ...imageEncoderVersions() };
  const file = join(cacheDir, 'features', `geometry-${layer}-${size}px-${hashKey(keyMeta)}.json`);
  try {
    const g = readJson(file) as { grid?: unknown; dim?: unknown; layer?: unknown; inputSize?: unknown };
    const grid = g.grid;
    if (
      g.layer === layer && g.inputSize === size && Array.isArray(grid) && grid.length === 2 &&
      grid.every((v) => Number.isInteger(v) && v > 0) && Number.isInteger(g.dim) && (g.dim as number) > 0
    ) {
      return { grid: [grid[0] as number, grid[1] as number], dim: g.dim as number };
    }
  } catch {
    /* absent or unreadable: measure */
  }
  const e = await getEncoder();
  writeFileAtomic(file, JSON.stringify({ ...keyMeta, grid: e.grid, dim: e.dim }));
  return { grid: e.grid, dim: e.dim };
}

/**
 * Patch features of the pairs of an emoji set (all, or the given hexcodes in that order): rasterised at `size` px and
 * run through the cut MobileNetV2. Finished chunks come from the cache (Float32 payload + JSON meta), so a fully
 * cached call never loads the network.
 */
export async function extractEmojiFeatures(set: string, hexcodes: readonly string[] | undefined, options: FeatureOptions = {}): Promise<FeatureBatch> {
  const size = options.size ?? 112;
  const layer = options.layer ?? DEFAULT_IMAGE_LAYER;
  const cacheDir = resolveCacheDir(options.cacheDir);
  const chunkSize = options.chunkSize ?? 256;
  const onProgress = options.onProgress ?? silentProgress;
  let encoder: ImageEncoder | null = null;
  const getEncoder = async (): Promise<ImageEncoder> => {
    encoder ??= await loadImageEncoder({ layer, inputSize: size });
    return encoder;
  };
  const { grid, dim } = await featureGeometry(cacheDir, layer, size, getEncoder);
  const patches = grid[0] * grid[1];
  const ids = hexcodes === undefined ? loadEmojiSet(set).pairs.map((p) => p.hexcode) : hexcodes.slice();
  const tracker = stageTracker(onProgress, `features ${set} ${size}px`, ids.length);
  let computedImages = 0;
  let computeMs = 0;
  const { bytes, cachedItems } = await chunkedCache({
    dir: join(cacheDir, 'features'),
    prefix: `${set}-${size}px-${layer}`,
    ext: 'f32',
    ids,
    chunkSize,
    keyMeta: { ...featureKeyMeta(set, size, layer), grid, dim },
    bytesPerItem: patches * dim * 4,
    compute: async (chunk) => {
      const r = await rasterizeEmojiSet(set, chunk, { size, cacheDir, chunkSize: chunk.length });
      const enc = await getEncoder();
      const t0 = performance.now();
      const f = enc.encode(r.pixels, chunk.length, options.batchSize ?? 16, (b) => tracker.tick(b));
      computeMs += performance.now() - t0;
      computedImages += chunk.length;
      return bytesOf(f);
    },
    onChunk: (n, cached) => {
      if (cached) tracker.tick(n);
    },
  });
  const features = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  return { set, size, layer, hexcodes: ids, features, shape: [ids.length, patches, dim], grid, cachedImages: cachedItems, computedImages, computeMs };
}
