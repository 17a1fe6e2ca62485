// Property tests of the packed-panel GEMM (pack_nt, pack_nn, bias, accumulate, strided rows), transpose, column sums,
// the Linear backward built from them, and the fused relevance kernel (GEMM + max over tokens, both mask modes, with
// all-padding rows and exact ties) forward and backward: both wasm builds against the float64 reference, SIMD ==
// scalar bit for bit, and the reference VJPs against central differences. See docs/RELIABILITY.md, "Property tests".
import fc from 'fast-check';
import { beforeAll, describe, it } from 'vitest';
import { linear, linearVjp, relevance, relevanceVjp, type MaskMode } from '../reference/ops.js';
import {
  centralDiff, check, close, dimArb, direction, dot, draw, equalInts, fdAgrees, identical, loadBuilds, onBoth, pow2,
  printSummaryAfterAll, Rng, seedArb, type Builds, type Dist, type Mem,
} from './support.js';

let mods: Builds;
beforeAll(async () => {
  mods = await loadBuilds();
});
printSummaryAfterAll('test/property/relevance-gemm.test.ts');

const panelFloats = (N: number, K: number): number => Math.ceil(N / 16) * 16 * K;

/** Power-of-two scales of the two operands: ordinary, ~1e+-30 against each other, both large, both small. */
const SCALE_PAIRS: readonly [number, number][] = [[0, 0], [0, 0], [100, -100], [-100, 100], [50, 50], [-60, -60]];

function transpose(x: Float64Array, R: number, C: number): Float64Array {
  const t = new Float64Array(R * C);
  for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) t[c * R + r] = x[r * C + c]!;
  return t;
}

describe('GEMM with packed panels', () => {
  const gemmCase = fc.record({
    M: fc.oneof(dimArb(40), fc.constantFrom(63, 64, 65, 130)),
    K: dimArb(40),
    N: dimArb(40),
    padA: fc.integer({ min: 0, max: 3 }),
    padC: fc.integer({ min: 0, max: 3 }),
    pack: fc.constantFrom('nt', 'nn'),
    bias: fc.boolean(),
    accumulate: fc.boolean(),
    dist: fc.constantFrom<Dist>('normal', 'ints', 'wide', 'sparse'),
    scales: fc.constantFrom(...SCALE_PAIRS),
    seed: seedArb,
  });

  it('C = (accumulate ? C : 0) + A B + bias for B packed from [N, K] (pack_nt) or [K, N] (pack_nn), row strides lda >= K and ldc >= N; padding untouched', () => {
    check('gemm', gemmCase, ({ M, K, N, padA, padC, pack, bias, accumulate, dist, scales, seed }) => {
      const [ea, ew] = dist === 'wide' ? [0, 0] : scales;
      const rng = new Rng(seed);
      const lda = K + padA;
      const ldc = N + padC;
      const A = draw(rng, M * K, dist, pow2(ea));
      const W = draw(rng, N * K, dist, pow2(ew)); // [N, K], PyTorch's Linear layout
      const b = draw(rng, N, 'normal', pow2(ea + ew));
      const C0 = draw(rng, M * ldc, 'normal', pow2(ea + ew));
      // Strided A: the padding columns hold large values that must not leak into C.
      const Apad = new Float64Array(M * lda).fill(3e38);
      for (let m = 0; m < M; m++) for (let k = 0; k < K; k++) Apad[m * lda + k] = A[m * K + k]!;
      const out = onBoth(mods, (mem) => {
        const Bp = mem.zeros(panelFloats(N, K));
        if (pack === 'nt') mem.k.f32_pack_nt(mem.f32(W), N, K, Bp);
        else mem.k.f32_pack_nn(mem.f32(transpose(W, N, K)), K, N, Bp);
        const Cp = mem.f32(C0);
        mem.k.f32_gemm(mem.f32(Apad), M, K, lda, Bp, N, bias ? mem.f32(b) : 0, Cp, ldc, accumulate ? 1 : 0, mem.zeros(mem.k.gemm_scratch_bytes() / 4));
        return { C: mem.readF32(Cp, M * ldc), panels: mem.readF32(Bp, panelFloats(N, K)) };
      });
      const y = linear(A, W, bias ? b : null, M, K, N);
      const got = new Float64Array(M * N);
      const want = new Float64Array(M * N);
      for (let m = 0; m < M; m++) {
        for (let n = 0; n < ldc; n++) {
          const v = out.C[m * ldc + n]!;
          if (n >= N) {
            if (!Object.is(v, Math.fround(C0[m * ldc + n]!))) throw new Error(`C padding (${m}, ${n}) changed to ${v}`);
            continue;
          }
          got[m * N + n] = v;
          want[m * N + n] = y[m * N + n]! + (accumulate ? C0[m * ldc + n]! : 0);
        }
      }
      close(`gemm ${pack}`, got, want, 1e-4, pow2(ea + ew));
      // Panel layout: column j of panel p at k is B[k][16p + j], zero beyond N.
      for (let p = 0; p < Math.ceil(N / 16); p++) {
        for (let k = 0; k < K; k++) {
          for (let j = 0; j < 16; j++) {
            const n = p * 16 + j;
            const v = out.panels[p * 16 * K + k * 16 + j]!;
            const e = n < N ? W[n * K + k]! : 0;
            if (!Object.is(v, e)) throw new Error(`panel ${p} k=${k} j=${j}: ${v}, expected ${e}`);
          }
        }
      }
    }, 1600);
  });

  it('transpose is exact and column sums accumulate (the pieces of the Linear backward)', () => {
    check('transpose + colsum', fc.record({ M: dimArb(40), N: dimArb(40), seed: seedArb }), ({ M, N, seed }) => {
      const rng = new Rng(seed);
      const X = draw(rng, M * N, 'normal');
      const acc0 = draw(rng, N, 'normal');
      const out = onBoth(mods, (mem) => {
        const T = mem.zeros(M * N);
        mem.k.f32_transpose(mem.f32(X), M, N, T);
        const acc = mem.f32(acc0);
        mem.k.f32_colsum_acc(mem.f32(X), M, N, acc);
        return { T: mem.readF32(T, M * N), acc: mem.readF32(acc, N) };
      });
      identical('transpose', out.T, Float32Array.from(transpose(X, M, N)));
      const want = Float64Array.from(acc0);
      for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) want[n] += X[m * N + n]!;
      close('colsum_acc', out.acc, want);
    }, 800);
  });

  it('Linear backward from the kernels (gx = gy W via pack_nn; gW += gy^T x; gb += colsum gy) equals the reference VJP', () => {
    check('linear backward', fc.record({ M: dimArb(40), K: dimArb(40), N: dimArb(40), seed: seedArb }), ({ M, K, N, seed }) => {
      const rng = new Rng(seed);
      const x = draw(rng, M * K, 'normal');
      const W = draw(rng, N * K, 'normal');
      const gy = draw(rng, M * N, 'normal');
      const out = onBoth(mods, (mem) => {
        const Wp = mem.zeros(panelFloats(K, N));
        mem.k.f32_pack_nn(mem.f32(W), N, K, Wp);
        const gx = mem.zeros(M * K);
        mem.k.f32_gemm(mem.f32(gy), M, N, N, Wp, K, 0, gx, K, 0, mem.zeros(mem.k.gemm_scratch_bytes() / 4));
        const gyt = mem.zeros(N * M);
        mem.k.f32_transpose(mem.f32(gy), M, N, gyt);
        const xp = mem.zeros(panelFloats(K, M));
        mem.k.f32_pack_nn(mem.f32(x), M, K, xp);
        const gW = mem.zeros(N * K);
        mem.k.f32_gemm(gyt, N, M, M, xp, K, 0, gW, K, 1, mem.zeros(mem.k.gemm_scratch_bytes() / 4));
        const gb = mem.zeros(N);
        mem.k.f32_colsum_acc(mem.f32(gy), M, N, gb);
        return { gx: mem.readF32(gx, M * K), gW: mem.readF32(gW, N * K), gb: mem.readF32(gb, N) };
      });
      const ref = linearVjp(x, W, gy, M, K, N);
      close('gx', out.gx, ref.gx);
      close('gW', out.gW, ref.gW);
      close('gb', out.gb, ref.gb);
    }, 800);
  });

  it('reference Linear VJP equals central differences', () => {
    check('linear VJP vs central differences', fc.record({ M: dimArb(8), K: dimArb(8), N: dimArb(8), seed: seedArb }), ({ M, K, N, seed }) => {
      const rng = new Rng(seed);
      const x = draw(rng, M * K, 'normal');
      const W = draw(rng, N * K, 'normal');
      const b = draw(rng, N, 'normal');
      const gy = draw(rng, M * N, 'normal');
      const v = direction(rng, M * K + N * K + N);
      const f = (p: Float64Array): number =>
        dot(gy, linear(p.subarray(0, M * K), p.subarray(M * K, M * K + N * K), p.subarray(M * K + N * K), M, K, N));
      const ref = linearVjp(x, W, gy, M, K, N);
      const analytic = dot(ref.gx, v.subarray(0, M * K)) + dot(ref.gW, v.subarray(M * K, M * K + N * K)) + dot(ref.gb, v.subarray(M * K + N * K));
      const p0 = new Float64Array([...x, ...W, ...b]);
      fdAgrees('linear', analytic, centralDiff(f, p0, v, 1e-6));
    }, 600);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Relevance

type MaskKind = 'none' | 'random' | 'all-pad-row' | 'prefix' | 'all-valid';

const relevanceCase = fc.record({
  B: fc.integer({ min: 1, max: 12 }), // beyond 8: the forward takes items in passes of at most 8 (G), the last one partial
  L: fc.oneof(fc.integer({ min: 1, max: 9 }), fc.constantFrom(16, 17)),
  d: dimArb(40),
  C: dimArb(40),
  mode: fc.constantFrom<MaskMode>('official', 'exclude'),
  mask: fc.constantFrom<MaskKind>('none', 'random', 'all-pad-row', 'prefix', 'all-valid'),
  temperature: fc.constantFrom(1, 0.07, 0.5, 1000),
  dist: fc.constantFrom<Dist>('ints', 'ints', 'normal', 'wide', 'sparse'),
  scales: fc.constantFrom(...SCALE_PAIRS),
  seed: seedArb,
});

function makeMask(rng: Rng, B: number, L: number, kind: MaskKind): Float64Array | null {
  if (kind === 'none') return null;
  const v = new Float64Array(B * L);
  for (let b = 0; b < B; b++) {
    const keep = 1 + Math.floor(rng.next() * L);
    for (let l = 0; l < L; l++) {
      v[b * L + l] = kind === 'all-valid' ? 1 : kind === 'prefix' ? (l < keep ? 1 : 0) : rng.next() < 0.6 ? 1 : 0;
    }
  }
  // 'all-pad-row': the last caption is padding only (and the random mask may produce such rows too).
  if (kind === 'all-pad-row') v.fill(0, (B - 1) * L, B * L);
  return v;
}

interface RelevanceRun {
  r: Float32Array;
  arg: Int32Array;
  gq: Float32Array;
  gT: Float32Array;
}

/**
 * Forward (whole dictionary), forward again by f32_relevance_fwd_part over the dictionary panels split at `cuts`
 * (as worker threads do; must give the same bits), then the backward accumulating into gq0 / gT0.
 */
function runRelevance(
  q: Float64Array, T: Float64Array, valid: Float64Array | null, B: number, L: number, d: number, C: number, scale: number,
  mode: MaskMode, gR: Float64Array, gq0: Float64Array, gT0: Float64Array, wantGq: boolean, wantGT: boolean, cuts: number[] = [],
): RelevanceRun {
  return onBoth(mods, (mem: Mem) => {
    const Tp = mem.zeros(panelFloats(C, d));
    const Tptr = mem.f32(T);
    mem.k.f32_pack_nt(Tptr, C, d, Tp);
    const r = mem.zeros(B * C);
    const arg = mem.zeros(B * C);
    const qptr = mem.f32(q);
    const vptr = valid ? mem.i32(valid) : 0;
    const m = mode === 'official' ? 0 : 1;
    const scratch = mem.bytes(mem.k.relevance_scratch_bytes(L));
    mem.k.f32_relevance_fwd(qptr, B, L, d, Tp, C, scale, vptr, m, r, arg, scratch);
    const panels = Math.ceil(C / 16);
    const bounds = [0, ...cuts.map((c) => Math.min(c, panels)).sort((a, b) => a - b), panels];
    const r2 = mem.f32(new Float64Array(B * C).fill(NaN));
    const arg2 = mem.i32(new Int32Array(B * C).fill(-7));
    for (let i = 0; i + 1 < bounds.length; i++) {
      mem.k.f32_relevance_fwd_part(qptr, B, L, d, Tp, C, scale, vptr, m, r2, arg2, scratch, bounds[i]!, bounds[i + 1]!);
    }
    identical('relevance by panel parts vs whole (r)', mem.readF32(r2, B * C), mem.readF32(r, B * C));
    identical('relevance by panel parts vs whole (arg)', mem.readI32(arg2, B * C), mem.readI32(arg, B * C));
    const gq = mem.f32(gq0);
    const gT = mem.f32(gT0);
    mem.k.f32_relevance_bwd(mem.f32(gR), arg, qptr, Tptr, B, L, C, d, scale, wantGq ? gq : 0, wantGT ? gT : 0);
    return { r: mem.readF32(r, B * C), arg: mem.readI32(arg, B * C), gq: mem.readF32(gq, B * L * d), gT: mem.readF32(gT, C * d) };
  });
}

describe('relevance (fused GEMM + max over tokens)', () => {
  it('forward equals the naive definition in both mask modes (random masks, all-padding rows, exact ties on integer data), also computed by dictionary-panel parts; backward accumulates the reference VJP through the recorded arg-max', () => {
    const arb = fc.record({ c: relevanceCase, wantGq: fc.boolean(), wantGT: fc.boolean(), cuts: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 2 }) });
    check('relevance fwd+bwd', arb, ({ c, wantGq, wantGT, cuts }) => {
      const { B, L, d, C, mode, mask, temperature, dist, seed } = c;
      const [eq, et] = dist === 'wide' ? [0, 0] : c.scales;
      const rng = new Rng(seed);
      const q = draw(rng, B * L * d, dist, pow2(eq));
      const T = draw(rng, C * d, dist, pow2(et));
      const valid = makeMask(rng, B, L, mask);
      const scale = Math.fround(1 / (Math.sqrt(d) * temperature));
      const unitR = pow2(eq + et) * scale;
      const gR = draw(rng, B * C, 'sparse'); // zeros where sparsemax would give no weight
      const gq0 = draw(rng, B * L * d, 'normal', pow2(et) * scale);
      const gT0 = draw(rng, C * d, 'normal', pow2(eq) * scale);
      const out = runRelevance(q, T, valid, B, L, d, C, scale, mode, gR, gq0, gT0, wantGq, wantGT, cuts);
      // The reference, with the scale the kernel was given (1 / (sqrt(d) temperature) rounded to float32).
      const ref = relevance(q, T, valid, B, L, C, d, 1 / (scale * Math.sqrt(d)), mode);
      close('r', out.r, ref.r, 1e-4, unitR);
      if (dist === 'ints') {
        // Integer data: every dot product is exact in float32, so ties are exact and the arg-max must agree exactly.
        equalInts('arg-max', out.arg, ref.argmax);
      } else {
        // Otherwise a different slot may win a near-tie: it must then score within the tolerance of the best.
        for (let i = 0; i < B * C; i++) {
          const a = out.arg[i]!;
          if (a === ref.argmax[i]) continue;
          const b = Math.floor(i / C);
          const cc = i % C;
          const hasPad = valid !== null && Array.from(valid.subarray(b * L, (b + 1) * L)).some((x) => x === 0);
          const score = a < 0 ? (mode === 'official' && hasPad ? 0 : -Infinity) : ref.scores[(b * L + a) * C + cc]!;
          if (a >= 0 && valid && valid[b * L + a] === 0) throw new Error(`(${b}, ${cc}): arg-max ${a} is a padded slot`);
          if (!(Math.abs(score - ref.r[i]!) <= 1e-4 * Math.max(unitR, Math.abs(ref.r[i]!)))) {
            throw new Error(`(${b}, ${cc}): kernel arg-max ${a} scores ${score}, the best (slot ${ref.argmax[i]}) ${ref.r[i]}`);
          }
        }
      }
      const g = relevanceVjp(q, T, Int32Array.from(out.arg), gR, B, L, C, d, 1 / (scale * Math.sqrt(d)));
      close('gq (acc)', out.gq, wantGq ? gq0.map((v, i) => v + g.gq[i]!) : gq0, 1e-4, pow2(et) * scale);
      close('gT (acc)', out.gT, wantGT ? gT0.map((v, i) => v + g.gT[i]!) : gT0, 1e-4, pow2(eq) * scale);
    }, 3000);
  });

  it('padding semantics: official mode floors a caption with padding at 0 (arg -1 when the padding wins, also for all-padding rows); exclude mode ignores padding (-Infinity, arg -1 for all-padding rows)', () => {
    check('relevance padding floor', fc.record({ L: fc.integer({ min: 1, max: 8 }), d: dimArb(20), C: dimArb(40), seed: seedArb }), ({ L, d, C, seed }) => {
      const rng = new Rng(seed);
      const B = 2;
      const q = draw(rng, B * L * d, 'normal');
      const T = draw(rng, C * d, 'normal');
      const valid = new Float64Array(B * L);
      valid.fill(1, 0, L - 1 > 0 ? L - 1 : 0); // caption 0: the last slot is padding (all padding when L = 1); caption 1: all padding
      for (const mode of ['official', 'exclude'] as const) {
        const out = runRelevance(q, T, valid, B, L, d, C, 1, mode, new Float64Array(B * C), new Float64Array(B * L * d), new Float64Array(C * d), true, true);
        for (let c = 0; c < C; c++) {
          const padRow = out.r[C + c]!;
          if (mode === 'official' ? !Object.is(padRow, 0) : padRow !== -Infinity) throw new Error(`${mode}: all-padding row scores ${padRow}`);
          if (out.arg[C + c] !== -1) throw new Error(`${mode}: all-padding row has arg-max ${out.arg[C + c]}`);
          if (mode === 'official' && L > 1) {
            if (!(out.r[c]! >= 0)) throw new Error(`official: a caption with padding scores ${out.r[c]} < 0`);
            if (out.arg[c] === -1 && !Object.is(out.r[c], 0)) throw new Error(`official: the padding won but r = ${out.r[c]}`);
          }
          if (out.arg[c]! >= 0 && valid[out.arg[c]!] === 0) throw new Error(`${mode}: arg-max is the padded slot`);
        }
      }
    }, 800);
  });

  it('reference VJP equals central differences of the reference forward (away from ties)', () => {
    check('relevance VJP vs central differences', fc.record({ c: relevanceCase }), ({ c }) => {
      const { B, L, mode, mask, temperature, seed } = c;
      const d = Math.min(c.d, 12);
      const C = Math.min(c.C, 12);
      const rng = new Rng(seed);
      const q = draw(rng, B * L * d, 'normal');
      const T = draw(rng, C * d, 'normal');
      const valid = makeMask(rng, B, L, mask);
      const tau = Math.max(temperature, 0.5);
      const ref = relevance(q, T, valid, B, L, C, d, tau, mode);
      // The max is differentiable where the winner leads the runner-up by a margin.
      let margin = Infinity;
      for (let b = 0; b < B; b++) {
        for (let cc = 0; cc < C; cc++) {
          const s: number[] = [];
          for (let l = 0; l < L; l++) {
            const v = ref.scores[(b * L + l) * C + cc]!;
            if (!Number.isNaN(v)) s.push(v);
          }
          s.sort((x, y) => y - x);
          if (s.length > 1) margin = Math.min(margin, s[0]! - s[1]!);
        }
      }
      fc.pre(margin > 1e-4);
      const gR = draw(rng, B * C, 'normal').map((g, i) => (Number.isFinite(ref.r[i]!) ? g : 0));
      const v = direction(rng, B * L * d + C * d);
      const f = (p: Float64Array): number => {
        const r = relevance(p.subarray(0, B * L * d), p.subarray(B * L * d), valid, B, L, C, d, tau, mode).r;
        let s = 0;
        for (let i = 0; i < r.length; i++) if (gR[i] !== 0) s += gR[i]! * r[i]!;
        return s;
      };
      const g = relevanceVjp(q, T, ref.argmax, gR, B, L, C, d, tau);
      const analytic = dot(g.gq, v.subarray(0, B * L * d)) + dot(g.gT, v.subarray(B * L * d));
      fdAgrees('relevance', analytic, centralDiff(f, new Float64Array([...q, ...T]), v, 1e-6));
    }, 1000);
  });
});
