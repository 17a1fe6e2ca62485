// The part of a paper-scale training step after the backward: from the parameter gradients to updated parameters
// (9.6 M values), the way the Trainer runs it now against the way it ran before, interleaved call by call.
//
//   npx tsx bench/experiments/update-phase.ts [--threads N] [--rounds N]
//
// now:    the gradients stay in wasm memory; f32_first_nonfinite checks them there; AdamW runs on the worker pool.
// before: every gradient copied out to a fresh host array (what `gradients()` returns), checked in JavaScript,
//         uploaded again and AdamW run on the calling thread.
// Both end with the same host copy of the new parameters. The forward and backward themselves are the same in both
// and are not timed here (bench/experiments/step-breakdown.ts times them).
import process from 'node:process';
import { FDT } from '../../src/fdt.js';
import { Trainer } from '../../src/train/trainer.js';
import { measureInterleaved } from '../harness.js';
import { PAPER_CONFIG, paperBatch } from '../suites/training.js';
import { numberArg } from './args.js';

const threads = numberArg('--threads', 2);
const rounds = numberArg('--rounds', 10);
const fdt = await FDT.create({ ...PAPER_CONFIG, engine: 'wasm', threads });
const engine = fdt.wasm;
const parallel = engine.parallel;
const trainer = new Trainer(fdt, { schedule: { warmupSteps: 10, totalSteps: 1000 } });
await trainer.stepOn(paperBatch()); // allocates the moments and the kept-gradient blocks
const { grads } = await fdt.trainingGradients(paperBatch());
const kept = grads.kept!;
const blocks = (engine as unknown as { kept: WeakMap<object, { blocks: Map<string, number> }> }).kept.get(fdt)!.blocks;
const h = { lr: 1e-7, beta1: 0.9, beta2: 0.98, eps: 1e-8, weightDecay: 0.1 };
const decayed = (n: string) => fdt.decays(n);
let step = 2;
const values = kept.names.reduce((a, n) => a + fdt.params[n]!.length, 0);

const now = async () => {
  if (engine.firstNonFinite(fdt, kept)) throw new Error('non-finite gradient');
  await engine.adamwStep(fdt, kept, step++, h, decayed);
};
const before = async () => {
  const host: Record<string, Float32Array> = {};
  for (const n of kept.names) host[n] = engine.mod.f32(blocks.get(n)!, fdt.params[n]!.length).slice();
  if (engine.firstNonFinite(fdt, host)) throw new Error('non-finite gradient');
  const split = parallel.minParallelFlops;
  parallel.minParallelFlops = Infinity; // AdamW on the calling thread, as before
  try {
    await engine.adamwStep(fdt, host, step++, h, decayed);
  } finally {
    parallel.minParallelFlops = split;
  }
};
console.log(`update phase over ${(values / 1e6).toFixed(2)} M parameters, ${engine.threads} thread(s), ${rounds} interleaved rounds`);
const [tNow, tBefore] = await measureInterleaved([now, before], { budgetS: 60, min: rounds, max: rounds, warmup: 2 });
console.log(`  now (kept in wasm, checked in wasm, AdamW on the pool)  median ${tNow!.medianMs.toFixed(1).padStart(6)} ms`);
console.log(`  before (copied out, checked in JS, uploaded, 1 thread)   median ${tBefore!.medianMs.toFixed(1).padStart(6)} ms`);
console.log(`  before / now: ${(tBefore!.medianMs / tNow!.medianMs).toFixed(2)}x`);
fdt.dispose();
process.exit(0);
