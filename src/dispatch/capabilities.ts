import { simdSupported } from '../../bindings/kernels.js';
import { detectRuntime } from '../runtime.js';
import type { Capabilities } from './policy.js';
import type { TfjsEngine } from '../engines/tfjs/engine.js';

/** GPU backends of tfjs. 'tensorflow' (tfjs-node) counts only when it came from tfjs-node-gpu. */
const GPU_BACKENDS = new Set(['webgpu', 'webgl']);

/** Builds the capability record from what the runtime offers and what the tfjs engine's init gave. */
export function describeCapabilities(tfjs: { engine?: TfjsEngine; error?: string }): Capabilities {
  const g = globalThis as Record<string, unknown>;
  const threads = typeof g['SharedArrayBuffer'] === 'function' && (typeof g['Worker'] === 'function' || detectRuntime() === 'node' || detectRuntime() === 'bun' || detectRuntime() === 'deno') &&
    (g['crossOriginIsolated'] === undefined || g['crossOriginIsolated'] === true);
  const e = tfjs.engine;
  return {
    runtime: detectRuntime(),
    wasmSimd: simdSupported(),
    threads,
    tfjs: e
      ? {
        available: true,
        backend: e.backend,
        // A GPU API served by a CPU implementation (llvmpipe, SwiftShader, WARP) is not a GPU.
        gpu: (GPU_BACKENDS.has(e.backend) && !e.device?.software) || e.loaded.candidate === 'tfjs-node-gpu',
        ...(e.device?.description ? { device: e.device.description } : {}),
        ...(e.device?.software ? { softwareDevice: true } : {}),
        ...(Number.isFinite(e.maxBufferBytes) ? { maxBufferBytes: e.maxBufferBytes } : {}),
      }
      : { available: false, gpu: false, error: tfjs.error },
  };
}
