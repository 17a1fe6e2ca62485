import { parseArgs } from 'node:util';
import { FdtValueError } from '../errors.js';
import type { FDT } from '../fdt.js';
import { checkOutFile } from './out-path.js';
import { intOption, numOption } from './usage.js';

export const TRAIN_USAGE = `fdt train [--normalizer sparsemax|softmax] [--tokens C] [--dim d] [--temperature T] [--epochs E]
          [--lr LR] [--init-scale S] [--batch B] [--seed S] [--max-concepts N] [--out MODEL.safetensors]
          [--cache-dir DIR]

Trains one FDT head on the training concepts of noto, twemoji and fluent-emoji-flat (the demo's data and split),
keeps the epoch with the best validation score, prints the validation figures per epoch and writes the model file
(default fdt-model.safetensors). Defaults are the configuration the demo selects.

  --normalizer N     sparsemax (default) or softmax
  --tokens C         dictionary size (default 1024)
  --dim d            dictionary width (default 128)
  --temperature T    relevance temperature (default 1000)
  --init-scale S     standard deviation of the dictionary's initialisation (default 1)
  --lr LR            AdamW learning rate (default 0.008)
  --epochs E         epochs (default 5)
  --batch B          pairs per step (default 128)
  --seed S           seed of the split, the initialisation and the batch order (default 0)
  --max-concepts N   load a seeded sample of N >= 20 concepts (default: all)
  --out FILE         the model file to write (default fdt-model.safetensors)
  --cache-dir DIR    feature cache (default .cache/fdtkit under the package)
`;

/** `fdt train`. */
export async function runTrain(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      normalizer: { type: 'string' },
      tokens: { type: 'string' },
      dim: { type: 'string' },
      temperature: { type: 'string' },
      epochs: { type: 'string' },
      lr: { type: 'string' },
      'init-scale': { type: 'string' },
      batch: { type: 'string' },
      seed: { type: 'string' },
      'max-concepts': { type: 'string' },
      out: { type: 'string', default: 'fdt-model.safetensors' },
      'cache-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(TRAIN_USAGE);
    return 0;
  }
  if (positionals.length) throw new FdtValueError(`train: expected no positional arguments, found ${JSON.stringify(positionals)}`);
  const [{ DEFAULT_FDT, DEFAULT_HELD_OUT_STYLES, DEFAULT_TRAIN_STYLES, TRAIN_DEFAULTS, demoPlan }, setup, { buildPrompts }, { demoDataFrom }, { trainRun }, { checkSpec, specName }, { stderrProgress }] =
    await Promise.all([
      import('../demo/run.js'),
      import('../demo/setup.js'),
      import('../demo/prompts.js'),
      import('../demo/data.js'),
      import('../demo/train.js'),
      import('../demo/heads.js'),
      import('../data/progress.js'),
    ]);
  const normalizer = values.normalizer ?? DEFAULT_FDT.spec.normalizer;
  if (normalizer !== 'sparsemax' && normalizer !== 'softmax') throw new FdtValueError(`--normalizer: expected sparsemax or softmax, found ${JSON.stringify(normalizer)}`);
  const spec = {
    kind: 'fdt' as const,
    normalizer: normalizer as 'sparsemax' | 'softmax',
    numTokens: intOption('--tokens', values.tokens, 1) ?? DEFAULT_FDT.spec.numTokens,
    dim: intOption('--dim', values.dim, 1) ?? DEFAULT_FDT.spec.dim,
    temperature: numOption('--temperature', values.temperature) ?? DEFAULT_FDT.spec.temperature,
    dictScale: numOption('--init-scale', values['init-scale']) ?? DEFAULT_FDT.spec.dictScale,
  };
  checkSpec(spec);
  const seed = intOption('--seed', values.seed) ?? 0;
  // 20 concepts give the 0.7 / 0.1 / 0.2 split at least 2 validation and 2 test concepts, which evaluation needs.
  const maxConcepts = intOption('--max-concepts', values['max-concepts'], 20);
  checkOutFile('--out', values.out);
  const meta = { datasetStyles: [...DEFAULT_TRAIN_STYLES, ...DEFAULT_HELD_OUT_STYLES], trainStyles: DEFAULT_TRAIN_STYLES, seed, maxConcepts };
  const config = {
    label: 'fdt train',
    head: spec,
    lr: numOption('--lr', values.lr) ?? DEFAULT_FDT.lr,
    epochs: intOption('--epochs', values.epochs, 1) ?? demoPlan(false).epochs,
    seed,
    trainStyles: meta.trainStyles,
    ...TRAIN_DEFAULTS,
    batchSize: intOption('--batch', values.batch, 2) ?? TRAIN_DEFAULTS.batchSize,
  };
  const onProgress = stderrProgress();
  const ds = await setup.loadDemoDataset(meta, { cacheDir: values['cache-dir'], onProgress });
  const data = demoDataFrom(ds, { val: await buildPrompts(ds, 'val', { cacheDir: values['cache-dir'] }) });
  process.stderr.write(`training ${specName(spec)}, lr ${config.lr}, ${config.epochs} epochs, batch ${config.batchSize} on ${ds.split.train.length} concepts x ${meta.trainStyles.length} styles\n`);
  const t0 = Date.now();
  const { result, head } = await trainRun(config, data, {
    onProgress: (done, total) => onProgress({ stage: `train ${specName(spec)}`, done, total, elapsedMs: Date.now() - t0 }),
  });
  const fdt = head as FDT;
  await fdt.save(values.out, { source: 'fdt train', lr: String(config.lr), epoch: String(result.bestEpoch), ...setup.encodeDemoMeta(meta) });
  fdt.dispose();
  const lines = ['epoch  mean loss  val rsum  val top-1  val score'];
  for (const e of result.epochs) {
    const f = (x: number | null): string => (x === null ? '—' : x.toFixed(1));
    lines.push(`${String(e.epoch).padStart(5)}${e.meanLoss.toFixed(3).padStart(11)}${f(e.valRsum).padStart(10)}${f(e.valTop1).padStart(11)}${f(e.valScore).padStart(11)}${e.epoch === result.bestEpoch ? '  <- kept' : ''}`);
  }
  process.stdout.write(
    `${lines.join('\n')}\n\nactive tokens (val): ${result.val.mean.activeImage?.toFixed(1)} per image, ${result.val.mean.activeText?.toFixed(1)} per caption\n` +
      `${result.timings.steps} steps, ${result.timings.pairsPerSecond.toFixed(0)} pairs/s; model written to ${values.out}\n`,
  );
  return 0;
}
