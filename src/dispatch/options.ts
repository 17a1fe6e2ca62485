/**
 * Checks of where-to-run options (engine, build, backends, threads, tf) at the API's edge: a wrong value is an
 * FdtValueError naming the option, the values it takes and the value found, before anything starts.
 */
import { isWasmBuild } from '../../bindings/kernels.js';
import { isNamespaceObject } from '../engines/per-namespace.js';
import { FdtValueError } from '../errors.js';
import type { EngineChoice } from './policy.js';

const ENGINES: readonly string[] = ['auto', 'wasm', 'tfjs'];
/** More workers than this only adds start-up time and memory (each holds its own wasm instance). */
export const MAX_THREADS = 256;

/** An engine choice: 'auto', 'wasm' or 'tfjs'. */
export function checkEngineChoice(name: string, v: unknown): EngineChoice {
  if (typeof v !== 'string' || !ENGINES.includes(v)) throw new FdtValueError(`${name}: expected 'auto', 'wasm' or 'tfjs', found ${show(v)}`);
  return v as EngineChoice;
}

/** The options FDT.create, FDT.fromParams and FDT.load take on where the model runs. */
export function checkEngineOptions(o: { engine?: unknown; build?: unknown; backends?: unknown; threads?: unknown; tf?: unknown }): void {
  if (o.engine !== undefined) checkEngineChoice('engine', o.engine);
  // A namespace is an object (or a module namespace object); engines and dispatchers are kept per namespace.
  if (o.tf !== undefined && !isNamespaceObject(o.tf)) {
    throw new FdtValueError(`tf: expected a TensorFlow.js namespace (import * as tf from '@tensorflow/tfjs'), found ${o.tf === null ? 'null' : typeof o.tf}`);
  }
  if (o.build !== undefined && !isWasmBuild(o.build)) {
    throw new FdtValueError(`build: expected 'auto', 'simd', 'scalar' or 'relaxed', found ${show(o.build)}`);
  }
  if (o.backends !== undefined && !(Array.isArray(o.backends) && o.backends.every((b) => typeof b === 'string' && b !== ''))) {
    throw new FdtValueError(`backends: expected an array of tfjs backend names such as ['webgpu', 'wasm'], found ${show(o.backends)}`);
  }
  const t = o.threads;
  if (t !== undefined && !(typeof t === 'number' && Number.isSafeInteger(t) && t >= 1 && t <= MAX_THREADS)) {
    throw new FdtValueError(`threads: expected an integer from 1 to ${MAX_THREADS}, found ${show(t)}`);
  }
}

function show(v: unknown): string {
  if (typeof v === 'number') return String(v);
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}
