import type { KernelCall, WorkerPool } from '../../../bindings/pool.js';
import type { KernelModule } from '../../../bindings/kernels.js';
import { clearUpperVectorState } from '../../../bindings/vector-state.js';
import type { Scope } from './scope.js';
import type { AdamWHyper } from '../types.js';

/** One parameter's AdamW operands in wasm memory: values P, gradient G, moments M and V (n floats each). */
export interface AdamWOperands {
  P: number;
  G: number;
  M: number;
  V: number;
  n: number;
  /** Weight decay for this parameter (0 where it is not decayed). */
  weightDecay: number;
}

// Below this many FLOPs a kernel runs on the calling thread: a round trip to the workers costs ~0.1 ms, about
// 1.5 MFLOP of kernel time here.
const MIN_PARALLEL_FLOPS = 4e6;

// Ranges of dictionary panels each thread claims, on average, in a claimed round (Parallel.relevance): at the
// paper's C = 16,384 on 2 threads, 16 panels a claim (~0.7 ms of work at B = 1), so a thread that starts late or
// runs slow leaves at most one claim's time behind.
const CLAIMS_PER_THREAD = 32;

/**
 * Dictionary panels per claim of a pooled relevance forward over `panels` panels on `threads` threads: an even count,
 * so that no claim but the last ends in a lone panel (the 1x32 tile takes panels in pairs and runs a lone one at the
 * cost of two; each token's result is the same either way).
 */
export function relevanceClaimPanels(panels: number, threads: number): number {
  return 2 * Math.max(1, Math.ceil(panels / (2 * threads * CLAIMS_PER_THREAD)));
}

// Rows per claim of a pooled GEMM: one 64-row block of f32_gemm, which walks every weight panel once per block; up to
// about GEMM_MIN_CLAIMS claims per thread where M is small.
const GEMM_CLAIM_ROWS = 64;
const GEMM_MIN_CLAIMS = 2;

/**
 * Splits kernels over the worker pool: GEMM by output rows, the relevance forward by dictionary panels, its
 * backward by batch rows (GQ) and dictionary rows (GT), the weighted sum by batch rows and its backward by
 * dictionary rows, sparsemax and the LayerNorm forward by rows, LayerNorm's backward by rows (input gradient) and
 * columns (parameter gradients), GELU by values, AdamW by values over all parameters at once, and the dictionary's
 * packing by panels. Each thread writes disjoint outputs with its own scratch, and every output element is computed
 * in the same order as on one thread, so results do not depend on the thread count. Without a pool every call runs
 * here, synchronously.
 */
export class Parallel {
  /** Work (FLOPs, or a like estimate) below which a kernel runs on the calling thread; tests set 0 to split all. */
  minParallelFlops = MIN_PARALLEL_FLOPS;

  constructor(
    private readonly mod: KernelModule,
    private readonly pool: WorkerPool | null,
  ) {}

  get threads(): number {
    return this.pool?.size ?? 1;
  }

  /**
   * f32_gemm, rows split across threads: they claim ranges of GEMM_CLAIM_ROWS rows at run time (one block of the
   * kernel each; fewer rows for a small M), as the relevance forward claims panels. Claims start at even rows.
   */
  async gemm(
    s: Pick<Scope, 'bytes'>, A: number, M: number, K: number, lda: number, Bp: number, N: number, bias: number, C: number,
    ldc: number, accumulate: number,
  ): Promise<void> {
    const T = this.split(2 * M * K * N, Math.ceil(M / 2));
    const scratch = this.mod.k.gemm_scratch_bytes();
    // Blocks of 64 rows; fewer where M is small, for about GEMM_MIN_CLAIMS claims per thread (M = 49 on 2 threads:
    // 14 rows, 4 claims, where 64 would leave the worker idle). An even count, so no claim but the last ends in a lone
    // row (each row's results are the same either way: the tile computes every row in its own lanes).
    const grain = Math.min(GEMM_CLAIM_ROWS, 2 * Math.ceil(M / (2 * T * GEMM_MIN_CLAIMS)));
    await this.claimed(T, M, grain, () => ['f32_gemm_rows', [A, K, lda, Bp, N, bias, C, ldc, accumulate, s.bytes(scratch)]], s);
  }

  /**
   * f32_relevance_fwd, dictionary panels split across threads (each with its own scratch). The threads claim
   * ranges of panels at run time (WorkerPool.runClaimed), CLAIMS_PER_THREAD per thread on average, instead of one
   * fixed half each: a worker woken late, or slowed by the host, no longer holds up the call.
   */
  async relevance(
    s: Pick<Scope, 'bytes'>, Q: number, B: number, L: number, d: number, Tp: number, C: number, scale: number, valid: number,
    mode: number, R: number, ARG: number,
  ): Promise<void> {
    const bytes = this.mod.k.relevance_scratch_bytes(L);
    const panels = Math.ceil(C / 16);
    const T = this.split(2 * B * L * d * C, panels);
    const grain = relevanceClaimPanels(panels, T);
    await this.claimed(T, panels, grain, () => ['f32_relevance_fwd_part', [Q, B, L, d, Tp, C, scale, valid, mode, R, ARG, s.bytes(bytes)]], s);
  }

  /**
   * Runs a kernel whose last two arguments are a range [u0, u1) of [0, units) on T threads that claim `grain` units
   * at a time (WorkerPool.runClaimed), each thread with the call part() makes (its own scratch) and the range
   * appended; with one thread, one call over the whole range.
   */
  private async claimed(T: number, units: number, grain: number, part: () => KernelCall, s: Pick<Scope, 'bytes'>): Promise<void> {
    if (T <= 1 || !this.pool) {
      const [name, args] = part();
      this.local([name, [...args, 0, units]]);
      return;
    }
    const counter = s.bytes(16);
    this.mod.i32(counter, 1)[0] = 0;
    const parts = Array.from({ length: T }, () => part());
    // As in run(): thread 0's share starts with the vector state clean.
    clearUpperVectorState();
    await this.pool.runClaimed(parts, counter, units, grain, this.local);
  }

  /**
   * f32_pack_nt of an [N, K] matrix into dst, split by panels (each range of 16-row panels is packed from its own
   * rows; the last range zero-pads the last panel). Pure data movement: the same bits on any thread count.
   */
  async packNT(src: number, N: number, K: number, dst: number): Promise<void> {
    await this.ranges(2 * N * K, Math.ceil(N / 16), (p0, p1) => [
      ['f32_pack_nt', [src + 4 * 16 * p0 * K, Math.min(N, 16 * p1) - 16 * p0, K, dst + 4 * 16 * p0 * K]],
    ]);
  }

  /** f32_gelu_fwd over n values, split into value ranges; ERFC (float64 [n]) may be 0. */
  async gelu(X: number, n: number, Y: number, ERFC = 0): Promise<void> {
    await this.ranges(40 * n, n, (a, b) => [['f32_gelu_fwd', [X + 4 * a, b - a, Y + 4 * a, ERFC && ERFC + 8 * a]]]);
  }

  /** f32_gelu_bwd over n values, split into value ranges; ERFC: what gelu stored, or 0. */
  async geluBwd(X: number, GY: number, n: number, GX: number, ERFC = 0): Promise<void> {
    await this.ranges(60 * n, n, (a, b) => [['f32_gelu_bwd', [X + 4 * a, GY + 4 * a, b - a, GX + 4 * a, ERFC && ERFC + 8 * a]]]);
  }

  /** f32_layernorm_fwd over M rows of D, rows split across threads (each row is normalised on its own). */
  async layerNorm(X: number, M: number, D: number, GAMMA: number, BETA: number, eps: number, Y: number, MEAN: number, RSTD: number): Promise<void> {
    await this.ranges(8 * M * D, M, (a, b) => [
      ['f32_layernorm_fwd', [X + 4 * a * D, b - a, D, GAMMA, BETA, eps, Y + 4 * a * D, MEAN + 4 * a, RSTD + 4 * a]],
    ]);
  }

  /**
   * f32_layernorm_bwd: the input gradient split by rows, the parameter gradients (sums over rows) by columns, both
   * in one round; every output is computed as on one thread. GX may be 0 (not wanted).
   */
  async layerNormBwd(X: number, GY: number, M: number, D: number, GAMMA: number, MEAN: number, RSTD: number, GX: number, GGAMMA: number, GBETA: number): Promise<void> {
    const threads = this.split(12 * M * D, Math.max(M, D));
    if (threads === 1) {
      this.mod.k.f32_layernorm_bwd(X, GY, M, D, GAMMA, MEAN, RSTD, GX, GGAMMA, GBETA);
      return;
    }
    const parts: KernelCall[][] = [];
    for (let t = 0; t < threads; t++) {
      const [r0, r1] = share(M, threads, t);
      const [c0, c1] = share(D, threads, t);
      const calls: KernelCall[] = [];
      if (GX && r1 > r0) calls.push(['f32_layernorm_bwd', [X + 4 * r0 * D, GY + 4 * r0 * D, r1 - r0, D, GAMMA, MEAN + 4 * r0, RSTD + 4 * r0, GX + 4 * r0 * D, 0, 0]]);
      if (c1 > c0) calls.push(['f32_layernorm_bwd_params', [X, GY, M, D, MEAN, RSTD, GGAMMA, GBETA, c0, c1]]);
      if (calls.length) parts.push(calls);
    }
    await this.run(parts);
  }

  /** f32_sparsemax_fwd, rows split across threads (each with its own scratch). */
  async sparsemax(s: Scope, Z: number, R: number, C: number, P: number, SUPPORT: number): Promise<void> {
    const bytes = this.mod.k.sparsemax_scratch_bytes(C);
    await this.ranges(30 * R * C, R, (a, b) => [
      ['f32_sparsemax_fwd', [Z + 4 * a * C, b - a, C, P + 4 * a * C, SUPPORT ? SUPPORT + 4 * a : 0, s.bytes(bytes)]],
    ]);
  }

  /** f32_sparsemax_bwd, rows split across threads. */
  async sparsemaxBwd(P: number, G: number, R: number, C: number, GZ: number): Promise<void> {
    await this.ranges(10 * R * C, R, (a, b) => [['f32_sparsemax_bwd', [P + 4 * a * C, G + 4 * a * C, b - a, C, GZ + 4 * a * C]]]);
  }

  /** f32_wsum_fwd, batch rows split across threads (work counted as if dense: an upper bound). */
  async wsum(W: number, T: number, B: number, C: number, d: number, E: number): Promise<void> {
    await this.ranges(2 * B * C * d, B, (a, b) => [['f32_wsum_fwd', [W + 4 * a * C, T, b - a, C, d, E + 4 * a * d]]]);
  }

  /** f32_wsum_bwd, dictionary rows split across threads. */
  async wsumBwd(W: number, T: number, GE: number, B: number, C: number, d: number, GW: number, GT: number, supportOnly: number): Promise<void> {
    await this.ranges(4 * B * C * d, C, (a, b) => [['f32_wsum_bwd_part', [W, T, GE, B, C, d, GW, GT, supportOnly, a, b]]]);
  }

  /**
   * f32_relevance_bwd: its GQ half split by batch rows and its GT half by dictionary rows, both halves in one
   * round (their outputs are disjoint); thread t takes the t-th share of each.
   */
  async relevanceBwd(GR: number, ARG: number, Q: number, T: number, B: number, L: number, C: number, d: number, scale: number, GQ: number, GT: number): Promise<void> {
    const threads = this.split(4 * B * C * d, Math.max(B, C));
    const parts: KernelCall[][] = [];
    for (let t = 0; t < threads; t++) {
      const [b0, b1] = share(B, threads, t);
      const [c0, c1] = share(C, threads, t);
      const calls: KernelCall[] = [];
      if (GQ && b1 > b0) calls.push(['f32_relevance_bwd_gq_part', [GR, ARG, T, B, L, C, d, scale, GQ, b0, b1]]);
      if (GT && c1 > c0) calls.push(['f32_relevance_bwd_gt_part', [GR, ARG, Q, B, L, C, d, scale, GT, c0, c1]]);
      if (calls.length) parts.push(calls);
    }
    await this.run(parts);
  }

  /**
   * f32_adamw_step over every parameter in one round: the values of all parameters, laid end to end, are cut into
   * one contiguous share per thread (a multiple of 4 values), and each share runs as one call per parameter it
   * touches. AdamW is elementwise, so every value gets the bits it gets on one thread.
   */
  async adamw(items: readonly AdamWOperands[], h: AdamWHyper, step: number): Promise<void> {
    const total = items.reduce((a, x) => a + x.n, 0);
    // ~10 operations per value; the work is memory-bound (7 floats moved per value).
    const T = this.split(10 * total, Math.ceil(total / 4));
    const per = Math.ceil(total / 4 / T) * 4;
    const parts: KernelCall[][] = [];
    for (let t = 0; t < T; t++) {
      const a = t * per;
      const b = Math.min(total, a + per);
      const calls: KernelCall[] = [];
      for (let i = 0, base = 0; i < items.length && base < b; base += items[i]!.n, i++) {
        const x = items[i]!;
        const lo = Math.max(a, base) - base;
        const hi = Math.min(b, base + x.n) - base;
        if (hi <= lo) continue;
        const o = 4 * lo;
        calls.push(['f32_adamw_step', [x.P + o, x.G + o, x.M + o, x.V + o, hi - lo, h.lr, h.beta1, h.beta2, h.eps, x.weightDecay, step]]);
      }
      if (calls.length) parts.push(calls);
    }
    await this.run(parts);
  }

  /**
   * Splits [0, units) into one contiguous range per thread (a single range below MIN_PARALLEL_FLOPS or without a
   * pool) and runs each range's calls on its thread.
   */
  private async ranges(flops: number, units: number, calls: (u0: number, u1: number) => KernelCall[]): Promise<void> {
    if (units <= 0) return;
    const T = this.split(flops, units);
    const parts: KernelCall[][] = [];
    for (let t = 0; t < T; t++) {
      const [u0, u1] = share(units, T, t);
      if (u1 > u0) parts.push(calls(u0, u1));
    }
    await this.run(parts);
  }

  private split(flops: number, units: number): number {
    if (!this.pool || flops < this.minParallelFlops) return 1;
    return Math.max(1, Math.min(this.pool.size, units));
  }

  private readonly local = ([name, args]: KernelCall): void => (this.mod.k[name] as (...a: number[]) => void)(...args);

  private async run(parts: KernelCall[][]): Promise<void> {
    const local = this.local;
    if (parts.length <= 1 || !this.pool) {
      for (const p of parts) for (const c of p) local(c);
      return;
    }
    // The awaits between pooled steps let the application's callbacks run on this thread, and one of them may leave
    // the AVX upper state dirty (bindings/vector-state.ts): thread 0's share starts clean, like the call did.
    clearUpperVectorState();
    await this.pool.run(parts, local);
  }
}

/** The t-th of T near-equal contiguous shares of [0, n). */
function share(n: number, T: number, t: number): [number, number] {
  const per = Math.ceil(n / T);
  return [Math.min(n, t * per), Math.min(n, (t + 1) * per)];
}
