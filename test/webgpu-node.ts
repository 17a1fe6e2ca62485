// Run by test/webgpu.test.ts in a child Node process: the `webgpu` package (Dawn for Node) gives Node a WebGPU
// adapter, as bench/webgpu-node.ts installs it (Dawn's default backend, Vulkan on a Linux GPU machine; else OpenGL
// ES through EGL, surfaceless, on a machine without one); the tfjs engine runs a golden case on
// tfjs-backend-webgpu, then the upload check.
import { readFileSync } from 'node:fs';
import { installNodeWebGpu } from '../bench/webgpu-node.js';
import { verifyGolden } from '../src/verify/golden.js';
import { checkWebGpuTies } from './webgpu-ties-check.js';
import { checkWebGpuUpload } from './webgpu-upload-check.js';

const file = process.argv[2]!;
const why = await installNodeWebGpu();
const gpu = (globalThis as { navigator?: { gpu?: { requestAdapter(): Promise<{ info?: { description?: string } } | null> } } }).navigator?.gpu;
const adapter = gpu ? await gpu.requestAdapter() : null;
if (!adapter) {
  console.log(JSON.stringify({ skipped: why ?? 'the webgpu package found no adapter' }));
} else {
  const report = await verifyGolden(JSON.parse(readFileSync(file, 'utf8')), { engine: 'tfjs', backends: ['webgpu'] });
  const upload = await checkWebGpuUpload();
  const ties = await checkWebGpuTies();
  console.log(JSON.stringify({ adapter: adapter.info?.description ?? 'unknown', engine: report.engine, ok: report.ok, failed: report.fields.filter((f) => !f.ok).map((f) => f.field), upload, ties }));
}
process.exit(0);
