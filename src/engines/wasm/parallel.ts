import type { KernelCall, WorkerPool } from '../../../bindings/pool.js';
import type { KernelModule } from '../../../bindings/kernels.js';
import type { Scope } from './scope.js';

// Below this many FLOPs a kernel runs on the calling thread: a round trip to the workers costs ~0.1 ms, about
// 1.5 MFLOP of kernel time here.
const MIN_PARALLEL_FLOPS = 4e6;

/**
 * Splits the two heavy kernels over the worker pool: GEMM by output rows, relevance by dictionary panels. Each
 * thread writes disjoint outputs with its own scratch, in the same order as one thread would, so results do not
 * depend on the thread count. Without a pool every call runs here, synchronously.
 */
export class Parallel {
  constructor(
    private readonly mod: KernelModule,
    private readonly pool: WorkerPool | null,
  ) {}

  get threads(): number {
    return this.pool?.size ?? 1;
  }

  /** f32_gemm, rows split across threads (row ranges of even length). */
  async gemm(
    s: Scope, A: number, M: number, K: number, lda: number, Bp: number, N: number, bias: number, C: number, ldc: number,
    accumulate: number,
  ): Promise<void> {
    const T = this.split(2 * M * K * N, Math.ceil(M / 2));
    const parts: KernelCall[][] = [];
    const per = Math.ceil(M / 2 / T) * 2;
    for (let t = 0, m0 = 0; t < T && m0 < M; t++, m0 += per) {
      const rows = Math.min(per, M - m0);
      parts.push([['f32_gemm', [A + m0 * lda * 4, rows, K, lda, Bp, N, bias, C + m0 * ldc * 4, ldc, accumulate, s.bytes(128)]]]);
    }
    await this.run(parts);
  }

  /** f32_relevance_fwd, dictionary panels split across threads. */
  async relevance(
    s: Scope, Q: number, B: number, L: number, d: number, Tp: number, C: number, scale: number, valid: number, mode: number,
    R: number, ARG: number,
  ): Promise<void> {
    const panels = Math.ceil(C / 16);
    const T = this.split(2 * B * L * d * C, panels);
    const per = Math.ceil(panels / T);
    const parts: KernelCall[][] = [];
    for (let t = 0, p0 = 0; t < T && p0 < panels; t++, p0 += per) {
      const scratch = s.bytes(this.mod.k.relevance_scratch_bytes(L));
      parts.push([['f32_relevance_fwd_part', [Q, B, L, d, Tp, C, scale, valid, mode, R, ARG, scratch, p0, Math.min(panels, p0 + per)]]]);
    }
    await this.run(parts);
  }

  private split(flops: number, units: number): number {
    if (!this.pool || flops < MIN_PARALLEL_FLOPS) return 1;
    return Math.max(1, Math.min(this.pool.size, units));
  }

  private async run(parts: KernelCall[][]): Promise<void> {
    const local = ([name, args]: KernelCall) => (this.mod.k[name] as (...a: number[]) => void)(...args);
    if (parts.length === 1 || !this.pool) {
      for (const p of parts) for (const c of p) local(c);
      return;
    }
    await this.pool.run(parts, local);
  }
}
