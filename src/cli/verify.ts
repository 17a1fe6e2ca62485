import { parseArgs } from 'node:util';
import { FdtFormatError, FdtValueError } from '../errors.js';
import { readModelBytes } from '../io/model-file.js';
import { isWasmBuild } from '../../bindings/kernels.js';
import { formatReport, verifyGolden } from '../verify/golden.js';

export const VERIFY_USAGE = `fdt verify FILE.json [--engine wasm|tfjs] [--build simd|scalar|relaxed|auto] [--checkpoint CKPT]

Runs a golden file in the official format (config, inputs, params, intermediates, outputs, grads) through the FDT
head and compares every field it holds, the training path's parameter gradients included, within
1e-4 * max(1, max |expected|). Exits 0 only if every field is within tolerance.

  --engine E       wasm (default) or tfjs (the tfjs engine on its best backend here)
  --build B        the wasm build: auto (default), simd, scalar or relaxed
  --checkpoint F   parameters from an official .pth.tar or an fdtkit model file, for golden files without params
`;

/**
 * `fdt verify FILE.json [--engine wasm|tfjs] [--build simd|scalar|relaxed|auto] [--checkpoint CKPT]`: exit 0 only if every field
 * is within tolerance. With --checkpoint the parameters come from an official .pth.tar or an fdtkit model file
 * (for files that hold inputs and expected outputs but no params).
 */
export async function runVerify(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      engine: { type: 'string', default: 'wasm' },
      build: { type: 'string', default: 'auto' },
      checkpoint: { type: 'string' },
    },
  });
  if (positionals.length !== 1) throw new FdtValueError(`verify: expected one FILE.json, found ${positionals.length} arguments`);
  const engine = values.engine;
  if (engine !== 'wasm' && engine !== 'tfjs') throw new FdtValueError(`--engine: expected 'wasm' or 'tfjs', found ${JSON.stringify(engine)}`);
  const build = values.build;
  if (!isWasmBuild(build)) {
    throw new FdtValueError(`--build: expected simd, scalar, relaxed or auto, found ${JSON.stringify(build)}`);
  }
  const file = positionals[0]!;
  const { readModelFile } = await import('../io/files.js');
  // A regular file within the size cap (a device or a FIFO would be read forever).
  const text = new TextDecoder().decode(await readModelFile(file));
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new FdtFormatError(`${file}: cannot read as JSON: ${(e as Error).message}`);
  }
  let params: Record<string, Float32Array> | undefined;
  if (values.checkpoint !== undefined) {
    params = readModelBytes(await readModelFile(values.checkpoint)).params;
  }
  const report = await verifyGolden(doc, { build, params, engine });
  process.stdout.write(`${file}\n${formatReport(report)}\n`);
  return report.ok ? 0 : 1;
}
