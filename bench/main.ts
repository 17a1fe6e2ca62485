// `npm run bench`: the relevance kernel (fused GEMM + max over tokens) at the paper's shapes, single-threaded,
// for the SIMD build, the scalar build and a plain-JS loop, in one run. Prints GFLOP/s and ratios.
import os from 'node:os';
import { Bench } from 'tinybench';
import { instantiateKernels, plainJsRelevanceRunner, relevanceFlops, relevanceInputs, wasmRelevanceRunner, type RelevanceShape } from './relevance.js';

const SHAPES: RelevanceShape[] = [
  { B: 32, P: 49, d: 512, C: 16384 },
  { B: 1, P: 49, d: 512, C: 16384 },
];
/** Floor for the SIMD build at the first shape (single thread). */
const SIMD_FLOOR_GFLOPS = 35;

const quick = process.argv.includes('--quick');
const simd = await instantiateKernels('simd');
const scalar = await instantiateKernels('scalar');

interface Row { shape: string; impl: string; medianMs: number; gflops: number; samples: number }
const rows: Row[] = [];

for (const s of SHAPES) {
  const { q, T } = relevanceInputs(s);
  const flops = relevanceFlops(s);
  const label = `B=${s.B} P=${s.P} d=${s.d} C=${s.C}`;
  const slow = s.B * s.P > 256; // plain JS and scalar take seconds per call at B = 32: fewer samples
  const impls: [string, () => void, number][] = [
    ['wasm simd', wasmRelevanceRunner(simd, s, q, T), quick ? 3 : 10],
    ['wasm scalar', wasmRelevanceRunner(scalar, s, q, T), slow ? 2 : 5],
    ['plain js', plainJsRelevanceRunner(s, q, T), slow ? 1 : 3],
  ];
  for (const [impl, fn, iterations] of impls) {
    const bench = new Bench({ iterations, time: 0, warmupIterations: 1, warmupTime: 0 });
    bench.add(impl, fn);
    await bench.run();
    const task = bench.tasks[0]!;
    const res = task.result as unknown as { latency: { p50: number; samplesCount?: number; samples?: number[] } };
    const medianMs = res.latency.p50;
    rows.push({ shape: label, impl, medianMs, gflops: flops / (medianMs * 1e6), samples: iterations });
    process.stderr.write(`  ${label}  ${impl}: ${medianMs.toFixed(1)} ms\n`);
  }
}

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
console.log(`\nrelevance kernel, 1 thread — ${cpu}, ${os.cpus().length} cores, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}`);
console.log(`${'shape'.padEnd(28)} ${'impl'.padEnd(12)} ${'median ms'.padStart(10)} ${'GFLOP/s'.padStart(8)} ${'vs simd'.padStart(8)}`);
for (const r of rows) {
  const base = rows.find((x) => x.shape === r.shape && x.impl === 'wasm simd')!;
  console.log(`${r.shape.padEnd(28)} ${r.impl.padEnd(12)} ${r.medianMs.toFixed(1).padStart(10)} ${r.gflops.toFixed(1).padStart(8)} ${(r.medianMs / base.medianMs).toFixed(1).padStart(7)}x`);
}
const first = rows.find((r) => r.impl === 'wasm simd')!;
const pass = first.gflops >= SIMD_FLOOR_GFLOPS;
console.log(`\nwasm simd at ${first.shape}: ${first.gflops.toFixed(1)} GFLOP/s (floor ${SIMD_FLOOR_GFLOPS}): ${pass ? 'pass' : 'SHORT'}`);
