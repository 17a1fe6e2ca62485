/**
 * Memory of the wasm engine.
 *
 * 1. The paper-scale forward (model.loss on 32 images x 49 x 768 and 32 captions x 77 x 512, C = 16,384): the peak
 *    of the arena's live bytes during the call, split into the resident parameters (raw + packed layouts, what
 *    stays after the call), the inputs, the outputs the engine hands back, and the rest (activations and scratch:
 *    what the forward needs beyond inputs, parameters and outputs). Compared with the [B, P, C] score tensors that
 *    an unfused MatMul + Max materialises (the peers do). The wasm memory size is reported too (it includes the
 *    arena's growth slack and whatever earlier suites of this run grew it to: memory never shrinks).
 * 2. Growth over 1,000 repeated calls of one shape (model.gradients at a small shape: B 4, 49 patches, 16 caption
 *    slots, d 128, C 1,000): wasm memory and arena live bytes after the first call and after the 1,000th.
 */
import process from 'node:process';
import type { KernelModule } from '../../bindings/kernels.js';
import { Rng } from '../../src/rng.js';
import { cpuSnapshot, othersLoad } from '../harness.js';
import { createModel } from '../threads.js';
import { PAPER, flopsOf } from '../shapes.js';
import { PAPER_CONFIG, paperBatch, STEP_SHAPE } from './training.js';
import { fmtMiB, type Ctx } from '../context.js';

const MiB = 2 ** 20;

/** Wraps a module's arena.alloc to record the peak of live bytes; returns a reader and an undo. */
function trackPeak(mod: KernelModule): { peak: () => number; reset: () => void; undo: () => void } {
  const arena = mod.arena;
  const orig = arena.alloc;
  let peak = arena.liveBytes;
  arena.alloc = function (this: typeof arena, bytes: number): number {
    const p = orig.call(this, bytes);
    const live = this.liveBytes;
    if (live > peak) peak = live;
    return p;
  };
  return {
    peak: () => peak,
    reset: () => {
      peak = arena.liveBytes;
    },
    undo: () => {
      arena.alloc = orig;
    },
  };
}

export async function memorySuite(ctx: Ctx): Promise<void> {
  // 1. paper-scale forward
  ctx.log('memory: paper-scale forward');
  const fdt = await createModel({ ...PAPER_CONFIG, threads: 1 });
  const mod = fdt.wasm.mod;
  const batch = paperBatch();
  const tracker = trackPeak(mod);
  const before = mod.arena.liveBytes;
  await fdt.loss(batch);
  const peak = tracker.peak() - before;
  const resident = mod.arena.liveBytes - before;
  tracker.undo();
  const B = PAPER.batch;
  const C = PAPER.C;
  const d = PAPER.d;
  const inputs = batch.patches.data.byteLength + batch.tokens.data.byteLength + batch.valid.data.byteLength;
  // What the engine returns per modality: embeddings and raw embeddings [B, d], weights and relevance [B, C],
  // active counts [B]; plus the logits [B, B].
  const outputs = 2 * (2 * B * d + 2 * B * C + B) * 4 + B * B * 4;
  const params = Object.values(fdt.params).reduce((n, p) => n + p.byteLength, 0);
  const beyond = peak - resident - inputs - outputs;
  const scores = (B * PAPER.patches * C + B * PAPER.captionSlots * C) * 4;
  ctx.add({
    kernel: 'memory.forward', shape: STEP_SHAPE, impl: 'fdtkit-simd', threads: 1, median_ms: null, gflops: null,
    extra: {
      peak_live_bytes: peak, resident_param_bytes: resident, param_bytes_host: params, input_bytes: inputs,
      output_bytes: outputs, beyond_inputs_params_outputs_bytes: beyond, unfused_score_bytes: scores,
      wasm_memory_bytes: mod.arena.memoryBytes,
    },
  });
  ctx.notes.push(
    `paper-scale forward: peak live ${fmtMiB(peak)} = resident parameters ${fmtMiB(resident)} (host copy ${fmtMiB(params)}; ` +
      `the rest is packed layouts) + inputs ${fmtMiB(inputs)} + outputs ${fmtMiB(outputs)} + activations/scratch ${fmtMiB(beyond)}; ` +
      `the unfused [B, P, C] scores would be ${fmtMiB(scores)}; wasm memory ${fmtMiB(mod.arena.memoryBytes)}`,
  );
  fdt.dispose();

  // 2. growth over 1,000 calls
  const calls = 1000;
  ctx.log(`memory: ${calls} calls of model.gradients at a small shape`);
  const small = await createModel({ numTokens: 1000, dim: 128, imageDim: 128, textDim: 128, temperature: 1, seed: 2, build: 'simd', threads: 1 });
  const rng = new Rng(5);
  const Bs = 4;
  const N = 49;
  const L = 16;
  const px = new Float32Array(Bs * N * 128).map(() => rng.normal());
  const tx = new Float32Array(Bs * L * 128).map(() => rng.normal());
  const valid = new Int32Array(Bs * L).map((_, i) => (i % L < 10 + (i / L | 0) ? 1 : 0));
  const sb = { patches: { data: px, shape: [Bs, N, 128] }, tokens: { data: tx, shape: [Bs, L, 128] }, valid: { data: valid, shape: [Bs, L] } };
  const sm = small.wasm.mod;
  const gc = (globalThis as { gc?: () => void }).gc;
  await small.gradients(sb);
  gc?.();
  const mem1 = sm.arena.memoryBytes;
  const live1 = sm.arena.liveBytes;
  const heap1 = process.memoryUsage().heapUsed;
  const t0 = performance.now();
  const c0 = cpuSnapshot();
  for (let i = 1; i < calls; i++) await small.gradients(sb);
  const load = othersLoad(c0, cpuSnapshot());
  const ms = (performance.now() - t0) / (calls - 1);
  gc?.();
  const mem2 = sm.arena.memoryBytes;
  const live2 = sm.arena.liveBytes;
  const heap2 = process.memoryUsage().heapUsed;
  const flops = flopsOf({ B: Bs, P: N, d: 128, C: 1000 }) + flopsOf({ B: Bs, P: L, d: 128, C: 1000 });
  ctx.add({
    kernel: 'memory.growth', shape: `${calls} x model.gradients, B=${Bs} N=${N} L=${L} d=128 C=1000`, impl: 'fdtkit-simd', threads: 1,
    median_ms: null, gflops: null, others_load: load,
    extra: {
      calls, mean_ms_per_call: ms, relevance_flops_per_call: flops, wasm_memory_after_1: mem1, wasm_memory_after_1000: mem2,
      wasm_growth_bytes: mem2 - mem1, arena_live_after_1: live1, arena_live_after_1000: live2, arena_live_growth_bytes: live2 - live1,
      js_heap_growth_bytes: heap2 - heap1, js_heap_gc: gc ? 'forced gc before each reading' : 'no gc exposed (run with --expose-gc for a clean reading)',
    },
  });
  ctx.notes.push(
    `growth over ${calls} calls: wasm memory ${mem2 - mem1} bytes, arena live ${live2 - live1} bytes, JS heap ${((heap2 - heap1) / MiB).toFixed(2)} MiB ` +
      `(${gc ? 'after gc' : 'no gc exposed'}); ${ms.toFixed(2)} ms per call`,
  );
  small.dispose();
}
