import type { WasmBuild } from '../../bindings/kernels.js';
import { FdtEngineError } from '../errors.js';
import { PerNamespace } from './per-namespace.js';
import type { TfjsEngine, TfjsEngineOptions } from './tfjs/engine.js';
import { WasmEngine } from './wasm/engine.js';

// One memoised promise per engine configuration: concurrent first calls share the same initialisation, a failed
// one is not cached (the next call tries again and reports its own error), and nothing happens at import time.
const wasmEngines = new Map<string, Promise<WasmEngine>>();
/** Per user tf namespace (or none given), the engines by backend list. */
const tfjsEngines = new PerNamespace<Map<string, Promise<TfjsEngine>>>();

function memo<K, T>(map: Map<K, Promise<T>>, key: K, make: () => Promise<T>): Promise<T> {
  let p = map.get(key);
  if (!p) {
    p = make();
    p.catch(() => map.delete(key));
    map.set(key, p);
  }
  return p;
}

/**
 * The shared wasm engine for a build ('auto' = SIMD when the runtime validates it, else scalar) and a thread count
 * (default: the available cores; 1 where workers or SharedArrayBuffer are missing). Threads given explicitly are
 * strict: if they cannot start, this throws instead of running on one.
 */
export function getWasmEngine(build: WasmBuild = 'auto', threads?: number): Promise<WasmEngine> {
  return memo(wasmEngines, `${build}|${threads ?? 'default'}`, () => WasmEngine.create(build, threads, threads !== undefined));
}

/** How to install a tfjs backend, for error messages. */
export const TFJS_INSTALL_HINT =
  'install one: `npm install @tensorflow/tfjs-core @tensorflow/tfjs-backend-wasm` (CPU), ' +
  '`npm install @tensorflow/tfjs-node-gpu` (NVIDIA GPU with CUDA; Linux), or `@tensorflow/tfjs-backend-webgpu` ' +
  '(browsers, Deno); or pass your own `tf` namespace';

/**
 * The shared tfjs engine for a given user `tf` namespace (or none: the lazy import order). The module is imported
 * dynamically, so the library loads and runs without any tfjs package installed.
 */
export function getTfjsEngine(options: TfjsEngineOptions = {}): Promise<TfjsEngine> {
  // One engine per (namespace, backend list): engines that share a namespace re-activate their own backend before
  // each call (TfjsEngine.ensureBackend), so a second list for the same namespace gets an engine of its own.
  return memo(tfjsEngines.get(options.tf, () => new Map()), options.backends?.join(',') ?? 'default', async () => {
    let mod: typeof import('./tfjs/engine.js');
    try {
      // A literal specifier: bundlers include the engine's own code (small, no tfjs in it); the tfjs packages
      // themselves are imported by load.ts through specifiers bundlers do not follow.
      mod = await import('./tfjs/engine.js');
    } catch (e) {
      throw new FdtEngineError(`tfjs engine: cannot load its module: ${(e as Error).message}`);
    }
    try {
      return await mod.TfjsEngine.create(options);
    } catch (e) {
      const msg = (e as Error).message;
      throw new FdtEngineError(msg.includes('npm install') ? msg : `${msg}; ${TFJS_INSTALL_HINT}`);
    }
  });
}
