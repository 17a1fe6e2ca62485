/**
 * The demo pipeline behind `fdt demo`: load the emoji dataset (cached features, or extracted with progress), select
 * the baseline's and FDT's hyper-parameters on the validation concepts, train the ablations around the chosen FDT,
 * evaluate the chosen heads and the ablations on the test concepts of the training styles and of the held-out style,
 * and write the report (plus the chosen FDT model file) into the output directory.
 */
import { cpus, loadavg, totalmem } from 'node:os';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadEmojiDataset, type EmojiDataset } from '../data/dataset.js';
import { readJson, repoRoot } from '../data/cache.js';
import { join } from 'node:path';
import { silentProgress, stderrProgress, type ProgressCallback } from '../data/progress.js';
import { FdtValueError } from '../errors.js';
import { checkSeed } from '../rng.js';
import { seededShuffle } from '../data/splits.js';
import { FDT } from '../fdt.js';
import { encodeSafetensors } from '../io/safetensors.js';
import { demoDataFrom, type DemoData } from './data.js';
import type { SplitEval } from './evaluate.js';
import { specName, type FdtSpec, type HeadSpec } from './heads.js';
import type { EvalJob, Job, JobResult, TrainJob } from './jobs.js';
import { JobPool } from './pool.js';
import { buildPrompts } from './prompts.js';
import { encodeDemoMeta } from './setup.js';
import { REPORT_FORMAT, summaryTable, writeReport, type DemoReport, type ReportRun } from './report.js';
import { plannedSteps, type RunResult, type TrainConfig } from './train.js';

export const DEFAULT_TRAIN_STYLES = ['noto', 'twemoji', 'fluent-emoji-flat'];
export const DEFAULT_HELD_OUT_STYLES = ['openmoji'];

/** Options of runDemo. */
export interface DemoOptions {
  /** Output directory (default "fdt-out" in the cwd). */
  out?: string;
  seed?: number;
  /** Few concepts, few epochs, a minimal search, no ablations. */
  quick?: boolean;
  trainStyles?: string[];
  heldOutStyles?: string[];
  /** Worker threads (default: 2 when the machine has 2+ cores, else 1). */
  workers?: number;
  cacheDir?: string;
  /** Override the number of concepts (a seeded sample) and the epochs of every run. */
  maxConcepts?: number;
  trainConcepts?: number;
  epochs?: number;
  /** Progress lines (default: stderr, rewritten on a TTY). */
  onProgress?: ProgressCallback | false;
  /** Log lines (default: stderr). */
  log?: (line: string) => void;
  /** The command line recorded in the report. */
  command?: string;
  /** Replaces parts of the plan (search grid, ablations): for tests and experiments. */
  planOverride?: Partial<DemoPlan>;
}

/** The training defaults shared by every run. */
export const TRAIN_DEFAULTS = { batchSize: 128, warmupFraction: 0.1, weightDecay: 0.1 };

/** The search grid and ablations of a run mode. */
export interface DemoPlan {
  epochs: number;
  /** Concepts loaded (a seeded sample before the split; undefined = all, so the full cached features serve). */
  maxConcepts: number | undefined;
  /** Train on a seeded sample of this many training concepts (validation and test stay whole). */
  trainConcepts: number | undefined;
  baseline: { spec: HeadSpec; lr: number }[];
  fdt: { spec: FdtSpec; lr: number }[];
  /** Dictionary sizes of the ablation (the chosen size is always among them). */
  ablationSizes: number[];
  softmaxAblation: boolean;
}

const fdtSpec = (numTokens: number, dim: number, temperature: number, dictScale = 1): FdtSpec => ({
  kind: 'fdt',
  numTokens,
  dim,
  temperature,
  normalizer: 'sparsemax',
  dictScale,
});

/** The FDT configuration the full demo's selection picks (with seed 0), used as `fdt train`'s defaults. */
export const DEFAULT_FDT: { spec: FdtSpec; lr: number } = { spec: fdtSpec(1024, 128, 1000), lr: 8e-3 };

/** The plan of a full or quick run. */
export function demoPlan(quick: boolean): DemoPlan {
  if (quick) {
    return {
      epochs: 8,
      maxConcepts: undefined,
      trainConcepts: 300,
      baseline: [
        { spec: { kind: 'clip', dim: 128 }, lr: 3e-3 },
        { spec: { kind: 'clip', dim: 128 }, lr: 1e-2 },
      ],
      fdt: [{ spec: fdtSpec(256, 128, 1000), lr: 4e-3 }],
      ablationSizes: [],
      softmaxAblation: false,
    };
  }
  return {
    epochs: 5,
    maxConcepts: undefined,
    trainConcepts: undefined,
    baseline: [
      { spec: { kind: 'clip', dim: 128 }, lr: 3e-3 },
      { spec: { kind: 'clip', dim: 128 }, lr: 1e-2 },
      { spec: { kind: 'clip', dim: 256 }, lr: 3e-3 },
      { spec: { kind: 'clip', dim: 256 }, lr: 1e-2 },
    ],
    fdt: [
      { spec: fdtSpec(1024, 128, 10), lr: 8e-3 },
      { spec: fdtSpec(1024, 128, 100), lr: 8e-3 },
      { spec: fdtSpec(1024, 128, 1000), lr: 8e-3 },
    ],
    ablationSizes: [256, 1024, 2048],
    softmaxAblation: true,
  };
}

/** Relative cost of a job (1 = one FDT step at C=1024, d=128, B=128), from the FLOPs of the forward and backward. */
export function jobCost(job: Job, data: Pick<DemoData, 'patches' | 'slots' | 'imageDim' | 'textDim' | 'split'>): number {
  const perStep = (spec: HeadSpec): number => {
    const { patches: P, slots: L, imageDim: Di, textDim: Dt } = data;
    if (spec.kind === 'clip') return (P * Di + 3 * (Di + Dt) * spec.dim) / 1e6 + 0.05;
    const d = spec.dim;
    const C = spec.numTokens;
    const mlp = 3 * (P * (Di * d + d * d) + L * (Dt * d + d * d)) + P * Di * d;
    const rel = (P + L) * C * d;
    const dense = spec.normalizer === 'softmax' ? 3 * C * d : 0;
    return (mlp + rel + dense) / 1e6;
  };
  const ref = perStep(fdtSpec(1024, 128, 1));
  if (job.kind === 'train') {
    const steps = plannedSteps(job.config, data.split.train.length);
    const evalCost = job.config.epochs * (data.split.val.length * 5) / 128; // per-epoch validation, ~ forward only
    return ((steps + evalCost) * perStep(job.config.head)) / ref;
  }
  const images = job.evals.reduce((a, e) => a + data.split[e.split].length * (e.styles.length + 2), 0);
  return (images / 128 / 3) * (perStep(job.spec) / ref);
}

/** Everything runDemo returns: the report and where it was written. */
export interface DemoOutcome {
  report: DemoReport;
  files: string[];
  summary: string;
}

function peakRssMB(sampled: number): { peakRssMB: number; source: string } {
  try {
    const m = /VmHWM:\s+(\d+)\s+kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return { peakRssMB: Math.max(Number(m[1]) / 1024, sampled / 2 ** 20), source: 'VmHWM: peak resident memory of the process, all threads' };
  } catch {
    /* not Linux */
  }
  return { peakRssMB: sampled / 2 ** 20, source: 'highest sampled RSS' };
}

/** Runs the whole demo. */
export async function runDemo(options: DemoOptions = {}): Promise<DemoOutcome> {
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const startedAt = new Date().toISOString();
  const loadAtStart = loadavg();
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const onProgress = options.onProgress === false ? silentProgress : (options.onProgress ?? stderrProgress());
  const quick = options.quick ?? false;
  const seed = options.seed ?? 0;
  checkSeed('--seed', seed);
  const plan = { ...demoPlan(quick), ...options.planOverride };
  const epochs = options.epochs ?? plan.epochs;
  if (!Number.isInteger(epochs) || epochs < 1) throw new FdtValueError(`epochs: expected a positive integer, found ${epochs}`);
  const maxConcepts = options.maxConcepts ?? plan.maxConcepts;
  const trainStyles = options.trainStyles ?? DEFAULT_TRAIN_STYLES;
  const heldOutStyles = options.heldOutStyles ?? DEFAULT_HELD_OUT_STYLES;
  const overlap = trainStyles.filter((s) => heldOutStyles.includes(s));
  if (overlap.length) throw new FdtValueError(`held-out styles: expected styles not used in training, found ${overlap.join(', ')} in both`);
  const out = resolve(options.out ?? 'fdt-out');
  const workers = options.workers ?? Math.min(2, cpus().length);
  let sampledRss = process.memoryUsage().rss;
  const sample = (): void => {
    sampledRss = Math.max(sampledRss, process.memoryUsage().rss);
  };
  const sampler = setInterval(sample, 500);
  sampler.unref();

  try {
    // 1. Data.
    log(`fdt demo${quick ? ' --quick' : ''}: styles ${trainStyles.join(', ')} (train) + ${heldOutStyles.join(', ') || 'none'} (held out), seed ${seed}, ${workers} worker(s)`);
    const tData = performance.now();
    const ds: EmojiDataset = await loadEmojiDataset({
      styles: [...trainStyles, ...heldOutStyles],
      seed,
      cacheDir: options.cacheDir,
      maxConcepts,
      onProgress,
    });
    const datasetMs = performance.now() - tData;
    const computed = Object.values(ds.report.timings.features).reduce((a, f) => a + f.computedImages, 0);
    log(`dataset: ${ds.conceptIds.length} concepts (train ${ds.split.train.length} / val ${ds.split.val.length} / test ${ds.split.test.length}) in ${(datasetMs / 1000).toFixed(1)} s${computed ? `, ${computed} images encoded` : ', features from the cache'}`);
    const tPrompts = performance.now();
    const prompts = { val: await buildPrompts(ds, 'val', { cacheDir: options.cacheDir }), test: await buildPrompts(ds, 'test', { cacheDir: options.cacheDir }) };
    const promptsMs = performance.now() - tPrompts;
    const data = demoDataFrom(ds, prompts, { share: workers > 1 });
    const trainConcepts = options.trainConcepts ?? plan.trainConcepts;
    if (trainConcepts !== undefined && trainConcepts < data.split.train.length) {
      data.split.train = seededShuffle(data.split.train, seed ^ 0x5eed).slice(0, Math.max(2, trainConcepts)).sort((a, b) => a - b);
      log(`training on a seeded sample of ${data.split.train.length} training concepts`);
    }
    sample();

    const pool = new JobPool(data, workers);
    const progressFor = (stage: string) => {
      const t = Date.now();
      let reportedDone = false;
      return (done: number, total: number, _finished: number, jobs: number): void => {
        if (reportedDone) return;
        reportedDone = Math.round(done) >= Math.round(total);
        // Work is counted in reference steps (cost-weighted), so the ETA holds across heads of different cost.
        onProgress({ stage: `${stage}: ${jobs} run(s), work in reference steps`, done: Math.round(done), total: Math.max(1, Math.round(total)), elapsedMs: Date.now() - t });
        sample();
      };
    };
    const runJobs = async (stage: string, jobs: Job[]): Promise<JobResult[]> =>
      pool.run(jobs, { cost: (j) => jobCost(j, data), onProgress: progressFor(stage) });

    try {
      const config = (label: string, head: HeadSpec, lr: number): TrainConfig => ({ label, head, lr, epochs, seed, trainStyles, ...TRAIN_DEFAULTS });
      // 2. Model selection on validation.
      const searchJobs: TrainJob[] = [
        ...plan.baseline.map((c, i) => ({ kind: 'train' as const, config: config(`baseline-${i + 1}`, c.spec, c.lr) })),
        ...plan.fdt.map((c, i) => ({ kind: 'train' as const, config: config(`fdt-${i + 1}`, c.spec, c.lr) })),
      ];
      log(`model selection: ${searchJobs.length} runs x ${epochs} epochs on validation (${plan.baseline.length} baseline, ${plan.fdt.length} FDT)`);
      const tSearch = performance.now();
      const searchRuns = (await runJobs('model selection', searchJobs)).map((r) => (r as { run: RunResult }).run);
      const searchMs = performance.now() - tSearch;
      const score = (r: RunResult): number => r.epochs.find((e) => e.epoch === r.bestEpoch)!.valScore!;
      const best = (runs: RunResult[]): RunResult => runs.reduce((a, b) => (score(b) > score(a) ? b : a));
      const bestBaseline = best(searchRuns.filter((r) => r.config.head.kind === 'clip'));
      const bestFdt = best(searchRuns.filter((r) => r.config.head.kind === 'fdt'));
      for (const r of searchRuns) log(`  ${r.config.label.padEnd(11)} ${r.name.padEnd(40)} lr ${r.config.lr}: val rsum ${r.val.mean.rsum.toFixed(1)}, top-1 ${r.val.mean.top1.toFixed(1)} (epoch ${r.bestEpoch}), ${(r.timings.trainMs / 1000).toFixed(0)} s`);
      log(`chosen: ${bestBaseline.config.label} (${bestBaseline.name}) and ${bestFdt.config.label} (${bestFdt.name}, lr ${bestFdt.config.lr})`);

      // 3. Ablations around the chosen FDT: the other normaliser, other dictionary sizes.
      const chosen = bestFdt.config.head as FdtSpec;
      const ablationDefs: { label: string; varies: string; spec: FdtSpec }[] = [];
      if (plan.softmaxAblation) {
        // With every token active, sparsemax gives w = 1/C + (r - mean r) / tau and softmax w ~ (1 + (r - mean r) / tau') / C:
        // the same first-order weights need tau' = tau / C (softmax at the sparsemax tau would be nearly uniform).
        // In the sparse regime (few active tokens) the same tau is kept.
        const dense = (bestFdt.val.mean.activeImage ?? 0) >= chosen.numTokens / 2;
        const tau = dense ? +(chosen.temperature / chosen.numTokens).toPrecision(4) : chosen.temperature;
        const why = dense ? `tau = ${chosen.temperature}/C = ${tau}: the same first-order weights` : `same tau = ${tau}`;
        ablationDefs.push({ label: 'ablation-softmax', varies: `softmax instead of sparsemax (${why})`, spec: { ...chosen, normalizer: 'softmax', temperature: tau } });
      }
      for (const C of plan.ablationSizes) {
        if (C !== chosen.numTokens) ablationDefs.push({ label: `ablation-C${C}`, varies: `C = ${C} tokens`, spec: { ...chosen, numTokens: C } });
      }
      const ablationJobs: TrainJob[] = ablationDefs.map((a) => ({ kind: 'train', config: { ...bestFdt.config, label: a.label, head: a.spec } }));
      const tAbl = performance.now();
      if (ablationJobs.length) log(`ablations: ${ablationDefs.map((a) => a.varies).join('; ')}`);
      const ablationRuns = ablationJobs.length ? (await runJobs('ablations', ablationJobs)).map((r) => (r as { run: RunResult }).run) : [];
      const ablationMs = performance.now() - tAbl;

      // 4. Test evaluation of the chosen heads and the ablations (the first and only time test data is read).
      const finals = [bestBaseline, bestFdt, ...ablationRuns];
      const evals = [{ split: 'test' as const, styles: trainStyles }, ...(heldOutStyles.length ? [{ split: 'test' as const, styles: heldOutStyles }] : [])];
      const evalJobs: EvalJob[] = finals.map((r) => ({ kind: 'eval', label: r.config.label, spec: r.config.head, params: r.params, evals }));
      const tEval = performance.now();
      const testResults = await runJobs('test evaluation', evalJobs);
      const testEvalMs = performance.now() - tEval;
      const testOf = new Map<string, SplitEval[]>();
      testResults.forEach((r) => {
        if (r.kind === 'eval') testOf.set(r.label, r.evals);
      });
      sample();
      const workerPeak = pool.workerPeakRss;
      await pool.close();

      // 5. Report and model file.
      const tReport = performance.now();
      const toReport = (r: RunResult, role: ReportRun['role']): ReportRun => {
        const te = testOf.get(r.config.label);
        const run: ReportRun = {
          label: r.config.label,
          role,
          name: r.name,
          spec: r.config.head,
          config: r.config,
          chosen: r === bestBaseline || r === bestFdt,
          bestEpoch: r.bestEpoch,
          epochs: r.epochs,
          curve: r.curve,
          val: r.val,
          timings: r.timings,
        };
        if (te) {
          run.test = te[0];
          if (te[1]) run.heldOut = te[1];
        }
        return run;
      };
      const { numTokens, dim, temperature, normalizer } = chosen;
      const fdtModel = await FDT.fromParams({ numTokens, dim, temperature, normalizer, imageDim: data.imageDim, textDim: data.textDim, maskMode: 'official' }, bestFdt.params);
      const modelBytes = fdtModel.toBytes({
        source: 'fdt demo',
        seed: String(seed),
        styles: trainStyles.join(','),
        lr: String(bestFdt.config.lr),
        epoch: String(bestFdt.bestEpoch),
        dictScale: String(chosen.dictScale),
        // The split the model was trained on: `fdt eval` and `fdt embed` rebuild it from these keys.
        ...encodeDemoMeta({ datasetStyles: [...trainStyles, ...heldOutStyles], trainStyles, seed, maxConcepts }),
      });
      fdtModel.dispose();
      const cpu = cpus();
      const report: DemoReport = {
        format: REPORT_FORMAT,
        formatVersion: 1,
        command: options.command ?? `fdt demo${quick ? ' --quick' : ''} --seed ${seed}`,
        startedAt,
        finishedAt: new Date().toISOString(),
        quick,
        seed,
        versions: { fdtkit: ownVersion(), node: process.versions.node, v8: process.versions.v8, ...ds.report.versions },
        machine: {
          platform: process.platform,
          arch: process.arch,
          cpuModel: cpu[0]?.model ?? 'unknown',
          cpus: cpu.length,
          totalMemoryGB: totalmem() / 2 ** 30,
          loadAverageAtStart: loadAtStart,
          wasmBuild: await wasmBuildName(),
        },
        data: {
          styles: ds.styles,
          trainStyles,
          heldOutStyles,
          size: ds.size,
          layer: ds.report.layer,
          caption: ds.report.caption,
          maxTokens: ds.report.maxTokens,
          commonConcepts: ds.report.commonConcepts,
          maxConcepts: maxConcepts ?? null,
          counts: ds.report.counts,
          trainConceptsUsed: data.split.train.length,
          pairs: { train: data.split.train.length * trainStyles.length, valPerStyle: ds.split.val.length, testPerStyle: ds.split.test.length },
          templates: prompts.test.groups.map((g) => ({ name: g.name, templates: g.templates })),
          captionFallbackRows: ds.text.fallback.length,
        },
        protocol: {
          selection: 'every hyper-parameter and the epoch are chosen on the validation concepts of the training styles: score = (rsum + zero-shot top-1) / 7, mean over styles',
          retrieval: 'per style: every test image against the test captions (one per image, matched by row), cosine; Recall@1/5/10 both directions; rsum = sum of the six',
          zeroShot: 'per style: test images classified among the test concepts; class prototype = mean of the L2-normalised prompt embeddings, re-normalised; top-1 / top-5',
          ties: 'expected recall under a uniformly random order of tied scores',
          heldOut: 'held-out styles are never trained on nor used for selection',
        },
        training: { ...TRAIN_DEFAULTS, epochs, workers },
        runs: [
          ...searchRuns.map((r) => toReport(r, r.config.head.kind === 'clip' ? 'baseline' : 'fdt')),
          ...ablationRuns.map((r) => toReport(r, 'ablation')),
        ],
        chosen: { baseline: bestBaseline.config.label, fdt: bestFdt.config.label },
        ablations: ablationDefs.map((a) => ({ label: a.label, varies: a.varies })),
        timings: { totalMs: 0, cpuMs: 0, datasetMs, promptsMs, searchMs, ablationMs, testEvalMs, reportMs: 0, datasetCached: computed === 0 },
        memory: { peakRssMB: 0, source: '' },
        files: [],
      };
      report.timings.reportMs = performance.now() - tReport;
      report.timings.totalMs = performance.now() - t0;
      const cpuUsed = process.cpuUsage(cpu0);
      report.timings.cpuMs = (cpuUsed.user + cpuUsed.system) / 1000;
      report.memory = peakRssMB(Math.max(sampledRss, workerPeak));
      const baselineBytes = encodeSafetensors(
        Object.fromEntries(Object.entries(bestBaseline.params).map(([k, v]) => [k, { dtype: 'F32' as const, shape: [v.length], data: v }])),
        { format: 'fdtkit.clip-baseline', config: JSON.stringify({ ...bestBaseline.config.head, imageDim: data.imageDim, textDim: data.textDim }) },
      );
      const files = await writeReport(out, report, { 'fdt.safetensors': modelBytes, 'baseline.safetensors': baselineBytes });
      const summary = summaryTable(report);
      log(`report: ${files.join(', ')}`);
      log(`total ${(report.timings.totalMs / 1000).toFixed(1)} s, peak memory ${report.memory.peakRssMB.toFixed(0)} MB`);
      return { report, files, summary };
    } finally {
      await pool.close();
    }
  } finally {
    clearInterval(sampler);
  }
}

function ownVersion(): string {
  const v = (readJson(join(repoRoot(), 'package.json')) as { version?: unknown }).version;
  return typeof v === 'string' ? v : 'unknown';
}

async function wasmBuildName(): Promise<string> {
  const f = await FDT.create({ numTokens: 2, dim: 2, imageDim: 2, textDim: 2, temperature: 1 });
  return f.build;
}

/** The label of a head spec (re-exported for the CLI). */
export { specName };
