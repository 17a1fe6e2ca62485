// The tfjs engine on this machine's WebGPU against the wasm engine at the paper's shapes (d = 512, C = 16,384):
// the device's largest buffer, how many chunks each encode takes under it, and each output's worst error as
// `fdt verify` measures it (max |tfjs - wasm| / max(1, max |wasm|)), with the rows whose active-token count differs.
//
//   deno run -A --sloppy-imports bench/experiments/webgpu-parity.ts     Deno's WebGPU (wgpu)
//   npx tsx bench/experiments/webgpu-parity.ts                          Node, the `webgpu` package (Dawn)
//   ... --quick                                                          one image and two captions only
import process from 'node:process';
import { TfjsEngine } from '../../src/engines/tfjs/engine.js';
import { itemBytes } from '../../src/engines/tfjs/footprint.js';
import { getWasmEngine } from '../../src/engines/registry.js';
import type { EncodeOutput } from '../../src/engines/types.js';
import { FDT } from '../../src/fdt.js';
import { Rng } from '../../src/rng.js';
import { relativeError } from '../../src/verify/golden.js';
import { installNodeWebGpu } from '../webgpu-node.js';

if (typeof (globalThis as { Deno?: unknown }).Deno === 'undefined') {
  const why = await installNodeWebGpu();
  if (why) console.log(why);
}
const tfjs = await TfjsEngine.create({ backends: ['webgpu'] });
const wasm = await getWasmEngine();
const D = { numTokens: 16384, dim: 512, imageDim: 768, textDim: 512, temperature: 1000, seed: 1 };
const model = await FDT.create(D);
console.log(`tfjs ${tfjs.backend} on ${tfjs.device?.description ?? 'an unknown device'}; largest buffer ${tfjs.maxBufferBytes} bytes`);

const rng = new Rng(7);
console.log('modality  B    L   chunks   relevance  embeddings  weights    rows with another active count');
const shapes = [['image', 1, 49, 768], ['image', 32, 49, 768], ['image', 256, 49, 768], ['text', 32, 77, 512]] as const;
for (const [modality, B, L, width] of process.argv.includes('--quick') ? [shapes[0], ['text', 2, 77, 512] as const] : shapes) {
  const x = Float32Array.from({ length: B * L * width }, () => rng.normal());
  const valid = modality === 'text' ? Int32Array.from({ length: B * L }, (_, i) => (i % L < 8 + ((i / L) | 0) % 60 ? 1 : 0)) : null;
  const chunks = Math.ceil(B / Math.max(1, Math.floor(tfjs.maxBufferBytes / itemBytes(D.numTokens, D.dim, L, width))));
  const t: EncodeOutput = await tfjs.encode(model, modality, x, B, L, valid);
  const w: EncodeOutput = await wasm.encode(model, modality, x, B, L, valid);
  const counts = Array.from(t.activeCounts).filter((c, i) => c !== w.activeCounts[i]).length;
  console.log(`${modality.padEnd(8)} ${String(B).padStart(3)}  ${String(L).padStart(3)}  ${String(chunks).padStart(6)}   ${relativeError(t.relevance, w.relevance).toExponential(2)}   ${relativeError(t.embeddings, w.embeddings).toExponential(2)}   ${relativeError(t.weights, w.weights).toExponential(2)}   ${counts} of ${B}`);
}
process.exit(0);
