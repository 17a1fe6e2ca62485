// A paper-scale training gradient on captions with padding, as real captions have it: the query MLP running on the
// real slots only (the default) against running it on every slot (what `trace: true` does, since the trace returns
// every slot's query), interleaved call by call.
//
//   npx tsx bench/experiments/padded-captions.ts [--threads N] [--rounds N] [--min-len A] [--max-len B]
//
// Caption lengths are drawn uniformly from [A, B] real slots of 77 (default 8-24, about what CLIP's tokenizer gives
// for COCO-style captions); 32 images x 49 x 768, d = 512, C = 16,384, sparsemax at temperature 1000.
import process from 'node:process';
import { FDT } from '../../src/fdt.js';
import { Rng } from '../../src/rng.js';
import { PAPER } from '../shapes.js';
import { PAPER_CONFIG, paperBatch } from '../suites/training.js';
import { numberArg } from './args.js';

const threads = numberArg('--threads', 1);
const rounds = numberArg('--rounds', 3);
const [lo, hi] = [numberArg('--min-len', 8), numberArg('--max-len', 24)];
const fdt = await FDT.create({ ...PAPER_CONFIG, engine: 'wasm', threads });
const batch = paperBatch();
const rng = new Rng(5);
const L = PAPER.captionSlots;
let real = 0;
for (let b = 0; b < PAPER.batch; b++) {
  const n = lo + Math.floor(rng.uniform() * (hi - lo + 1));
  real += n;
  for (let l = 0; l < L; l++) batch.valid.data[b * L + l] = l < n ? 1 : 0;
}
console.log(`${PAPER.batch} captions, ${real} of ${PAPER.batch * L} slots real (${((100 * real) / (PAPER.batch * L)).toFixed(1)}%), ${threads} thread(s)`);
const variants = { 'real slots only': {}, 'every slot (trace)': { trace: true } } as const;
const times: Record<string, number[]> = { 'real slots only': [], 'every slot (trace)': [] };
for (const [, o] of Object.entries(variants)) await fdt.gradients(batch, { ...o, inputs: false }); // warm-up
for (let r = 0; r < rounds; r++) {
  const order = Object.entries(variants);
  for (const [name, o] of r % 2 ? order.reverse() : order) {
    const t = performance.now();
    await fdt.gradients(batch, { ...o, inputs: false });
    times[name]!.push(performance.now() - t);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
for (const [name, xs] of Object.entries(times)) console.log(`  ${name.padEnd(20)} median ${median(xs).toFixed(0).padStart(6)} ms   (${xs.map((x) => x.toFixed(0)).join(', ')})`);
console.log(`  every slot / real slots only: ${(median(times['every slot (trace)']!) / median(times['real slots only']!)).toFixed(2)}x`);
fdt.dispose();
process.exit(0);
