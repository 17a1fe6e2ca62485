import os from 'node:os';
import { parseArgs } from 'node:util';
import { getDispatcher } from '../dispatch/dispatcher.js';
import { relevanceFlops, type CostPoint, type CostSeries } from '../dispatch/policy.js';
import { writeCalibration } from '../dispatch/write-thresholds.js';
import { batchBytes } from '../engines/tfjs/footprint.js';
import { FDT, type Batch } from '../fdt.js';
import { intOption } from './usage.js';
import { Rng } from '../rng.js';

const IMAGE_ROWS = 49;
const TEXT_ROWS = 77;
const IMAGE_DIM = 768;
const TEXT_DIM = 512;

export const CALIBRATE_USAGE = `fdt calibrate [--quick] [--backends a,b] [--tokens C] [--dim d]

Times both engines on image encodes, caption encodes and training gradients over growing batches at the model's
size, and writes the series to the per-user thresholds file; the dispatcher then picks the faster engine per call.

  --quick          C = 4096, d = 256 and fewer batch sizes
  --tokens C       dictionary size (default 16384)
  --dim d          dictionary width (default 512)
  --backends a,b   the tfjs backends to try, in order
`;

/**
 * `fdt calibrate [--quick] [--backends a,b] [--tokens C] [--dim d]`: times both engines on the calls the dispatcher
 * decides, at the model's size (default the paper's, C = 16,384 and d = 512), over growing batches: image encodes
 * (49 patches), caption encodes (77 slots) and training gradients. The series go to the per-user thresholds file;
 * the dispatcher then predicts, per call, tfjs time / wasm time from the series of that operation nearest in rows
 * and picks the faster. One crossover for every operation was not enough: on an H100 under Deno's WebGPU, tfjs won
 * caption encodes at B = 32 (0.88x the wasm time) but lost image encodes at the same B (1.25x), and a crossover
 * measured at a smaller model (d = 256, C = 4,096) sent both to tfjs.
 *
 * On a CPU backend a series stops once tfjs is more than 4x slower, or slower at two sizes in a row (the ratio holds
 * as the work grows there: tfjs-wasm measured 2.0-2.7x from B = 1 to 64 here), and the training series is skipped
 * when both encode series stopped so; a full calibration against tfjs-wasm took 3 min 40 s before that rule.
 */
export async function runCalibrate(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { quick: { type: 'boolean' }, backends: { type: 'string' }, tokens: { type: 'string' }, dim: { type: 'string' } },
  });
  const quick = values.quick === true;
  const C = intOption('--tokens', values.tokens, 1) ?? (quick ? 4096 : 16384);
  const dim = intOption('--dim', values.dim, 1) ?? (quick ? 256 : 512);
  const backends = values.backends?.split(',');
  const d = getDispatcher({ backends });
  const caps = await d.capabilities();
  if (!caps.tfjs.available) {
    process.stderr.write(`fdt calibrate: the tfjs engine is unavailable, nothing to compare:\n  ${caps.tfjs.error}\n`);
    return 1;
  }
  const batches = quick ? [1, 4, 16] : [1, 4, 16, 64];
  const trainBatches = quick ? [8] : [8, 32];
  const model = await FDT.create({ numTokens: C, dim, imageDim: IMAGE_DIM, textDim: TEXT_DIM, temperature: 1000, seed: 1, backends });
  const rng = new Rng(1);
  const gaussian = (n: number) => Float32Array.from({ length: n }, () => rng.normal());
  process.stdout.write(`calibrating on tfjs backend '${caps.tfjs.backend}' (${caps.tfjs.gpu ? 'GPU' : 'CPU'}${caps.tfjs.device ? `: ${caps.tfjs.device}` : ''}), d = ${dim}, C = ${C}\n`);

  const series: CostSeries[] = [];
  let cpuGaveUp = 0;
  const measure = async (s: CostSeries, sizes: number[], rowsPerItem: number, prepare: (B: number) => (engine: 'wasm' | 'tfjs') => Promise<unknown>) => {
    process.stdout.write(`${s.op === 'train' ? 'training gradients (49 patches + 77 slots)' : `encode, ${s.rows} rows per item`}:\n`);
    for (const B of sizes) {
      const call = prepare(B); // inputs made once, outside the timed calls
      const p: CostPoint = { B, flops: relevanceFlops(B, rowsPerItem, dim, C), wasmMs: await timeMs(() => call('wasm')), tfjsMs: await timeMs(() => call('tfjs')) };
      s.points.push(p);
      process.stdout.write(`  B = ${String(B).padStart(3)}  ${(p.flops / 1e9).toFixed(2).padStart(7)} GFLOP  wasm ${p.wasmMs.toFixed(1).padStart(8)} ms  tfjs ${p.tfjsMs.toFixed(1).padStart(8)} ms  tfjs/wasm ${(p.tfjsMs / p.wasmMs).toFixed(2)}\n`);
      const lostTwice = s.points.length >= 2 && s.points.slice(-2).every((x) => x.tfjsMs > x.wasmMs);
      if (!caps.tfjs.gpu && (p.tfjsMs > 4 * p.wasmMs || lostTwice)) {
        process.stdout.write(`  (a CPU backend, ${lostTwice ? 'slower at two sizes in a row' : 'more than 4x slower'}: its ratio holds as the work grows; larger batches not measured)\n`);
        cpuGaveUp++;
        break;
      }
    }
    series.push(s);
  };
  try {
    await measure({ op: 'encode', rows: IMAGE_ROWS, points: [] }, batches, IMAGE_ROWS, (B) => {
      const x = { data: gaussian(B * IMAGE_ROWS * IMAGE_DIM), shape: [B, IMAGE_ROWS, IMAGE_DIM] };
      return (engine) => model.encodeImage(x, { engine });
    });
    await measure({ op: 'encode', rows: TEXT_ROWS, points: [] }, batches, TEXT_ROWS, (B) => {
      const x = { data: gaussian(B * TEXT_ROWS * TEXT_DIM), shape: [B, TEXT_ROWS, TEXT_DIM] };
      return (engine) => model.encodeText(x, undefined, { engine });
    });
    if (cpuGaveUp < 2) {
      const batchOf = (B: number): Batch => ({
        patches: { data: gaussian(B * IMAGE_ROWS * IMAGE_DIM), shape: [B, IMAGE_ROWS, IMAGE_DIM] },
        tokens: { data: gaussian(B * TEXT_ROWS * TEXT_DIM), shape: [B, TEXT_ROWS, TEXT_DIM] },
      });
      // A batch whose relevance scores do not fit in one buffer of the tfjs backend is refused there (footprint.ts).
      const fits = trainBatches.filter((B) => batchBytes(model.config, B, IMAGE_ROWS, TEXT_ROWS) <= (caps.tfjs.maxBufferBytes ?? Infinity));
      for (const B of trainBatches.filter((b) => !fits.includes(b))) {
        process.stdout.write(`training gradients, B = ${B}: not measured (the batch's relevance scores are over the tfjs backend's largest buffer, ${caps.tfjs.maxBufferBytes} bytes)\n`);
      }
      await measure({ op: 'train', points: [] }, fits, IMAGE_ROWS + TEXT_ROWS, (B) => {
        const batch = batchOf(B);
        return (engine) => model.gradients(batch, { engine, inputs: false });
      });
    } else {
      process.stdout.write('training gradients: not measured (the CPU backend lost both encode series)\n');
    }
  } finally {
    model.dispose();
  }
  // The crossover, kept as a summary and for older readers: the first image-encode size from which tfjs wins at
  // every larger size measured.
  const image = series[0]!.points;
  let crossover = Infinity;
  for (let i = image.length - 1; i >= 0 && image[i]!.tfjsMs < image[i]!.wasmMs; i--) crossover = image[i]!.flops;
  const file = await writeCalibration({
    backend: caps.tfjs.backend,
    crossoverFlops: crossover,
    source: `calibrated ${new Date().toISOString().slice(0, 10)}`,
    size: `d = ${dim}, C = ${C}`,
    series,
    machine: `${os.cpus()[0]?.model ?? 'cpu'} x ${os.cpus().length}, ${caps.runtime}${caps.tfjs.device ? `, ${caps.tfjs.device}` : ''}`,
  });
  process.stdout.write(`image-encode crossover: ${Number.isFinite(crossover) ? `${(crossover / 1e9).toFixed(2)} GFLOP` : `never (the wasm engine won at every size)`}\nwrote ${file}\n`);
  return 0;
}

/** Median (the lower one of an even count) of a few timed calls after one warm-up (uploads, packing, kernel compilation); results are read back. */
async function timeMs(call: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await call();
  const reps = performance.now() - t0 > 1000 ? 2 : 4;
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    await call();
    ts.push(performance.now() - t);
  }
  return ts.sort((a, b) => a - b)[(reps - 1) >> 1]!;
}

