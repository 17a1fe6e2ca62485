// The wasm engine's one-thread relevance path (engine.parallel.relevance: arena scratch, the same kernel) against
// the bare kernel (bench/relevance.ts), at the paper shape with B = 1, timed call by call in rounds:
//
//   npx tsx bench/experiments/engine-overhead.ts [--rounds-s 6]
//
// First the two alone, then the two with a two-thread engine call in every round (as the thread suite interleaves
// its rows), to tell the path's own cost from what alternating with two-thread calls does to one-thread calls.
import { measureInterleaved } from '../harness.js';
import { HostSpeed } from '../host-speed.js';
import { instantiateKernels, relevanceInputs, wasmRelevanceRunner } from '../relevance.js';
import { GRID } from '../shapes.js';
import { createModel, threadedRelevanceRunner } from '../threads.js';
import { numberArg } from './args.js';

const budgetS = numberArg('--rounds-s', 6);
const s = GRID.find((g) => g.id === 'b1-p49')!;
const { q, T } = relevanceInputs(s);
const bare = wasmRelevanceRunner(await instantiateKernels('simd'), s, q, T);
const cfg = { numTokens: s.C, dim: s.d, imageDim: 16, textDim: 16, temperature: 1, seed: 1, build: 'simd' as const };
const one = await createModel({ ...cfg, threads: 1 });
const two = await createModel({ ...cfg, threads: 2 });
const engine1 = threadedRelevanceRunner(one, s, q, T);
const engine2 = threadedRelevanceRunner(two, s, q, T);
const probe = (await HostSpeed.create())!;
const opts = { budgetS, min: 20, max: 80, probe: () => probe.probe() };

const line = (what: string, t: { medianMs: number; minMs: number }, base?: { medianMs: number; minMs: number }): string =>
  `  ${what.padEnd(26)} median ${t.medianMs.toFixed(1).padStart(6)} ms, best ${t.minMs.toFixed(1).padStart(6)} ms` +
  (base ? `  (${(t.medianMs / base.medianMs).toFixed(3)}x / ${(t.minMs / base.minMs).toFixed(3)}x the bare kernel)` : '');

console.log(`relevance ${s.B}x${s.P}x${s.d}x${s.C}, rounds of ~${budgetS} s`);
const [a, b] = await measureInterleaved([bare, engine1.run], opts);
console.log('bare kernel and the one-thread engine path, alternating:');
console.log(line('bare kernel', a!));
console.log(line('engine path, 1 thread', b!, a!));
const [c, d, e] = await measureInterleaved([bare, engine1.run, engine2.run], opts);
console.log('the same with a two-thread engine call in every round:');
console.log(line('bare kernel', c!));
console.log(line('engine path, 1 thread', d!, c!));
console.log(line('engine path, 2 threads', e!, c!));
for (const r of [engine1, engine2]) r.release();
one.dispose();
two.dispose();
probe.release();
