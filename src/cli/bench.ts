import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { instantiateKernels, type KernelModule } from '../../bindings/kernels.js';
import { clearUpperVectorState } from '../../bindings/vector-state.js';
import { UsageError } from './usage.js';
import { checkOutFile } from './out-path.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import { Rng } from '../rng.js';

export const BENCH_USAGE = `fdt bench [--quick | --full] [--json FILE] [suite options]

The benchmark suite. In a checkout of the repository it runs bench/main.ts with every option passed through: the
kernels against their peers (tfjs-wasm, onnxruntime-web, numpy where present), threads, the training step, memory
and the dispatcher, each target with its measured value and a pass / SHORT mark, and the result files in
bench/results/. Installed as a package it runs the built-in part: our relevance kernel at the paper shapes and
sparsemax in both regimes, one thread.

  --quick          the quick grid (default; under 5 minutes)
  --full           every shape, more samples
  --json FILE      also write the records to FILE
  suite options (checkout only): --suites a,b  --shapes a,b  --threads 2  --tag NAME  --no-write  --python PATH  --webgpu
                   --gate SECONDS (wait up to SECONDS for a quiet host before each shape)
`;

/**
 * `fdt bench [--quick | --full] [--json FILE] [...]`: the benchmark suite from the command line.
 *
 * In a checkout of the repository (bench/main.ts and its dev dependencies present) it runs that suite, every option
 * passed through: all suites, the peers (tfjs-wasm, onnxruntime-web, numpy), the targets with pass / SHORT, and the
 * result files in bench/results/ (plus FILE with --json). In an installed package, where the peers are not
 * installed, it runs the built-in part: our relevance kernel at the paper shapes and sparsemax in both regimes, one
 * thread, with the same record format ({kernel, shape, impl, threads, runtime, median_ms, gflops}).
 */
export async function runBench(args: string[]): Promise<number> {
  const root = packageRoot(path.dirname(fileURLToPath(import.meta.url)));
  const suite = path.join(root, 'bench', 'main.ts');
  if (existsSync(suite) && existsSync(path.join(root, 'node_modules', 'tsx'))) {
    const passed = args.filter((a) => a !== '--quick');
    const r = spawnSync(process.execPath, ['--import', 'tsx', suite, ...passed], { cwd: root, stdio: 'inherit' });
    return r.status ?? 1;
  }
  return runBuiltInBench(args);
}

/** The nearest directory at or above `dir` holding a package.json: the package (src/cli from the sources, dist/src/cli built). */
function packageRoot(dir: string): string {
  for (let d = dir; ; d = path.dirname(d)) {
    if (existsSync(path.join(d, 'package.json'))) return d;
    if (path.dirname(d) === d) return dir;
  }
}

interface BenchRow {
  kernel: string;
  shape: string;
  impl: string;
  threads: number;
  runtime: string;
  median_ms: number;
  gflops: number | null;
  samples: number;
  extra?: Record<string, number | string>;
}

const PAPER = { d: 512, C: 16384 };

/** The built-in suite (an installed package): our relevance kernel at the paper shapes and sparsemax, one thread. */
export async function runBuiltInBench(args: string[]): Promise<number> {
  let full = false;
  let json: string | null = null;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--full') full = true;
    else if (a === '--quick') full = false;
    else if (a === '--json') {
      json = args[++i] ?? null;
      if (!json || json.startsWith('-')) throw new UsageError(`--json: expected a file name, found ${json === null ? 'none' : JSON.stringify(json)}`);
      checkOutFile('--json', json);
    } else throw new UsageError(`unknown option ${a} (the built-in suite takes --quick, --full, --json FILE)`);
  }
  const runtime = `node ${process.versions.node}`;
  const mod = await instantiateKernels('auto');
  process.stderr.write(`fdt bench (built-in: our kernels only; the peers and the other suites live in the repository's bench/): ${mod.build} build, ${runtime}\n`);
  const rows: BenchRow[] = [];
  const shapes = full ? [[1, 49], [32, 49], [32, 77], [256, 49]] : [[1, 49], [32, 49]];
  for (const [B, P] of shapes as [number, number][]) rows.push(relevanceRow(mod, B, P, runtime));
  rows.push(...sparsemaxRows(mod, runtime));
  process.stdout.write('kernel     shape                                   impl         threads  median ms  GFLOP/s  value\n');
  for (const r of rows) {
    const value = r.extra?.['us_per_row'] !== undefined ? `${Number(r.extra['us_per_row']).toFixed(1)} us/row` : '';
    process.stdout.write(`${r.kernel.padEnd(10)} ${r.shape.padEnd(39)} ${r.impl.padEnd(12)} ${String(r.threads).padStart(7)}  ${r.median_ms.toFixed(2).padStart(9)}  ${r.gflops === null ? '       ' : r.gflops.toFixed(2).padStart(7)}  ${value}\n`);
  }
  if (json) {
    const file = path.resolve(json);
    const doc = { date: new Date().toISOString().slice(0, 10), machine: { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, runtime }, records: rows };
    await writeFileAtomic(file, new TextEncoder().encode(`${JSON.stringify(doc, null, 2)}\n`));
    process.stderr.write(`wrote ${file}\n`);
  }
  return 0;
}

/** Median time of `fn` over calls filling about `budgetMs` (at least 3, after one warm-up call). */
function time(fn: () => void, budgetMs: number): { ms: number; samples: number } {
  let t = performance.now();
  fn();
  const first = performance.now() - t;
  const n = Math.max(3, Math.min(50, Math.floor(budgetMs / Math.max(first, 1e-3))));
  const ts: number[] = [];
  for (let i = 0; i < n; i++) {
    clearUpperVectorState(); // as the engine does before its calls (bindings/vector-state.ts)
    t = performance.now();
    fn();
    ts.push(performance.now() - t);
  }
  ts.sort((a, b) => a - b);
  return { ms: ts[n >> 1]!, samples: n };
}

function relevanceRow(mod: KernelModule, B: number, P: number, runtime: string): BenchRow {
  const { d, C } = PAPER;
  const rng = new Rng(1);
  const a = mod.arena;
  const q = a.alloc(B * P * d * 4);
  const T = a.alloc(C * d * 4);
  const Tp = a.alloc(Math.ceil(C / 16) * 16 * d * 4);
  const R = a.alloc(B * C * 4);
  const ARG = a.alloc(B * C * 4);
  const scratch = a.alloc(mod.k.relevance_scratch_bytes(P));
  const qs = mod.f32(q, B * P * d);
  for (let i = 0; i < qs.length; i++) qs[i] = rng.normal();
  const ts = mod.f32(T, C * d);
  for (let i = 0; i < ts.length; i++) ts[i] = rng.normal();
  mod.k.f32_pack_nt(T, C, d, Tp);
  const t = time(() => mod.k.f32_relevance_fwd(q, B, P, d, Tp, C, 1 / Math.sqrt(d), 0, 0, R, ARG, scratch), 3000);
  for (const p of [scratch, ARG, R, Tp, T, q]) a.free(p);
  const flops = 2 * B * P * d * C;
  return { kernel: 'relevance', shape: `B=${B} P=${P} d=${d} C=${C}`, impl: `fdtkit-${mod.build}`, threads: 1, runtime, median_ms: t.ms, gflops: flops / (t.ms * 1e6), samples: t.samples };
}

function sparsemaxRows(mod: KernelModule, runtime: string): BenchRow[] {
  const C = PAPER.C;
  const R = 64;
  const a = mod.arena;
  const z = a.alloc(R * C * 4);
  const p = a.alloc(R * C * 4);
  const scratch = a.alloc(mod.k.sparsemax_scratch_bytes(C));
  const rng = new Rng(7);
  const rows: BenchRow[] = [];
  // Gaussian rows: sigma 1 keeps a handful of tokens (trained-like); sigma 3.7e-4 about 4,400 (temperature 1000 at init).
  for (const [regime, sigma] of [['few active', 1], ['~4400 active', 3.7e-4]] as const) {
    const zs = mod.f32(z, R * C);
    for (let i = 0; i < zs.length; i++) zs[i] = 0.01 + sigma * rng.normal();
    const t = time(() => mod.k.f32_sparsemax_fwd(z, R, C, p, 0, scratch), 1000);
    rows.push({ kernel: 'sparsemax', shape: `R=${R} C=${C} ${regime}`, impl: `fdtkit-${mod.build}`, threads: 1, runtime, median_ms: t.ms, gflops: null, samples: t.samples, extra: { us_per_row: (t.ms * 1000) / R } });
  }
  for (const x of [scratch, p, z]) a.free(x);
  return rows;
}
