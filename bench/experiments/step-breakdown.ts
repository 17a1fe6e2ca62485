// Where the time of a paper-scale training step goes, kernel by kernel, so the "training step" figures of
// docs/PERFORMANCE.md can be re-measured on any machine:
//
//   npx tsx bench/experiments/step-breakdown.ts [--threads N] [--steps N] [--demo]
//
// One Trainer.stepOn at the paper's shapes (bench/suites/training.ts: 32 images x 49 x 768, 32 captions x 77 x 512,
// d = 512, C = 16,384, sparsemax at temperature 1000), or with --demo at the demo's (128 images x 49 x 576,
// 128 captions x 16 x 100, d = 128, C = 1,024, every slot real), warms up; then every kernel call made on this thread is
// timed through a wrapper around the module's exports, and the engine's parallel entry points (whose calls run on
// the workers when N > 1) are timed around their awaits. Rows are per step; shares are of the step's wall time.
// Also prints the FLOPs of the relevance forward and of the query MLPs' GEMMs, and the share the GEMMs alone take
// of the step when they run at the relevance kernel's speed.
import process from 'node:process';
import { FDT } from '../../src/fdt.js';
import { Rng } from '../../src/rng.js';
import { Trainer } from '../../src/train/trainer.js';
import { stepGemmFlops } from '../shapes.js';
import { PAPER_CONFIG, paperBatch } from '../suites/training.js';
import { flagArg, numberArg } from './args.js';

const threads = numberArg('--threads', 1);
const steps = numberArg('--steps', 2);
const demo = flagArg('--demo');
const DEMO = { B: 128, N: 49, Di: 576, L: 16, Dt: 100, d: 128, C: 1024 };
const config = demo
  ? { ...PAPER_CONFIG, numTokens: DEMO.C, dim: DEMO.d, imageDim: DEMO.Di, textDim: DEMO.Dt }
  : PAPER_CONFIG;
const fdt = await FDT.create({ ...config, engine: 'wasm', threads });
type Exports = Record<string, unknown>;
const engine = fdt.wasm as unknown as {
  mod: { k: Exports };
  parallel: Record<string, (...a: unknown[]) => Promise<void>>;
  adamwStep: (...a: unknown[]) => Promise<void>;
};
const times = new Map<string, number>();
const add = (name: string, ms: number) => times.set(name, (times.get(name) ?? 0) + ms);

// Kernel exports called on this thread.
const raw = engine.mod.k;
const timed: Exports = {};
for (const [name, v] of Object.entries(raw)) {
  timed[name] = typeof v !== 'function' ? v : (...a: unknown[]) => {
    const t = performance.now();
    const r = (v as (...x: unknown[]) => unknown)(...a);
    add(name, performance.now() - t);
    return r;
  };
}
Object.defineProperty(timed, 'memory', { get: () => raw['memory'] });
engine.mod.k = timed;
// The engine's parallel entry points (the kernels they run on workers are not seen by the wrapper above).
const par = engine.parallel;
for (const name of ['gemm', 'relevance', 'relevanceBwd', 'wsum', 'wsumBwd', 'sparsemax', 'sparsemaxBwd', 'gelu', 'geluBwd', 'layerNorm', 'layerNormBwd', 'adamw']) {
  const f = par[name]!.bind(par);
  par[name] = async (...a: unknown[]) => {
    const t = performance.now();
    await f(...a);
    add(`parallel.${name}`, performance.now() - t);
  };
}
const adamw = engine.adamwStep.bind(engine);
engine.adamwStep = async (...a: unknown[]) => {
  const t = performance.now();
  await adamw(...a);
  add('engine.adamwStep (all parameters)', performance.now() - t);
};

const batch = demo ? demoBatch() : paperBatch();
const trainer = new Trainer(fdt, { schedule: { warmupSteps: 10, totalSteps: 1000 } });
await trainer.stepOn(batch);
times.clear();
let total = 0;
for (let i = 0; i < steps; i++) {
  const t = performance.now();
  await trainer.stepOn(batch);
  total += performance.now() - t;
}
const perStep = total / steps;
console.log(`training step at ${demo ? 'the demo\'s' : 'paper'} scale on ${fdt.threads} thread(s): ${perStep.toFixed(0)} ms per step (mean of ${steps})`);
console.log('what                                      ms/step   share');
for (const [name, ms] of [...times.entries()].sort((a, b) => b[1] - a[1])) {
  if (ms / steps < 0.05) continue;
  console.log(`${name.padEnd(40)} ${(ms / steps).toFixed(1).padStart(8)} ${((100 * ms) / total).toFixed(1).padStart(6)}%`);
}
if (demo) {
  fdt.dispose();
  process.exit(0);
}
const { relevance: relFlops, mlp: mlpFlops } = stepGemmFlops();
console.log(`relevance forward: ${(relFlops / 1e9).toFixed(1)} GFLOP; query MLP GEMMs (forward, weight gradients, second Linear's input gradient): ${(mlpFlops / 1e9).toFixed(1)} GFLOP`);
console.log(`the MLP GEMMs alone at the relevance kernel's speed: ${((100 * mlpFlops) / (relFlops + mlpFlops)).toFixed(1)}% of a step that did nothing else`);
fdt.dispose();
process.exit(0);

/** A batch at the demo's shapes: standard normal features, every caption slot real. */
function demoBatch() {
  const rng = new Rng(3);
  const { B, N, Di, L, Dt } = DEMO;
  return {
    patches: { data: Float32Array.from({ length: B * N * Di }, () => rng.normal()), shape: [B, N, Di] },
    tokens: { data: Float32Array.from({ length: B * L * Dt }, () => rng.normal()), shape: [B, L, Dt] },
    valid: { data: new Int32Array(B * L).fill(1), shape: [B, L] },
  };
}
