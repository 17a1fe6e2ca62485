import type { KernelModule } from '../../../bindings/kernels.js';
import type { FdtConfig } from '../../config.js';
import { FdtValueError } from '../../errors.js';
import { MODALITIES, type Modality } from '../../params.js';
import type { ResidentParams } from './resident.js';
import type { Parallel } from './parallel.js';
import type { Scope } from './scope.js';

const LN_EPS = 1e-5;
const MASK_MODE = { official: 0, exclude: 1 } as const;

/** Pointers to one modality's forward activations, kept for its backward (valid until the scope is disposed). */
export interface ModalityForward {
  modality: Modality;
  B: number;
  L: number;
  Din: number;
  /**
   * The rows the query MLP ran on: null for all B*L rows, else the indices b*L + l of the real caption slots. A
   * padded slot's query never reaches the output (the relevance kernel skips it; official mode's floor is the
   * constant 0) and receives a zero gradient, so the MLP and its backward run on the real rows only: identical
   * results on those rows, bit for bit, and on CLIP-length captions (~15 of 77 slots real) about a fifth of the
   * text MLP's work.
   */
  rows: Int32Array | null;
  /** How many rows the MLP ran on (B*L, or rows.length). */
  Mv: number;
  x: number; // [Mv, Din] input features of those rows
  valid: number; // [B, L] int32 or 0
  a1: number; mean1: number; rstd1: number; // LN1 output and stats
  h1: number; // Lin1 output (pre-GELU) [Mv, d]
  erfc1: number; // erfc(-h1 / sqrt 2) [Mv, d] float64, kept for GELU's backward (0 when no backward follows)
  g1: number; // GELU output [Mv, d]
  a2: number; mean2: number; rstd2: number; // LN2
  q: number; // the queries [B*L, d]: Lin2's output, zero at padded slots the MLP skipped
  r: number; arg: number; // relevance [B, C] and its arg-max [B, C]
  w: number; support: number; // token weights [B, C], active count [B]
  e: number; ehat: number; norms: number; // embedding before / after L2 normalisation, norms [B]
}

/** Gradient accumulators of the whole head: every parameter plus the input features. */
export interface HeadGradPtrs {
  params: Record<string, number>;
}

/**
 * The FDT head's forward for one modality, on the wasm kernels:
 *   q = Lin2(LN2(GELU(Lin1(LN1(x)))))     r = scale * max_l q.T        w = normaliser(r)
 *   e = w T                               ehat = e / (||e|| + 1e-10)   scale = 1 / (sqrt(d) tau)
 * With a mask, the MLP runs on the real slots only (see ModalityForward.rows) unless `allRows` asks for every slot's
 * query (a trace returns them). `forBackward` keeps what the backward can reuse (GELU's erfc: 8 bytes per hidden
 * value, 16.5 MB at paper scale, against ~60% of GELU's backward time).
 */
export async function forwardModality(
  mod: KernelModule, par: Parallel, s: Scope, rp: ResidentParams, c: FdtConfig, modality: Modality,
  x: Float32Array, B: number, L: number, valid: Int32Array | null, allRows = false, forBackward = false,
): Promise<ModalityForward> {
  const k = mod.k;
  const p = MODALITIES[modality];
  const Din = modality === 'image' ? c.imageDim : c.textDim;
  const d = c.dim;
  const C = c.numTokens;
  const M = B * L;
  const rows = allRows ? null : realRows(valid);
  const Mv = rows ? rows.length : M;
  const f: ModalityForward = {
    modality, B, L, Din, rows, Mv,
    x: rows ? s.f32(Mv * Din) : s.upload(x), valid: valid ? s.upload(valid) : 0,
    a1: s.f32(Mv * Din), mean1: s.f32(Mv), rstd1: s.f32(Mv),
    h1: s.f32(Mv * d), erfc1: forBackward && Mv > 0 ? s.bytes(Mv * d * 8) : 0, g1: s.f32(Mv * d),
    a2: s.f32(Mv * d), mean2: s.f32(Mv), rstd2: s.f32(Mv),
    q: rows ? s.zeros(M * d) : s.f32(M * d), r: s.f32(B * C), arg: s.i32(B * C),
    w: s.f32(B * C), support: s.i32(B),
    e: s.f32(B * d), ehat: s.f32(B * d), norms: s.f32(B),
  };
  const q = rows ? s.f32(Mv * d) : f.q;
  if (rows) gatherRows(x, rows, Din, mod.f32(f.x, Mv * Din)); // the real slots' features, straight into wasm memory
  if (Mv > 0) {
    await par.layerNorm(f.x, Mv, Din, rp.raw(`${p}.0.weight`), rp.raw(`${p}.0.bias`), LN_EPS, f.a1, f.mean1, f.rstd1);
    await par.gemm(s, f.a1, Mv, Din, Din, rp.packedNT(`${p}.1.weight`, d, Din), d, rp.raw(`${p}.1.bias`), f.h1, d, 0);
    await par.gelu(f.h1, Mv * d, f.g1, f.erfc1);
    await par.layerNorm(f.g1, Mv, d, rp.raw(`${p}.3.weight`), rp.raw(`${p}.3.bias`), LN_EPS, f.a2, f.mean2, f.rstd2);
    await par.gemm(s, f.a2, Mv, d, d, rp.packedNT(`${p}.4.weight`, d, d), d, rp.raw(`${p}.4.bias`), q, d, 0);
  }
  // Inputs and parameters are finite (checked where they enter), but the MLP or the relevance can overflow float32.
  // The relevance max and sparsemax would then hide it (a NaN score never wins the max; a row holding +Inf comes out
  // all zero), so it is refused here, where it appears (0.32 ns per value measured: ~1 ms of a ~4 s paper-scale step).
  expectFiniteIn(mod, q, Mv, d, `${modality} queries (the query MLP's output)`, 'its weights or inputs overflow float32');
  if (rows) scatterRows(mod.f32(q, Mv * d), rows, d, mod.f32(f.q, M * d));
  const Tp = await rp.packedNTWith('space_dict', C, d, (src, n, k, dst) => par.packNT(src, n, k, dst));
  await par.relevance(s, f.q, B, L, d, Tp, C, relevanceScale(c), f.valid, MASK_MODE[c.maskMode], f.r, f.arg);
  expectFiniteIn(mod, f.r, B, C, `${modality} relevance`, 'the queries times the dictionary overflow float32');
  if (c.normalizer === 'sparsemax') {
    await par.sparsemax(s, f.r, B, C, f.w, f.support);
  } else {
    k.f32_softmax_fwd(f.r, B, C, f.w);
    mod.i32(f.support, B).fill(C);
  }
  await par.wsum(f.w, rp.raw('space_dict'), B, C, d, f.e);
  k.f32_l2norm_fwd(f.e, B, d, f.ehat, f.norms);
  return f;
}

/** Throws FdtValueError naming the first non-finite value of a [rows, cols] block of wasm memory. */
function expectFiniteIn(mod: KernelModule, ptr: number, rows: number, cols: number, what: string, why: string): void {
  const i = rows * cols > 0 ? mod.k.f32_first_nonfinite(ptr, rows * cols) : -1;
  if (i < 0) return;
  throw new FdtValueError(`${what}: ${mod.f32(ptr + 4 * i, 1)[0]} at [${Math.floor(i / cols)}, ${i % cols}]: ${why}`);
}

/** The indices b*L + l of the real slots when some slot is padded; null when every slot is real (or no mask). */
export function realRows(valid: Int32Array | null): Int32Array | null {
  if (!valid) return null;
  let n = 0;
  for (let i = 0; i < valid.length; i++) if (valid[i] !== 0) n++;
  if (n === valid.length) return null;
  const rows = new Int32Array(n);
  for (let i = 0, j = 0; i < valid.length; i++) if (valid[i] !== 0) rows[j++] = i;
  return rows;
}

/** Packs the rows `rows` of src [*, width] into dst [rows.length, width]. */
function gatherRows(src: Float32Array, rows: Int32Array, width: number, dst: Float32Array): void {
  for (let j = 0; j < rows.length; j++) dst.set(src.subarray(rows[j]! * width, (rows[j]! + 1) * width), j * width);
}

/** Writes the packed rows src [rows.length, width] into dst at rows `rows` (the other rows of dst are left as they are). */
function scatterRows(src: Float32Array, rows: Int32Array, width: number, dst: Float32Array): void {
  for (let j = 0; j < rows.length; j++) dst.set(src.subarray(j * width, (j + 1) * width), rows[j]! * width);
}

/** scale = 1 / (sqrt(d) * tau), applied after the max (tau > 0 keeps the arg-max unchanged). */
export function relevanceScale(c: FdtConfig): number {
  return 1 / (Math.sqrt(c.dim) * c.temperature);
}

/**
 * Backward of forwardModality from gEhat [B, d]. Accumulates into the parameter gradients (gT is shared by both
 * modalities) and returns the pointer of the input-feature gradient [B*L, Din], or 0 when `inputs` is false. Without
 * input gradients (the training step) Lin1 and LN1 take lnLinearParamGrads, which skips the GEMM gA1 = gH1 W1: the
 * same gradients up to float32 rounding (the sums run in another order), not the same bits.
 */
export async function backwardModality(
  mod: KernelModule, par: Parallel, s: Scope, rp: ResidentParams, c: FdtConfig, f: ModalityForward, gEhat: number,
  grads: Record<string, number>, inputs = true,
): Promise<number> {
  const k = mod.k;
  const p = MODALITIES[f.modality];
  const { B, L, Din } = f;
  const d = c.dim;
  const C = c.numTokens;
  const M = B * L;
  const T = rp.raw('space_dict');
  const gE = s.f32(B * d);
  k.f32_l2norm_bwd(f.ehat, f.norms, gEhat, B, d, gE);
  const gW = s.f32(B * C);
  const sparse = c.normalizer === 'sparsemax';
  await par.wsumBwd(f.w, T, gE, B, C, d, gW, grads['space_dict']!, sparse ? 1 : 0);
  const gR = s.f32(B * C);
  if (sparse) await par.sparsemaxBwd(f.w, gW, B, C, gR);
  else k.f32_softmax_bwd(f.w, gW, B, C, gR);
  const gQfull = s.zeros(M * d);
  await par.relevanceBwd(gR, f.arg, f.q, T, B, L, C, d, relevanceScale(c), gQfull, grads['space_dict']!);
  const { rows, Mv } = f;
  // The MLP's backward on the rows it ran on: a skipped (padded) row's query gradient is zero.
  const gQ = rows ? s.f32(Mv * d) : gQfull;
  if (rows) gatherRows(mod.f32(gQfull, M * d), rows, d, mod.f32(gQ, Mv * d)); // within wasm memory, no host copy
  const gXv = inputs ? (rows ? s.f32(Mv * Din) : s.f32(M * Din)) : 0;
  if (Mv > 0) {
    // Lin2: gA2 = gQ W2, gW2 += gQ^T a2, gb2 += colsum gQ
    const gA2 = await linearBackward(mod, par, s, rp, `${p}.4`, gQ, f.a2, Mv, d, d, grads);
    const gG1 = s.f32(Mv * d);
    await par.layerNormBwd(f.g1, gA2, Mv, d, rp.raw(`${p}.3.weight`), f.mean2, f.rstd2, gG1,
      grads[`${p}.3.weight`]!, grads[`${p}.3.bias`]!);
    const gH1 = s.f32(Mv * d);
    await par.geluBwd(f.h1, gG1, Mv * d, gH1, f.erfc1);
    if (inputs) {
      const gA1 = await linearBackward(mod, par, s, rp, `${p}.1`, gH1, f.a1, Mv, Din, d, grads);
      await par.layerNormBwd(f.x, gA1, Mv, Din, rp.raw(`${p}.0.weight`), f.mean1, f.rstd1, gXv,
        grads[`${p}.0.weight`]!, grads[`${p}.0.bias`]!);
    } else {
      await lnLinearParamGrads(mod, par, s, rp, `${p}.0`, `${p}.1`, gH1, f, Din, d, grads);
    }
  }
  if (!inputs || !rows) return gXv;
  const gX = s.zeros(M * Din); // padded slots' input gradient is exactly zero
  scatterRows(mod.f32(gXv, Mv * Din), rows, Din, mod.f32(gX, M * Din));
  return gX;
}

/**
 * The parameter gradients of y = Lin(LN(x)) (LN over K = Din columns, Lin [N, K]) from gY [Mv, N], without the input
 * gradient. The plain route needs gA = gY W [Mv, K] for LN's parameters: a GEMM of 2 Mv N K FLOP (2.5 GFLOP of a
 * paper-scale step's 13.9 in the query MLPs). Here both LN sums are moved onto G = gY^T xh [N, K], the GEMM Lin's
 * weight gradient needs anyway (on xh instead of LN's output a = xh gamma + beta):
 *   gW += gamma G + beta S^T,  gb += S,  ggamma = sum_k W G,  gbeta = sum_k W S      (S = colsum gY)
 * (f32_ln_linear_param_grads), which costs N K multiply-adds instead of Mv N K.
 */
async function lnLinearParamGrads(
  mod: KernelModule, par: Parallel, s: Scope, rp: ResidentParams, ln: string, lin: string, gY: number,
  f: ModalityForward, K: number, N: number, grads: Record<string, number>,
): Promise<void> {
  const k = mod.k;
  const M = f.Mv;
  const xh = s.f32(M * K);
  k.f32_layernorm_xhat(f.x, M, K, f.mean1, f.rstd1, xh);
  const xp = s.f32(Math.ceil(K / 16) * 16 * M);
  k.f32_pack_nn(xh, M, K, xp);
  const gYt = s.f32(N * M);
  k.f32_transpose(gY, M, N, gYt);
  const G = s.f32(N * K);
  await par.gemm(s, gYt, N, M, M, xp, K, 0, G, K, 0);
  const S = s.zeros(N);
  k.f32_colsum_acc(gY, M, N, S);
  k.f32_ln_linear_param_grads(G, S, rp.raw(`${lin}.weight`), rp.raw(`${ln}.weight`), rp.raw(`${ln}.bias`), N, K,
    grads[`${lin}.weight`]!, grads[`${lin}.bias`]!, grads[`${ln}.weight`]!, grads[`${ln}.bias`]!);
}

/**
 * Backward of y = x W^T + b (W [N, K] = [out, in]) for M rows: returns gX = gY W [M, K] and accumulates
 * gW += gY^T x and gb += colsum(gY).
 */
export async function linearBackward(
  mod: KernelModule, par: Parallel, s: Scope, rp: ResidentParams, name: string, gY: number, x: number, M: number,
  K: number, N: number, grads: Record<string, number>,
): Promise<number> {
  const k = mod.k;
  const gX = s.f32(M * K);
  await par.gemm(s, gY, M, N, N, rp.packedNN(`${name}.weight`, N, K), K, 0, gX, K, 0);
  const gYt = s.f32(N * M);
  k.f32_transpose(gY, M, N, gYt);
  const xp = s.f32(Math.ceil(K / 16) * 16 * M);
  k.f32_pack_nn(x, M, K, xp);
  await par.gemm(s, gYt, N, M, M, xp, K, 0, grads[`${name}.weight`]!, K, 1);
  k.f32_colsum_acc(gY, M, N, grads[`${name}.bias`]!);
  return gX;
}
