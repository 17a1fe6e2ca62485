/**
 * onnxruntime-web on N threads, in a process of its own: ort reads `env.wasm.numThreads` once, when it first
 * initialises its wasm module, so one process can only ever run one thread count. The bench's single-thread rows
 * run in the main process; rows on more threads run here.
 *
 *   <runtime> bench/peers/ort-child.ts '{"threads":2,"shapes":[{"id":"b1-p49","B":1,"P":49,"d":512,"C":16384}],
 *                                        "budgetS":4,"min":3,"max":30}'
 * prints one JSON line: { threads, info, results: [{ id, median_ms, samples, min_ms, max_ms }] }.
 */
import process from 'node:process';
import { measure } from '../harness.js';
import { relevanceInputs } from '../relevance.js';
import type { Shape } from '../shapes.js';
import { ortRelevanceRunner, type OrtInfo } from './onnx.js';

interface Request {
  threads: number;
  shapes: (Shape & { id: string })[];
  budgetS: number;
  min: number;
  max: number;
}

const req = JSON.parse(process.argv[2] ?? '{}') as Request;
const results: { id: string; median_ms: number; samples: number; min_ms: number; max_ms: number; others_load: number | null }[] = [];
let info: OrtInfo | null = null;
for (const s of req.shapes) {
  const { q, T } = relevanceInputs(s);
  const ort = await ortRelevanceRunner(s.B, s.P, s.d, s.C, q, T, req.threads);
  info = ort.info;
  const t = await measure(ort.run, { budgetS: req.budgetS, min: req.min, max: req.max });
  results.push({ id: s.id, median_ms: t.medianMs, samples: t.samples, min_ms: t.minMs, max_ms: t.maxMs, others_load: t.othersLoad });
  await ort.release();
}
process.stdout.write(`${JSON.stringify({ threads: req.threads, info, results })}\n`);
process.exit(0);
