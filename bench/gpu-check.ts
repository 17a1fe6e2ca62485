// The GPU check: the tfjs engine on a GPU backend beside the wasm engine, at the paper's shapes, on any machine:
//
//   npx tsx bench/gpu-check.ts                         Node: tfjs-node-gpu if installed, else the `webgpu` package
//   npx tsx bench/gpu-check.ts --backend webgpu        Node, WebGPU through the `webgpu` package (Dawn)
//   deno run -A --sloppy-imports bench/gpu-check.ts    Deno's own WebGPU
//   ... --quick                                        B = 1 and 8 only, no training step
//   ... --calibrate                                    then calibrate the dispatcher for this backend (`fdt calibrate`)
//   ... --golden DIR                                   the official golden files (default ../shared/golden)
//
// It prints which backend and device tfjs runs on (a software adapter such as llvmpipe or SwiftShader is named as
// such: the dispatcher does not treat it as a GPU), then the parity of the tfjs engine there with the official
// goldens (every intermediate, output and gradient, as `fdt verify` checks them), then per batch size the
// relevance-dominated image encode ([B, 49, 768] patches, d = 512, C = 16,384) on both engines with GFLOP/s of the
// relevance work, then one training gradient at the paper's batch (32 images, 32 captions of 77 slots) on both
// engines. Results are read back to the host on every call, so GPU time is included. Exit 1 when no tfjs GPU backend
// could be initialised or a golden field is out of tolerance.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import type { Capabilities } from '../src/dispatch/policy.js';
import { FDT } from '../src/fdt.js';
import { Rng } from '../src/rng.js';
import { FLOAT32_RTOL, verifyGolden } from '../src/verify/golden.js';
import { paperBatch } from './suites/training.js';
import { installNodeWebGpu } from './webgpu-node.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const calibrate = args.includes('--calibrate');
const bi = args.indexOf('--backend');
const wanted = bi >= 0 ? [args[bi + 1]!] : ['tfjs-node-gpu', 'webgpu', 'webgl'];

const isDeno = typeof (globalThis as { Deno?: unknown }).Deno !== 'undefined';
if (!isDeno && wanted.includes('webgpu')) {
  const why = await installNodeWebGpu(); // Node: WebGPU through the `webgpu` package (Dawn); a missing one is not fatal
  if (why) console.log(`(${why})`);
}

const D = { numTokens: 16384, dim: 512, imageDim: 768, textDim: 512, temperature: 1000, seed: 1 };
const fdt = await FDT.create({ ...D, backends: wanted });
let tfjsLabel: string;
try {
  await fdt.to('tfjs');
  await fdt.encodeImage({ data: new Float32Array(49 * 768), shape: [1, 49, 768] });
  tfjsLabel = fdt.lastEngine;
} catch (e) {
  console.log(`no tfjs GPU backend (tried ${wanted.join(', ')}): ${(e as Error).message.split('\n').slice(0, 3).join(' ')}`);
  process.exit(1);
}
await fdt.to('auto');
const caps = await (fdt as unknown as { dispatcher: { capabilities(): Promise<Capabilities> } }).dispatcher.capabilities();
console.log(`tfjs engine: ${tfjsLabel}${caps.tfjs.device ? `, device: ${caps.tfjs.device}` : ''}${caps.tfjs.softwareDevice ? ' (software: a CPU implementation, not a GPU)' : ''}`);
console.log(`wasm engine: ${fdt.build} build, ${fdt.threads} thread(s)`);

// Parity before speed: the official goldens through the tfjs engine on this backend, at `fdt verify`'s tolerance.
const gi = args.indexOf('--golden');
const goldenDir = gi >= 0 ? args[gi + 1]! : path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'shared', 'golden');
let parityFailed = false;
if (existsSync(goldenDir)) {
  console.log(`\ngolden parity of the tfjs engine on this backend (|error| <= ${FLOAT32_RTOL} * max(1, max |expected|) per field):`);
  for (const file of readdirSync(goldenDir).filter((f) => /^fdt_head_.*\.json$/.test(f)).sort()) {
    const rep = await verifyGolden(JSON.parse(readFileSync(path.join(goldenDir, file), 'utf8')), { engine: 'tfjs', backends: wanted });
    const compared = rep.fields.filter((f) => !f.skipped);
    const worst = compared.reduce((a, f) => (f.maxAbs / f.allowed > a.maxAbs / a.allowed ? f : a));
    console.log(`  ${file.padEnd(36)} ${rep.ok ? 'PASS' : 'FAIL'}  ${compared.length} fields on ${rep.engine}, worst ${(worst.maxAbs / worst.allowed).toFixed(3)} of the allowed error (${worst.field})`);
    for (const f of rep.fields.filter((x) => !x.ok)) console.log(`    ${f.field}: max |error| ${f.maxAbs.toExponential(2)} > ${f.allowed.toExponential(2)}`);
    parityFailed ||= !rep.ok;
  }
} else {
  console.log(`\n(no golden files at ${goldenDir}: parity not checked; --golden DIR names them)`);
}

async function median(f: () => Promise<unknown>, reps: number): Promise<number> {
  await f();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    await f();
    ts.push(performance.now() - t);
  }
  return ts.sort((a, b) => a - b)[reps >> 1]!;
}

/** A failed tfjs call (a GPU out of memory, a buffer over the device's limits) is printed and the check goes on. */
function failed(e: unknown): null {
  console.log(`  failed: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}`);
  return null;
}

console.log('\nimage encode [B, 49, 768] (relevance work 2 B 49 d C):');
console.log('   B   relevance GFLOP   wasm ms  GFLOP/s    tfjs ms  GFLOP/s   tfjs / wasm time');
const rng = new Rng(3);
for (const B of quick ? [1, 8] : [1, 8, 32, 128, 256]) {
  const x = { data: Float32Array.from({ length: B * 49 * 768 }, () => rng.normal()), shape: [B, 49, 768] };
  const flops = 2 * B * 49 * D.dim * D.numTokens;
  const reps = B >= 32 ? 3 : 5;
  const w = await median(() => fdt.encodeImage(x, { engine: 'wasm' }), reps);
  const t = await median(() => fdt.encodeImage(x, { engine: 'tfjs' }), reps).catch(failed);
  if (t === null) continue;
  console.log(`${String(B).padStart(4)}   ${(flops / 1e9).toFixed(1).padStart(15)}  ${w.toFixed(1).padStart(8)}  ${(flops / w / 1e6).toFixed(1).padStart(7)}  ${t.toFixed(1).padStart(9)}  ${(flops / t / 1e6).toFixed(1).padStart(7)}   ${(t / w).toFixed(2).padStart(8)}x`);
}

if (!quick) {
  console.log('\ntraining gradient at the paper batch (32 images x 49 x 768, 32 captions x 77 x 512), forward + backward:');
  const batch = paperBatch();
  for (const e of ['wasm', 'tfjs'] as const) {
    const ms = await median(() => fdt.gradients(batch, { engine: e, inputs: false }), 2).catch(failed);
    if (ms !== null) console.log(`  ${e.padEnd(5)} ${ms.toFixed(0).padStart(7)} ms`);
  }
}
fdt.dispose();

if (calibrate) {
  const { runCalibrate } = await import('../src/cli/calibrate.js');
  const rc = await runCalibrate(['--backends', wanted.join(',')]);
  process.exit(parityFailed ? 1 : rc);
}
process.exit(parityFailed ? 1 : 0);
