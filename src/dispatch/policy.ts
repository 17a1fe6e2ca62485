/**
 * The dispatcher's policy: a pure function from (work, capabilities, thresholds, override) to an engine and the
 * reason for it. No I/O and no state, so it is tested as a table.
 */

export type EngineName = 'wasm' | 'tfjs';
export type EngineChoice = EngineName | 'auto';

/** What the probe found (see capabilities.ts). */
export interface Capabilities {
  runtime: string;
  wasmSimd: boolean;
  /** Workers and SharedArrayBuffer are available (a cross-origin-isolated page, Node, Deno, Bun). */
  threads: boolean;
  tfjs: {
    available: boolean;
    /** The tfjs backend that initialised ('webgpu', 'webgl', 'tensorflow', 'wasm', 'cpu', ...). */
    backend?: string;
    /** The backend runs on a GPU (WebGPU, WebGL, tfjs-node-gpu), not on a CPU implementation of a GPU API. */
    gpu: boolean;
    /** What a WebGPU / WebGL backend runs on ('llvmpipe (LLVM 15.0.6, 256 bits)', 'google swiftshader', ...). */
    device?: string;
    /** The WebGPU adapter or WebGL renderer is a CPU implementation. */
    softwareDevice?: boolean;
    /** The tfjs engine's maxBufferBytes (absent: unbounded): see Work.bytes. */
    maxBufferBytes?: number;
    /** Why tfjs is not available (every failed attempt). */
    error?: string;
  };
}

/** One calibration measurement: a call of `flops` relevance work timed on both engines (median ms). */
export interface CostPoint {
  /** Batch size of the call. */
  B: number;
  flops: number;
  wasmMs: number;
  tfjsMs: number;
}

/**
 * Both engines timed over growing batches of one operation at the model's size: encodes of items with `rows`
 * token rows (49 image patches, 77 caption slots), or training gradients.
 */
export interface CostSeries {
  op: 'encode' | 'train';
  /** Token rows per item of an encode series (absent for 'train'). */
  rows?: number;
  /** Ascending in flops. */
  points: CostPoint[];
}

/**
 * When the tfjs engine beats the wasm engine. A calibration's measured series decide where they apply; the
 * crossover (one work size for every operation) is the default's rule and the fallback.
 */
export interface Thresholds {
  /** The tfjs backend these were measured on; they apply only to it. */
  backend?: string;
  /** FLOPs above which tfjs wins; Infinity when it never did (or was not measured). */
  crossoverFlops: number;
  /** Where the numbers come from: 'default' or 'calibrated <date>'. */
  source: string;
  /** Measured times per operation (`fdt calibrate`); absent in defaults and in older calibration files. */
  series?: CostSeries[];
}

/**
 * Defaults when uncalibrated: on a GPU backend, tfjs from 2 GFLOP of relevance work (about B = 2 at paper scale);
 * on CPU backends never (tfjs-wasm ran 1.7x and tfjs-cpu 40x+ slower than the wasm engine on this kind of machine).
 */
export function defaultThresholds(caps: Capabilities): Thresholds {
  return { backend: caps.tfjs.backend, crossoverFlops: caps.tfjs.gpu ? 2e9 : Infinity, source: 'default' };
}

/** The work of one call: which operation and how many FLOPs its relevance kernels take (2 B L d C per modality). */
export interface Work {
  op: 'encode' | 'loss' | 'train';
  flops: number;
  /** Token rows per item of an encode (L): picks the calibration series measured nearest to it. */
  rows?: number;
  /**
   * The widest tensor of the smallest call the tfjs engine could make for this work, in bytes (footprint.ts): one
   * item for an encode (it runs in chunks of items), the whole batch for a loss or training step (InfoNCE couples
   * the items). Over the engine's maxBufferBytes the work goes to the wasm engine.
   */
  bytes?: number;
}

export interface Decision {
  engine: EngineName;
  reason: string;
}

/** Chooses the engine for one call. A forced engine is returned as is (the registry throws if it is unavailable). */
export function chooseEngine(work: Work, caps: Capabilities, thresholds: Thresholds, override: EngineChoice = 'auto'): Decision {
  if (override !== 'auto') return { engine: override, reason: `forced: engine '${override}'` };
  if (!caps.tfjs.available) return { engine: 'wasm', reason: `tfjs is not available${caps.tfjs.error ? ` (${firstLine(caps.tfjs.error)})` : ''}` };
  const limit = caps.tfjs.maxBufferBytes;
  if (work.bytes !== undefined && limit !== undefined && work.bytes > limit) {
    const mib = (x: number) => `${(x / 2 ** 20).toFixed(1)} MiB`;
    const what = work.op === 'encode' ? "an encoded item's relevance scores" : `the ${work.op} batch's relevance scores`;
    return { engine: 'wasm', reason: `${what} (${mib(work.bytes)}) are over the largest buffer of tfjs backend '${caps.tfjs.backend}' (${mib(limit)})` };
  }
  const t = thresholds.backend === undefined || thresholds.backend === caps.tfjs.backend ? thresholds : defaultThresholds(caps);
  const gf = (x: number) => `${(x / 1e9).toFixed(2)} GFLOP`;
  const series = seriesFor(work, t.series);
  if (series) {
    const ratio = predictedRatio(series, work.flops);
    const which = series.op === 'train' ? 'training series' : `encode series, ${series.rows} rows`;
    const why = `${work.op} of ${gf(work.flops)}: tfjs time / wasm time ~ ${ratio.toFixed(2)} on '${caps.tfjs.backend}' (${which}, ${t.source})`;
    return { engine: ratio < 1 ? 'tfjs' : 'wasm', reason: why };
  }
  if (!Number.isFinite(t.crossoverFlops)) {
    return {
      engine: 'wasm',
      reason: caps.tfjs.gpu
        ? `tfjs backend '${caps.tfjs.backend}' never beat the wasm engine when calibrated (${t.source})`
        : caps.tfjs.softwareDevice
          ? `no GPU: tfjs backend '${caps.tfjs.backend}' runs on a software device (${caps.tfjs.device ?? 'unknown'}), slower than the wasm engine (${t.source})`
          : `no GPU: tfjs runs on backend '${caps.tfjs.backend}' (CPU), slower than the wasm engine (${t.source})`,
    };
  }
  return work.flops >= t.crossoverFlops
    ? { engine: 'tfjs', reason: `${work.op} of ${gf(work.flops)} >= crossover ${gf(t.crossoverFlops)} on '${caps.tfjs.backend}' (${t.source})` }
    : { engine: 'wasm', reason: `${work.op} of ${gf(work.flops)} < crossover ${gf(t.crossoverFlops)} on '${caps.tfjs.backend}' (${t.source})` };
}

/**
 * The measured series that stands for a call: training gradients use the 'train' series; encodes and losses (both
 * forward only) the encode series measured at the row count nearest to theirs (in ratio); either falls back to the
 * other kind when its own was not measured. Null when there is none.
 */
export function seriesFor(work: Work, all: readonly CostSeries[] | undefined): CostSeries | null {
  const usable = (all ?? []).filter((s) => s.points.length > 0);
  const train = usable.filter((s) => s.op === 'train');
  const encode = usable.filter((s) => s.op === 'encode');
  const rows = work.rows;
  const nearest = (list: CostSeries[]) =>
    rows === undefined || list.length === 0
      ? list[0]
      : list.reduce((a, b) => (Math.abs(Math.log((b.rows ?? rows) / rows)) < Math.abs(Math.log((a.rows ?? rows) / rows)) ? b : a));
  const pick = work.op === 'train' ? (train[0] ?? nearest(encode)) : (nearest(encode) ?? train[0]);
  return pick ?? null;
}

/**
 * tfjs time / wasm time predicted for `flops` of work from a measured series: the ratio is interpolated linearly in
 * log(ratio) over log(flops) between the measured sizes around it, and held at the end values outside them (the
 * largest batch measured stands for larger ones: a GPU's advantage does not shrink with the work, and a CPU
 * backend's ratio stays about constant).
 */
export function predictedRatio(series: CostSeries, flops: number): number {
  const pts = [...series.points].sort((a, b) => a.flops - b.flops);
  const lr = (p: CostPoint) => Math.log(p.tfjsMs / p.wasmMs);
  if (flops <= pts[0]!.flops) return Math.exp(lr(pts[0]!));
  for (let i = 1; i < pts.length; i++) {
    const a = pts[i - 1]!;
    const b = pts[i]!;
    if (flops <= b.flops) {
      const u = b.flops === a.flops ? 1 : Math.log(flops / a.flops) / Math.log(b.flops / a.flops);
      return Math.exp(lr(a) + u * (lr(b) - lr(a)));
    }
  }
  return Math.exp(lr(pts[pts.length - 1]!));
}

/** FLOPs of the relevance kernel for B items of L rows: 2 B L d C. */
export function relevanceFlops(B: number, L: number, dim: number, numTokens: number): number {
  return 2 * B * L * dim * numTokens;
}

function firstLine(s: string): string {
  return s.split('\n')[0]!.slice(0, 160);
}
