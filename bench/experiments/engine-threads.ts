// The engine's thread scaling in whichever runtime imports this file (Node, or a cross-origin-isolated browser page
// bundled by bench/experiments/browsers.ts, where the pool is Web Workers on a shared memory): encodeImage of B = 8
// images x 49 patches at d = 512, C = 16,384 (imageDim 16, so the relevance forward is ~99% of the FLOPs), on a
// model with one thread and one with two, timed in interleaved rounds (bench/rounds.ts).
// Nothing here imports a Node module.
import { FDT } from '../../src/fdt.js';
import { median, sameBits, timeRounds } from '../rounds.js';

export interface ThreadScaling {
  /** Threads the two-thread model got (1 where the runtime has no SharedArrayBuffer or workers). */
  threads: number;
  /** Median and fastest call, ms, of each model. */
  one: { medianMs: number; minMs: number };
  two: { medianMs: number; minMs: number };
  /** One thread's time over two threads', from the medians and from the fastest calls. */
  speedup: number;
  bestSpeedup: number;
  /** The two models' embeddings are the same bits. */
  sameBits: boolean;
}

const [B, P, D, C, DIN, ROUNDS] = [8, 49, 512, 16384, 16, 9];

export async function measureThreadScaling(): Promise<ThreadScaling> {
  const config = { numTokens: C, dim: D, imageDim: DIN, textDim: 16, temperature: 1, seed: 1, build: 'simd' as const };
  const one = await FDT.create({ ...config, threads: 1 });
  const two = await FDT.create({ ...config, threads: 2 }).catch(() => FDT.create(config));
  try {
    const patches = { data: Float32Array.from({ length: B * P * DIN }, (_, i) => Math.sin(i * 0.37)), shape: [B, P, DIN] };
    const models = [one, two];
    const outs = await Promise.all(models.map((m) => m.encodeImage(patches)));
    const times = await timeRounds(models.map((m) => () => m.encodeImage(patches)), ROUNDS);
    const [a, b] = [outs[0]!.embeddings, outs[1]!.embeddings];
    const stat = (t: number[]) => ({ medianMs: median(t), minMs: Math.min(...t) });
    const [s1, s2] = [stat(times[0]!), stat(times[1]!)];
    return {
      threads: two.threads,
      one: s1,
      two: s2,
      speedup: s1.medianMs / s2.medianMs,
      bestSpeedup: s1.minMs / s2.minMs,
      sameBits: sameBits(a, b),
    };
  } finally {
    one.dispose();
    two.dispose();
  }
}
