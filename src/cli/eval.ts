import { parseArgs } from 'node:util';
import { FdtValueError } from '../errors.js';
import type { SplitName } from '../data/splits.js';

export const EVAL_USAGE = `fdt eval --model MODEL.safetensors [--style S[,S...]] [--split test|val] [--json] [--cache-dir DIR]

Evaluates an FDT model file on the emoji data with the demo's protocol: retrieval (Recall@1/5/10 both directions,
rsum) and zero-shot classification with prompt ensembling, on the test (or validation) concepts of the split the
model was trained with (read from the file; demo defaults otherwise). --style takes any installed @iconify-json
emoji set (default: the styles of that split); concepts a set lacks are left out of its evaluation.

  --model FILE       the FDT model file (required)
  --style S[,S...]   emoji sets to evaluate on (repeatable; default: the styles of the model's split)
  --split test|val   the concepts to evaluate on (default test)
  --json             the figures as JSON
  --cache-dir DIR    feature cache (default .cache/fdtkit under the package)
`;

/** `fdt eval`: prints one row per style (or JSON with --json). */
export async function runEval(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      model: { type: 'string' },
      style: { type: 'string', multiple: true },
      split: { type: 'string', default: 'test' },
      json: { type: 'boolean', default: false },
      'cache-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(EVAL_USAGE);
    return 0;
  }
  if (positionals.length) throw new FdtValueError(`eval: expected no positional arguments, found ${JSON.stringify(positionals)}`);
  if (!values.model) throw new FdtValueError('eval: --model MODEL.safetensors is required');
  const split = values.split as SplitName;
  if (split !== 'test' && split !== 'val') throw new FdtValueError(`--split: expected "test" or "val", found ${JSON.stringify(values.split)}`);
  const styleArg = (values.style ?? []).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);

  const [{ readModelFile }, { readModelBytes }, setup, { FDT }, { evaluateSplit }, { DEFAULT_HELD_OUT_STYLES, DEFAULT_TRAIN_STYLES }, { stderrProgress }] = await Promise.all([
    import('../io/files.js'),
    import('../io/model-file.js'),
    import('../demo/setup.js'),
    import('../fdt.js'),
    import('../demo/evaluate.js'),
    import('../demo/run.js'),
    import('../data/progress.js'),
  ]);
  // Cheap checks first: styles, then the model's dimensions, before any feature is loaded.
  setup.checkStyles(styleArg);
  const file = readModelBytes(await readModelFile(values.model));
  setup.checkModelDims(file.config, values.model);
  const meta = setup.decodeDemoMeta(file.metadata, {
    datasetStyles: [...DEFAULT_TRAIN_STYLES, ...DEFAULT_HELD_OUT_STYLES],
    trainStyles: DEFAULT_TRAIN_STYLES,
    seed: 0,
    maxConcepts: undefined,
  });
  const styles = styleArg.length ? styleArg : meta.datasetStyles;
  const onProgress = stderrProgress();
  const ds = await setup.loadDemoDataset(meta, { cacheDir: values['cache-dir'], onProgress });
  const { perStyle } = await setup.evaluationData(ds, split, styles, { cacheDir: values['cache-dir'], onProgress });
  const model = await FDT.fromParams(file.config, file.params);
  const rows: { style: string; trained: boolean; missing: number; eval: Awaited<ReturnType<typeof evaluateSplit>>['styles'][number] }[] = [];
  for (const p of perStyle) {
    const e = await evaluateSplit(model, p.data, split, [p.style]);
    rows.push({ style: p.style, trained: meta.trainStyles.includes(p.style), missing: p.missing, eval: e.styles[0]! });
  }
  model.dispose();
  if (values.json) {
    process.stdout.write(JSON.stringify({ model: values.model, config: file.config, split, splitOf: meta, results: rows }, null, 1) + '\n');
    return 0;
  }
  const c = file.config;
  const f1 = (x: number | null): string => (x === null ? '—' : x.toFixed(1));
  const lines = [
    `${values.model}: FDT ${c.normalizer} C=${c.numTokens} d=${c.dim} tau=${c.temperature}; ${split} concepts of the split of ${meta.datasetStyles.join(', ')} (seed ${meta.seed})`,
    '',
    'style          seen in training  concepts   rsum   I->T R@1/5/10        T->I R@1/5/10        zero-shot top-1  top-5   active img/txt',
  ];
  for (const r of rows) {
    const m = r.eval.retrieval;
    lines.push(
      `${r.style.padEnd(22)}${(r.trained ? 'yes' : 'no').padEnd(9)}${String(m.n).padStart(8)}${f1(m.rsum).padStart(7)}   ` +
        `${`${f1(m.imageToText.r1)}/${f1(m.imageToText.r5)}/${f1(m.imageToText.r10)}`.padEnd(21)}` +
        `${`${f1(m.textToImage.r1)}/${f1(m.textToImage.r5)}/${f1(m.textToImage.r10)}`.padEnd(21)}` +
        `${f1(r.eval.zeroShot.top1).padStart(15)}${f1(r.eval.zeroShot.top5).padStart(7)}   ${f1(r.eval.activeImage)}/${f1(r.eval.activeText)}` +
        (r.missing ? `  (${r.missing} concepts absent from this set)` : ''),
    );
  }
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}
