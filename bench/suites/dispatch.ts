/**
 * The dispatcher's automatic choice against each engine forced, on the paper shapes of the grid: the same public
 * call (encodeImage of [B, 49, 768] patches, encodeText of [B, 77, 512] caption tokens; C = 16,384, d = 512) timed
 * with engine 'auto', 'wasm' and 'tfjs' (whichever tfjs backend the dispatcher's probe initialises here), in rounds
 * that interleave the three, so a change of load hits all alike. Each model runs its default thread count.
 *
 * Target: the engine auto chooses is within 5% of the fastest at every shape: median time of the chosen engine
 * (forced) / median time of the fastest forced engine <= 1.05. When auto chooses the fastest engine that ratio is 1
 * exactly; comparing the auto rows' own times with the forced rows' instead would compare one engine with itself
 * under this shared machine's noise (a B = 32 call measured 1.5-2.2 s on one engine within one run). The auto rows'
 * median / the chosen engine's median is recorded as the cost of dispatching (probe and decision per call). Rounds
 * run for a time budget (at least 3) and alternate the order of the engines. An engine whose first call takes more than
 * twice the best of the others is not sampled again (it cannot be the best), and a tfjs engine on a CPU backend that
 * was more than 4x slower than the best at a smaller shape is not run at the larger ones (on CPUs both engines' times
 * grow with the work; a tfjs-wasm encode at B = 32 takes ~40 s here); those rows say so.
 */
import { FDT } from '../../src/fdt.js';
import { Rng } from '../../src/rng.js';
import { cpuSnapshot, median, othersLoad } from '../harness.js';
import { flopsOf, PAPER, type GridShape } from '../shapes.js';
import { modelThreads } from '../threads.js';
import type { Ctx } from '../context.js';
import type { Capabilities } from '../../src/dispatch/policy.js';

type Choice = 'auto' | 'wasm' | 'tfjs';
const CHOICES: Choice[] = ['auto', 'wasm', 'tfjs'];

export async function dispatchSuite(ctx: Ctx): Promise<void> {
  const shapes = ctx.grid().filter((s) => s.kind === 'paper');
  ctx.log(`dispatcher: auto vs forced engines on ${shapes.length} paper shapes`);
  const image = await FDT.create({ numTokens: PAPER.C, dim: PAPER.d, imageDim: PAPER.imageDim, textDim: PAPER.textDim, temperature: 1000, seed: 1 });
  try {
    let tfjsLabel: string | null = null;
    // Whether tfjs runs on a CPU, as the dispatcher sees it (a GPU API on llvmpipe or SwiftShader counts as a CPU).
    let tfjsOnCpu = false;
    try {
      await image.to('tfjs');
      await image.encodeImage({ data: new Float32Array(PAPER.patches * PAPER.imageDim), shape: [1, PAPER.patches, PAPER.imageDim] });
      const caps = await (image as unknown as { dispatcher: { capabilities(): Promise<Capabilities> } }).dispatcher.capabilities();
      tfjsLabel = `${image.lastEngine}${caps.tfjs.device ? ` on ${caps.tfjs.device}` : ''}`;
      tfjsOnCpu = !caps.tfjs.gpu;
    } catch (e) {
      ctx.notes.push(`dispatcher suite: the tfjs engine is unavailable here (${e instanceof Error ? e.message.split('\n')[0] : String(e)}); auto is compared with wasm alone`);
    }
    await image.to('auto');
    const slowCpu = { ratio: 0, at: '' };
    for (const s of [...shapes].sort((a, b) => flopsOf(a) - flopsOf(b))) {
      const skipTfjs = tfjsLabel !== null && tfjsOnCpu && slowCpu.ratio > 4
        ? `${tfjsLabel} was ${slowCpu.ratio.toFixed(0)}x slower than the best engine at ${slowCpu.at} (CPU backend: the ratio holds as the work grows)`
        : null;
      const r = await shapeRow(ctx, image, s, tfjsLabel, skipTfjs);
      if (r !== null && r > slowCpu.ratio) Object.assign(slowCpu, { ratio: r, at: s.id });
    }
  } finally {
    image.dispose();
  }
}

/** Times one shape; returns the tfjs engine's time / the best forced engine's (null when tfjs did not run). */
async function shapeRow(ctx: Ctx, fdt: FDT, s: GridShape, tfjsLabel: string | null, skipTfjs: string | null): Promise<number | null> {
  const text = s.P === PAPER.captionSlots;
  const D = text ? PAPER.textDim : PAPER.imageDim;
  const rng = new Rng(21);
  const x = new Float32Array(s.B * s.P * D);
  for (let i = 0; i < x.length; i++) x[i] = rng.normal();
  const input = { data: x, shape: [s.B, s.P, D] };
  const call = (engine: Choice) => (text ? fdt.encodeText(input, undefined, { engine }) : fdt.encodeImage(input, { engine }));
  const choices = CHOICES.filter((c) => c !== 'tfjs' || (tfjsLabel !== null && skipTfjs === null));
  const times = new Map<Choice, number[]>(choices.map((c) => [c, []]));
  const labels = new Map<Choice, string>();
  for (const c of choices) await call(c); // warm-up: uploads, packing, tier-up
  const budgetMs = (ctx.full ? 12 : 4) * 1000;
  const start = performance.now();
  const c0 = cpuSnapshot();
  const dropped = new Set<Choice>();
  let autoChoice: 'wasm' | 'tfjs' = 'wasm';
  for (let r = 0; r < 3 || (r < 50 && performance.now() - start < budgetMs); r++) {
    for (const c of r % 2 ? [...choices].reverse() : choices) {
      if (dropped.has(c)) continue;
      const t = performance.now();
      await call(c);
      times.get(c)!.push(performance.now() - t);
      labels.set(c, c === 'auto' ? `${fdt.lastEngine} (${fdt.lastDecision?.reason ?? ''})` : fdt.lastEngine);
      if (c === 'auto') autoChoice = fdt.lastDecision!.engine;
    }
    if (r === 0) {
      for (const c of choices) {
        const others = choices.filter((o) => o !== c && o !== 'auto').map((o) => times.get(o)![0]!);
        if (c !== 'auto' && others.length && times.get(c)![0]! > 2 * Math.min(...others)) dropped.add(c);
      }
    }
  }
  const shape = `${text ? 'encodeText' : 'encodeImage'} B=${s.B} P=${s.P} d=${s.d} C=${s.C}`;
  if (skipTfjs) ctx.skip('dispatch', shape, 'engine-tfjs', 1, skipTfjs, s.id);
  const load = othersLoad(c0, cpuSnapshot());
  const med = new Map(choices.map((c) => [c, median(times.get(c)!)]));
  const forced = choices.filter((c) => c !== 'auto');
  const best = forced.reduce((x, y) => (med.get(y)! < med.get(x)! ? y : x));
  const chosen = autoChoice;
  for (const c of choices) {
    const ms = med.get(c)!;
    const auto = c === 'auto';
    ctx.add({
      kernel: 'dispatch', shape, shape_id: s.id, impl: `engine-${c}`, threads: modelThreads(fdt) ?? 1, median_ms: ms,
      min_ms: Math.min(...times.get(c)!), gflops: flopsOf(s) / (ms * 1e6), samples: times.get(c)!.length, others_load: load,
      extra: {
        ran: labels.get(c) ?? '', vs_best_forced: ms / med.get(best)!,
        ...(auto ? { chose: chosen, chosen_vs_best: med.get(chosen)! / med.get(best)!, best_forced: best, dispatch_cost: ms / med.get(chosen)! } : {}),
        ...(dropped.has(c) ? { note: 'one sample: more than 2x the best forced engine' } : {}),
      },
    });
  }
  return med.has('tfjs') ? med.get('tfjs')! / med.get(best)! : null;
}
