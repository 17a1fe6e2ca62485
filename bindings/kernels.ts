import { Arena } from './arena.js';
import { decodeBase64 } from './base64.js';
import { type KernelCall, WorkerPool } from './pool.js';
import { chooseTiles, chosenTiles, DEFAULT_TILES, tileCalls } from './tile-choice.js';
import {
  RELAXED_SHARED_WASM_BASE64, RELAXED_WASM_BASE64, SCALAR_SHARED_WASM_BASE64, SCALAR_WASM_BASE64, SIMD_SHARED_WASM_BASE64,
  SIMD_WASM_BASE64, SOURCE_HASH,
} from './wasm-bytes.generated.js';

/** The kernel exports (see assembly/index.ts for the ABI: byte offsets, explicit sizes, 0 = not wanted). */
export interface KernelExports {
  memory: WebAssembly.Memory;
  heap_base(): number;
  has_simd(): number;
  f32_pack_nt(src: number, N: number, K: number, dst: number): void;
  f32_pack_nn(src: number, K: number, N: number, dst: number): void;
  f32_gemm(
    A: number, M: number, K: number, lda: number, Bp: number, N: number, bias: number, C: number, ldc: number,
    accumulate: number, scratch: number,
  ): void;
  /** f32_gemm over rows [m0, m1) only (A and C as for the whole call): the row ranges a pooled GEMM's threads claim. */
  f32_gemm_rows(
    A: number, K: number, lda: number, Bp: number, N: number, bias: number, C: number, ldc: number, accumulate: number,
    scratch: number, m0: number, m1: number,
  ): void;
  /** Scratch bytes f32_gemm needs (16-byte aligned): the running sums of a block of 64 rows, 16 columns each. */
  gemm_scratch_bytes(): number;
  /**
   * Sets how the SIMD tile broadcasts its row values (1: from memory, the default; 0: a scalar load and a register
   * broadcast); the same bits either way. Returns the previous setting.
   */
  tile_set_broadcast(fromMemory: number): number;
  /** Sets the relevance forward's micro-kernel (1: tile_1x32, the default; 0: tile_2x16); the same bits. Returns the previous. */
  relevance_set_tile(on1x32: number): number;
  /** The GEMM's micro-kernel alone: out[r][j] = sum_k a_r[k] * panel[k][j] for rows a0, a1 (K floats) and one 16-column panel. */
  tile_2x16(a0: number, a1: number, bp: number, K: number, out: number): void;
  /** The relevance forward's micro-kernel alone: out[16 h + j] = sum_k a[k] * panel_h[k][j] for one row and the panels at bp (h = 0) and bq (h = 1). */
  tile_1x32(a: number, bp: number, bq: number, K: number, out: number): void;
  f32_transpose(src: number, R: number, C: number, dst: number): void;
  f32_colsum_acc(X: number, M: number, N: number, out: number): void;
  f32_relevance_fwd(
    Q: number, B: number, L: number, d: number, Tp: number, C: number, scale: number, valid: number, mode: number,
    R: number, ARG: number, scratch: number,
  ): void;
  f32_relevance_bwd(
    GR: number, ARG: number, Q: number, T: number, B: number, L: number, C: number, d: number, scale: number,
    GQ: number, GT: number,
  ): void;
  /** The GQ half of f32_relevance_bwd for batch rows [b0, b1). */
  f32_relevance_bwd_gq_part(
    GR: number, ARG: number, T: number, B: number, L: number, C: number, d: number, scale: number, GQ: number,
    b0: number, b1: number,
  ): void;
  /** The GT half of f32_relevance_bwd for dictionary rows [c0, c1). */
  f32_relevance_bwd_gt_part(
    GR: number, ARG: number, Q: number, B: number, L: number, C: number, d: number, scale: number, GT: number,
    c0: number, c1: number,
  ): void;
  f32_relevance_fwd_part(
    Q: number, B: number, L: number, d: number, Tp: number, C: number, scale: number, valid: number, mode: number,
    R: number, ARG: number, scratch: number, p0: number, p1: number,
  ): void;
  relevance_scratch_bytes(L: number): number;
  f32_sparsemax_fwd(Z: number, R: number, C: number, P: number, SUPPORT: number, scratch: number): void;
  f32_sparsemax_bwd(P: number, G: number, R: number, C: number, GZ: number): void;
  sparsemax_scratch_bytes(C: number): number;
  /** Sets the Michelot pass limit before Condat's pass takes over (default 32); returns the previous limit. */
  sparsemax_set_michelot_passes(n: number): number;
  f32_softmax_fwd(Z: number, R: number, C: number, P: number): void;
  f32_softmax_bwd(P: number, G: number, R: number, C: number, GZ: number): void;
  f32_wsum_fwd(W: number, T: number, B: number, C: number, d: number, E: number): void;
  f32_wsum_bwd(
    W: number, T: number, GE: number, B: number, C: number, d: number, GW: number, GT: number, supportOnly: number,
  ): void;
  /** f32_wsum_bwd for dictionary rows [c0, c1). */
  f32_wsum_bwd_part(
    W: number, T: number, GE: number, B: number, C: number, d: number, GW: number, GT: number, supportOnly: number,
    c0: number, c1: number,
  ): void;
  f32_l2norm_fwd(E: number, B: number, d: number, EHAT: number, NORMS: number): void;
  f32_l2norm_bwd(EHAT: number, NORMS: number, G: number, B: number, d: number, GE: number): void;
  f32_infonce(
    EI: number, ET: number, B: number, d: number, logitScale: number, LOGITS: number, GEI: number, GET: number,
    OUT: number, scratch: number,
  ): void;
  infonce_scratch_bytes(B: number, d: number): number;
  f32_layernorm_fwd(
    X: number, M: number, D: number, GAMMA: number, BETA: number, eps: number, Y: number, MEAN: number, RSTD: number,
  ): void;
  f32_layernorm_bwd(
    X: number, GY: number, M: number, D: number, GAMMA: number, MEAN: number, RSTD: number, GX: number,
    GGAMMA: number, GBETA: number,
  ): void;
  f32_layernorm_bwd_params(
    X: number, GY: number, M: number, D: number, MEAN: number, RSTD: number, GGAMMA: number, GBETA: number, c0: number,
    c1: number,
  ): void;
  /** XH [M, D] = (x - mean) * rstd, LayerNorm's normalised input from its saved row statistics. */
  f32_layernorm_xhat(X: number, M: number, D: number, MEAN: number, RSTD: number, XH: number): void;
  /** Parameter gradients of Lin(LN(x)) from G = gY^T xh and S = colsum(gY), without the input gradient (acc outputs). */
  f32_ln_linear_param_grads(
    G: number, S: number, W: number, GAMMA: number, BETA: number, N: number, K: number, GW: number, GB: number,
    GGAMMA: number, GBETA: number,
  ): void;
  /** ERFC: float64 [n] receiving erfc(-x / sqrt 2) for f32_gelu_bwd, or 0. */
  f32_gelu_fwd(X: number, n: number, Y: number, ERFC: number): void;
  /** ERFC: what f32_gelu_fwd stored for these X, or 0 to compute it. */
  f32_gelu_bwd(X: number, GY: number, n: number, GX: number, ERFC: number): void;
  f32_adamw_step(
    P: number, G: number, M: number, V: number, n: number, lr: number, b1: number, b2: number, eps: number,
    wd: number, step: number,
  ): void;
  /** Index of the first NaN or infinite value of X [n], or -1. */
  f32_first_nonfinite(X: number, n: number): number;
}

/**
 * Which compiled build to run: 'auto' picks SIMD when the runtime validates it, else scalar; 'simd' and 'scalar' give
 * identical bits. 'relaxed' (opt-in) is the SIMD build with relaxed SIMD's fused multiply-add in the GEMM
 * micro-kernel (relevance and the query MLP's Linear layers): 1.3-1.5x faster where the CPU has FMA, rounding once
 * per multiply-add instead of twice, so its results differ from the other builds' in the last bits. Runtimes:
 * Deno, Bun, Chromium, and Node with --experimental-wasm-relaxed-simd (Node 20).
 */
export const WASM_BUILDS = ['auto', 'simd', 'scalar', 'relaxed'] as const;
export type WasmBuild = (typeof WASM_BUILDS)[number];

/** True for one of WASM_BUILDS. */
export function isWasmBuild(v: unknown): v is WasmBuild {
  return (WASM_BUILDS as readonly unknown[]).includes(v);
}

/** A build that runs: what 'auto' resolves to, or the one forced. */
export type ResolvedBuild = 'simd' | 'scalar' | 'relaxed';

/**
 * One instance of the kernel module with its arena. Views of its memory are made fresh on every access
 * (f32 / i32 / f64): a view kept across a call that grows memory would be detached.
 */
export class KernelModule {
  readonly arena: Arena;
  constructor(
    readonly k: KernelExports,
    readonly build: ResolvedBuild,
  ) {
    this.arena = new Arena(k.memory, k.heap_base());
  }

  f32(ptr: number, length: number): Float32Array {
    return new Float32Array(this.k.memory.buffer, ptr, length);
  }
  i32(ptr: number, length: number): Int32Array {
    return new Int32Array(this.k.memory.buffer, ptr, length);
  }
  f64(ptr: number, length: number): Float64Array {
    return new Float64Array(this.k.memory.buffer, ptr, length);
  }
}

const compiled: Partial<Record<string, Promise<WebAssembly.Module>>> = {};

function compile(key: string, b64: string): Promise<WebAssembly.Module> {
  compiled[key] ??= WebAssembly.compile(decodeBase64(b64));
  return compiled[key]!;
}

const validated: Partial<Record<string, boolean>> = {};

/** Whether this runtime validates a build (decoded and validated once per build, memoised like `compiled`). */
function validates(key: string, b64: string): boolean {
  validated[key] ??= WebAssembly.validate(decodeBase64(b64));
  return validated[key]!;
}

/** True when this runtime validates the SIMD build. */
export function simdSupported(): boolean {
  return validates('simd', SIMD_WASM_BASE64);
}

/** True when this runtime validates the relaxed-SIMD build (fused multiply-add). */
export function relaxedSimdSupported(): boolean {
  return validates('relaxed', RELAXED_WASM_BASE64);
}

/** Resolves 'auto' to the build this runtime can run; throws when 'simd' or 'relaxed' is forced but unsupported. */
export function resolveBuild(build: WasmBuild): ResolvedBuild {
  if (!isWasmBuild(build)) throw new Error(`build: expected 'auto', 'simd', 'scalar' or 'relaxed', found ${JSON.stringify(build)}`);
  if (build === 'scalar') return 'scalar';
  if (build === 'relaxed') {
    if (!relaxedSimdSupported()) {
      throw new Error('this runtime does not support WebAssembly relaxed SIMD (Node 20 needs --experimental-wasm-relaxed-simd); use build "simd"');
    }
    return 'relaxed';
  }
  const ok = simdSupported();
  if (build === 'simd' && !ok) throw new Error('this runtime does not support WebAssembly SIMD; use build "scalar"');
  return ok ? 'simd' : 'scalar';
}

/**
 * Compiles (once per build, memoised) and instantiates a fresh kernel module with its own memory.
 *
 * Under Deno the module is the build's shared-memory twin on a memory of its own (no workers): Deno does not enable
 * V8's WebAssembly trap handler, so V8 checks the bounds of every load and store in code, and with the twin's
 * memory (shared, maximum 4 GiB) those checks cost far less: with Deno 2.9.6 (V8 15.0) on a Cascade Lake Xeon the
 * in-L1 tile ran at 16.6 against 12.1 GFLOP/s, the relevance forward at B = 1 in 54 against 72 ms
 * (docs/PERFORMANCE.md, "Node, Deno and Bun"). Node and Bun run both builds at the same speed, so they keep the
 * plain one. The two builds compute the same bits. Where the shared memory cannot be made, the plain build runs.
 * `shared` chooses explicitly (the benchmarks compare the two).
 */
export async function instantiateKernels(build: WasmBuild = 'auto', shared = sharedMemoryIsFaster()): Promise<KernelModule> {
  const which = resolveBuild(build);
  if (shared) {
    try {
      return (await instantiateShared(which)).mod;
    } catch {
      // A shared memory reserves 4 GiB of address space; where that is refused (ulimit -v, many live engines), the
      // plain build runs at its own speed.
    }
  }
  const module = await compile(which, { simd: SIMD_WASM_BASE64, scalar: SCALAR_WASM_BASE64, relaxed: RELAXED_WASM_BASE64 }[which]);
  const instance = await WebAssembly.instantiate(module, {});
  const mod = new KernelModule(instance.exports as unknown as KernelExports, which);
  chooseTiles(mod, false);
  return mod;
}

/** True in a runtime whose kernels run faster on the shared-memory twin even on one thread (Deno; see above). */
export function sharedMemoryIsFaster(): boolean {
  return isDeno() && typeof (globalThis as Record<string, unknown>)['SharedArrayBuffer'] === 'function';
}

/**
 * The calls that configure a fresh instance of a build on a shared (or a plain) memory: every pool worker's, which
 * runs them right after it instantiates the module. The tiles are the ones the caller's instance timed
 * (bindings/tile-choice.ts).
 */
export function setupCalls(build: ResolvedBuild, shared: boolean): KernelCall[] {
  return tileCalls(chosenTiles(build, shared) ?? DEFAULT_TILES);
}

function isDeno(): boolean {
  return typeof (globalThis as Record<string, unknown>)['Deno'] === 'object';
}

/** The shared-memory twin of a build on a fresh shared memory, and its compiled module (for workers). */
async function instantiateShared(which: ResolvedBuild): Promise<{ mod: KernelModule; module: WebAssembly.Module; memory: WebAssembly.Memory }> {
  const module = await compile(`${which}-shared`, { simd: SIMD_SHARED_WASM_BASE64, scalar: SCALAR_SHARED_WASM_BASE64, relaxed: RELAXED_SHARED_WASM_BASE64 }[which]);
  const memory = new WebAssembly.Memory({ initial: 2, maximum: SHARED_MAX_PAGES, shared: true });
  const instance = await WebAssembly.instantiate(module, { env: { memory } });
  const mod = new KernelModule(instance.exports as unknown as KernelExports, which);
  chooseTiles(mod, true);
  return { mod, module, memory };
}

/** True when this runtime can share wasm memory with worker threads (SharedArrayBuffer and workers). */
export function threadsSupported(): boolean {
  const g = globalThis as Record<string, unknown>;
  if (typeof g['SharedArrayBuffer'] !== 'function') return false;
  if (g['crossOriginIsolated'] === false) return false;
  const nodeLike = typeof (g['process'] as { versions?: { node?: string } } | undefined)?.versions?.node === 'string';
  return nodeLike || typeof g['Worker'] === 'function';
}

/** Largest shared memory: 65536 pages (4 GiB), the wasm32 limit; only address space is reserved up front. */
const SHARED_MAX_PAGES = 65536;

/**
 * A kernel module on a shared memory plus a pool of `threads - 1` workers running the same module on it. The
 * calling thread is thread 0 (its instance is `mod`).
 */
export async function instantiateThreaded(build: WasmBuild, threads: number): Promise<{ mod: KernelModule; pool: WorkerPool }> {
  const { mod, module, memory } = await instantiateShared(resolveBuild(build));
  const pool = await WorkerPool.start(threads, module, memory, setupCalls(mod.build, true));
  return { mod, pool };
}

export { SOURCE_HASH };
