import type { WasmBuild } from '../../bindings/kernels.js';
import { WasmEngine } from './wasm/engine.js';

// One memoised promise per build: concurrent first calls share the same initialisation, and nothing happens at
// import time.
const wasmEngines = new Map<WasmBuild, Promise<WasmEngine>>();

/** The shared wasm engine for a build ('auto' = SIMD when the runtime validates it, else scalar). */
export function getWasmEngine(build: WasmBuild = 'auto'): Promise<WasmEngine> {
  let p = wasmEngines.get(build);
  if (!p) {
    p = WasmEngine.create(build);
    // A failed initialisation is not cached: the next call tries again and reports its own error.
    p.catch(() => wasmEngines.delete(build));
    wasmEngines.set(build, p);
  }
  return p;
}
