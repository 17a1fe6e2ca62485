/**
 * Thread rows: our relevance kernel on N threads (default N = 2: this machine's cores) against the same engine path
 * on one thread, timed call by call (measureInterleaved), and onnxruntime-web on N threads (a child process: ort
 * fixes its thread count once per process).
 * Skipped, with the reason printed, while the engine has no `threads` option (see bench/threads.ts).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import process from 'node:process';
import { measureInterleaved, type Timing } from '../harness.js';
import { relevanceInputs } from '../relevance.js';
import { flopsOf, gridFor, shapeLabel } from '../shapes.js';
import { createModel, threadedModel, threadedRelevanceRunner } from '../threads.js';
import { roundFields, type Ctx } from '../context.js';
import type { FDT } from '../../src/fdt.js';

const KERNEL = 'relevance';

function runOrtChild(ctx: Ctx, threads: number, shapes: ReturnType<typeof gridFor>): void {
  const rt = ctx.runtime;
  const label = (id: string) => shapeLabel(shapes.find((s) => s.id === id)!);
  const child = fileURLToPath(new URL('../peers/ort-child.ts', import.meta.url));
  // The child runs in this same runtime: Node through tsx's loader flags (process.execArgv), Deno with
  // --sloppy-imports (this repo's `.js` specifiers name `.ts` sources), Bun as is.
  const pre: Record<string, string[]> = { node: process.execArgv, deno: ['run', '-A', '--sloppy-imports'], bun: [] };
  if (!pre[rt]) {
    for (const s of shapes) ctx.skip(KERNEL, shapeLabel(s), 'ort-web', threads, `no way to start an ort-web child process in this runtime (${rt})`, s.id);
    return;
  }
  const req = {
    threads, shapes: shapes.map(({ id, B, P, d, C }) => ({ id, B, P, d, C })),
    ...(ctx.full ? { budgetS: 12, min: 3, max: 30 } : { budgetS: 3, min: 2, max: 20 }),
  };
  ctx.log(`ort-web on ${threads} threads (child process)...`);
  const r = spawnSync(process.execPath, [...pre[rt]!, child, JSON.stringify(req)], { encoding: 'utf8', timeout: 15 * 60_000, maxBuffer: 16 << 20 });
  if (r.status !== 0 || r.error) {
    const why = `ort-web child failed: ${r.error?.message ?? (r.stderr || '').trim().split('\n').slice(-2).join(' ')}`;
    for (const s of shapes) ctx.skip(KERNEL, shapeLabel(s), 'ort-web', threads, why, s.id);
    return;
  }
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { results: { id: string; median_ms: number; samples: number; min_ms: number; max_ms: number; others_load: number | null }[] };
  for (const x of out.results) {
    const s = shapes.find((g) => g.id === x.id)!;
    ctx.add({
      kernel: KERNEL, shape: label(x.id), shape_id: x.id, impl: 'ort-web', threads, median_ms: x.median_ms,
      gflops: flopsOf(s) / (x.median_ms * 1e6), samples: x.samples, min_ms: x.min_ms, max_ms: x.max_ms, others_load: x.others_load,
    });
  }
}

export async function threadsSuite(ctx: Ctx): Promise<void> {
  const shapes = ctx.grid().filter((s) => s.kind === 'paper' && (ctx.full || ctx.opts.shapes !== null || s.id !== 'b32-p77'));
  if (!shapes.length) {
    ctx.log('thread rows: no paper shape selected (--shapes), nothing to run');
    return;
  }
  for (const threads of ctx.opts.threads) {
    ctx.log(`thread rows: ${threads} threads`);
    // A head whose query MLP is tiny, in case the engine only offers encodeImage (see bench/threads.ts).
    const cfg = { numTokens: shapes[0]!.C, dim: shapes[0]!.d, imageDim: 16, textDim: 16, temperature: 1, seed: 1, build: 'simd' as const };
    const m = await threadedModel({ ...cfg, threads });
    if (!m.fdt) {
      ctx.log(`  skipped: ${m.reason}`);
      for (const s of shapes) {
        ctx.skip(KERNEL, shapeLabel(s), 'fdtkit-simd', threads, m.reason, s.id);
        ctx.skip(KERNEL, shapeLabel(s), 'ort-web', threads, `no fdtkit row at ${threads} threads to compare with (${m.reason})`, s.id);
      }
      continue;
    }
    let one: FDT | null = null;
    try {
      one = await createModel({ ...cfg, threads: 1 });
      for (const s of shapes) {
        const { q, T } = relevanceInputs(s);
        const budget = s.B * s.P > 256 ? (ctx.full ? { budgetS: 12, min: 5 } : { budgetS: 3, min: 3 }) : ctx.full ? { budgetS: 4, min: 7 } : { budgetS: 1.5, min: 5, max: 20 };
        // Call by call, so both rows share the host's slow periods (see measureInterleaved).
        const r1 = threadedRelevanceRunner(one, s, q, T);
        const rN = threadedRelevanceRunner(m.fdt, s, q, T);
        await ctx.gate();
        const [t1, tN] = (await measureInterleaved([r1.run, rN.run], { ...budget, budgetS: 2 * budget.budgetS, probe: ctx.probe })) as [Timing, Timing];
        rN.release();
        r1.release();
        const flops = flopsOf(s) + rN.extraFlops;
        const via = rN.via === 'kernel' ? 'kernel (engine.parallel.relevance)' : 'encodeImage with imageDim 16 (relevance-dominated)';
        ctx.add({
          kernel: KERNEL, shape: shapeLabel(s), shape_id: s.id, impl: 'fdtkit-simd-engine', threads: 1, median_ms: t1.medianMs,
          gflops: flops / (t1.medianMs * 1e6), samples: t1.samples, others_load: t1.othersLoad,
          extra: { via, paired_threads: threads }, ...roundFields(t1),
        });
        ctx.add({
          kernel: KERNEL, shape: shapeLabel(s), shape_id: s.id, impl: 'fdtkit-simd', threads, median_ms: tN.medianMs,
          gflops: flops / (tN.medianMs * 1e6), samples: tN.samples, min_ms: tN.minMs, max_ms: tN.maxMs, others_load: tN.othersLoad,
          extra: { via, speedup_vs_1_thread: t1.medianMs / tN.medianMs }, ...roundFields(tN),
        });
      }
    } finally {
      one?.dispose();
      m.fdt.dispose();
    }
    runOrtChild(ctx, threads, shapes);
  }
}
