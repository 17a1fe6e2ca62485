// What n cores give the micro-kernel when they all run it at once: n worker threads, each with an instance of the
// SIMD build on a memory of its own, run the in-L1 tile (tile_2x16 at K = 256 on a resident panel, as the ceiling
// suite does) for the same stretch of time, started together through an Atomics barrier. The sum of their GFLOP/s
// is the ceiling of n threads on this host, with nothing shared between them: no pool, no dictionary, no
// synchronisation. Against it, the relevance kernel's n-thread rows of the bench's threads suite say how much of the
// hardware the pool uses; against n x the 1-thread figure, it says what the host gives (shared cores, all-core
// clocks).
//
//   npx tsx bench/experiments/core-scaling.ts [--threads 1,2,4,8,16] [--ms 1500] [--rounds 3] [--numpy]
//
// Each thread count runs --rounds times, in rising order each round; a round's figure is the sum over its threads,
// and the row reports the median round with its slowest and fastest thread, and the sum over n times the
// per-thread rate at the smallest count (1 by default). --numpy adds the native reference: numpy's product of
// [1568, 512] by [512, 16384] float32 (the relevance GEMM at B = 32, P = 49) on n OpenBLAS threads (threadpoolctl),
// best of 5 after a warm-up, in a python3 child without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE. The workers start
// fresh, so no AVX upper state is left in use on them (docs/PERFORMANCE.md, "Dirty vector registers").
import { spawnSync } from 'node:child_process';
import process from 'node:process';
import { Worker } from 'node:worker_threads';
import { decodeBase64 } from '../../bindings/base64.js';
import { SIMD_WASM_BASE64 } from '../../bindings/wasm-bytes.generated.js';
import { flagArg, numberArg, stringArg } from './args.js';

const K = 256;
const FLOPS_PER_CALL = 2 * 2 * 16 * K;

// A worker: instantiate, lay out two rows and a 16-column panel of depth K in a page of its own, warm up, signal
// ready (cell 1), wait for the start (cell 0), run the tile in blocks of 1,000 calls for `ms`, report GFLOP/s.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { module, K, ms, sync } = workerData;
const e = new WebAssembly.Instance(module, {}).exports;
if (e.tile_set_broadcast) e.tile_set_broadcast(1);
const base = e.memory.grow(1) * 65536;
const f = new Float32Array(e.memory.buffer);
const rows = base, rows1 = base + K * 4, panel = base + 2 * K * 4, out = panel + K * 64;
for (let i = 0; i < 2 * K; i++) f[rows / 4 + i] = ((i * 7919) % 1000) / 1000 - 0.5;
for (let i = 0; i < 16 * K; i++) f[panel / 4 + i] = ((i * 104729) % 1000) / 1000 - 0.5;
for (let i = 0; i < 20000; i++) e.tile_2x16(rows, rows1, panel, K, out);
const cells = new Int32Array(sync);
Atomics.add(cells, 1, 1);
Atomics.notify(cells, 1);
Atomics.wait(cells, 0, 0);
let calls = 0;
const t0 = performance.now();
let t = t0;
while (t - t0 < ms) {
  for (let i = 0; i < 1000; i++) e.tile_2x16(rows, rows1, panel, K, out);
  calls += 1000;
  t = performance.now();
}
parentPort.postMessage(calls * ${FLOPS_PER_CALL} / ((t - t0) * 1e6));
`;

const threadCounts = (stringArg('--threads') ?? '1,2,4,8,16').split(',').map(Number).sort((a, b) => a - b);
const ms = numberArg('--ms', 1500);
const rounds = numberArg('--rounds', 3);
const module = await WebAssembly.compile(decodeBase64(SIMD_WASM_BASE64));

/** One run of n threads: each thread's GFLOP/s. */
async function run(n: number): Promise<number[]> {
  const sync = new SharedArrayBuffer(8);
  const cells = new Int32Array(sync);
  const workers = Array.from({ length: n }, () => new Worker(WORKER, { eval: true, workerData: { module, K, ms, sync } }));
  let failed: Error | null = null;
  const results = workers.map((w) => new Promise<number>((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', (e) => reject((failed = e)));
    w.once('exit', (code) => reject((failed ??= new Error(`a worker exited (code ${code}) before reporting`))));
  }));
  while (Atomics.load(cells, 1) < n) {
    if (failed) throw failed;
    await new Promise((r) => setTimeout(r, 5));
  }
  Atomics.store(cells, 0, 1);
  Atomics.notify(cells, 0);
  const rates = await Promise.all(results);
  await Promise.all(workers.map((w) => w.terminate()));
  return rates;
}

const byCount = new Map<number, number[][]>(threadCounts.map((n) => [n, []]));
for (let r = 0; r < rounds; r++) {
  for (const n of threadCounts) byCount.get(n)!.push(await run(n));
}
console.log(`in-L1 tile (K = ${K}) on n threads at once, each on its own instance; ${rounds} rounds of ${ms} ms, median round`);
console.log(`threads   sum GFLOP/s   per thread (slowest / fastest)   sum / (n x per-thread rate at n = ${threadCounts[0]})`);
let one = 0;
for (const n of threadCounts) {
  const runs = byCount.get(n)!.map((rates) => ({ sum: rates.reduce((a, b) => a + b, 0), rates }));
  runs.sort((a, b) => a.sum - b.sum);
  const mid = runs[runs.length >> 1]!;
  if (one === 0) one = mid.sum / n; // the first thread count's rate per thread
  const lo = Math.min(...mid.rates);
  const hi = Math.max(...mid.rates);
  console.log(`${String(n).padStart(7)}   ${mid.sum.toFixed(1).padStart(11)}   ${lo.toFixed(1).padStart(10)} / ${hi.toFixed(1).padEnd(19)}   ${(mid.sum / (n * one)).toFixed(2).padStart(8)}`);
}

if (flagArg('--numpy')) {
  const script = `
import time, numpy as np
from threadpoolctl import threadpool_limits
a = np.random.rand(1568, 512).astype(np.float32); b = np.random.rand(512, 16384).astype(np.float32)
for n in (${threadCounts.join(', ')},):
    with threadpool_limits(n):
        a @ b
        best = min((lambda t0: (a @ b, time.perf_counter() - t0)[1])(time.perf_counter()) for _ in range(5))
    print(f"  {n:2d} threads: {best * 1e3:7.1f} ms  {2 * 1568 * 512 * 16384 / best / 1e9:7.1f} GFLOP/s")
`;
  const env = { ...process.env };
  delete env['OPENBLAS_CORETYPE'];
  delete env['OPENBLAS_L2_SIZE'];
  console.log('numpy matmul [1568, 512] x [512, 16384] float32 on n OpenBLAS threads (best of 5)');
  const r = spawnSync('python3', ['-c', script], { env, encoding: 'utf8' });
  process.stdout.write(r.status === 0 ? r.stdout : `  not run: ${(r.stderr || String(r.error)).trim().split('\n').pop()}\n`);
}
process.exit(0);
