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
    /** Why tfjs is not available (every failed attempt). */
    error?: string;
  };
}

/** Crossover points: the work (FLOPs of the relevance kernel) above which the tfjs engine beats the wasm engine. */
export interface Thresholds {
  /** The tfjs backend these were measured on; they apply only to it. */
  backend?: string;
  /** FLOPs above which tfjs wins; Infinity when it never did (or was not measured). */
  crossoverFlops: number;
  /** Where the numbers come from: 'default' or 'calibrated <date>'. */
  source: string;
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
}

export interface Decision {
  engine: EngineName;
  reason: string;
}

/** Chooses the engine for one call. A forced engine is returned as is (the registry throws if it is unavailable). */
export function chooseEngine(work: Work, caps: Capabilities, thresholds: Thresholds, override: EngineChoice = 'auto'): Decision {
  if (override !== 'auto') return { engine: override, reason: `forced: engine '${override}'` };
  if (!caps.tfjs.available) return { engine: 'wasm', reason: `tfjs is not available${caps.tfjs.error ? ` (${firstLine(caps.tfjs.error)})` : ''}` };
  const t = thresholds.backend === undefined || thresholds.backend === caps.tfjs.backend ? thresholds : defaultThresholds(caps);
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
  const gf = (x: number) => `${(x / 1e9).toFixed(2)} GFLOP`;
  return work.flops >= t.crossoverFlops
    ? { engine: 'tfjs', reason: `${work.op} of ${gf(work.flops)} >= crossover ${gf(t.crossoverFlops)} on '${caps.tfjs.backend}' (${t.source})` }
    : { engine: 'wasm', reason: `${work.op} of ${gf(work.flops)} < crossover ${gf(t.crossoverFlops)} on '${caps.tfjs.backend}' (${t.source})` };
}

/** FLOPs of the relevance kernel for B items of L rows: 2 B L d C. */
export function relevanceFlops(B: number, L: number, dim: number, numTokens: number): number {
  return 2 * B * L * dim * numTokens;
}

function firstLine(s: string): string {
  return s.split('\n')[0]!.slice(0, 160);
}
