// Run by test/webgpu.test.ts under Deno: a text encode whose relevance scores [B, 77, 16384] are just over the WebGPU
// device's largest storage buffer, on the tfjs engine against the wasm engine. Before the engine split such batches
// into chunks, llvmpipe (128 MiB) returned wrong values from B = 27 without an error. Printed as one JSON line.
import { TfjsEngine } from '../src/engines/tfjs/engine.js';
import { itemBytes } from '../src/engines/tfjs/footprint.js';
import { FDT } from '../src/index.js';
import { Rng } from '../src/rng.js';
import { relativeError } from '../src/verify/golden.js';

const [C, L, d, width] = [16384, 77, 8, 10];
type Limits = { maxStorageBufferBindingSize: number; maxBufferSize: number };
const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<{ limits: Limits; info?: { description?: string } } | null> } }).gpu;
const adapter = gpu ? await gpu.requestAdapter() : null;
const engine = adapter ? await TfjsEngine.create({ backends: ['webgpu'] }) : null;
// tfjs asks for the adapter's own limits, so the engine's default must be the smaller of these two.
const limit = engine?.maxBufferBytes ?? 0;
if (!adapter || !engine) {
  console.log(JSON.stringify({ skipped: 'no WebGPU adapter in this Deno' }));
} else if (limit !== Math.min(adapter.limits.maxStorageBufferBindingSize, adapter.limits.maxBufferSize)) {
  console.log(JSON.stringify({ adapter: adapter.info?.description ?? 'unknown', limit, adapterLimits: adapter.limits, limitMismatch: true }));
} else if (!(limit <= 256 * 2 ** 20)) {
  console.log(JSON.stringify({ skipped: `the device's largest buffer is ${limit} bytes; this check needs one of at most 256 MiB`, applies: false }));
} else {
  const B = Math.floor(limit / itemBytes(C, d, L, width)) + 1;
  const model = await FDT.create({ numTokens: C, dim: d, imageDim: 12, textDim: width, seed: 1, backends: ['webgpu'] });
  const rng = new Rng(2);
  const x = Float32Array.from({ length: B * L * width }, () => rng.normal());
  const valid = Int32Array.from({ length: B * L }, (_, i) => (i % L < 40 + (Math.floor(i / L) % 30) ? 1 : 0));
  const t = await engine.encode(model, 'text', x, B, L, valid);
  const w = await (await import('../src/engines/registry.js')).getWasmEngine().then((e) => e.encode(model, 'text', x, B, L, valid));
  console.log(JSON.stringify({
    adapter: adapter.info?.description ?? 'unknown',
    limit, B, scoresBytes: B * L * C * 4,
    relevance: relativeError(t.relevance, w.relevance), embeddings: relativeError(t.embeddings, w.embeddings),
  }));
}
(globalThis as unknown as { Deno: { exit(c: number): never } }).Deno.exit(0);
