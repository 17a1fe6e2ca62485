// The relevance forward on 2 threads: the engine's claimed panel ranges (engine.parallel.relevance: the threads
// claim panels from an atomic counter, 32 claims per thread on average: 16 panels a claim at C = 16,384) against the
// scheme before them (one fixed half of the panels per thread, through the same pool), and the engine on one
// thread, timed call by call in rounds:
//
//   npx tsx bench/experiments/claimed-ranges.ts [--case b1-p49,b32-p49,demo] [--rounds 20]
//
// Each line prints the three medians (and minima) and their ratios. With the host at its speed the two schemes
// should time the same; when one vCPU is slowed (a co-tenant), the fixed halves wait for the slow thread.
import { numberArg, stringArg } from './args.js';
import { relevanceInputs, wasmRelevanceSetup } from '../relevance.js';
import { gridFor } from '../shapes.js';
import { createModel, threadedRelevanceRunner } from '../threads.js';
import { clearUpperVectorState } from '../../bindings/vector-state.js';
import type { KernelCall } from '../../bindings/pool.js';
import type { WasmEngine } from '../../src/engines/wasm/engine.js';

const rounds = numberArg('--rounds', 20);
const ids = (stringArg('--case') ?? 'b1-p49,b32-p49').split(',');
const median = (x: number[]) => [...x].sort((a, b) => a - b)[x.length >> 1]!;
for (const id of ids) {
  // 'demo': the demo's image batch (B = 128, C = 1,024, d = 128), not in the suite's grid.
  const s = id === 'demo' ? { ...gridFor('full').find((g) => g.id === 'small')!, id, B: 128, P: 49, d: 128, C: 1024 } : gridFor('full').find((g) => g.id === id);
  if (!s) throw new Error(`--case: no shape ${id}`);
  const cfg = { numTokens: s.C, dim: s.d, imageDim: 16, textDim: 16, temperature: 1, seed: 1, build: 'simd' as const };
  const one = await createModel({ ...cfg, threads: 1 });
  const two = await createModel({ ...cfg, threads: 2 });
  const { q, T } = relevanceInputs(s);
  const single = threadedRelevanceRunner(one, s, q, T);
  const claimed = threadedRelevanceRunner(two, s, q, T);
  // The fixed halves: f32_relevance_fwd_part over panels [0, P / 2) here and [P / 2, P) on the worker.
  const engine = two.wasm as unknown as WasmEngine;
  const mod = engine.mod;
  const setup = wasmRelevanceSetup(mod, s, q, T);
  const { q: qp, packed, R, ARG } = setup.buffers;
  const scratch = [0, 1].map(() => mod.arena.alloc(mod.k.relevance_scratch_bytes(s.P)));
  const panels = Math.ceil(s.C / 16);
  const half = Math.ceil(panels / 2);
  const local = ([name, args]: KernelCall) => (mod.k[name] as (...a: number[]) => void)(...args);
  const fixed = () => engine.workerPool!.run([0, 1].map((t): KernelCall[] => [['f32_relevance_fwd_part',
    [qp, s.B, s.P, s.d, packed, s.C, setup.scale, 0, 0, R, ARG, scratch[t]!, t * half, Math.min(panels, (t + 1) * half)]]]), local);
  const runs: [string, () => Promise<unknown>][] = [['1 thread', single.run], ['2, fixed halves', fixed], ['2, claimed', claimed.run]];
  for (let i = 0; i < 3; i++) for (const [, run] of runs) await run();
  const times: number[][] = runs.map(() => []);
  for (let i = 0; i < rounds; i++) {
    for (let j = 0; j < runs.length; j++) {
      clearUpperVectorState();
      const t0 = performance.now();
      await runs[j]![1]();
      times[j]!.push(performance.now() - t0);
    }
  }
  const m = times.map(median);
  console.log(`${id}, ${rounds} rounds: ${runs.map(([name], j) => `${name} ${m[j]!.toFixed(1)} ms (min ${Math.min(...times[j]!).toFixed(1)})`).join(', ')}; ` +
    `1 thread / fixed ${(m[0]! / m[1]!).toFixed(2)}x, 1 thread / claimed ${(m[0]! / m[2]!).toFixed(2)}x, fixed / claimed ${(m[1]! / m[2]!).toFixed(2)}x`);
  for (const p of scratch) mod.arena.free(p);
  setup.release();
  single.release();
  claimed.release();
  one.dispose();
  two.dispose();
}
process.exit(0);
