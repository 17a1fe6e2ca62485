/**
 * What a tfjs GPU backend actually runs on. WebGPU and WebGL are GPU APIs, but on a machine without a GPU they are
 * served by CPU implementations (llvmpipe / lavapipe under Deno's wgpu and Mesa, SwiftShader in Chromium and Dawn,
 * WARP on Windows): there tfjs is several times slower than the wasm engine (Deno here: a B = 32 encode on
 * WebGPU-over-llvmpipe took 24 s against 1.9 s on wasm), and the dispatcher must not treat it as a GPU.
 */
import type { TfNamespace } from './load.js';

/** The device behind a tfjs backend: its description, and whether it is a CPU implementation of a GPU API. */
export interface TfDevice {
  /** 'llvmpipe (LLVM 15.0.6, 256 bits)', 'google swiftshader', 'ANGLE (NVIDIA ...)', or '' when unknown. */
  description: string;
  /** True for a software (CPU) adapter or renderer. */
  software: boolean;
}

const SOFTWARE = /swiftshader|llvmpipe|lavapipe|softpipe|software|\bwarp\b|basic render/i;

/** Classifies adapter / renderer strings (and WebGPU's isFallbackAdapter). */
export function classifyDevice(parts: (string | undefined)[], fallbackAdapter = false): TfDevice {
  const description = parts.filter((p) => p && p.trim()).join(' ').trim();
  return { description, software: fallbackAdapter || SOFTWARE.test(description) };
}

interface AdapterLike {
  isFallbackAdapter?: boolean;
  info?: { vendor?: string; architecture?: string; device?: string; description?: string };
  requestAdapterInfo?: () => Promise<{ vendor?: string; architecture?: string; device?: string; description?: string }>;
}

/**
 * Probes the device behind `backend`: for 'webgpu' the adapter navigator.gpu hands out (the one tfjs-backend-webgpu
 * asked for), for 'webgl' the unmasked renderer string of the backend's context. Null for other backends or when
 * nothing can be read (then nothing is assumed).
 */
export async function probeDevice(tf: TfNamespace, backend: string): Promise<TfDevice | null> {
  try {
    if (backend === 'webgpu') {
      const gpu = (globalThis as { navigator?: { gpu?: { requestAdapter(o?: unknown): Promise<AdapterLike | null> } } }).navigator?.gpu;
      const adapter = gpu ? await gpu.requestAdapter({ powerPreference: 'high-performance' }) : null;
      if (!adapter) return null;
      const info = adapter.info ?? (adapter.requestAdapterInfo ? await adapter.requestAdapterInfo() : undefined);
      return classifyDevice([info?.vendor, info?.architecture, info?.device, info?.description], adapter.isFallbackAdapter === true);
    }
    if (backend === 'webgl') {
      type Gl = { getExtension(n: string): { UNMASKED_RENDERER_WEBGL: number } | null; getParameter(p: number): unknown; RENDERER: number };
      const gl = (backendInstance(tf, backend) as { gpgpu?: { gl?: Gl } } | null)?.gpgpu?.gl;
      if (!gl) return null;
      const ext = gl.getExtension('WEBGL_debug_renderer_info');
      return classifyDevice([String(gl.getParameter(ext ? ext.UNMASKED_RENDERER_WEBGL : gl.RENDERER) ?? '')]);
    }
  } catch {
    return null;
  }
  return null;
}

/**
 * The backend object registered as `name` (tf.findBackend), not whichever one is active: another engine on the same
 * namespace may have switched it. Falls back to the active one when it has that name.
 */
function backendInstance(tf: TfNamespace, name: string): unknown {
  const find = (tf as unknown as { findBackend?: (n: string) => unknown }).findBackend;
  if (typeof find === 'function') return find.call(tf, name) ?? null;
  return tf.getBackend() === name ? tf.backend() : null;
}

/**
 * The largest buffer, in bytes, a tensor may occupy on `backend`: for 'webgpu' the smaller of the device's
 * maxStorageBufferBindingSize and maxBufferSize (tfjs binds whole tensors as storage buffers), Infinity for other
 * backends or when the device does not say.
 */
export function bufferLimit(tf: TfNamespace, backend: string): number {
  if (backend !== 'webgpu') return Infinity;
  try {
    const limits = (backendInstance(tf, backend) as { device?: { limits?: { maxStorageBufferBindingSize?: number; maxBufferSize?: number } } } | null)?.device?.limits;
    return Math.min(limits?.maxStorageBufferBindingSize ?? Infinity, limits?.maxBufferSize ?? Infinity);
  } catch {
    return Infinity;
  }
}
