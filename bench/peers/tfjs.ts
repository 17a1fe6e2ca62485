/**
 * TensorFlow.js peers: the relevance kernel as MatMul + Max over the token axis, in tf.tidy, read back with
 * `await data()`. The dictionary is uploaded once per shape, already transposed to [d, C] (its best layout: with
 * transposeB = true, tfjs-backend-wasm 4.22 measured ~10x slower here, a transposing path on every call).
 *
 * tfjs-backend-wasm runs XNNPACK with SIMD; in Node its threaded build is disabled (WASM_HAS_MULTITHREAD_SUPPORT is
 * false), so it is single-threaded. tfjs-backend-cpu is plain JS.
 */
import type * as tfc from '@tensorflow/tfjs-core';
import type { Shape } from '../shapes.js';
import { transposeDictionary } from './onnx.js';

type Tf = typeof tfc;

let tfPromise: Promise<{ tf: Tf; backends: string[]; errors: Record<string, string> }> | null = null;

function errorText(e: unknown): string {
  return e instanceof Error ? (e.message.split('\n')[0] ?? e.name) : String(e);
}

/**
 * Imports tfjs-core and registers the wasm and cpu backends once. `backends` lists those that registered; a backend
 * that failed to import is in `errors` with its message (for the skip reason).
 */
export function loadTfjs(): Promise<{ tf: Tf; backends: string[]; errors: Record<string, string> }> {
  tfPromise ??= (async () => {
    const mod = (await import('@tensorflow/tfjs-core')) as unknown as Tf & { default?: Tf };
    const tf = (typeof mod.tidy === 'function' ? mod : mod.default) as Tf;
    const backends: string[] = [];
    const errors: Record<string, string> = {};
    for (const [name, pkg] of [['wasm', '@tensorflow/tfjs-backend-wasm'], ['cpu', '@tensorflow/tfjs-backend-cpu']] as const) {
      try {
        await import(pkg);
        backends.push(name);
      } catch (e) {
        errors[name] = `${pkg} failed to import: ${errorText(e)}`;
      }
    }
    return { tf, backends, errors };
  })();
  return tfPromise;
}

/**
 * Activates a tfjs backend; returns null on success or why it could not run (tfjs reports a failed initialisation
 * through console.warn and a false result, both captured here).
 */
export async function useTfBackend(name: 'wasm' | 'cpu'): Promise<{ tf: Tf; error: null } | { tf: null; error: string }> {
  let loaded;
  try {
    loaded = await loadTfjs();
  } catch (e) {
    return { tf: null, error: `@tensorflow/tfjs-core failed to import: ${errorText(e)}` };
  }
  const { tf, errors } = loaded;
  if (errors[name]) return { tf: null, error: errors[name]! };
  const warnings: string[] = [];
  const warn = console.warn;
  console.warn = (...a: unknown[]) => void warnings.push(a.map(String).join(' '));
  try {
    const ok = await tf.setBackend(name);
    if (!ok) return { tf: null, error: `tf.setBackend('${name}') failed${warnings.length ? `: ${warnings.join(' | ').slice(0, 300)}` : ''}` };
    await tf.ready();
    return { tf, error: null };
  } catch (e) {
    return { tf: null, error: `tf.setBackend('${name}') threw: ${errorText(e)}` };
  } finally {
    console.warn = warn;
  }
}

/** What tfjs-backend-wasm says of itself (SIMD, threads). */
export function tfjsFlags(tf: Tf): Record<string, unknown> {
  const flags = tf.env().getFlags();
  return {
    version: (tf as unknown as { version_core?: string }).version_core ?? 'unknown',
    backend: tf.getBackend(),
    simd: flags['WASM_HAS_SIMD_SUPPORT'],
    multithread: flags['WASM_HAS_MULTITHREAD_SUPPORT'],
  };
}

/**
 * The relevance kernel on the active tfjs backend for one shape: q [B*P, d] and Tt [d, C] resident; each call runs
 * max(reshape(q Tt, [B, P, C]), 1) in tf.tidy and awaits the data. release() disposes the resident tensors.
 */
export function tfjsRelevanceRunner(
  tf: Tf, s: Shape, q: Float32Array, T: Float32Array,
): { run: () => Promise<Float32Array>; release: () => void } {
  const qt = tf.tensor2d(q, [s.B * s.P, s.d]);
  const Tt = tf.tensor2d(transposeDictionary(T, s.C, s.d), [s.d, s.C]);
  return {
    run: async () => {
      const r = tf.tidy(() => tf.max(tf.reshape(tf.matMul(qt, Tt), [s.B, s.P, s.C]), 1));
      const data = (await r.data()) as Float32Array;
      r.dispose();
      return data;
    },
    release: () => {
      qt.dispose();
      Tt.dispose();
    },
  };
}
