import type { WasmBuild } from '../../bindings/kernels.js';
import { PerNamespace } from '../engines/per-namespace.js';
import { getTfjsEngine, getWasmEngine } from '../engines/registry.js';
import type { TfjsEngine } from '../engines/tfjs/engine.js';
import type { TfNamespace } from '../engines/tfjs/load.js';
import type { Engine } from '../engines/types.js';
import { describeCapabilities } from './capabilities.js';
import { chooseEngine, defaultThresholds, type Capabilities, type Decision, type EngineChoice, type Work } from './policy.js';
import { readCalibration, type CalibrationFile } from './thresholds.js';

/** The smallest work for which a GPU could pay off by default: below it the wasm engine runs without probing tfjs. */
const MIN_PROBE_FLOPS = 2e9;

/** Options of a dispatcher: the user's own tfjs namespace and backends, and the wasm build. */
export interface DispatcherOptions {
  tf?: TfNamespace;
  backends?: string[];
  build?: WasmBuild;
  /** Threads of the wasm engine (default: the available cores). */
  threads?: number;
}

/**
 * Picks an engine per call: the wasm engine for small work or where no GPU backend exists, the tfjs engine for
 * work above the calibrated (or default) crossover on a GPU backend, or whatever the caller forces. tfjs is probed
 * (imported and initialised) only when the work is large enough to matter, once, and its failure is remembered
 * with every attempt's reason.
 */
export class Dispatcher {
  private caps?: Promise<{ caps: Capabilities; tfjs?: TfjsEngine }>;
  private thresholdsP?: Promise<CalibrationFile | null>;

  constructor(readonly options: DispatcherOptions = {}) {}

  /** The wasm engine of this dispatcher's build. */
  wasm() {
    return getWasmEngine(this.options.build ?? 'auto', this.options.threads);
  }

  /** The tfjs engine; throws FdtEngineError (with install instructions) when no backend initialises. */
  tfjs(): Promise<TfjsEngine> {
    return getTfjsEngine({ tf: this.options.tf, backends: this.options.backends });
  }

  /** Capabilities, probing tfjs once (memoised). */
  capabilities(): Promise<Capabilities> {
    return this.probe().then((p) => p.caps);
  }

  /**
   * The calibration for the current machine, or null (then defaults apply). A file that exists but cannot be used
   * (malformed, or from another version) is ignored with one console.warn naming it and why: dispatch goes on with
   * the default thresholds rather than failing every call.
   */
  calibration(): Promise<CalibrationFile | null> {
    this.thresholdsP ??= readCalibration().catch((e: Error) => {
      console.warn(`fdtkit: ignoring the calibration file, default thresholds apply: ${e.message}`);
      return null;
    });
    return this.thresholdsP;
  }

  /** The engine for one call, and why. */
  async engineFor(work: Work, override: EngineChoice = 'auto'): Promise<{ engine: Engine; decision: Decision }> {
    if (override === 'wasm') return { engine: await this.wasm(), decision: { engine: 'wasm', reason: "forced: engine 'wasm'" } };
    if (override === 'tfjs') return { engine: await this.tfjs(), decision: { engine: 'tfjs', reason: "forced: engine 'tfjs'" } };
    const cal = await this.calibration();
    const floor = Math.min(MIN_PROBE_FLOPS, cal?.crossoverFlops ?? Infinity);
    if (work.flops < floor) {
      const reason = `${work.op} of ${(work.flops / 1e9).toFixed(3)} GFLOP is below any crossover (${(floor / 1e9).toFixed(2)} GFLOP): tfjs not needed`;
      return { engine: await this.wasm(), decision: { engine: 'wasm', reason } };
    }
    const { caps, tfjs } = await this.probe();
    const decision = chooseEngine(work, caps, cal ?? defaultThresholds(caps));
    return { engine: decision.engine === 'tfjs' && tfjs ? tfjs : await this.wasm(), decision };
  }

  private probe(): Promise<{ caps: Capabilities; tfjs?: TfjsEngine }> {
    this.caps ??= this.tfjs().then(
      (engine) => ({ caps: describeCapabilities({ engine }), tfjs: engine }),
      (e: Error) => ({ caps: describeCapabilities({ error: e.message }) }),
    );
    return this.caps;
  }
}

/** Per user tf namespace (or none given), the dispatchers by build, threads and backends. */
const dispatchers = new PerNamespace<Map<string, Dispatcher>>();

/** The shared dispatcher for a configuration: one per user tf namespace, build, thread count and backend list. */
export function getDispatcher(options: DispatcherOptions = {}): Dispatcher {
  const key = `${options.build ?? 'auto'}|${options.threads ?? ''}|${options.backends?.join(',') ?? ''}`;
  const byKey = dispatchers.get(options.tf, () => new Map());
  let d = byKey.get(key);
  if (!d) byKey.set(key, (d = new Dispatcher(options)));
  return d;
}
