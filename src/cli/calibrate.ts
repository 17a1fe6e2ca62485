import os from 'node:os';
import { parseArgs } from 'node:util';
import { getDispatcher } from '../dispatch/dispatcher.js';
import { relevanceFlops } from '../dispatch/policy.js';
import { writeCalibration, type CalibrationFile } from '../dispatch/thresholds.js';
import { FDT } from '../fdt.js';
import { Rng } from '../rng.js';

/**
 * `fdt calibrate [--quick] [--backends a,b]`: times an image encode on the wasm and the tfjs engine over growing
 * batches and stores the crossover (the smallest work from which tfjs is faster at every larger size measured) in
 * the per-user thresholds file that the dispatcher reads.
 */
export async function runCalibrate(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { quick: { type: 'boolean' }, backends: { type: 'string' } } });
  const d = getDispatcher({ backends: values.backends?.split(',') });
  const caps = await d.capabilities();
  if (!caps.tfjs.available) {
    process.stderr.write(`fdt calibrate: the tfjs engine is unavailable, nothing to compare:\n  ${caps.tfjs.error}\n`);
    return 1;
  }
  const dim = 256;
  const C = values.quick ? 1024 : 4096;
  const N = 49;
  const batches = values.quick ? [1, 4, 16] : [1, 4, 16, 64];
  const model = await FDT.create({ numTokens: C, dim, imageDim: 64, textDim: 32, temperature: 0.1, seed: 1, backends: values.backends?.split(',') });
  const rng = new Rng(1);
  const measured: CalibrationFile['measured'] = [];
  process.stdout.write(`calibrating on tfjs backend '${caps.tfjs.backend}' (${caps.tfjs.gpu ? 'GPU' : 'CPU'}), d = ${dim}, C = ${C}, N = ${N}\n`);
  for (const B of batches) {
    const x = { data: Float32Array.from({ length: B * N * 64 }, () => rng.normal()), shape: [B, N, 64] };
    const time = async (engine: 'wasm' | 'tfjs') => {
      await model.encodeImage(x, { engine }); // warm-up: uploads, packing, kernel compilation
      const reps = B >= 16 ? 2 : 4;
      const ts: number[] = [];
      for (let i = 0; i < reps; i++) {
        const t0 = performance.now();
        await model.encodeImage(x, { engine }); // results are read back (async data()), so GPU time is included
        ts.push(performance.now() - t0);
      }
      return ts.sort((a, b) => a - b)[Math.floor(ts.length / 2)]!;
    };
    const wasmMs = await time('wasm');
    const tfjsMs = await time('tfjs');
    const flops = relevanceFlops(B, N, dim, C);
    measured.push({ B, flops, wasmMs, tfjsMs });
    process.stdout.write(`  B = ${String(B).padStart(3)}  ${(flops / 1e9).toFixed(2).padStart(6)} GFLOP  wasm ${wasmMs.toFixed(1).padStart(8)} ms  tfjs ${tfjsMs.toFixed(1).padStart(8)} ms\n`);
  }
  model.dispose();
  // The crossover: the first size from which tfjs wins at every larger size.
  let crossover = Infinity;
  for (let i = measured.length - 1; i >= 0 && measured[i]!.tfjsMs < measured[i]!.wasmMs; i--) crossover = measured[i]!.flops;
  const file = await writeCalibration({
    backend: caps.tfjs.backend,
    crossoverFlops: crossover,
    source: `calibrated ${new Date().toISOString().slice(0, 10)}`,
    measured,
    machine: `${os.cpus()[0]?.model ?? 'cpu'} x ${os.cpus().length}, ${caps.runtime}`,
  });
  process.stdout.write(`crossover: ${Number.isFinite(crossover) ? `${(crossover / 1e9).toFixed(2)} GFLOP` : `never (the wasm engine won at every size)`}\nwrote ${file}\n`);
  return 0;
}
