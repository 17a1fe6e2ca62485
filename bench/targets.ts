/**
 * The targets of the performance issue, each evaluated from this run's records: measured value, threshold, and
 * pass / SHORT (or skipped, with the reason). Ratios are taken between rows of the same run.
 */
import { measuredCeiling } from './suites/ceiling.js';
import { fastestProbe, quietTiming } from './host-speed.js';
import { stepGemmFlops } from './shapes.js';
import { fmtMiB, type BenchRecord, type Ctx, type TargetResult } from './context.js';

const PAPER_IDS = ['b1-p49', 'b32-p49', 'b32-p77', 'b256-p49'];

function gf(r: BenchRecord | undefined): string {
  return r?.gflops != null ? `${r.gflops.toFixed(1)} GFLOP/s` : 'not measured';
}

/**
 * Times of two rows to compare: each row's median over its quiet calls (the host at its speed, host-speed.ts) when
 * both rows were probed and each has enough quiet calls, else the rows' medians. `how` says which, for the measured
 * text: ' (quiet calls 9/11 and 10/11)', ' (all calls: too few quiet, 1/5 and 0/5)', or '' for rows without probes.
 */
function comparable(a: BenchRecord, b: BenchRecord, fastest: number): { aMs: number; bMs: number; how: string } {
  const qa = quietTiming(a, fastest);
  const qb = quietTiming(b, fastest);
  if (!qa || !qb) return { aMs: a.median_ms!, bMs: b.median_ms!, how: '' };
  const counts = `${qa.quiet}/${qa.calls} and ${qb.quiet}/${qb.calls}`;
  if (qa.medianMs !== null && qb.medianMs !== null) return { aMs: qa.medianMs, bMs: qb.medianMs, how: ` (quiet calls ${counts})` };
  return { aMs: a.median_ms!, bMs: b.median_ms!, how: ` (all calls: too few quiet, ${counts})` };
}

/** The thread count the thread targets read: 2 when it was run, else the first one asked for. */
function threadCount(ctx: Ctx): number {
  return ctx.opts.threads.find((t) => t === 2) ?? ctx.opts.threads[0] ?? 2;
}

/**
 * The thread target: our N-thread row at B = 32, P = 49 against the one-thread engine row timed in the same rounds
 * (the row that names N in `paired_threads`; result files from before that field have one such row per run).
 */
function threadTarget(ctx: Ctx): TargetResult {
  const nt = threadCount(ctx);
  const tRow = ctx.find('relevance', 'fdtkit-simd', nt, 'b32-p49');
  const ones = ctx.records.filter((r) => r.kernel === 'relevance' && r.impl === 'fdtkit-simd-engine' && r.threads === 1 && r.shape_id === 'b32-p49' && !r.skipped);
  const tOne = ones.find((r) => r.extra?.['paired_threads'] === nt) ?? ones.find((r) => r.extra?.['paired_threads'] === undefined);
  const tCmp = tRow && tOne ? comparable(tRow, tOne, fastestProbe(ctx.records)) : null;
  const speed = tCmp ? tCmp.bMs / tCmp.aMs : undefined;
  const tSkip = ctx.records.find((r) => r.kernel === 'relevance' && r.impl === 'fdtkit-simd' && r.threads === nt && r.skipped);
  return {
    name: `relevance on ${nt} threads vs 1 (B=32 P=49)`,
    measured: speed !== undefined ? `${speed.toFixed(2)}x${tCmp!.how} (${gf(tRow)})` : 'skipped',
    target: '>= 1.8x on 2 cores',
    pass: speed !== undefined ? speed >= 1.8 : null,
    note: speed !== undefined ? `via ${String(tRow!.extra?.['via'])}` : (tSkip?.skipped ?? 'the threads suite did not run'),
  };
}

export function evaluateTargets(ctx: Ctx): TargetResult[] {
  const out: TargetResult[] = [];
  const ceiling = measuredCeiling(ctx);
  const ceilNote = ceiling
    ? `the measured ceiling in this runtime on this machine (the relevance forward's micro-kernel in L1, SIMD128 without FMA; best sample) is ${ceiling.toFixed(1)} GFLOP/s per core`
    : 'ceiling not measured in this run';
  const ours = (id: string, threads = 1) => ctx.find('relevance', 'fdtkit-simd', threads, id);

  // 1-2. single-thread GFLOP/s
  for (const [id, floor] of [['b32-p49', 45], ['b1-p49', 40]] as const) {
    const r = ours(id);
    const pct = r?.gflops != null && ceiling ? ` = ${((100 * r.gflops) / ceiling).toFixed(0)}% of the ceiling` : '';
    const more = id === 'b32-p49' && ours('b32-p77') ? `; B=32 P=77: ${gf(ours('b32-p77'))}` : '';
    out.push({
      name: `relevance, 1 thread, ${id === 'b32-p49' ? 'B=32' : 'B=1'} (P=49, d=512, C=16384)`,
      measured: `${gf(r)}${pct}${more}`,
      target: `>= ${floor} GFLOP/s`,
      pass: r?.gflops != null ? r.gflops >= floor : null,
      note: ceilNote + (ceiling && ceiling < floor ? ` — the target is above what the micro-kernel reaches in L1 in this runtime on this CPU` : ''),
    });
  }

  // 3. threads
  out.push(threadTarget(ctx));

  // 4-6. ratios to peers (time of peer / time of ours; >1 = we are faster). Probed rows are compared over the calls
  // in which the host ran at its speed (host-speed.ts), when each has enough of them.
  const fastest = fastestProbe(ctx.records);
  const ratioTarget = (name: string, impl: string, threads: number, need: (x: number) => boolean, target: string, invert = false): void => {
    const parts: string[] = [];
    let ok: boolean | null = null;
    for (const id of PAPER_IDS) {
      const a = ours(id, threads);
      const b = ctx.find('relevance', impl, threads, id);
      if (!a?.median_ms || !b?.median_ms) continue;
      const { aMs, bMs, how } = comparable(a, b, fastest);
      const x = invert ? aMs / bMs : bMs / aMs;
      parts.push(`${id}: ${x.toFixed(2)}x${how}`);
      ok = (ok ?? true) && need(x);
    }
    const skip = ctx.records.find((r) => r.kernel === 'relevance' && r.impl === impl && r.threads === threads && r.skipped);
    out.push({ name, measured: parts.length ? parts.join(', ') : 'skipped', target, pass: ok, note: parts.length ? undefined : skip?.skipped });
  };
  ratioTarget('faster than tfjs-backend-wasm (its time / ours), 1 thread', 'tfjs-wasm', 1, (x) => x >= 1.6, '>= 1.6x');
  ratioTarget('faster than onnxruntime-web, 1 thread (its time / ours)', 'ort-web', 1, (x) => x > 1, '> 1x');
  const nt = threadCount(ctx);
  if (ctx.opts.threads.length) {
    ratioTarget(`faster than onnxruntime-web, ${nt} threads (its time / ours)`, 'ort-web', nt, (x) => x > 1, '> 1x');
  }
  ratioTarget('within 4x of numpy on 1 thread (our time / numpy\'s)', 'numpy', 1, (x) => x <= 4, '<= 4x', true);

  // 7-8. sparsemax
  const sp = (impl: string, regime: string) =>
    ctx.records.find((r) => r.kernel === 'sparsemax' && r.impl === impl && r.extra?.['regime'] === regime);
  const o1 = sp('fdtkit-simd', '2-20 active');
  const j1 = sp('js-sort', '2-20 active');
  const us = (r: BenchRecord | undefined) => (r?.extra?.['us_per_row'] as number | undefined) ?? NaN;
  out.push({
    name: 'sparsemax at 2-20 active tokens, C=16384: sort-based time / ours',
    measured: o1 && j1 ? `${(us(j1) / us(o1)).toFixed(1)}x (${us(o1).toFixed(1)} vs ${us(j1).toFixed(0)} us/row)` : 'skipped',
    target: '>= 20x',
    pass: o1 && j1 ? us(j1) / us(o1) >= 20 : null,
  });
  const o2 = sp('fdtkit-simd', '~4400 active');
  out.push({
    name: 'sparsemax at ~4,400 active tokens, C=16384',
    measured: o2 ? `${us(o2).toFixed(0)} us/row (mean support ${Number(o2.extra?.['k_mean']).toFixed(0)})` : 'skipped',
    target: '<= 300 us/row',
    pass: o2 ? us(o2) <= 300 : null,
  });

  // 9. training step
  const flops = stepGemmFlops();
  const gflop = (f: number) => (f / 1e9).toFixed(1);
  for (const threads of [1, ...ctx.opts.threads]) {
    const st = ctx.records.find((r) => r.kernel === 'train_step' && r.threads === threads);
    if (!st && threads !== 1) continue;
    const share = st?.extra?.['non_relevance_share'];
    out.push({
      name: `non-relevance share of a paper-scale training step, ${threads} thread${threads > 1 ? 's' : ''}`,
      measured: typeof share === 'number' ? `${(100 * share).toFixed(1)}% (step ${st!.median_ms!.toFixed(0)} ms)` : 'skipped',
      target: '<= 15%',
      pass: typeof share === 'number' ? share <= 0.15 : null,
      note: st?.skipped ?? `time inside the step's two relevance calls vs the step; floor: the query MLPs' GEMMs (${gflop(flops.mlp)} GFLOP vs ${gflop(flops.relevance)}) alone are ${(100 * flops.mlp / (flops.mlp + flops.relevance)).toFixed(1)}% at equal speed`,
    });
  }

  // 10-11. memory
  const g = ctx.records.find((r) => r.kernel === 'memory.growth');
  const wg = g?.extra?.['wasm_growth_bytes'];
  const lg = g?.extra?.['arena_live_growth_bytes'];
  out.push({
    name: 'memory growth over 1,000 repeated calls of one shape (small shape, model.gradients)',
    measured: typeof wg === 'number' ? `wasm memory +${wg} B, arena live +${lg} B` : 'skipped',
    target: '0 bytes',
    pass: typeof wg === 'number' ? wg === 0 && lg === 0 : null,
  });
  const f = ctx.records.find((r) => r.kernel === 'memory.forward');
  const beyond = f?.extra?.['beyond_inputs_params_outputs_bytes'];
  const scores = f?.extra?.['unfused_score_bytes'];
  out.push({
    name: 'paper-scale forward: wasm memory beyond inputs, parameters and outputs',
    measured: typeof beyond === 'number' ? `${fmtMiB(beyond)} (wasm memory ${fmtMiB(Number(f!.extra!['wasm_memory_bytes']))})` : 'skipped',
    target: '<= 64 MiB',
    pass: typeof beyond === 'number' ? beyond <= 64 * 2 ** 20 : null,
    note: typeof scores === 'number' ? `an unfused kernel would materialise the [B, P, C] scores alone: ${fmtMiB(scores)}` : undefined,
  });

  // 12. dispatcher
  const dispatchIds = [...new Set(ctx.records.filter((r) => r.kernel === 'dispatch' && !r.skipped).map((r) => r.shape_id!))];
  const dParts: string[] = [];
  let dOk: boolean | null = null;
  for (const id of dispatchIds) {
    const auto = ctx.records.find((r) => r.kernel === 'dispatch' && r.shape_id === id && r.impl === 'engine-auto');
    const x = auto?.extra?.['chosen_vs_best'];
    if (typeof x !== 'number') continue;
    const cost = auto!.extra!['dispatch_cost'];
    dParts.push(`${id}: chose ${String(auto!.extra!['chose'])}, ${x.toFixed(3)}x the best (${String(auto!.extra!['best_forced'])}); auto call / that engine forced ${typeof cost === 'number' ? cost.toFixed(2) : '?'}x`);
    dOk = (dOk ?? true) && x <= 1.05;
  }
  out.push({
    name: "dispatcher's automatic choice vs the best forced engine (median time of the chosen engine / of the best)",
    measured: dParts.length ? dParts.join('; ') : 'skipped',
    target: '<= 1.05x at every paper shape',
    pass: dOk,
    note: dParts.length ? undefined : 'the dispatch suite did not run',
  });
  return out;
}
