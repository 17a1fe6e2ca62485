/**
 * The relevance kernel per shape x implementation, single-threaded, all in one run so that ratios are taken under
 * the same load. Every peer's output is checked against ours on its first call (max |difference| relative to
 * max |r|), so a row cannot be fast by computing something else. Ours, tfjs-wasm and ort-web (the peers of the
 * ratio targets) are timed call by call in rounds (measureInterleaved), so that each ratio is taken over the same
 * seconds: this host has slow periods of seconds to minutes that /proc/stat does not show, and one row timed inside
 * such a period and its peer outside it gave a ratio that said more about the host than about the code (in one full
 * run our B = 32 row, timed while another process held a core, ran at 12.6 GFLOP/s and read 1.13x against
 * tfjs-wasm, which was timed after it; 1.64x at P = 77 in the same run). The other rows run through tinybench,
 * one implementation after the other.
 *
 *   fdtkit-simd     our kernel, SIMD128 build, dictionary packed once (every shape)
 *   fdtkit-scalar   the same sources without SIMD (small, edge, and B = 1 at paper scale)
 *   fdtkit-relaxed  the opt-in relaxed build (FMA in the micro-kernel), where the runtime has relaxed SIMD
 *   plain-js        a blocked JS loop (small, edge; B = 1 at paper scale with one timed call)
 *   tfjs-wasm       @tensorflow/tfjs-backend-wasm (XNNPACK): matMul + max in tf.tidy, await data()
 *   tfjs-cpu        @tensorflow/tfjs-backend-cpu (small and edge shapes only)
 *   ort-web         onnxruntime-web, wasm EP, numThreads 1: MatMul + ReduceMax graph built in code
 *   numpy           python3 child, float32 matmul + max, OpenBLAS on 1 and on 2 threads
 */
import { instantiateKernels, relaxedSimdSupported, type KernelModule } from '../../bindings/kernels.js';
import { measure, measureInterleaved, type MeasureOptions, type Timing } from '../harness.js';
import { ortRelevanceRunner } from '../peers/onnx.js';
import { numpyUnavailable, runNumpy, type NumpyReport } from '../peers/numpy.js';
import { tfjsFlags, tfjsRelevanceRunner, useTfBackend } from '../peers/tfjs.js';
import { plainJsRelevanceRunner, relevanceInputs, wasmRelevanceSetup } from '../relevance.js';
import { flopsOf, shapeLabel, type GridShape } from '../shapes.js';
import { roundFields, type Ctx } from '../context.js';

const KERNEL = 'relevance';

/** Machine-readable facts the peers reported about themselves (written into the result file). */
export const peerInfo: Record<string, unknown> = {};

/** Max |a - b| / max(1e-30, max |b|), with `a` scaled first. */
function relDiff(a: Float32Array, aScale: number, b: Float32Array): number {
  let m = 0;
  let e = 0;
  for (let i = 0; i < b.length; i++) {
    m = Math.max(m, Math.abs(b[i]!));
    e = Math.max(e, Math.abs(a[i]! * aScale - b[i]!));
  }
  return e / Math.max(m, 1e-30);
}

const TOLERANCE = 1e-4;

function budget(ctx: Ctx, s: GridShape, slow = false): MeasureOptions {
  const big = s.B * s.P > 256;
  if (ctx.full) return { budgetS: big ? 12 : 4, min: big ? (slow ? 3 : 5) : 7, max: 50 };
  return { budgetS: big ? 3 : 1.5, min: big ? (slow ? 2 : 3) : 5, max: 20 };
}

/** An implementation timed in the interleaved rounds: its call, its release, and its output's difference from ours. */
interface Contender {
  impl: string;
  run: () => unknown;
  release: () => unknown;
  diff?: number;
}

/** Calls a runner's release (if any), ignoring its errors: a failed peer must not stop the others' clean-up. */
async function releaseQuietly(release: (() => unknown) | undefined): Promise<void> {
  try {
    await release?.();
  } catch {
    // Nothing more to free.
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? (e.message.split('\n')[0] ?? e.name) : String(e);
}

export async function relevanceSuite(ctx: Ctx): Promise<void> {
  const grid = ctx.grid();
  ctx.log(`relevance kernel: ${grid.length} shapes (${ctx.opts.mode} grid)`);
  const simd = await instantiateKernels('simd');
  let scalar: KernelModule | null = null;
  try {
    scalar = await instantiateKernels('scalar');
  } catch (e) {
    ctx.notes.push(`scalar build unavailable: ${errorText(e)}`);
  }
  // The opt-in relaxed build (fused multiply-add in the micro-kernel) where the runtime has relaxed SIMD.
  const relaxed = relaxedSimdSupported() ? await instantiateKernels('relaxed') : null;
  const relaxedReason = 'no relaxed SIMD in this runtime (Node 20: run with --experimental-wasm-relaxed-simd)';
  const tfWasm = await useTfBackend('wasm');
  if (tfWasm.tf) peerInfo['tfjs-wasm'] = tfjsFlags(tfWasm.tf);
  let ortInfoSet = false;

  for (const s of grid) {
    const { q, T } = relevanceInputs(s);
    const flops = flopsOf(s);
    const label = shapeLabel(s);
    const paper = s.kind === 'paper';
    const rec = (impl: string, ms: Timing, extra?: Record<string, number | string>) =>
      ctx.add({
        kernel: KERNEL, shape: label, shape_id: s.id, impl, threads: 1, median_ms: ms.medianMs, gflops: flops / (ms.medianMs * 1e6),
        samples: ms.samples, min_ms: ms.minMs, max_ms: ms.maxMs, others_load: ms.othersLoad, extra, ...roundFields(ms),
      });

    // Ours (the reference output for the peers' check); timed below, interleaved with tfjs-wasm and ort-web.
    const ours = wasmRelevanceSetup(simd, s, q, T);
    ours.run();
    const ref = ours.read();
    const contenders: Contender[] = [{ impl: 'fdtkit-simd', run: ours.run, release: ours.release }];

    if (scalar && (!paper || s.B === 1)) {
      const sc = wasmRelevanceSetup(scalar, s, q, T);
      sc.run();
      const diff = relDiff(sc.read(), 1, ref);
      rec('fdtkit-scalar', await measure(sc.run, { ...budget(ctx, s, true), min: paper ? 2 : 5 }), { max_rel_diff: diff });
      sc.release();
    } else if (scalar) {
      ctx.skip(KERNEL, label, 'fdtkit-scalar', 1, 'scalar build runs on small shapes and B = 1 only (seconds per call at B = 32)', s.id);
    }

    if (relaxed) {
      const rx = wasmRelevanceSetup(relaxed, s, q, T);
      rx.run();
      const diff = relDiff(rx.read(), 1, ref);
      rec('fdtkit-relaxed', await measure(rx.run, budget(ctx, s)), { max_rel_diff: diff });
      rx.release();
    } else {
      ctx.skip(KERNEL, label, 'fdtkit-relaxed', 1, relaxedReason, s.id);
    }

    if (!paper || s.B === 1) {
      const js = plainJsRelevanceRunner(s, q, T);
      const r = new Float32Array(s.B * s.C);
      const { relevancePlainJs } = await import('../peers/plain-js.js');
      relevancePlainJs(q, s.B, s.P, s.d, T, s.C, 1 / Math.sqrt(s.d), r);
      const diff = relDiff(r, 1, ref);
      rec('plain-js', await measure(js, paper ? { budgetS: 0, min: 1, max: 1, warmup: 1 } : budget(ctx, s)), { max_rel_diff: diff });
    } else {
      ctx.skip(KERNEL, label, 'plain-js', 1, 'plain JS runs on small shapes and B = 1 only', s.id);
    }

    const peersHere = !(s.id === 'b32-p77' || s.id === 'b256-p49') || ctx.full || ctx.opts.shapes !== null;
    const peerSkip = 'tfjs-wasm and ort-web run at B = 32 with P = 77 in --full only (quick grid time budget)';

    if (!tfWasm.tf) {
      ctx.skip(KERNEL, label, 'tfjs-wasm', 1, tfWasm.error, s.id);
    } else if (!peersHere) {
      ctx.skip(KERNEL, label, 'tfjs-wasm', 1, peerSkip, s.id);
    } else {
      await useTfBackend('wasm');
      let tfr: ReturnType<typeof tfjsRelevanceRunner> | null = null;
      try {
        tfr = tfjsRelevanceRunner(tfWasm.tf, s, q, T);
        const diff = relDiff(await tfr.run(), ours.scale, ref);
        contenders.push({ impl: 'tfjs-wasm', run: tfr.run, release: tfr.release, diff });
      } catch (e) {
        await releaseQuietly(tfr?.release);
        ctx.skip(KERNEL, label, 'tfjs-wasm', 1, `failed: ${errorText(e)}`, s.id);
      }
    }

    if (!peersHere) {
      ctx.skip(KERNEL, label, 'ort-web', 1, peerSkip, s.id);
    } else {
      let ort: Awaited<ReturnType<typeof ortRelevanceRunner>> | null = null;
      try {
        ort = await ortRelevanceRunner(s.B, s.P, s.d, s.C, q, T, 1);
        if (!ortInfoSet) {
          peerInfo['ort-web'] = ort.info;
          ortInfoSet = true;
        }
        const diff = relDiff(await ort.run(), ours.scale, ref);
        contenders.push({ impl: 'ort-web', run: ort.run, release: ort.release, diff });
      } catch (e) {
        await releaseQuietly(ort?.release);
        ctx.skip(KERNEL, label, 'ort-web', 1, `failed: ${errorText(e)}`, s.id);
      }
    }

    // One round = one call of each, in an order reversed every other round; the budget of one implementation times
    // their number, and at least `min` rounds. A failure while timing skips every contender of the shape (with the
    // error) and the suite goes on; every runner is released either way.
    const b = budget(ctx, s);
    try {
      await ctx.gate();
      const timings = await measureInterleaved(contenders.map((c) => c.run), { ...b, budgetS: b.budgetS * contenders.length, probe: ctx.probe });
      const mark: Record<string, string> = contenders.length > 1 ? { timing: 'interleaved' } : {};
      contenders.forEach((c, i) => rec(c.impl, timings[i]!, c.diff === undefined ? mark : { max_rel_diff: c.diff, ...mark }));
    } catch (e) {
      for (const c of contenders) ctx.skip(KERNEL, label, c.impl, 1, `timing failed: ${errorText(e)}`, s.id);
    } finally {
      for (const c of contenders) await releaseQuietly(c.release);
    }

    if (paper) {
      ctx.skip(KERNEL, label, 'tfjs-cpu', 1, 'tfjs-cpu runs on small and edge shapes only (~0.5 GFLOP/s)', s.id);
    } else {
      const cpu = await useTfBackend('cpu');
      if (!cpu.tf) ctx.skip(KERNEL, label, 'tfjs-cpu', 1, cpu.error, s.id);
      else {
        const tfr = tfjsRelevanceRunner(cpu.tf, s, q, T);
        const diff = relDiff(await tfr.run(), ours.scale, ref);
        rec('tfjs-cpu', await measure(tfr.run, { ...budget(ctx, s), min: 3 }), { max_rel_diff: diff });
        tfr.release();
      }
    }

    for (const r of ctx.records) {
      const d = r.extra?.['max_rel_diff'];
      if (r.shape_id === s.id && typeof d === 'number' && d > TOLERANCE) {
        ctx.notes.push(`MISMATCH: ${r.impl} at ${s.id} differs from fdtkit-simd by ${d.toExponential(2)} (relative)`);
      }
    }
  }

  // numpy: one child per thread count, every shape of the grid.
  const why = numpyUnavailable(ctx.opts.python);
  for (const threads of [1, 2]) {
    if (why) {
      for (const s of grid) ctx.skip(KERNEL, shapeLabel(s), 'numpy', threads, why, s.id);
      continue;
    }
    ctx.log(`numpy anchor on ${threads} OpenBLAS thread(s)...`);
    let rep: NumpyReport;
    try {
      rep = runNumpy(grid, threads, ctx.full ? { budgetS: 4, min: 7, max: 50 } : { budgetS: 1, min: 3, max: 20 }, ctx.opts.python);
    } catch (e) {
      for (const s of grid) ctx.skip(KERNEL, shapeLabel(s), 'numpy', threads, errorText(e), s.id);
      continue;
    }
    peerInfo[`numpy-${threads}t`] = { numpy: rep.numpy, python: rep.python, blas: rep.blas, threadpool: rep.threadpool };
    for (const r of rep.results) {
      const s = grid.find((g) => g.id === r.id)!;
      ctx.add({
        kernel: KERNEL, shape: shapeLabel(s), shape_id: s.id, impl: 'numpy', threads, median_ms: r.median_ms,
        gflops: flopsOf(s) / (r.median_ms * 1e6), samples: r.samples, others_load: r.others_load,
      });
    }
  }
}
