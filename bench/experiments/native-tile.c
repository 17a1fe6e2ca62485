// The relevance and GEMM micro-kernels' data flow compiled natively, to tell what the core allows from what V8's code
// reaches: 128-bit multiplies and adds (no FMA, as WebAssembly SIMD128 has), on data resident in L1 (K = 256), in
// cycles per k step at the clock that fp-peak.c measures (pass it in GHz as the first argument; 4.25 by default).
//
//   cc -O2 -mavx -mno-fma -o /tmp/native-tile bench/experiments/native-tile.c && /tmp/native-tile 4.25
//
// tile 2x16: two row values broadcast per k step, four panel vectors, 16 FP instructions (tile_2x16, the GEMM's);
// tile 1x32: one row value broadcast per k step, eight vectors of two panels, 16 FP instructions (tile_1x32, the
// relevance forward's). x86-64 with AVX only.
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

#define MAC(c, x, b) c = _mm_add_ps(c, _mm_mul_ps(x, b))

__attribute__((noinline)) static void tile2x16(const float *a0, const float *a1, const float *bp, int K, float *out) {
  __m128 c00 = _mm_setzero_ps(), c01 = c00, c02 = c00, c03 = c00, c10 = c00, c11 = c00, c12 = c00, c13 = c00;
  for (int k = 0; k < K; k++, bp += 16) {
    __m128 x0 = _mm_broadcast_ss(a0 + k), x1 = _mm_broadcast_ss(a1 + k);
    __m128 b0 = _mm_loadu_ps(bp), b1 = _mm_loadu_ps(bp + 4), b2 = _mm_loadu_ps(bp + 8), b3 = _mm_loadu_ps(bp + 12);
    MAC(c00, x0, b0); MAC(c01, x0, b1); MAC(c02, x0, b2); MAC(c03, x0, b3);
    MAC(c10, x1, b0); MAC(c11, x1, b1); MAC(c12, x1, b2); MAC(c13, x1, b3);
  }
  __m128 c[8] = {c00, c01, c02, c03, c10, c11, c12, c13};
  for (int i = 0; i < 8; i++) _mm_storeu_ps(out + 4 * i, c[i]);
}

__attribute__((noinline)) static void tile1x32(const float *a, const float *bp, const float *bq, int K, float *out) {
  __m128 c0 = _mm_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
  for (int k = 0; k < K; k++, bp += 16, bq += 16) {
    __m128 x = _mm_broadcast_ss(a + k);
    MAC(c0, x, _mm_loadu_ps(bp)); MAC(c1, x, _mm_loadu_ps(bp + 4)); MAC(c2, x, _mm_loadu_ps(bp + 8)); MAC(c3, x, _mm_loadu_ps(bp + 12));
    MAC(c4, x, _mm_loadu_ps(bq)); MAC(c5, x, _mm_loadu_ps(bq + 4)); MAC(c6, x, _mm_loadu_ps(bq + 8)); MAC(c7, x, _mm_loadu_ps(bq + 12));
  }
  __m128 c[8] = {c0, c1, c2, c3, c4, c5, c6, c7};
  for (int i = 0; i < 8; i++) _mm_storeu_ps(out + 4 * i, c[i]);
}

enum { K = 256, CALLS = 200000 };
static float rows[2 * K] __attribute__((aligned(64)));
static float panels[2 * K * 16] __attribute__((aligned(64)));
static float out[32];

int main(int argc, char **argv) {
  double ghz = argc > 1 ? atof(argv[1]) : 4.25;
  for (int i = 0; i < 2 * K; i++) rows[i] = (float)(i % 7) * 0.1f;
  for (int i = 0; i < 2 * K * 16; i++) panels[i] = (float)(i % 5) * 0.1f;
  for (int round = 0; round < 3; round++) {
    for (int which = 0; which < 2; which++) {
      double t0 = now();
      for (int i = 0; i < CALLS; i++) {
        if (which == 0) tile2x16(rows, rows + K, panels, K, out);
        else tile1x32(rows, panels, panels + K * 16, K, out);
      }
      double t = now() - t0;
      printf("%s  %.1f GFLOP/s, %.2f cycles per k step\n", which ? "tile 1x32" : "tile 2x16", 64.0 * K * CALLS / t / 1e9,
             t * ghz * 1e9 / ((double)K * CALLS));
    }
  }
  return out[0] == 12345.0f;  // keeps the results live
}
