// Run by test/webgpu.test.ts in a child Node process: the `webgpu` package (Dawn for Node) gives Node a WebGPU
// adapter (OpenGL ES through EGL, surfaceless here); the tfjs engine runs a golden case on tfjs-backend-webgpu.
import { readFileSync } from 'node:fs';
import { verifyGolden } from '../src/verify/golden.js';
import { checkWebGpuUpload } from './webgpu-upload-check.js';

const file = process.argv[2]!;
const { create, globals } = await import('webgpu');
Object.assign(globalThis, globals);
const gpu = create(['backend=opengles']);
const request = gpu.requestAdapter.bind(gpu);
// Dawn's OpenGL ES backend serves the 'compatibility' feature level only.
gpu.requestAdapter = (o: object = {}) => request({ ...o, featureLevel: 'compatibility' } as never);
Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true });
const adapter = await gpu.requestAdapter();
if (!adapter) {
  console.log(JSON.stringify({ skipped: 'the webgpu package found no adapter' }));
} else {
  const report = await verifyGolden(JSON.parse(readFileSync(file, 'utf8')), { engine: 'tfjs', backends: ['webgpu'] });
  const upload = await checkWebGpuUpload();
  console.log(JSON.stringify({ adapter: adapter.info?.description ?? 'unknown', engine: report.engine, ok: report.ok, failed: report.fields.filter((f) => !f.ok).map((f) => f.field), upload }));
}
process.exit(0);
