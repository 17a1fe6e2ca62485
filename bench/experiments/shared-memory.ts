// The plain build against its shared-memory twin, both on one thread, in this runtime: the in-L1 tile and the
// relevance forward, timed call by call in rounds. Under Deno, which leaves V8's wasm bounds checks in the code, the
// twin is faster, so instantiateKernels picks it there (bindings/kernels.ts, `sharedMemoryIsFaster`).
//
//   npx tsx bench/experiments/shared-memory.ts [--B 1]
//   deno run -A --sloppy-imports bench/experiments/shared-memory.ts;  bun bench/experiments/shared-memory.ts
import process from 'node:process';
import { instantiateKernels } from '../../bindings/kernels.js';
import { detectRuntime } from '../../src/runtime.js';
import { measureInterleaved } from '../harness.js';
import { residentTile } from '../host-speed.js';
import { relevanceInputs, wasmRelevanceSetup } from '../relevance.js';
import { numberArg } from './args.js';

const s = { B: numberArg('--B', 1), P: 49, d: 512, C: 16384 };
const plain = await instantiateKernels('simd', false);
const twin = await instantiateKernels('simd', true);
if (!(twin.k.memory.buffer instanceof SharedArrayBuffer)) throw new Error('no shared memory could be made here');
const tiles = [residentTile(plain, 256)!, residentTile(twin, 256)!];
const calls = 20000;
const t = await measureInterleaved(tiles.map((x) => () => x.run(calls)), { budgetS: 3, min: 10, max: 40 });
const gf = (ms: number) => ((tiles[0]!.flopsPerCall * calls) / (ms * 1e6)).toFixed(1);
console.log(`${detectRuntime()}: in-L1 tile, plain ${gf(t[0]!.medianMs)} GFLOP/s, shared-memory twin ${gf(t[1]!.medianMs)} GFLOP/s`);
const { q, T } = relevanceInputs(s);
const runs = [wasmRelevanceSetup(plain, s, q, T), wasmRelevanceSetup(twin, s, q, T)];
const r = await measureInterleaved(runs.map((x) => x.run), { budgetS: 4, min: 5, max: 20 });
console.log(`${detectRuntime()}: relevance B = ${s.B}, plain ${r[0]!.medianMs.toFixed(1)} ms, shared-memory twin ${r[1]!.medianMs.toFixed(1)} ms (one thread each)`);
process.exit(0);

