// Run by test/webgpu.test.ts under Deno: a golden case through the tfjs engine on the WebGPU backend (Deno's
// navigator.gpu; a software adapter on GPU-less machines), printed as one JSON line.
import { readFileSync } from 'node:fs';
import { FDT } from '../src/index.js';
import { verifyGolden } from '../src/verify/golden.js';
import { checkWebGpuTies } from './webgpu-ties-check.js';
import { checkWebGpuUpload } from './webgpu-upload-check.js';

const file = (globalThis as unknown as { Deno: { args: string[] } }).Deno.args[0]!;
const doc = JSON.parse(readFileSync(file, 'utf8'));
const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<{ info?: { description?: string } } | null> } }).gpu;
const adapter = gpu ? await gpu.requestAdapter() : null;
if (!adapter) {
  console.log(JSON.stringify({ skipped: 'no WebGPU adapter in this Deno' }));
} else {
  const report = await verifyGolden(doc, { engine: 'tfjs', backends: ['webgpu'] });
  const m = await FDT.create({ numTokens: 64, dim: 8, imageDim: 12, textDim: 10, engine: 'tfjs', backends: ['webgpu'], seed: 1 });
  await m.encodeImage({ data: new Float32Array(2 * 5 * 12).fill(0.5), shape: [2, 5, 12] });
  const upload = await checkWebGpuUpload();
  const ties = await checkWebGpuTies();
  console.log(JSON.stringify({ adapter: adapter.info?.description ?? 'unknown', engine: report.engine, ok: report.ok, failed: report.fields.filter((f) => !f.ok).map((f) => f.field), lastEngine: m.lastEngine, upload, ties }));
}
