// Every kernel on both builds against the float64 reference (test/reference), on shapes around the 16-column
// tile and the 4-lane vector (sizes 1, 2, 3, 4, 5, 15, 16, 17, 33), plus SIMD == scalar bit for bit.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { GOLDEN_DIR, GOLDEN_SKIP_REASON, HAS_GOLDEN } from './golden-io.js';
import { TEST_SHAPES } from '../bench/shapes.js';
import { BUILDS, expectClose, expectIdentical } from './helpers/close.js';
import { f32round, Harness } from './helpers/kernel-harness.js';
import {
  gelu, geluDerivative, infoNce, infoNceVjp, l2normalize, l2normalizeVjp, layerNorm, layerNormVjp, linear, linearVjp,
  relevance, relevanceVjp, softmax, softmaxVjp, sparsemaxSort, sparsemaxVjp, weightedSum, weightedSumVjp,
} from './reference/ops.js';
import { Rng } from './reference/rng.js';
import { instantiateKernels, relaxedSimdSupported } from '../bindings/kernels.js';
import { chooseTiles, chosenTiles } from '../bindings/tile-choice.js';
import { detectRuntime } from '../src/runtime.js';

const EDGE = [1, 2, 3, 4, 5, 15, 16, 17, 33];

function randn(rng: Rng, n: number, scale = 1): Float64Array {
  return f32round(rng.normals(n, scale));
}

/**
 * The packed-panel layout of an N x K operand (the GEMM's B side): column n of the output lives in panel n / 16, and
 * its depth-k value at panel * 16 K + 16 k + n % 16; the last panel's missing columns are zero.
 */
function panelLayout(N: number, K: number, at: (n: number, k: number) => number): Float32Array {
  const out = new Float32Array(Math.ceil(N / 16) * 16 * K);
  for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) out[Math.floor(n / 16) * 16 * K + k * 16 + (n % 16)] = at(n, k);
  return out;
}

const harness: Record<string, Harness> = {};
beforeAll(async () => {
  for (const b of BUILDS) harness[b] = await Harness.create(b);
});

describe.each(BUILDS)('kernels (%s build)', (build) => {
  const h = () => harness[build]!;

  it('reports its build', () => {
    expect(h().k.has_simd()).toBe(build === 'simd' ? 1 : 0);
  });

  it('gemm with packed panels matches x W^T + b at tile edges (pack_nt) and x B (pack_nn)', () => {
    const rng = new Rng(11);
    for (const M of [1, 2, 3, 17]) {
      for (const K of [1, 4, 5, 33]) {
        for (const N of [1, 15, 16, 17, 33]) {
          const x = randn(rng, M * K);
          const W = randn(rng, N * K);
          const b = randn(rng, N);
          const H = h();
          const packed = H.zeros(Math.ceil(N / 16) * 16 * K);
          H.k.f32_pack_nt(H.f32(W), N, K, packed);
          const y = H.zeros(M * N);
          H.k.f32_gemm(H.f32(x), M, K, K, packed, N, H.f32(b), y, N, 0, H.zeros(H.k.gemm_scratch_bytes() / 4));
          expectClose(`gemm nt M=${M} K=${K} N=${N}`, H.readF32(y, M * N), linear(x, W, b, M, K, N));
          // pack_nn of W^T ([K, N] row-major) must give the same panels' product, accumulated onto y.
          const Wt = new Float64Array(K * N);
          for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) Wt[k * N + n] = W[n * K + k]!;
          const packed2 = H.zeros(Math.ceil(N / 16) * 16 * K);
          H.k.f32_pack_nn(H.f32(Wt), K, N, packed2);
          H.k.f32_gemm(H.f32(x), M, K, K, packed2, N, 0, y, N, 1, H.zeros(H.k.gemm_scratch_bytes() / 4));
          const twice = linear(x, W, b, M, K, N).map((v, i) => v + (v - b[i % N]!));
          expectClose(`gemm nn accumulate M=${M} K=${K} N=${N}`, H.readF32(y, M * N), twice);
        }
      }
    }
  });

  it('tile_1x32 (the relevance forward\'s micro-kernel) gives one float32 multiply and add per term in k order for each of its 32 columns, at every depth mod 4 (its unrolled loop and its rest)', () => {
    const rng = new Rng(13);
    const f = Math.fround;
    for (const K of [1, 2, 3, 4, 5, 6, 7, 8, 255, 257]) {
      const H = h();
      const a = f32round(randn(rng, K));
      const panels = f32round(randn(rng, 2 * K * 16));
      const p = H.f32(panels);
      const out = H.f32(new Float64Array(32).fill(NaN)); // overwritten, not accumulated into
      H.k.tile_1x32(H.f32(a), p, p + K * 64, K, out);
      const want = new Float64Array(32);
      for (let h2 = 0; h2 < 2; h2++) {
        for (let j = 0; j < 16; j++) {
          let s2 = 0;
          for (let k = 0; k < K; k++) s2 = f(s2 + f(a[k]! * panels[h2 * K * 16 + k * 16 + j]!));
          want[h2 * 16 + j] = s2;
        }
      }
      expectIdentical(`tile_1x32 K=${K}`, H.readF32(out, 32), want);
    }
  });

  it('relevance forward over any split of the panels (odd starts and lengths, lone last panels) gives the bits of one call, on either micro-kernel', () => {
    const rng = new Rng(61);
    const H = h();
    const [B, L, d, C] = [2, 3, 37, 70]; // 5 panels, the last one partial
    const Tp = H.zeros(Math.ceil(C / 16) * 16 * d);
    H.k.f32_pack_nt(H.f32(f32round(randn(rng, C * d))), C, d, Tp);
    const q = H.f32(f32round(randn(rng, B * L * d)));
    const scratch = H.zeros(H.k.relevance_scratch_bytes(L) / 4);
    const run = (ranges: [number, number][]) => {
      const r = H.zeros(B * C);
      const arg = H.zeros(B * C);
      for (const [p0, p1] of ranges) H.k.f32_relevance_fwd_part(q, B, L, d, Tp, C, 0.5, 0, 0, r, arg, scratch, p0, p1);
      return [H.readF32(r, B * C), H.readI32(arg, B * C)] as const;
    };
    for (const tile of [1, 0]) {
      const previous = H.k.relevance_set_tile(tile);
      try {
        const [r, arg] = run([[0, 5]]);
        for (const ranges of [[[0, 1], [1, 4], [4, 5]], [[0, 3], [3, 5]], [[0, 2], [2, 3], [3, 5]], [[4, 5], [1, 2], [0, 1], [2, 4]]] as [number, number][][]) {
          const [r2, arg2] = run(ranges);
          const tag = `${tile ? 'tile_1x32' : 'tile_2x16'} ${JSON.stringify(ranges)}`;
          expectIdentical(`r ${tag}`, r2, r);
          expect(Array.from(arg2), `arg ${tag}`).toEqual(Array.from(arg));
        }
      } finally {
        H.k.relevance_set_tile(previous);
      }
    }
  });

  it('gemm over a depth cut into chunks of 512 (K = 513, 1024, 600; M across a 64-row block; a row stride) gives the bits of one float32 multiply and add per term in k order, then bias, then accumulation, its scratch used and not overrun', () => {
    const rng = new Rng(12);
    const f = Math.fround;
    const CANARY = 1234.5;
    // [M, K, N, lda]: lda > K reads A through a row stride.
    for (const [M, K, N, lda] of [[3, 513, 17, 513], [65, 1024, 16, 1027], [66, 600, 33, 600]] as const) {
      const H = h();
      const x = f32round(randn(rng, M * K));
      const xs = new Float64Array(M * lda).fill(3e38); // the stride's padding must not leak into C
      for (let m = 0; m < M; m++) for (let k = 0; k < K; k++) xs[m * lda + k] = x[m * K + k]!;
      const W = f32round(randn(rng, N * K));
      const b = f32round(randn(rng, N));
      const C0 = f32round(randn(rng, M * N));
      const packed = H.zeros(Math.ceil(N / 16) * 16 * K);
      H.k.f32_pack_nt(H.f32(W), N, K, packed);
      for (const [bias, accumulate] of [[false, 0], [true, 1]] as const) {
        const y = H.f32(C0);
        const bytes = H.k.gemm_scratch_bytes();
        const scratch = H.f32(new Float64Array(bytes / 4 + 16).fill(CANARY));
        H.k.f32_gemm(H.f32(xs), M, K, lda, packed, N, bias ? H.f32(b) : 0, y, N, accumulate, scratch);
        expect(Array.from(H.readF32(scratch + bytes, 16)), `past the scratch M=${M}`).toEqual(new Array(16).fill(CANARY));
        const want = new Float64Array(M * N);
        for (let m = 0; m < M; m++) {
          for (let n = 0; n < N; n++) {
            let s = 0;
            for (let k = 0; k < K; k++) s = f(s + f(x[m * K + k]! * W[n * K + k]!));
            if (bias) s = f(s + b[n]!);
            want[m * N + n] = accumulate ? f(C0[m * N + n]! + s) : s;
          }
        }
        expectIdentical(`gemm M=${M} K=${K} N=${N} bias=${bias}`, H.readF32(y, M * N), want);
        // By row ranges, as threads split it (f32_gemm_rows; m0 > 0 moves both A and C): the same bits.
        const yRows = H.f32(C0);
        const k = Math.floor(M / 3);
        for (const [m0, m1] of [[0, k], [k, M]]) {
          H.k.f32_gemm_rows(H.f32(xs), K, lda, packed, N, bias ? H.f32(b) : 0, yRows, N, accumulate, H.zeros(bytes / 4), m0!, m1!);
        }
        expectIdentical(`gemm_rows M=${M} K=${K} N=${N} bias=${bias}`, H.readF32(yRows, M * N), want);
      }
    }
  });

  it('transpose, pack_nt and pack_nn move every value exactly to its place (panels zero-padded), at tile and vector edges', () => {
    const H = h();
    const rng = new Rng(17);
    for (const R of EDGE) {
      for (const C of [...EDGE, 64]) {
        const x = Float32Array.from(randn(rng, R * C));
        const px = H.f32(x);
        const t = H.zeros(R * C);
        H.k.f32_transpose(px, R, C, t);
        const want = new Float32Array(R * C);
        for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) want[c * R + r] = x[r * C + c]!;
        expectIdentical(`transpose ${R}x${C}`, H.readF32(t, R * C), want);
        // x as [N = R, K = C] for pack_nt and as [K = R, N = C] for pack_nn (destinations pre-filled with 7, so
        // the zero padding is checked too).
        const nt = H.f32(new Float32Array(Math.ceil(R / 16) * 16 * C).fill(7));
        H.k.f32_pack_nt(px, R, C, nt);
        const wantNt = panelLayout(R, C, (n, k) => x[n * C + k]!);
        expectIdentical(`pack_nt ${R}x${C}`, H.readF32(nt, wantNt.length), wantNt);
        const nn = H.f32(new Float32Array(Math.ceil(C / 16) * 16 * R).fill(7));
        H.k.f32_pack_nn(px, R, C, nn);
        const wantNn = panelLayout(C, R, (n, k) => x[k * C + n]!);
        expectIdentical(`pack_nn ${R}x${C}`, H.readF32(nn, wantNn.length), wantNn);
      }
    }
  });

  it('Linear backward (transpose, pack_nn, gemm, colsum) matches the reference VJP', () => {
    const rng = new Rng(12);
    for (const [M, K, N] of [[3, 5, 17], [16, 16, 16], [1, 1, 1], [33, 4, 15]] as const) {
      const H = h();
      const x = randn(rng, M * K);
      const W = randn(rng, N * K);
      const gy = randn(rng, M * N);
      const ref = linearVjp(x, W, gy, M, K, N);
      const Wp = H.zeros(Math.ceil(K / 16) * 16 * N);
      H.k.f32_pack_nn(H.f32(W), N, K, Wp);
      const gx = H.zeros(M * K);
      H.k.f32_gemm(H.f32(gy), M, N, N, Wp, K, 0, gx, K, 0, H.zeros(H.k.gemm_scratch_bytes() / 4));
      expectClose('gx', H.readF32(gx, M * K), ref.gx);
      const gyt = H.zeros(N * M);
      H.k.f32_transpose(H.f32(gy), M, N, gyt);
      const xp = H.zeros(Math.ceil(K / 16) * 16 * M);
      H.k.f32_pack_nn(H.f32(x), M, K, xp);
      const gW = H.zeros(N * K);
      H.k.f32_gemm(gyt, N, M, M, xp, K, 0, gW, K, 1, H.zeros(H.k.gemm_scratch_bytes() / 4));
      expectClose('gW', H.readF32(gW, N * K), ref.gW);
      const gb = H.zeros(N);
      H.k.f32_colsum_acc(H.f32(gy), M, N, gb);
      expectClose('gb', H.readF32(gb, N), ref.gb);
    }
  });

  it.each(['official', 'exclude'] as const)('relevance forward and backward, %s mask mode, at tile edges', (mode) => {
    const rng = new Rng(mode === 'official' ? 21 : 22);
    // The last two: items in passes over the dictionary (8 per pass at small L d; 3 per pass at L d = 40 x 1024, the
    // last pass partial), captions of odd and even real lengths sharing tiles across items.
    // Then the benchmark grid's small and tile-edge shapes (bench/shapes.ts), which the suite times.
    const gridShapes = TEST_SHAPES.map((s) => [s.B, s.P, s.d, s.C] as const);
    for (const [B, L, d, C] of [[1, 1, 1, 1], [2, 3, 4, 15], [3, 5, 17, 16], [2, 2, 5, 17], [1, 7, 33, 33], [2, 4, 3, 40], [11, 3, 8, 20], [7, 40, 1024, 17], ...gridShapes] as const) {
      const H = h();
      const q = randn(rng, B * L * d);
      const T = randn(rng, C * d);
      // Caption b keeps its first L - b slots (at least one).
      const valid = Float64Array.from({ length: B * L }, (_, i) => (i % L < Math.max(1, L - Math.floor(i / L)) ? 1 : 0));
      const tau = 0.7;
      const ref = relevance(q, T, valid, B, L, C, d, tau, mode);
      const Tp = H.zeros(Math.ceil(C / 16) * 16 * d);
      const Tptr = H.f32(T);
      H.k.f32_pack_nt(Tptr, C, d, Tp);
      const r = H.zeros(B * C);
      const arg = H.zeros(B * C);
      const qptr = H.f32(q);
      const scale = 1 / (Math.sqrt(d) * tau);
      H.k.f32_relevance_fwd(qptr, B, L, d, Tp, C, scale, H.i32(valid), mode === 'official' ? 0 : 1, r, arg,
        H.zeros(H.k.relevance_scratch_bytes(L) / 4));
      expectClose(`r B=${B} L=${L} d=${d} C=${C}`, H.readF32(r, B * C), ref.r);
      expect(Array.from(H.readI32(arg, B * C))).toEqual(Array.from(ref.argmax));
      const gR = randn(rng, B * C);
      const refG = relevanceVjp(q, T, ref.argmax, gR, B, L, C, d, tau);
      const gq = H.zeros(B * L * d);
      const gT = H.zeros(C * d);
      const gRptr = H.f32(gR);
      H.k.f32_relevance_bwd(gRptr, arg, qptr, Tptr, B, L, C, d, scale, gq, gT);
      expectClose('gq', H.readF32(gq, B * L * d), refG.gq);
      expectClose('gT', H.readF32(gT, C * d), refG.gT);
      // Split as threads split them (items for GQ, dictionary rows for GT; a part may fit the in-cache path the whole
      // did not): the same bits.
      const [gqP, gTP] = [H.zeros(B * L * d), H.zeros(C * d)];
      const kb = Math.floor(B / 2);
      const kc = Math.floor(C / 3);
      for (const [b0, b1] of [[0, kb], [kb, B]]) H.k.f32_relevance_bwd_gq_part(gRptr, arg, Tptr, B, L, C, d, scale, gqP, b0!, b1!);
      for (const [c0, c1] of [[0, kc], [kc, C]]) H.k.f32_relevance_bwd_gt_part(gRptr, arg, qptr, B, L, C, d, scale, gTP, c0!, c1!);
      expectIdentical(`gq by item ranges B=${B} L=${L} d=${d} C=${C}`, H.readF32(gqP, B * L * d), H.readF32(gq, B * L * d));
      expectIdentical(`gT by dictionary-row ranges B=${B} L=${L} d=${d} C=${C}`, H.readF32(gTP, C * d), H.readF32(gT, C * d));
    }
  });

  it('relevance backward: with the dictionary within L2 (512 KiB) or beyond it, every gradient row gets its terms in increasing order, rounded one by one', () => {
    const rng = new Rng(23);
    const f = Math.fround;
    // C d 4 = 20 KiB (batch rows outside) and 563 KiB (dictionary rows outside).
    for (const [B, L, C, d] of [[3, 4, 40, 128], [2, 3, 1100, 128]] as const) {
      const H = h();
      const q = randn(rng, B * L * d);
      const T = randn(rng, C * d);
      const gR = Float64Array.from(randn(rng, B * C), (v, i) => (i % 5 === 0 ? 0 : v)); // some zero gradients
      const arg = Int32Array.from({ length: B * C }, (_, i) => (i % 7 === 3 ? -1 : (i * 31) % L)); // -1: the floor won
      const scale = f(0.37); // the kernel takes it as a float32
      // Emulation: GQ[b, arg] += (g scale) T[c] for c ascending; GT[c] += (g scale) q[b, arg] for b ascending.
      const gq = new Float64Array(B * L * d);
      const gT = new Float64Array(C * d);
      for (let c = 0; c < C; c++) {
        for (let b = 0; b < B; b++) {
          const g = gR[b * C + c]!;
          const a = arg[b * C + c]!;
          if (g === 0 || a < 0) continue;
          const gs = f(g * scale);
          for (let k = 0; k < d; k++) {
            const qi = (b * L + a) * d + k;
            gq[qi] = f(gq[qi]! + f(gs * T[c * d + k]!));
            gT[c * d + k] = f(gT[c * d + k]! + f(gs * q[qi]!));
          }
        }
      }
      const [gqOut, gTOut] = [H.zeros(B * L * d), H.zeros(C * d)];
      H.k.f32_relevance_bwd(H.f32(gR), H.i32(arg), H.f32(q), H.f32(T), B, L, C, d, scale, gqOut, gTOut);
      expectIdentical(`gq C=${C}`, H.readF32(gqOut, B * L * d), gq);
      expectIdentical(`gT C=${C}`, H.readF32(gTOut, C * d), gT);
    }
  });

  it('relevance forward, on either micro-kernel, over a depth cut into chunks gives the bits of one float32 multiply and add per term in k order: both mask modes, odd row counts per pass, several passes, scratch used to its end and not beyond', () => {
    const rng = new Rng(24);
    const f = Math.fround;
    const CANARY = 1234.5;
    // [B, L, d, C, real slots per item (null: every slot real)]. Groups of G items per pass: 2 at L d = 77 x 777, 5 at
    // 77 x 300 (one chunk of the 2x16 tile's 512, two of the 1x32 tile's 256), so each pass below has an odd count of
    // real rows; at 31 x 520 G = 8 and the 248 rows fill the scratch.
    const cases: [number, number, number, number, number[] | null][] = [
      [5, 77, 777, 40, [77, 76, 1, 2, 73]], [7, 77, 300, 33, [77, 76, 1, 2, 73, 40, 9]], [8, 31, 520, 17, null],
    ];
    for (const [B, L, d, C, keep] of cases) {
      const H = h();
      const q = f32round(randn(rng, B * L * d));
      const T = f32round(randn(rng, C * d));
      const Tp = H.zeros(Math.ceil(C / 16) * 16 * d);
      H.k.f32_pack_nt(H.f32(T), C, d, Tp);
      const qptr = H.f32(q);
      const valid = keep ? Int32Array.from({ length: B * L }, (_, i) => (i % L < keep[Math.floor(i / L)]! ? 1 : 0)) : null;
      // Scores as the tile forms them: one float32 product and one float32 add per term, in k order.
      const score = new Float64Array(B * L * C);
      for (let r = 0; r < B * L; r++) {
        for (let c = 0; c < C; c++) {
          let acc = 0;
          for (let k = 0; k < d; k++) acc = f(acc + f(q[r * d + k]! * T[c * d + k]!));
          score[r * C + c] = acc;
        }
      }
      const scale = f(0.05);
      // Both mask modes, on each of the forward's micro-kernels (tile_1x32, tile_2x16: relevance_set_tile).
      for (const [mode, tile] of [[0, 1], [1, 1], [0, 0], [1, 0]] as const) {
        const bytes = H.k.relevance_scratch_bytes(L);
        const scratch = H.f32(new Float64Array(bytes / 4 + 16).fill(CANARY));
        const r = H.zeros(B * C);
        const arg = H.zeros(B * C);
        const previous = H.k.relevance_set_tile(tile);
        try {
          H.k.f32_relevance_fwd(qptr, B, L, d, Tp, C, scale, valid ? H.i32(valid) : 0, mode, r, arg, scratch);
        } finally {
          H.k.relevance_set_tile(previous);
        }
        const [want, wantArg] = [new Float64Array(B * C), new Int32Array(B * C)];
        for (let b = 0; b < B; b++) {
          const firstPad = keep && keep[b]! < L ? keep[b]! : -1;
          for (let c = 0; c < C; c++) {
            let [best, at] = [-Infinity, -1];
            for (let l = 0; l < L; l++) {
              const v = score[(b * L + l) * C + c]!;
              if ((!valid || valid[b * L + l]) && v > best) [best, at] = [v, l];
            }
            if (mode === 0 && firstPad >= 0 && (best < 0 || (best === 0 && firstPad < at))) [best, at] = [0, -1];
            [want[b * C + c], wantArg[b * C + c]] = [f(best * scale), at];
          }
        }
        const tag = `B=${B} L=${L} d=${d} mode=${mode} ${tile ? 'tile_1x32' : 'tile_2x16'}`;
        expectIdentical(`r ${tag}`, H.readF32(r, B * C), want);
        expect(Array.from(H.readI32(arg, B * C)), `arg ${tag}`).toEqual(Array.from(wantArg));
        expect(Array.from(H.readF32(scratch + bytes, 16)), `past the scratch ${tag}`).toEqual(new Array(16).fill(CANARY));
        if (mode === 0 && keep) expect(wantArg.includes(-1), 'the padding floor wins somewhere').toBe(true);
      }
    }
  });

  it('relevance: the padding floor wins when every real token scores below 0 (official), and ties go to the first slot', () => {
    const H = h();
    const d = 2;
    const T = [1, 0];
    // Caption: slot 0 real with score -1, slot 1 padding; slot 2 real with score -3.
    const q = [-1, 0, 5, 5, -3, 0];
    const Tp = H.zeros(16 * d);
    H.k.f32_pack_nt(H.f32(T), 1, d, Tp);
    for (const [mode, want, wantArg] of [[0, 0, -1], [1, -1 / Math.sqrt(2), 0]] as const) {
      const r = H.zeros(1);
      const arg = H.zeros(1);
      H.k.f32_relevance_fwd(H.f32(q), 1, 3, d, Tp, 1, 1 / Math.sqrt(2), H.i32([1, 0, 1]), mode, r, arg, H.zeros(H.k.relevance_scratch_bytes(3) / 4));
      expect(H.readF32(r, 1)[0]).toBeCloseTo(want, 6);
      expect(H.readI32(arg, 1)[0]).toBe(wantArg);
    }
    // Two real slots with equal scores: the first index wins.
    const r = H.zeros(1);
    const arg = H.zeros(1);
    H.k.f32_relevance_fwd(H.f32([2, 0, 2, 0, 2, 0]), 1, 3, d, Tp, 1, 1, 0, 0, r, arg, H.zeros(H.k.relevance_scratch_bytes(3) / 4));
    expect(H.readI32(arg, 1)[0]).toBe(0);
  });

  it('sparsemax forward (linear time) equals the sort-based definition, with the closed-form backward', () => {
    const rng = new Rng(31);
    const cases: [number, number, number][] = [[1, 1, 1], [3, 2, 1], [4, 17, 1], [2, 64, 0.01], [2, 1000, 1], [3, 300, 30]];
    for (const [R, C, spread] of cases) {
      const H = h();
      const z = randn(rng, R * C, spread);
      const ref = sparsemaxSort(z, R, C);
      const p = H.zeros(R * C);
      const support = H.zeros(R);
      H.k.f32_sparsemax_fwd(H.f32(z), R, C, p, support, H.zeros(4 * C));
      const got = H.readF32(p, R * C);
      expectClose(`sparsemax R=${R} C=${C} spread=${spread}`, got, ref, 1e-5);
      for (let r = 0; r < R; r++) {
        let k = 0;
        let sum = 0;
        for (let c = 0; c < C; c++) {
          if (ref[r * C + c]! > 0) k++;
          sum += got[r * C + c]!;
        }
        expect(Math.abs(sum - 1)).toBeLessThan(1e-5);
        expect(H.readI32(support, R)[r]).toBe(k);
      }
      const g = randn(rng, R * C);
      const gz = H.zeros(R * C);
      H.k.f32_sparsemax_bwd(p, H.f32(g), R, C, gz);
      expectClose('sparsemax bwd', H.readF32(gz, R * C), sparsemaxVjp(ref, g, R, C), 1e-5);
    }
  });

  it('sparsemax: the SIMD build\'s float32 pre-filter keeps exactly the float64 test\'s set (rows on its boundary, shifts that round, non-finite values give the scalar build\'s bits)', () => {
    // The float32 neighbours of x (x itself, one step down, one step up).
    const f32 = new Float32Array(1);
    const bits = new Int32Array(f32.buffer);
    const step = (x: number, by: number): number => {
      f32[0] = x;
      if (f32[0] === 0) return by > 0 ? 1.4e-45 : -1.4e-45;
      bits[0]! += (f32[0]! > 0 ? by : -by);
      return f32[0]!;
    };
    const around = (x: number): number[] => [step(x, -1), Math.fround(x), step(x, 1)];
    const rng = new Rng(77);
    const rows: number[][] = [];
    // Each row: its max m, values on the float32 boundary of m - 1 (the first pass's bound), filler far below, and
    // values near m; C = 67 (four groups of sixteen and a tail of three) with the boundary values in every group.
    for (const m of [0.75, 1, 3.3, 1e6, 3e7, 1e30, -5, -1e20, 1.5e-40]) {
      const row = Array.from(randn(rng, 67, 1), (v) => Math.fround(m - 40 - Math.abs(v)));
      const edge = [...around(m - 1), ...around(m - 0.5), ...around(m)];
      for (let i = 0; i < edge.length; i++) row[(i * 7) % 67] = edge[i]!;
      row[66] = Math.fround(m);
      rows.push(row);
    }
    // A spread so wide that f64(z) - max rounds, ties at the top, signed zeros, and non-finite values.
    rows.push(Array.from({ length: 67 }, (_, i) => Math.fround((i % 2 ? 1 : -1) * 10 ** ((i % 61) - 30))));
    rows.push(Array.from({ length: 67 }, (_, i) => (i % 5 === 0 ? 1 : i % 5 === 1 ? step(1, -1) : i % 3 ? 0 : -0)));
    rows.push(Array.from({ length: 67 }, (_, i) => (i === 40 ? NaN : i % 2)));
    rows.push(Array.from({ length: 67 }, (_, i) => (i === 20 ? Infinity : i)));
    rows.push(Array.from({ length: 67 }, (_, i) => (i === 50 ? Infinity : i === 51 ? -Infinity : 0.5)));
    rows.push(new Array(67).fill(-Infinity));
    const [R, C] = [rows.length, 67];
    const z = Float64Array.from(rows.flat());
    expect(z.length).toBe(R * C);
    const run = (H: Harness) => {
      const p = H.zeros(R * C);
      const support = H.zeros(R);
      H.k.f32_sparsemax_fwd(H.f32(z), R, C, p, support, H.zeros(H.k.sparsemax_scratch_bytes(C) / 4));
      return { p: H.readF32(p, R * C), support: H.readI32(support, R) };
    };
    const simd = run(harness['simd']!);
    const scalar = run(harness['scalar']!);
    expectIdentical('sparsemax on the boundary: SIMD vs scalar', simd.p, scalar.p);
    expect(Array.from(simd.support)).toEqual(Array.from(scalar.support));
    // The finite rows also equal the sort-based definition.
    const finite = rows.map((r, i) => (r.every(Number.isFinite) ? i : -1)).filter((i) => i >= 0);
    for (const i of finite) {
      const ref = sparsemaxSort(Float64Array.from(rows[i]!), 1, C);
      expectClose(`sparsemax boundary row ${i}`, simd.p.subarray(i * C, (i + 1) * C), ref, 1e-5);
    }
  });

  it.skipIf(!HAS_GOLDEN)(`sparsemax on the official edge cases ${GOLDEN_SKIP_REASON}`, () => {
    const file = JSON.parse(readFileSync(path.join(GOLDEN_DIR, 'sparsemax_cases.json'), 'utf8')) as {
      cases: { name: string; z: number[][]; out: number[][]; upstream_grad: number[][]; vjp_closed_form: number[][]; support_size: number[] }[];
    };
    expect(file.cases.length).toBeGreaterThan(0);
    for (const c of file.cases) {
      const R = c.z.length;
      const C = c.z[0]!.length;
      const H = h();
      const p = H.zeros(R * C);
      const support = H.zeros(R);
      H.k.f32_sparsemax_fwd(H.f32(c.z.flat()), R, C, p, support, H.zeros(4 * C));
      expectClose(`sparsemax case ${c.name}`, H.readF32(p, R * C), c.out.flat(), 1e-5);
      expect(Array.from(H.readI32(support, R)), `support of ${c.name}`).toEqual(c.support_size);
      const gz = H.zeros(R * C);
      H.k.f32_sparsemax_bwd(p, H.f32(c.upstream_grad.flat()), R, C, gz);
      expectClose(`sparsemax vjp ${c.name}`, H.readF32(gz, R * C), c.vjp_closed_form.flat(), 1e-5);
    }
  });

  it('softmax forward and backward', () => {
    const rng = new Rng(41);
    for (const [R, C] of [[1, 1], [2, 17], [3, 100]] as const) {
      const H = h();
      const z = randn(rng, R * C, 3);
      const ref = softmax(z, R, C);
      const p = H.zeros(R * C);
      H.k.f32_softmax_fwd(H.f32(z), R, C, p);
      expectClose('softmax', H.readF32(p, R * C), ref, 1e-5);
      const g = randn(rng, R * C);
      const gz = H.zeros(R * C);
      H.k.f32_softmax_bwd(p, H.f32(g), R, C, gz);
      expectClose('softmax bwd', H.readF32(gz, R * C), softmaxVjp(ref, g, R, C), 1e-5);
    }
  });

  it('weighted sum and L2 normalisation, forward and backward', () => {
    const rng = new Rng(51);
    // The last two: GW's dot products run by 16 KiB blocks of dictionary rows (16 and 32 rows here), the last partial.
    for (const [B, C, d] of [[1, 1, 1], [2, 17, 5], [3, 33, 16], [2, 20, 33], [3, 40, 256], [2, 70, 128]] as const) {
      const H = h();
      const T = randn(rng, C * d);
      const w = f32round(sparsemaxSort(randn(rng, B * C), B, C)); // sparse rows, as in the head
      const Tptr = H.f32(T);
      const wptr = H.f32(w);
      const e = H.zeros(B * d);
      H.k.f32_wsum_fwd(wptr, Tptr, B, C, d, e);
      const refE = weightedSum(w, T, B, C, d);
      expectClose('wsum', H.readF32(e, B * d), refE);
      const gE = randn(rng, B * d);
      const ref = weightedSumVjp(w, T, gE, B, C, d);
      const gw = H.zeros(B * C);
      const gT = H.zeros(C * d);
      H.k.f32_wsum_bwd(wptr, Tptr, H.f32(gE), B, C, d, gw, gT, 0);
      expectClose('wsum gw (dense)', H.readF32(gw, B * C), ref.gw);
      expectClose('wsum gT', H.readF32(gT, C * d), ref.gT);
      const gwS = H.zeros(B * C);
      H.k.f32_wsum_bwd(wptr, Tptr, H.f32(gE), B, C, d, gwS, 0, 1);
      expectClose('wsum gw (support only)', H.readF32(gwS, B * C), ref.gw.map((v, i) => (w[i] !== 0 ? v : 0)));
      // Split as threads split it (dictionary rows [0, k) and [k, C), so other block boundaries): the same bits.
      const k = Math.floor(C / 3);
      const [gwP, gTP] = [H.zeros(B * C), H.zeros(C * d)];
      H.k.f32_wsum_bwd_part(wptr, Tptr, H.f32(gE), B, C, d, gwP, gTP, 0, 0, k);
      H.k.f32_wsum_bwd_part(wptr, Tptr, H.f32(gE), B, C, d, gwP, gTP, 0, k, C);
      expectIdentical('wsum gw split', H.readF32(gwP, B * C), H.readF32(gw, B * C));
      expectIdentical('wsum gT split', H.readF32(gTP, C * d), H.readF32(gT, C * d));
      const eh = H.zeros(B * d);
      const norms = H.zeros(B);
      H.k.f32_l2norm_fwd(e, B, d, eh, norms);
      expectClose('l2norm', H.readF32(eh, B * d), l2normalize(refE, B, d));
      const gy = randn(rng, B * d);
      const ge = H.zeros(B * d);
      H.k.f32_l2norm_bwd(eh, norms, H.f32(gy), B, d, ge);
      expectClose('l2norm bwd', H.readF32(ge, B * d), l2normalizeVjp(refE, gy, B, d));
    }
  });

  it('InfoNCE forward and backward, with the logit-scale gradient through the unclamped exp', () => {
    const rng = new Rng(61);
    // The last: exp(logit_scale) underflows to 0 (every logit 0), where the derivative is 0, not 0 / 0.
    for (const [B, d, p] of [[1, 3, 2.659], [4, 8, 3.2], [5, 17, 4.8], [3, 5, 5.5], [3, 4, -800]] as const) {
      const H = h();
      const Ei = l2normalize(randn(rng, B * d), B, d);
      const Et = l2normalize(randn(rng, B * d), B, d);
      const Ei32 = f32round(Ei);
      const Et32 = f32round(Et);
      const ref = infoNce(Ei32, Et32, B, d, p);
      const refG = infoNceVjp(Ei32, Et32, B, d, p, 1);
      const logits = H.zeros(B * B);
      const gEi = H.zeros(B * d);
      const gEt = H.zeros(B * d);
      const out = H.zeros(6);
      H.k.f32_infonce(H.f32(Ei32), H.f32(Et32), B, d, p, logits, gEi, gEt, out, H.zeros(H.k.infonce_scratch_bytes(B, d) / 4));
      const [loss, gScale, s] = H.readF64(out, 3);
      // The loss, the scale and its gradient are float64 sums over the float32 embeddings the reference also reads.
      expect(Math.abs(loss! - ref.loss)).toBeLessThan(1e-9 * Math.max(1, ref.loss));
      expect(Math.abs(s! - ref.scaleUsed)).toBeLessThan(1e-9);
      expect(Math.abs(gScale! - refG.gLogitScaleParam)).toBeLessThan(1e-9 * Math.max(1, Math.abs(refG.gLogitScaleParam)));
      expectClose('logits', H.readF32(logits, B * B), ref.logitsPerImage);
      expectClose('gEi', H.readF32(gEi, B * d), refG.gEi);
      expectClose('gEt', H.readF32(gEt, B * d), refG.gEt);
    }
  });

  it('LayerNorm forward and backward', () => {
    const rng = new Rng(71);
    for (const [M, D] of [[1, 1], [1, 2], [3, 17], [4, 33]] as const) {
      const H = h();
      const x = randn(rng, M * D, 2);
      const gamma = randn(rng, D);
      const beta = randn(rng, D);
      const y = H.zeros(M * D);
      const mean = H.zeros(M);
      const rstd = H.zeros(M);
      const xp = H.f32(x);
      const gp = H.f32(gamma);
      H.k.f32_layernorm_fwd(xp, M, D, gp, H.f32(beta), 1e-5, y, mean, rstd);
      expectClose(`layernorm M=${M} D=${D}`, H.readF32(y, M * D), layerNorm(x, gamma, beta, M, D));
      const gy = randn(rng, M * D);
      const ref = layerNormVjp(x, gamma, gy, M, D);
      const gx = H.zeros(M * D);
      const gg = H.zeros(D);
      const gb = H.zeros(D);
      H.k.f32_layernorm_bwd(xp, H.f32(gy), M, D, gp, mean, rstd, gx, gg, gb);
      expectClose('layernorm gx', H.readF32(gx, M * D), ref.gx);
      expectClose('layernorm ggamma', H.readF32(gg, D), ref.gGamma);
      expectClose('layernorm gbeta', H.readF32(gb, D), ref.gBeta);
      // The parameter half alone over column ranges, as threads split it (k off the 4-column vectors): the same bits.
      const k = Math.floor(D / 3) | 1;
      const [gg2, gb2] = [H.zeros(D), H.zeros(D)];
      for (const [c0, c1] of [[0, Math.min(k, D)], [Math.min(k, D), D]]) H.k.f32_layernorm_bwd_params(xp, H.f32(gy), M, D, mean, rstd, gg2, gb2, c0!, c1!);
      expectIdentical('layernorm ggamma by column ranges', H.readF32(gg2, D), H.readF32(gg, D));
      expectIdentical('layernorm gbeta by column ranges', H.readF32(gb2, D), H.readF32(gb, D));
    }
  });

  it('LayerNorm then Linear, parameter gradients without the input gradient (xhat, G = gy^T xhat, ln_linear_param_grads), match the reference VJPs', () => {
    const rng = new Rng(73);
    for (const [M, K, N] of [[1, 1, 1], [3, 5, 17], [16, 16, 16], [33, 17, 4], [5, 33, 15]] as const) {
      const H = h();
      const x = randn(rng, M * K, 2);
      const gamma = randn(rng, K);
      const beta = randn(rng, K);
      const W = randn(rng, N * K);
      const gy = randn(rng, M * N);
      // Reference: a = LN(x); gA = gy W; LN's VJP of gA.
      const a = layerNorm(x, gamma, beta, M, K);
      const lin = linearVjp(a, W, gy, M, K, N);
      const ln = layerNormVjp(x, gamma, lin.gx, M, K);
      const ones = Float64Array.from({ length: K }, () => 1);
      const xhatRef = layerNorm(x, ones, new Float64Array(K), M, K);
      const mean = H.zeros(M);
      const rstd = H.zeros(M);
      const xp = H.f32(x);
      H.k.f32_layernorm_fwd(xp, M, K, H.f32(gamma), H.f32(beta), 1e-5, H.zeros(M * K), mean, rstd);
      const xh = H.zeros(M * K);
      H.k.f32_layernorm_xhat(xp, M, K, mean, rstd, xh);
      expectClose(`xhat M=${M} K=${K}`, H.readF32(xh, M * K), xhatRef);
      const xhp = H.zeros(Math.ceil(K / 16) * 16 * M);
      H.k.f32_pack_nn(xh, M, K, xhp);
      const gyt = H.zeros(N * M);
      H.k.f32_transpose(H.f32(gy), M, N, gyt);
      const G = H.zeros(N * K);
      H.k.f32_gemm(gyt, N, M, M, xhp, K, 0, G, K, 0, H.zeros(H.k.gemm_scratch_bytes() / 4));
      const S = H.zeros(N);
      H.k.f32_colsum_acc(H.f32(gy), M, N, S);
      // The outputs accumulate: start them from known values and subtract those.
      const start = { gW: randn(rng, N * K), gb: randn(rng, N), gg: randn(rng, K), gbeta: randn(rng, K) };
      const [gW, gb, gg, gbeta] = [H.f32(start.gW), H.f32(start.gb), H.f32(start.gg), H.f32(start.gbeta)];
      H.k.f32_ln_linear_param_grads(G, S, H.f32(W), H.f32(gamma), H.f32(beta), N, K, gW, gb, gg, gbeta);
      const minus = (v: Float32Array, s0: Float64Array) => Float64Array.from(v, (y, i) => y - s0[i]!);
      expectClose(`gW M=${M} K=${K} N=${N}`, minus(H.readF32(gW, N * K), start.gW), lin.gW);
      expectClose('gb', minus(H.readF32(gb, N), start.gb), lin.gb);
      expectClose('ggamma', minus(H.readF32(gg, K), start.gg), ln.gGamma);
      expectClose('gbeta', minus(H.readF32(gbeta, K), start.gbeta), ln.gBeta);
    }
  });

  it('LayerNorm sums each row in float64 as eight partial sums (value j into sum j mod 8, combined ((s0+s4)+(s2+s6))+((s1+s5)+(s3+s7)), then the tail in order)', () => {
    const H = h();
    const f = Math.fround;
    // The documented order, in float64, of a row of float32 values.
    const rowSum = (v: ArrayLike<number>): number => {
      const D = v.length;
      const p = new Float64Array(8);
      let j = 0;
      for (; j + 8 <= D; j += 8) for (let t = 0; t < 8; t++) p[t] += v[j + t]!;
      let total = ((p[0]! + p[4]!) + (p[2]! + p[6]!)) + ((p[1]! + p[5]!) + (p[3]! + p[7]!));
      for (; j < D; j++) total += v[j]!;
      return total;
    };
    // 2^60 + 1 loses the 1 in float64: summed in order this row is 3, in the documented order 5, and any other
    // pairing of the eight sums gives 3 or 4.
    const D = 21;
    const x = new Float64Array(D);
    [x[0], x[1], x[2], x[4], x[16]] = [2 ** 60, 1, 1, -(2 ** 60), 3];
    const gamma = new Float64Array(D).fill(1);
    const beta = new Float64Array(D);
    const [mean, rstd] = [H.zeros(1), H.zeros(1)];
    H.k.f32_layernorm_fwd(H.f32(x), 1, D, H.f32(gamma), H.f32(beta), 1e-5, H.zeros(D), mean, rstd);
    const m = rowSum(x) / D;
    expect(m).toBe(5 / D);
    expect(H.readF32(mean, 1)[0]).toBe(f(m));
    const dev = Array.from(x, (v) => (v - m) * (v - m));
    expect(H.readF32(rstd, 1)[0]).toBe(f(1 / Math.sqrt(rowSum(dev) / D + f(1e-5))));
    // Backward: the same order for sum(gy gamma) and sum(gy gamma xh); gx compared bit for bit with that order.
    const gy = new Float64Array(D);
    [gy[0], gy[1], gy[2], gy[4], gy[20]] = [2 ** 60, 1, 1, -(2 ** 60), 0.5];
    const [mu, rs] = [H.readF32(mean, 1)[0]!, H.readF32(rstd, 1)[0]!];
    const xh = Array.from(x, (v) => f(f(v - mu) * rs));
    const gxh = Array.from(gy, (g, j) => f(g * f(gamma[j]!)));
    const ma = f(rowSum(gxh) / D);
    const mb = f(rowSum(gxh.map((g, j) => g * xh[j]!)) / D);
    const want = xh.map((xj, j) => f(rs * f(f(gxh[j]! - ma) - f(xj * mb))));
    const gx = H.zeros(D);
    H.k.f32_layernorm_bwd(H.f32(x), H.f32(gy), 1, D, H.f32(gamma), mean, rstd, gx, 0, 0);
    expectIdentical('layernorm gx', H.readF32(gx, D), want);
  });

  it('exact GELU to float32 accuracy (|error| <= 3e-7 max(1, |x|)) and its derivative', () => {
    const H = h();
    const xs = Float64Array.from({ length: 2001 }, (_, i) => f32round([-10 + i * 0.01])[0]!);
    const y = H.zeros(xs.length);
    const erfc = H.zeros(2 * xs.length); // float64 [n]
    H.k.f32_gelu_fwd(H.f32(xs), xs.length, y, erfc);
    const g = H.zeros(xs.length);
    const ones = H.f32(new Float64Array(xs.length).fill(1));
    H.k.f32_gelu_bwd(H.f32(xs), ones, xs.length, g, 0);
    const got = H.readF32(y, xs.length);
    const gotD = H.readF32(g, xs.length);
    // Without the erfc output the forward gives the same bits; the backward from the stored erfc too.
    const y0 = H.zeros(xs.length);
    H.k.f32_gelu_fwd(H.f32(xs), xs.length, y0, 0);
    expectIdentical('gelu without the erfc output', H.readF32(y0, xs.length), got);
    const gStored = H.zeros(xs.length);
    H.k.f32_gelu_bwd(H.f32(xs), ones, xs.length, gStored, erfc);
    expectIdentical("gelu' from the stored erfc", H.readF32(gStored, xs.length), gotD);
    for (let i = 0; i < xs.length; i++) {
      const x = xs[i]!;
      expect(Math.abs(got[i]! - gelu(x)), `gelu(${x})`).toBeLessThanOrEqual(3e-7 * Math.max(1, Math.abs(x)));
      expect(Math.abs(gotD[i]! - geluDerivative(x)), `gelu'(${x})`).toBeLessThanOrEqual(3e-7 * Math.max(1, Math.abs(x)));
    }
  });

  it('AdamW step matches a float64 AdamW with decoupled weight decay over several steps', () => {
    const rng = new Rng(81);
    const H = h();
    const n = 37;
    const p0 = randn(rng, n);
    const pp = H.f32(p0);
    const m = H.zeros(n);
    const v = H.zeros(n);
    const [lr, b1, b2, eps, wd] = [1e-2, 0.9, 0.98, 1e-8, 0.1];
    const P = Float64Array.from(p0);
    const Mr = new Float64Array(n);
    const Vr = new Float64Array(n);
    for (let t = 1; t <= 5; t++) {
      const g = randn(rng, n);
      H.k.f32_adamw_step(pp, H.f32(g), m, v, n, lr, b1, b2, eps, wd, t);
      for (let i = 0; i < n; i++) {
        P[i] = P[i]! * (1 - lr * wd);
        Mr[i] = b1 * Mr[i]! + (1 - b1) * g[i]!;
        Vr[i] = b2 * Vr[i]! + (1 - b2) * g[i]! * g[i]!;
        const denom = Math.sqrt(Vr[i]!) / Math.sqrt(1 - b2 ** t) + eps;
        P[i] = P[i]! - (lr / (1 - b1 ** t)) * (Mr[i]! / denom);
      }
    }
    expectClose('adamw params', H.readF32(pp, n), P, 1e-5);
  });

  it('first non-finite value: -1 when all are finite (even at +-3.4e38), else the index of the first NaN or infinity', () => {
    const H = h();
    const rng = new Rng(83);
    // Lengths around the 16-value SIMD step and the 4,096-value block the kernel sums before scanning.
    for (const n of [0, 1, 3, 15, 16, 17, 4095, 4096, 4097, 9000]) {
      const x = Float32Array.from(randn(rng, n));
      if (n > 2) x[n - 1] = 3.4e38;
      if (n > 3) x[1] = -3.4e38;
      expect(H.k.f32_first_nonfinite(H.f32(x), n), `finite, n = ${n}`).toBe(-1);
      for (const at of [0, Math.floor(n / 2), n - 1, 4095, 4096].filter((i) => i >= 0 && i < n)) {
        for (const bad of [NaN, Infinity, -Infinity]) {
          const y = x.slice();
          y[at] = bad;
          if (at + 7 < n) y[at + 7] = NaN; // a later bad value does not hide the first
          expect(H.k.f32_first_nonfinite(H.f32(y), n), `${bad} at ${at} of ${n}`).toBe(at);
        }
      }
    }
  });
});

/**
 * One call of each of several kernels on the same inputs (q [B, L, d], dictionary T [C, d], weights w [B, C]), read
 * back by name: what the build-equality tests compare.
 */
function mixedKernels(H: Harness, q: Float64Array, T: Float64Array, w: Float64Array, B: number, L: number, d: number, C: number): Record<string, Float32Array> {
  const Tp = H.zeros(Math.ceil(C / 16) * 16 * d);
  H.k.f32_pack_nt(H.f32(T), C, d, Tp);
  const r = H.zeros(B * C);
  H.k.f32_relevance_fwd(H.f32(q), B, L, d, Tp, C, 0.3, 0, 0, r, H.zeros(B * C), H.zeros(H.k.relevance_scratch_bytes(L) / 4));
  const y = H.zeros(B * L * C);
  H.k.f32_gemm(H.f32(q), B * L, d, d, Tp, C, 0, y, C, 0, H.zeros(H.k.gemm_scratch_bytes() / 4));
  const e = H.zeros(B * d);
  H.k.f32_wsum_fwd(H.f32(w), H.f32(T), B, C, d, e);
  const gw = H.zeros(B * C);
  H.k.f32_wsum_bwd(H.f32(w), H.f32(T), e, B, C, d, gw, 0, 0);
  const ln = H.zeros(B * L * d);
  H.k.f32_layernorm_fwd(H.f32(q), B * L, d, H.f32(T.subarray(0, d)), H.f32(T.subarray(d, 2 * d)), 1e-5, ln, H.zeros(B * L), H.zeros(B * L));
  const lnStats = [H.zeros(B * L), H.zeros(B * L)] as const;
  H.k.f32_layernorm_fwd(H.f32(q), B * L, d, H.f32(T.subarray(0, d)), H.f32(T.subarray(d, 2 * d)), 1e-5, H.zeros(B * L * d), ...lnStats);
  const lnb = [H.zeros(B * L * d), H.zeros(d), H.zeros(d)] as const;
  H.k.f32_layernorm_bwd(H.f32(q), H.f32(T.subarray(0, B * L * d)), B * L, d, H.f32(T.subarray(0, d)), ...lnStats, ...lnb);
  const p = H.zeros(B * C);
  H.k.f32_sparsemax_fwd(H.f32(q.subarray(0, B * C)), B, C, p, 0, H.zeros(H.k.sparsemax_scratch_bytes(C) / 4));
  const pp = H.f32(T);
  H.k.f32_adamw_step(pp, H.f32(q.subarray(0, C * d)), H.zeros(C * d), H.zeros(C * d), C * d, 1e-3, 0.9, 0.98, 1e-8, 0.1, 1);
  // Data movement (4 x 4 register transposes and v128 copies in the SIMD build) and the column sums.
  const tq = H.zeros(B * L * d);
  H.k.f32_transpose(H.f32(q), B * L, d, tq);
  const tT = H.zeros(C * d);
  H.k.f32_transpose(H.f32(T), C, d, tT);
  const nn = H.zeros(Math.ceil(d / 16) * 16 * B * L);
  H.k.f32_pack_nn(H.f32(q), B * L, d, nn);
  const nnT = H.zeros(Math.ceil(C / 16) * 16 * d);
  H.k.f32_pack_nn(H.f32(T), d, C, nnT);
  const cs = H.f32(T.subarray(0, d));
  H.k.f32_colsum_acc(H.f32(q), B * L, d, cs);
  // LayerNorm's normalised input, and Lin(LN(x))'s parameter gradients from G (here the first rows of T).
  const xh = H.zeros(B * L * d);
  H.k.f32_layernorm_xhat(H.f32(q), B * L, d, H.f32(q.subarray(0, B * L)), H.f32(q.subarray(B * L, 2 * B * L)), xh);
  const [Np, Kp] = [B * L, d];
  const lg = [H.zeros(Np * Kp), H.zeros(Np), H.zeros(Kp), H.zeros(Kp)] as const;
  H.k.f32_ln_linear_param_grads(H.f32(T.subarray(0, Np * Kp)), H.f32(w.subarray(0, Np)), H.f32(q.subarray(0, Np * Kp)),
    H.f32(T.subarray(0, Kp)), H.f32(T.subarray(Kp, 2 * Kp)), Np, Kp, ...lg);
  // InfoNCE over B pairs of [L * d] rows of q and T (float64 inside; logits and both embedding gradients).
  const [nB, nd] = [B * 2, L * d / 2 | 0];
  const lg2 = H.zeros(nB * nB);
  const gi = H.zeros(nB * nd);
  const gt = H.zeros(nB * nd);
  H.k.f32_infonce(H.f32(q.subarray(0, nB * nd)), H.f32(T.subarray(0, nB * nd)), nB, nd, 2.5, lg2, gi, gt, H.zeros(6),
    H.zeros(H.k.infonce_scratch_bytes(nB, nd) / 4));
  // GELU forward keeping erfc(-x / sqrt 2), and its backward with and without the kept values (float64 inside).
  const [gq, nq] = [H.f32(q), B * L * d];
  const gy1 = H.zeros(nq);
  const ec = H.zeros(2 * nq);
  H.k.f32_gelu_fwd(gq, nq, gy1, ec);
  const [gb0, gb1] = [H.zeros(nq), H.zeros(nq)];
  H.k.f32_gelu_bwd(gq, H.f32(T.subarray(0, nq)), nq, gb0, 0);
  H.k.f32_gelu_bwd(gq, H.f32(T.subarray(0, nq)), nq, gb1, ec);
  return {
    gelu: H.readF32(gy1, nq), 'gelu bwd': H.readF32(gb0, nq), 'gelu bwd (kept erfc)': H.readF32(gb1, nq),
    infonce: Float32Array.from([...H.readF32(lg2, nB * nB), ...H.readF32(gi, nB * nd), ...H.readF32(gt, nB * nd)]),
    relevance: H.readF32(r, B * C), gemm: H.readF32(y, B * L * C), wsum: H.readF32(e, B * d), 'wsum bwd (dot)': H.readF32(gw, B * C),
    layernorm: H.readF32(ln, B * L * d), 'layernorm bwd': Float32Array.from([...H.readF32(lnb[0], B * L * d), ...H.readF32(lnb[1], d), ...H.readF32(lnb[2], d)]),
    sparsemax: H.readF32(p, B * C), adamw: H.readF32(pp, C * d),
    'pack_nt': H.readF32(Tp, Math.ceil(C / 16) * 16 * d), transpose: H.readF32(tq, B * L * d), 'transpose T': H.readF32(tT, C * d),
    'pack_nn': H.readF32(nn, Math.ceil(d / 16) * 16 * B * L), 'pack_nn T': H.readF32(nnT, Math.ceil(C / 16) * 16 * d), colsum: H.readF32(cs, d),
    xhat: H.readF32(xh, B * L * d), 'ln_linear gW': H.readF32(lg[0], Np * Kp), 'ln_linear gb': H.readF32(lg[1], Np),
    'ln_linear ggamma': H.readF32(lg[2], Kp), 'ln_linear gbeta': H.readF32(lg[3], Kp),
  };
}

describe('SIMD and scalar builds give identical bits', () => {
  it('relevance, GEMM, weighted sum, LayerNorm (and its parameter gradients through Linear), GELU, InfoNCE, sparsemax, AdamW, packing, transposes and column sums', () => {
    const rng = new Rng(91);
    const [B, L, d, C] = [3, 7, 37, 45];
    const q = randn(rng, B * L * d);
    const T = randn(rng, C * d);
    const w = f32round(sparsemaxSort(randn(rng, B * C), B, C));
    const simd = mixedKernels(harness['simd']!, q, T, w, B, L, d, C);
    const scalar = mixedKernels(harness['scalar']!, q, T, w, B, L, d, C);
    for (const n of Object.keys(simd)) expectIdentical(n, simd[n]!, scalar[n]!);
  });
});

// The SIMD tile broadcasts its two row values per k step from memory (v128.load32_splat) or by a scalar load and a
// register broadcast (tile_set_broadcast), whichever this process timed faster on its first instance of the build
// and memory kind (bindings/tile-choice.ts). Both must give the same bits, in every kernel built on the tile,
// chunked depth included. (Since they do, no bits test can tell whether the tile follows the setting; tile-code.ts
// times the shipped tile with each.)
describe('the tile\'s two broadcasts', () => {
  it('default to the one this process timed for the build and memory (and so does the relevance tile), report the previous setting when set, and the timing frees what it allocated', async () => {
    const k = harness['simd']!.k;
    const shared = typeof SharedArrayBuffer === 'function' && k.memory.buffer instanceof SharedArrayBuffer;
    const chosen = chosenTiles('simd', shared);
    expect(typeof chosen?.broadcastFromMemory, 'chosen when the first instance was made').toBe('boolean');
    expect(typeof chosen?.relevanceOn1x32).toBe('boolean');
    const initial = k.tile_set_broadcast(1);
    const initialTile = k.relevance_set_tile(1);
    try {
      expect(initial).toBe(chosen!.broadcastFromMemory ? 1 : 0);
      expect(initialTile).toBe(chosen!.relevanceOn1x32 ? 1 : 0);
      expect(k.tile_set_broadcast(0)).toBe(1);
      expect(k.tile_set_broadcast(7)).toBe(0); // any non-zero value means "from memory"
      expect(k.tile_set_broadcast(0)).toBe(1);
      expect(k.relevance_set_tile(0)).toBe(1);
      expect(k.relevance_set_tile(3)).toBe(0);
    } finally {
      k.tile_set_broadcast(initial);
      k.relevance_set_tile(initialTile);
    }
    // A fresh plain instance: the process's choices for it (timed on the first one), nothing left allocated.
    const plain = await instantiateKernels('simd', false);
    const plainChoice = chosenTiles('simd', false)!;
    expect(plain.k.tile_set_broadcast(1)).toBe(plainChoice.broadcastFromMemory ? 1 : 0);
    expect(plain.k.relevance_set_tile(1)).toBe(plainChoice.relevanceOn1x32 ? 1 : 0);
    expect(plain.arena.liveBytes).toBe(0);
    // The scalar build has no SIMD tile: nothing to time, the defaults kept.
    const scalar = await instantiateKernels('scalar', false);
    expect(chooseTiles(scalar, false)).toEqual({ broadcastFromMemory: true, relevanceOn1x32: true });
    expect(scalar.k.tile_set_broadcast(1)).toBe(1);
  });

  it.each([[3, 7, 37, 45], [2, 5, 300, 21]])('give identical bits in every kernel (B %i, L %i, d %i, C %i), on the SIMD build and, where it runs, the relaxed one', async (B, L, d, C) => {
    const rng = new Rng(95 + d);
    const q = randn(rng, B * L * d);
    const T = randn(rng, C * d);
    const w = f32round(sparsemaxSort(randn(rng, B * C), B, C));
    const builds: [string, Harness][] = [['simd', harness['simd']!]];
    if (relaxedSimdSupported()) builds.push(['relaxed', await Harness.create('relaxed')]);
    for (const [name, h] of builds) {
      const initial = h.k.tile_set_broadcast(1);
      const initialTile = h.k.relevance_set_tile(1);
      try {
        const fromMemory = mixedKernels(h, q, T, w, B, L, d, C);
        h.k.tile_set_broadcast(0);
        const register = mixedKernels(h, q, T, w, B, L, d, C);
        for (const n of Object.keys(fromMemory)) expectIdentical(`${name} ${n}: from memory vs register broadcast`, fromMemory[n]!, register[n]!);
        h.k.relevance_set_tile(0);
        const on2x16 = mixedKernels(h, q, T, w, B, L, d, C);
        for (const n of Object.keys(fromMemory)) expectIdentical(`${name} ${n}: relevance on tile_1x32 vs tile_2x16`, fromMemory[n]!, on2x16[n]!);
      } finally {
        h.k.tile_set_broadcast(initial);
        h.k.relevance_set_tile(initialTile);
      }
    }
  });
});

// The opt-in relaxed build: fused multiply-add in the GEMM micro-kernel only. Its GEMM and relevance results round
// once per multiply-add, so they are compared with the float64 reference (as the other builds are); every kernel
// without a GEMM must give the SIMD build's bits exactly.
const RELAXED = relaxedSimdSupported();
describe.skipIf(!RELAXED)(`relaxed build (fused multiply-add)${RELAXED ? '' : ': skipped, this runtime has no relaxed SIMD (Node 20 without --experimental-wasm-relaxed-simd)'}`, () => {
  it('GEMM and relevance match the float64 reference; weighted sum, LayerNorm, sparsemax, AdamW equal the SIMD build bit for bit', async () => {
    const R = await Harness.create('relaxed');
    expect(R.k.has_simd()).toBe(1);
    const rng = new Rng(93);
    const [B, L, d, C] = [3, 7, 37, 45];
    const q = randn(rng, B * L * d);
    const T = randn(rng, C * d);
    const w = f32round(sparsemaxSort(randn(rng, B * C), B, C));
    const a = mixedKernels(R, q, T, w, B, L, d, C);
    const b = mixedKernels(harness['simd']!, q, T, w, B, L, d, C);
    // Kernel scale 0.3 = 1 / (sqrt(d) tau).
    expectClose('relaxed relevance vs reference', a['relevance']!, relevance(q, T, null, B, L, C, d, 1 / (0.3 * Math.sqrt(d))).r);
    expectClose('relaxed gemm vs reference', a['gemm']!, linear(q, T, null, B * L, d, C));
    for (const k of ['wsum', 'layernorm', 'layernorm bwd', 'sparsemax', 'adamw', 'xhat', 'ln_linear gW', 'ln_linear ggamma', 'infonce', 'gelu', 'gelu bwd', 'gelu bwd (kept erfc)']) expectIdentical(`relaxed ${k} vs simd`, a[k]!, b[k]!);
  });

  it('GEMM and relevance (on either tile) over a depth cut into chunks (K = d = 600) match the float64 reference', async () => {
    const R = await Harness.create('relaxed');
    const rng = new Rng(94);
    const [B, L, d, C] = [3, 5, 600, 21];
    const q = randn(rng, B * L * d);
    const T = randn(rng, C * d);
    const Tp = R.zeros(Math.ceil(C / 16) * 16 * d);
    R.k.f32_pack_nt(R.f32(T), C, d, Tp);
    const want = relevance(q, T, null, B, L, C, d, 1 / (0.3 * Math.sqrt(d))).r;
    for (const tile of [1, 0]) {
      const previous = R.k.relevance_set_tile(tile);
      try {
        const r = R.zeros(B * C);
        R.k.f32_relevance_fwd(R.f32(q), B, L, d, Tp, C, 0.3, 0, 0, r, R.zeros(B * C), R.zeros(R.k.relevance_scratch_bytes(L) / 4));
        expectClose(`relaxed relevance d=600 on ${tile ? 'tile_1x32' : 'tile_2x16'} vs reference`, R.readF32(r, B * C), want);
      } finally {
        R.k.relevance_set_tile(previous);
      }
    }
    const y = R.zeros(B * L * C);
    R.k.f32_gemm(R.f32(q), B * L, d, d, Tp, C, 0, y, C, 0, R.zeros(R.k.gemm_scratch_bytes() / 4));
    expectClose('relaxed gemm K=600 vs reference', R.readF32(y, B * L * C), linear(q, T, null, B * L, d, C));
  });
});
