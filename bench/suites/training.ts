/**
 * A full training step at paper scale: 32 images x 49 patches x 768, 32 captions x 77 slots (all real) x 512,
 * d = 512, C = 16,384, sparsemax, temperature 1000 (the released config), through the public API:
 * Trainer.stepOn = model.gradients (forward + backward of both modalities, InfoNCE) + the AdamW update.
 *
 * The share of the step that is not relevance forward = 1 - (time inside the engine's two relevance forward calls
 * during that step) / step, per round, median over rounds: both times come from the same step, so the host's slow
 * periods (which move separately timed calls by up to 2x here) cancel. Also timed, in the same rounds: the two
 * relevance calls alone (the kernel on the same shapes, dictionary packed once, as in the engine), and with --full
 * the forward alone (model.loss); the rounds interleave them with the step.
 */
import { instantiateKernels } from '../../bindings/kernels.js';
import { Rng } from '../../src/rng.js';
import { Trainer } from '../../src/train/trainer.js';
import { cpuSnapshot, median, othersLoad } from '../harness.js';
import { relevanceInputs, wasmRelevanceSetup } from '../relevance.js';
import { PAPER, flopsOf, type Shape } from '../shapes.js';
import { createModel, threadedModel, threadedRelevanceRunner } from '../threads.js';
import type { Ctx } from '../context.js';
import type { FDT } from '../../src/fdt.js';

export const STEP_SHAPE = `paper: ${PAPER.batch} images x ${PAPER.patches} x ${PAPER.imageDim}, ${PAPER.batch} captions x ${PAPER.captionSlots} x ${PAPER.textDim}, d ${PAPER.d}, C ${PAPER.C}`;

/** The paper-scale head config (released config: sparsemax, temperature 1000, official mask). */
export const PAPER_CONFIG = {
  numTokens: PAPER.C, dim: PAPER.d, imageDim: PAPER.imageDim, textDim: PAPER.textDim, temperature: 1000,
  normalizer: 'sparsemax' as const, seed: 1, build: 'simd' as const,
};

/** A paper-scale batch: standard normal features, every caption slot real. */
export function paperBatch(seed = 3): { patches: { data: Float32Array; shape: number[] }; tokens: { data: Float32Array; shape: number[] }; valid: { data: Int32Array; shape: number[] } } {
  const rng = new Rng(seed);
  const B = PAPER.batch;
  const patches = new Float32Array(B * PAPER.patches * PAPER.imageDim);
  for (let i = 0; i < patches.length; i++) patches[i] = rng.normal();
  const tokens = new Float32Array(B * PAPER.captionSlots * PAPER.textDim);
  for (let i = 0; i < tokens.length; i++) tokens[i] = rng.normal();
  return {
    patches: { data: patches, shape: [B, PAPER.patches, PAPER.imageDim] },
    tokens: { data: tokens, shape: [B, PAPER.captionSlots, PAPER.textDim] },
    valid: { data: new Int32Array(B * PAPER.captionSlots).fill(1), shape: [B, PAPER.captionSlots] },
  };
}

const IMG: Shape = { B: PAPER.batch, P: PAPER.patches, d: PAPER.d, C: PAPER.C };
const TXT: Shape = { B: PAPER.batch, P: PAPER.captionSlots, d: PAPER.d, C: PAPER.C };

async function stepAt(ctx: Ctx, fdt: FDT, threads: number, relevancePair: () => Promise<void>): Promise<void> {
  const batch = paperBatch();
  const trainer = new Trainer(fdt, { schedule: { warmupSteps: 10, totalSteps: 1000 } });
  ctx.log(`training step at paper scale, ${threads} thread(s): warm-up step...`);
  await trainer.stepOn(batch); // first step: uploads and packs the parameters, allocates the moments
  const rounds = ctx.full ? 5 : 3;
  const c0 = cpuSnapshot();
  const step: number[] = [];
  const rel: number[] = [];
  const shares: number[] = [];
  // Time spent inside the engine's relevance forward during each step.
  const par = (fdt.wasm as unknown as { parallel: { relevance: (...a: unknown[]) => Promise<void> } }).parallel;
  const relevance = par.relevance.bind(par);
  let inStep = 0;
  par.relevance = async (...a: unknown[]) => {
    const t0 = performance.now();
    await relevance(...a);
    inStep += performance.now() - t0;
  };
  const fwd: number[] = [];
  let active = { image: 0, text: 0 };
  for (let i = 0; i < rounds; i++) {
    inStep = 0;
    let t = performance.now();
    const r = await trainer.stepOn(batch);
    step.push(performance.now() - t);
    shares.push(1 - inStep / step[i]!);
    active = { image: r.activeImage ?? 0, text: r.activeText ?? 0 };
    t = performance.now();
    await relevancePair();
    rel.push(performance.now() - t);
    if (ctx.full) {
      t = performance.now();
      await fdt.loss(batch);
      fwd.push(performance.now() - t);
    }
    ctx.log(`  round ${i + 1}/${rounds}: step ${step[i]!.toFixed(0)} ms (not relevance forward: ${(100 * shares[i]!).toFixed(1)}%), relevance x2 alone ${rel[i]!.toFixed(0)} ms${fwd.length ? `, forward ${fwd[i]!.toFixed(0)} ms` : ''}`);
  }
  const load = othersLoad(c0, cpuSnapshot());
  const ms = median(step);
  const relMs = median(rel);
  const fwdMs = fwd.length ? median(fwd) : null;
  const relFlops = flopsOf(IMG) + flopsOf(TXT);
  const extra = { rounds, active_image: active.image, active_text: active.text };
  const share = median(shares);
  ctx.add({
    kernel: 'train_step', shape: STEP_SHAPE, impl: 'fdtkit-simd', threads, median_ms: ms, gflops: null, samples: rounds, others_load: load,
    extra: { ...extra, relevance_share: 1 - share, non_relevance_share: share, non_relevance_share_vs_separate_calls: 1 - relMs / ms },
  });
  if (fwdMs !== null) {
    ctx.add({ kernel: 'train_step.forward', shape: STEP_SHAPE, impl: 'fdtkit-simd', threads, median_ms: fwdMs, gflops: null, samples: rounds, others_load: load, extra: { share_of_step: fwdMs / ms } });
  }
  ctx.add({ kernel: 'train_step.relevance_fwd_x2', shape: STEP_SHAPE, impl: 'fdtkit-simd', threads, median_ms: relMs, gflops: relFlops / (relMs * 1e6), samples: rounds, others_load: load, extra: { share_of_step: relMs / ms } });
}

export async function trainingSuite(ctx: Ctx, threadCounts: number[]): Promise<void> {
  const qi = relevanceInputs(IMG, 11);
  const qt = relevanceInputs(TXT, 12);
  for (const threads of threadCounts) {
    let fdt: FDT;
    let pair: () => Promise<void>;
    let release: () => void;
    if (threads === 1) {
      fdt = await createModel({ ...PAPER_CONFIG, threads: 1 });
      const mod = await instantiateKernels('simd');
      const a = wasmRelevanceSetup(mod, IMG, qi.q, qi.T);
      const b = wasmRelevanceSetup(mod, TXT, qt.q, qt.T);
      pair = async () => {
        a.run();
        b.run();
      };
      release = () => {
        b.release();
        a.release();
      };
    } else {
      const m = await threadedModel({ ...PAPER_CONFIG, threads });
      if (!m.fdt) {
        ctx.skip('train_step', STEP_SHAPE, 'fdtkit-simd', threads, m.reason);
        continue;
      }
      fdt = m.fdt;
      const a = threadedRelevanceRunner(fdt, IMG, qi.q, qi.T);
      const b = threadedRelevanceRunner(fdt, TXT, qt.q, qt.T);
      if (a.via !== 'kernel') {
        ctx.skip('train_step', STEP_SHAPE, 'fdtkit-simd', threads, 'the engine exposes no parallel.relevance to time the kernel alone');
        fdt.dispose();
        continue;
      }
      pair = async () => {
        await a.run();
        await b.run();
      };
      release = () => {
        b.release();
        a.release();
      };
    }
    try {
      await stepAt(ctx, fdt, threads, pair);
    } finally {
      release();
      fdt.dispose();
    }
  }
}
