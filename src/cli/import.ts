import { parseArgs } from 'node:util';
import { FdtValueError } from '../errors.js';
import { FDT } from '../fdt.js';
import type { MaskMode, Normalizer } from '../config.js';
import { checkOutFile } from './out-path.js';
import { numOption } from './usage.js';

export const IMPORT_USAGE = `fdt import CKPT --out MODEL.safetensors [--temperature T] [--normalizer sparsemax|softmax] [--mask-mode official|exclude]

Converts an official FDT checkpoint (.pth.tar; read by a restricted pickle reader that executes nothing) into an
fdtkit model file, written atomically. An official checkpoint does not hold the head's temperature, normaliser or
mask mode: give them as trained.

  --out FILE       the model file to write (required)
  --temperature T  the head's temperature (default 1)
  --normalizer N   sparsemax (default) or softmax
  --mask-mode M    official (default: padded slots floor the max at 0, as the official code) or exclude
`;

/**
 * `fdt import CKPT --out MODEL.safetensors [--temperature T] [--normalizer sparsemax|softmax] [--mask-mode M]`:
 * converts an official `.pth.tar` checkpoint (no Python; the pickle is parsed by a restricted reader that executes
 * nothing) into an fdtkit model file, written atomically.
 */
export async function runImport(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      temperature: { type: 'string' },
      normalizer: { type: 'string' },
      'mask-mode': { type: 'string' },
    },
  });
  if (positionals.length !== 1) throw new FdtValueError(`import: expected one checkpoint path, found ${positionals.length} arguments`);
  if (!values.out) throw new FdtValueError('import: --out MODEL.safetensors is required');
  checkOutFile('--out', values.out);
  const temperature = numOption('--temperature', values.temperature);
  const model = await FDT.load(positionals[0]!, {
    temperature,
    normalizer: values.normalizer as Normalizer | undefined,
    maskMode: values['mask-mode'] as MaskMode | undefined,
  });
  await model.save(values.out, { source: positionals[0]!.split(/[\\/]/).pop()! });
  const c = model.config;
  process.stdout.write(
    `imported ${positionals[0]} -> ${values.out}\n` +
      `  tokens C=${c.numTokens}, dim d=${c.dim}, imageDim=${c.imageDim}, textDim=${c.textDim}, ` +
      `${c.normalizer}, temperature ${c.temperature}, mask ${c.maskMode}\n`,
  );
  return 0;
}
