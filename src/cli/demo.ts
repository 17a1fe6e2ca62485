import { parseArgs } from 'node:util';
import { FdtValueError } from '../errors.js';
import { checkOutDir } from './out-path.js';
import { intOption } from './usage.js';

export const DEMO_USAGE = `fdt demo [--quick] [--out DIR] [--seed S] [--workers N] [--epochs E] [--cache-dir DIR]

Trains the CLIP-style baseline and FDT on emoji image-caption pairs (training concepts of noto, twemoji,
fluent-emoji-flat), chooses hyper-parameters on the validation concepts, runs the ablations (softmax vs sparsemax,
three dictionary sizes), evaluates on the test concepts of those styles and of the held-out style openmoji, and
writes report.md, report.json, loss-curve.svg, the chosen FDT model (fdt.safetensors) and the chosen baseline's
parameters (baseline.safetensors) into DIR (default fdt-out).

  --quick        300 training concepts, one FDT and two baseline configs, no ablations (about a minute)
  --out DIR      output directory (default fdt-out in the current directory)
  --seed S       seed of the split, the initialisation and the batch order (default 0)
  --workers N    worker threads running training jobs (default: 2 on a machine with 2+ cores)
  --epochs E     epochs of every run (default 5; quick 8)
  --cache-dir D  feature cache (default .cache/fdtkit under the package)
`;

/** `fdt demo`: the whole comparison with defaults; prints the summary table. */
export async function runDemoCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      quick: { type: 'boolean', default: false },
      out: { type: 'string' },
      seed: { type: 'string' },
      workers: { type: 'string' },
      'cache-dir': { type: 'string' },
      epochs: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(DEMO_USAGE);
    return 0;
  }
  if (positionals.length) throw new FdtValueError(`demo: expected no positional arguments, found ${JSON.stringify(positionals)}`);
  checkOutDir('--out', values.out ?? 'fdt-out');
  // Each worker holds a wasm engine and the demo's features: more workers than cores only add memory.
  const cores = (await import('node:os')).availableParallelism();
  const workers = intOption('--workers', values.workers, 1, Math.max(cores, 1));
  const { runDemo } = await import('../demo/run.js');
  const outcome = await runDemo({
    quick: values.quick,
    out: values.out,
    seed: intOption('--seed', values.seed),
    workers,
    epochs: intOption('--epochs', values.epochs, 1),
    cacheDir: values['cache-dir'],
    command: ['fdt', 'demo', ...args].join(' '),
  });
  const r = outcome.report;
  process.stdout.write(
    `\nFDT vs CLIP pooling, test concepts (unseen in training); ${r.data.counts.test} concepts per style\n\n${outcome.summary}\n\n` +
      `report: ${outcome.files.find((f) => f.endsWith('report.md'))}\n` +
      `total ${(r.timings.totalMs / 1000).toFixed(1)} s, peak memory ${r.memory.peakRssMB.toFixed(0)} MB\n`,
  );
  return 0;
}
