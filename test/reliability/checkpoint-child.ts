// Child process for the crash-safety test: trains a small FDT head and saves a training checkpoint to the same path
// again and again until it is killed. Prints "saved N" after each complete save.
import { Trainer } from '../../src/index.js';
import { FDT } from '../../src/fdt.js';

const path = process.argv[2]!;
const model = await FDT.create({ numTokens: 4096, dim: 64, imageDim: 16, textDim: 8, temperature: 1, seed: 1 });
const trainer = new Trainer(model);
const batch = {
  patches: { data: Float32Array.from({ length: 4 * 3 * 16 }, (_, i) => Math.sin(i)), shape: [4, 3, 16] },
  tokens: { data: Float32Array.from({ length: 4 * 2 * 8 }, (_, i) => Math.cos(i)), shape: [4, 2, 8] },
};
for (let n = 1; ; n++) {
  await trainer.stepOn(batch);
  await trainer.saveCheckpoint(path);
  process.stdout.write(`saved ${n}\n`);
}
