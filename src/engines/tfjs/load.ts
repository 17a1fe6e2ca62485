/**
 * Obtaining a TensorFlow.js namespace for the tfjs engine, lazily.
 *
 * Nothing happens at import time (DESIGN principle 6). `loadTf()`:
 *   1. uses the caller's own `tf` namespace when one is given (never importing a second tfjs-core: two copies keep
 *      two kernel registries, and tensors of one are foreign to the other);
 *   2. otherwise tries, in order, until one imports AND `tf.setBackend(name)` + `tf.ready()` succeed:
 *
 *        candidate       packages imported                                   tfjs backend name
 *        tfjs-node-gpu   @tensorflow/tfjs-node-gpu                           tensorflow (CUDA)
 *        tfjs-node       @tensorflow/tfjs-node                               tensorflow (native TF, CPU)
 *        webgpu          @tensorflow/tfjs-core + @tensorflow/tfjs-backend-webgpu   webgpu
 *        webgl           @tensorflow/tfjs-core + @tensorflow/tfjs-backend-webgl    webgl
 *        wasm            @tensorflow/tfjs-core + @tensorflow/tfjs-backend-wasm     wasm
 *        cpu             @tensorflow/tfjs-core + @tensorflow/tfjs-backend-cpu      cpu
 *
 * Every failure is kept (candidate, package, message); when none works an FdtEngineError lists them all with the
 * install commands. Initialisation goes through one memoised promise per backend list: concurrent first calls share
 * it, and a failed initialisation is forgotten so the next call tries again (DESIGN principle 5).
 *
 * tfjs-backend-wasm in Node: its Node build (`main`: dist/tf-backend-wasm.node.js) reads its .wasm files next to
 * itself with `fs`, so no `setWasmPaths` is needed (checked with Node 20, tfjs 4.22.0). Under a browser bundler the
 * .wasm files must be served and located with `setWasmPaths` by the application; pass that `tf` in then.
 */
import type * as tfc from '@tensorflow/tfjs-core';
import { FdtEngineError } from '../../errors.js';
import { isNamespaceObject, PerNamespace } from '../per-namespace.js';

/** The TensorFlow.js API the engine uses: `@tensorflow/tfjs-core`'s namespace (or tfjs / tfjs-node's, a superset). */
export type TfNamespace = typeof tfc;

/** The loader's candidates, in their default order of preference. */
export const TF_CANDIDATES = ['tfjs-node-gpu', 'tfjs-node', 'webgpu', 'webgl', 'wasm', 'cpu'] as const;
export type TfCandidate = (typeof TF_CANDIDATES)[number];

interface CandidateSpec {
  /** The package that brings the backend. */
  pkg: string;
  /** The name the backend registers under (the argument of tf.setBackend). */
  backend: string;
  /** 'node': the package is a whole tfjs namespace; 'core': tfjs-core plus a backend package. */
  kind: 'node' | 'core';
}

const SPECS: Record<TfCandidate, CandidateSpec> = {
  'tfjs-node-gpu': { pkg: '@tensorflow/tfjs-node-gpu', backend: 'tensorflow', kind: 'node' },
  'tfjs-node': { pkg: '@tensorflow/tfjs-node', backend: 'tensorflow', kind: 'node' },
  webgpu: { pkg: '@tensorflow/tfjs-backend-webgpu', backend: 'webgpu', kind: 'core' },
  webgl: { pkg: '@tensorflow/tfjs-backend-webgl', backend: 'webgl', kind: 'core' },
  wasm: { pkg: '@tensorflow/tfjs-backend-wasm', backend: 'wasm', kind: 'core' },
  cpu: { pkg: '@tensorflow/tfjs-backend-cpu', backend: 'cpu', kind: 'core' },
};

const CORE_PKG = '@tensorflow/tfjs-core';

/** One failed candidate: which, the package at fault, and why. */
export interface TfLoadAttempt {
  candidate: TfCandidate | 'user';
  package: string;
  error: string;
}

/** A ready tfjs namespace and the backend it runs. */
export interface LoadedTf {
  tf: TfNamespace;
  /** The active tfjs backend's name ('cpu', 'wasm', 'webgl', 'webgpu', 'tensorflow', ...). */
  backend: string;
  /** The candidate that succeeded, or 'user' for a namespace given by the caller. */
  candidate: TfCandidate | 'user';
  /**
   * True when the loader chose (or was told) the backend: the engine then re-activates it before each call if
   * someone switched tfjs to another. False for a user namespace without `backends`: the engine follows whatever
   * backend the user's tfjs has active.
   */
  pinned: boolean;
  /** The candidates tried before this one, with their errors. */
  attempts: TfLoadAttempt[];
}

/** Options of loadTf. */
export interface LoadTfOptions {
  /** The caller's own TensorFlow.js namespace (`import * as tf from '@tensorflow/tfjs'`), used as is. */
  tf?: TfNamespace;
  /**
   * The candidates to try, in order (default: TF_CANDIDATES). With a user `tf`, the backends to activate on it:
   * candidate ids, or any tfjs backend name registered on that namespace.
   */
  backends?: readonly string[];
}

/** Imports a module by specifier (the default is a plain dynamic import). Replaceable for tests. */
export type ModuleImporter = (specifier: string) => Promise<unknown>;

// The specifier is a variable so that bundlers do not try to resolve optional peers at build time.
const dynamicImport: ModuleImporter = (specifier) => import(/* @vite-ignore */ /* webpackIgnore: true */ specifier);

const INSTALL_HELP = [
  'Install one TensorFlow.js backend, or pass your own namespace with { tf }:',
  '  any runtime (CPU):     npm install @tensorflow/tfjs-core @tensorflow/tfjs-backend-cpu',
  '  WebAssembly:           npm install @tensorflow/tfjs-core @tensorflow/tfjs-backend-wasm',
  '  browsers (GPU):        npm install @tensorflow/tfjs-core @tensorflow/tfjs-backend-webgpu  (or -backend-webgl)',
  '  Node, native TF:       npm install @tensorflow/tfjs-node',
  '  Node, NVIDIA GPUs:     npm install @tensorflow/tfjs-node-gpu  (Linux, needs CUDA 11.2 and cuDNN 8.1)',
].join('\n');

const REQUIRED_API = ['tensor', 'tidy', 'dispose', 'grads', 'valueAndGrads', 'customGrad', 'ready', 'setBackend', 'getBackend', 'memory'] as const;

/** What is missing for `x` to be a usable tfjs namespace (empty when it is one). */
function missingApi(x: unknown): string[] {
  if (x === null || (typeof x !== 'object' && typeof x !== 'function')) return [...REQUIRED_API];
  const o = x as Record<string, unknown>;
  return REQUIRED_API.filter((k) => typeof o[k] !== 'function');
}

/**
 * The tfjs namespace of an imported module: the module itself (ESM builds), or its `default` (CommonJS builds
 * imported from ESM expose module.exports as `default`). Throws when neither is one.
 */
export function tfNamespaceOf(mod: unknown): TfNamespace {
  if (missingApi(mod).length === 0) return mod as TfNamespace;
  const def = (mod as { default?: unknown } | null)?.default;
  if (def !== undefined && missingApi(def).length === 0) return def as TfNamespace;
  throw new Error(`not a TensorFlow.js namespace (missing ${missingApi(mod).join(', ')})`);
}

function message(e: unknown): string {
  if (e instanceof Error) return e.message.split('\n')[0] || e.name;
  return String(e);
}

/**
 * Activates `backend` on `tf`; returns null on success or the reason of the failure. tfjs reports a failed backend
 * initialisation only through console.warn (and `setBackend` resolving to false), so console.warn is captured (not
 * forwarded) while it runs, to put the real cause in the report.
 */
async function activate(tf: TfNamespace, backend: string): Promise<string | null> {
  const warnings: string[] = [];
  const original = console.warn;
  console.warn = (...args: unknown[]) => {
    warnings.push(args.map((a) => (a instanceof Error ? a.message : String(a))).join(' ').split('\n')[0]!);
  };
  try {
    if (typeof tf.findBackendFactory === 'function' && !tf.findBackendFactory(backend)) {
      return `no '${backend}' backend is registered (its package registers it only where the runtime offers its API, e.g. WebGL or WebGPU in a browser)`;
    }
    const ok = await tf.setBackend(backend);
    if (!ok) {
      return `tf.setBackend('${backend}') failed to initialise the backend${warnings.length ? `: ${warnings.join(' | ')}` : ''}`;
    }
    await tf.ready();
    const active = tf.getBackend();
    if (active !== backend) return `tf.setBackend('${backend}') succeeded but '${active}' is active`;
    return null;
  } catch (e) {
    return `tf.setBackend('${backend}'): ${message(e)}`;
  } finally {
    console.warn = original;
  }
}

/**
 * A loader with its own memo. `loadTf` uses a shared default one; tests make their own with a fake importer.
 *
 * @example
 * const loader = new TfLoader((spec) => import(spec));
 * const { tf, backend } = await loader.load({ backends: ['wasm', 'cpu'] });
 */
export class TfLoader {
  /** Per user namespace (or none given: the imported packages), the initialisations by backend list. */
  private pending = new PerNamespace<Map<string, Promise<LoadedTf>>>();

  constructor(private readonly importModule: ModuleImporter = dynamicImport) {}

  /** A ready tfjs namespace (see the module comment for the order of candidates). Memoised per backend list. */
  load(options: LoadTfOptions = {}): Promise<LoadedTf> {
    const key = options.backends ? options.backends.join(',') : '*';
    const userTf: unknown = options.tf;
    if (userTf !== undefined && !isNamespaceObject(userTf)) {
      return Promise.reject(new FdtEngineError(`tfjs engine: options.tf: expected a TensorFlow.js namespace, found ${userTf === null ? 'null' : typeof userTf}`));
    }
    const memo = this.pending.get(options.tf, () => new Map());
    let p = memo.get(key);
    if (!p) {
      p = options.tf !== undefined ? this.initUser(options.tf, options.backends) : this.initImported(options.backends);
      const mine = p;
      memo.set(key, mine);
      // A failed initialisation is not cached: the next call tries again and reports its own errors.
      mine.catch(() => {
        if (memo.get(key) === mine) memo.delete(key);
      });
    }
    return p;
  }

  /** Forgets every memoised initialisation (the next load starts over). */
  reset(): void {
    this.pending = new PerNamespace();
  }

  private async initUser(given: TfNamespace, backends: readonly string[] | undefined): Promise<LoadedTf> {
    let tf: TfNamespace;
    try {
      tf = tfNamespaceOf(given);
    } catch (e) {
      throw new FdtEngineError(`tfjs engine: options.tf: expected a TensorFlow.js namespace (import * as tf from '@tensorflow/tfjs'), ${message(e)}`);
    }
    if (!backends) {
      await tf.ready();
      return { tf, backend: tf.getBackend(), candidate: 'user', pinned: false, attempts: [] };
    }
    const attempts: TfLoadAttempt[] = [];
    for (const b of backends) {
      const name = (SPECS as Record<string, CandidateSpec | undefined>)[b]?.backend ?? b;
      const err = await activate(tf, name);
      if (err === null) return { tf, backend: name, candidate: 'user', pinned: true, attempts };
      attempts.push({ candidate: 'user', package: `backend '${name}'`, error: err });
    }
    throw new FdtEngineError(
      `tfjs engine: none of the requested backends (${backends.join(', ')}) works on the given tf namespace:\n` +
      attempts.map((a) => `  - ${a.package}: ${a.error}`).join('\n') +
      `\nRegistered backends are those whose packages the application imported; ${INSTALL_HELP}`,
    );
  }

  private async initImported(backends: readonly string[] | undefined): Promise<LoadedTf> {
    const order = (backends ?? TF_CANDIDATES) as readonly string[];
    const unknown = order.filter((b) => !(b in SPECS));
    if (unknown.length > 0) {
      throw new FdtEngineError(`tfjs engine: backends: unknown candidate(s) ${unknown.map((u) => JSON.stringify(u)).join(', ')}; expected some of ${TF_CANDIDATES.join(', ')}`);
    }
    const attempts: TfLoadAttempt[] = [];
    let core: TfNamespace | null | undefined;
    let coreError = '';
    for (const id of order as readonly TfCandidate[]) {
      const spec = SPECS[id];
      let tf: TfNamespace;
      if (spec.kind === 'node') {
        try {
          tf = tfNamespaceOf(await this.importModule(spec.pkg));
        } catch (e) {
          attempts.push({ candidate: id, package: spec.pkg, error: `import failed: ${message(e)}` });
          continue;
        }
      } else {
        if (core === undefined) {
          try {
            core = tfNamespaceOf(await this.importModule(CORE_PKG));
          } catch (e) {
            core = null;
            coreError = message(e);
          }
        }
        if (core === null) {
          attempts.push({ candidate: id, package: CORE_PKG, error: `import failed: ${coreError}` });
          continue;
        }
        try {
          // The backend package registers itself into the (single) tfjs-core it imports.
          await this.importModule(spec.pkg);
        } catch (e) {
          attempts.push({ candidate: id, package: spec.pkg, error: `import failed: ${message(e)}` });
          continue;
        }
        tf = core;
      }
      const err = await activate(tf, spec.backend);
      if (err !== null) {
        attempts.push({ candidate: id, package: spec.pkg, error: err });
        continue;
      }
      return { tf, backend: spec.backend, candidate: id, pinned: true, attempts };
    }
    throw new FdtEngineError(
      `tfjs engine: no TensorFlow.js backend could be loaded. Tried, in order:\n` +
      attempts.map((a) => `  - ${a.candidate} (${a.package}): ${a.error}`).join('\n') + `\n${INSTALL_HELP}`,
    );
  }
}

const defaultLoader = new TfLoader();

/**
 * A ready TensorFlow.js namespace for the tfjs engine: the caller's own `tf` when given, else the first candidate
 * of `backends` (default TF_CANDIDATES: tfjs-node-gpu, tfjs-node, webgpu, webgl, wasm, cpu) that imports and
 * initialises. Memoised: concurrent first calls share one promise; a failure is not cached.
 *
 * @throws FdtEngineError listing every attempt and how to install a backend.
 * @example
 * const { tf, backend } = await loadTf();                  // e.g. backend 'wasm'
 * const mine = await loadTf({ tf: myTf });                  // the application's own tfjs, as is
 * const cpu = await loadTf({ backends: ['cpu'] });
 */
export function loadTf(options: LoadTfOptions = {}): Promise<LoadedTf> {
  return defaultLoader.load(options);
}
