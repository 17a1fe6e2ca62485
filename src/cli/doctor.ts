import { relaxedSimdSupported, sharedMemoryIsFaster } from '../../bindings/kernels.js';
import { clearsVectorState, vectorStateNotCleared } from '../../bindings/vector-state.js';
import { parseArgs } from 'node:util';
import { getDispatcher } from '../dispatch/dispatcher.js';
import { relevanceFlops, type Work } from '../dispatch/policy.js';
import { thresholdsPath } from '../dispatch/thresholds.js';
import { DEFAULT_CONFIG } from '../config.js';
import { batchBytes, itemBytes } from '../engines/tfjs/footprint.js';

export const DOCTOR_USAGE = `fdt doctor [--backends a,b]

Prints the runtime's capabilities (WebAssembly SIMD, relaxed SIMD, threads), the engines that can run and why not,
the dispatcher's thresholds in force, and its decision for a few sizes.

  --backends a,b   the tfjs backends to try, in order (e.g. webgpu,wasm)
`;

/** `fdt doctor [--backends a,b]`: capabilities, engines, the calibration in force, and the decision for a few sizes. */
export async function runDoctor(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { backends: { type: 'string' } } });
  const d = getDispatcher({ backends: values.backends?.split(',') });
  const wasm = await d.wasm();
  const caps = await d.capabilities();
  const cal = await d.calibration();
  const out: string[] = [];
  out.push(`runtime        ${caps.runtime}`);
  out.push(`wasm engine    ready, ${wasm.build} build (WebAssembly SIMD ${caps.wasmSimd ? 'supported' : 'not supported: scalar build'})`);
  out.push(relaxedSimdSupported()
    ? `relaxed SIMD   supported: build 'relaxed' (fused multiply-add, 1.3-1.5x on the GEMMs; last bits differ) is available`
    : `relaxed SIMD   not supported here (Node 20: --experimental-wasm-relaxed-simd); the 'relaxed' build cannot run`);
  out.push(`threads        ${caps.threads ? 'workers + SharedArrayBuffer available' : 'unavailable'}; the wasm engine runs on ${wasm.threads} thread${wasm.threads === 1 ? '' : 's'}`);
  if (sharedMemoryIsFaster()) {
    out.push('wasm memory    shared, on every thread count: this runtime checks wasm bounds in code, which costs less on a shared memory');
  }
  const notCleared = vectorStateNotCleared();
  if (clearsVectorState()) {
    out.push('vector state   cleared before every wasm engine call: Node leaves the AVX upper halves in use after large base64 work, which slowed wasm SIMD by 11-13%');
  } else if (notCleared) {
    out.push(`vector state   not cleared (${notCleared}): wasm SIMD runs 11-13% slower on a thread after large base64 work`);
  }
  if (caps.tfjs.available) {
    const kind = caps.tfjs.gpu ? 'GPU' : caps.tfjs.softwareDevice ? 'a software device: CPU, no GPU' : 'CPU, no GPU';
    out.push(`tfjs engine    ready on backend '${caps.tfjs.backend}' (${kind})${caps.tfjs.device ? `, device: ${caps.tfjs.device}` : ''}`);
    if (caps.tfjs.maxBufferBytes !== undefined) {
      out.push(`               largest buffer ${(caps.tfjs.maxBufferBytes / 2 ** 20).toFixed(1)} MiB: encodes run in chunks of items under it, larger loss and training batches on wasm`);
    }
  } else {
    out.push(`tfjs engine    unavailable:`);
    for (const line of (caps.tfjs.error ?? '').split(/\n|; (?=\S+:)/)) if (line.trim()) out.push(`                 ${line.trim()}`);
  }
  out.push(`thresholds     ${cal ? `${cal.source}, backend '${cal.backend}'${cal.size ? `, at ${cal.size}` : ''}, image-encode crossover ${Number.isFinite(cal.crossoverFlops) ? `${(cal.crossoverFlops / 1e9).toFixed(2)} GFLOP` : 'never'}` : 'defaults (run `fdt calibrate` to measure this machine)'}`);
  for (const s of cal?.series ?? []) {
    const ratios = s.points.map((p) => `B=${p.B} ${(p.tfjsMs / p.wasmMs).toFixed(2)}`).join(', ');
    out.push(`               ${s.op === 'train' ? 'train' : `encode ${s.rows} rows`}: tfjs/wasm time ${ratios}`);
  }
  out.push(`               file: ${(await thresholdsPath()) ?? 'none (no file system)'}`);
  const paper = DEFAULT_CONFIG;
  out.push('', `decisions (auto) at the paper scale d = ${paper.dim}, C = ${paper.numTokens}:`);
  const image = itemBytes(paper.numTokens, paper.dim, 49, paper.imageDim);
  const caption = itemBytes(paper.numTokens, paper.dim, 77, paper.textDim);
  const sizes: [string, Work][] = [
    ['encode 1 image (49 patches)', { op: 'encode', flops: relevanceFlops(1, 49, paper.dim, paper.numTokens), rows: 49, bytes: image }],
    ['encode 32 images', { op: 'encode', flops: relevanceFlops(32, 49, paper.dim, paper.numTokens), rows: 49, bytes: image }],
    ['encode 32 captions (77 slots)', { op: 'encode', flops: relevanceFlops(32, 77, paper.dim, paper.numTokens), rows: 77, bytes: caption }],
    ['train step, B = 32 (49 patches + 77 slots)', { op: 'train', flops: relevanceFlops(32, 126, paper.dim, paper.numTokens), bytes: batchBytes(paper, 32, 49, 77) }],
    ['train step, B = 256', { op: 'train', flops: relevanceFlops(256, 126, paper.dim, paper.numTokens), bytes: batchBytes(paper, 256, 49, 77) }],
  ];
  for (const [label, work] of sizes) {
    const { flops } = work;
    const r = await d.engineFor(work);
    out.push(`  ${label.padEnd(44)} ${(flops / 1e9).toFixed(1).padStart(7)} GFLOP -> ${r.decision.engine.padEnd(5)} ${r.decision.reason}`);
  }
  process.stdout.write(out.join('\n') + '\n');
  return 0;
}
