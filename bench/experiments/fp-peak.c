// The core's clock and its floating-point peaks, for the roofline of docs/PERFORMANCE.md: what 128-bit mul + add
// (what V8 emits for WebAssembly SIMD128's f32x4.mul and f32x4.add), 128-bit FMA (relaxed SIMD's relaxed_madd) and
// native 512-bit FMA (what OpenBLAS runs) can do on one core, each with enough independent chains to hide latency.
//
//   cc -O2 -o /tmp/fp-peak bench/experiments/fp-peak.c && /tmp/fp-peak
//
// The clock comes from a chain of dependent integer adds (one cycle each on every x86-64 core of the last 15 years),
// so it is the clock the core runs at while it is busy, turbo included. x86-64 only (GNU inline assembly); the
// 512-bit row needs AVX-512F and is skipped without it.
#include <stdio.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

#define XMM_CLOBBERS "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", \
                     "xmm11", "xmm12", "xmm13", "xmm14", "xmm15"

// Eight dependent adds per iteration: n adds in n cycles.
static double clockGhz(long n) {
  long x = 0;
  double t0 = now();
  __asm__ volatile(
      "mov %1, %%rcx\n"
      "1:\n"
      "add $1, %0\n add $1, %0\n add $1, %0\n add $1, %0\n"
      "add $1, %0\n add $1, %0\n add $1, %0\n add $1, %0\n"
      "sub $8, %%rcx\n jnz 1b\n"
      : "+r"(x) : "r"(n) : "rcx");
  return n / (now() - t0) / 1e9;
}

// 8 vmulps + 8 vaddps on xmm registers per iteration, 16 independent chains: 64 FLOP (one multiply-add of four lanes
// counts as 8 FLOP, split over a mul and an add).
static double mulAdd128(long n) {
  double t0 = now();
  __asm__ volatile(
      "vxorps %%xmm15, %%xmm15, %%xmm15\n"
      "mov %0, %%rcx\n"
      "1:\n"
      "vmulps %%xmm15, %%xmm0, %%xmm0\n vaddps %%xmm15, %%xmm8, %%xmm8\n"
      "vmulps %%xmm15, %%xmm1, %%xmm1\n vaddps %%xmm15, %%xmm9, %%xmm9\n"
      "vmulps %%xmm15, %%xmm2, %%xmm2\n vaddps %%xmm15, %%xmm10, %%xmm10\n"
      "vmulps %%xmm15, %%xmm3, %%xmm3\n vaddps %%xmm15, %%xmm11, %%xmm11\n"
      "vmulps %%xmm15, %%xmm4, %%xmm4\n vaddps %%xmm15, %%xmm12, %%xmm12\n"
      "vmulps %%xmm15, %%xmm5, %%xmm5\n vaddps %%xmm15, %%xmm13, %%xmm13\n"
      "vmulps %%xmm15, %%xmm6, %%xmm6\n vaddps %%xmm15, %%xmm14, %%xmm14\n"
      "vmulps %%xmm15, %%xmm7, %%xmm7\n vaddps %%xmm15, %%xmm8, %%xmm8\n"
      "dec %%rcx\n jnz 1b\n"
      :: "r"(n) : "rcx", XMM_CLOBBERS);
  return n * 64.0 / (now() - t0) / 1e9;
}

// 12 vfmadd231ps on xmm registers per iteration, 12 independent chains: 96 FLOP.
static double fma128(long n) {
  double t0 = now();
  __asm__ volatile(
      "vxorps %%xmm15, %%xmm15, %%xmm15\n"
      "mov %0, %%rcx\n"
      "1:\n"
      "vfmadd231ps %%xmm15, %%xmm15, %%xmm0\n vfmadd231ps %%xmm15, %%xmm15, %%xmm1\n"
      "vfmadd231ps %%xmm15, %%xmm15, %%xmm2\n vfmadd231ps %%xmm15, %%xmm15, %%xmm3\n"
      "vfmadd231ps %%xmm15, %%xmm15, %%xmm4\n vfmadd231ps %%xmm15, %%xmm15, %%xmm5\n"
      "vfmadd231ps %%xmm15, %%xmm15, %%xmm6\n vfmadd231ps %%xmm15, %%xmm15, %%xmm7\n"
      "vfmadd231ps %%xmm15, %%xmm15, %%xmm8\n vfmadd231ps %%xmm15, %%xmm15, %%xmm9\n"
      "vfmadd231ps %%xmm15, %%xmm15, %%xmm10\n vfmadd231ps %%xmm15, %%xmm15, %%xmm11\n"
      "dec %%rcx\n jnz 1b\n"
      :: "r"(n) : "rcx", XMM_CLOBBERS);
  return n * 96.0 / (now() - t0) / 1e9;
}

// 12 vfmadd231ps on zmm registers per iteration: 384 FLOP.
__attribute__((target("avx512f"))) static double fma512(long n) {
  double t0 = now();
  __asm__ volatile(
      "vxorps %%zmm15, %%zmm15, %%zmm15\n"
      "mov %0, %%rcx\n"
      "1:\n"
      "vfmadd231ps %%zmm15, %%zmm15, %%zmm0\n vfmadd231ps %%zmm15, %%zmm15, %%zmm1\n"
      "vfmadd231ps %%zmm15, %%zmm15, %%zmm2\n vfmadd231ps %%zmm15, %%zmm15, %%zmm3\n"
      "vfmadd231ps %%zmm15, %%zmm15, %%zmm4\n vfmadd231ps %%zmm15, %%zmm15, %%zmm5\n"
      "vfmadd231ps %%zmm15, %%zmm15, %%zmm6\n vfmadd231ps %%zmm15, %%zmm15, %%zmm7\n"
      "vfmadd231ps %%zmm15, %%zmm15, %%zmm8\n vfmadd231ps %%zmm15, %%zmm15, %%zmm9\n"
      "vfmadd231ps %%zmm15, %%zmm15, %%zmm10\n vfmadd231ps %%zmm15, %%zmm15, %%zmm11\n"
      "dec %%rcx\n jnz 1b\n"
      :: "r"(n) : "rcx", XMM_CLOBBERS);
  return n * 384.0 / (now() - t0) / 1e9;
}

static double best(double (*f)(long), long n) {
  double b = 0;
  for (int r = 0; r < 5; r++) {
    double v = f(n);
    if (v > b) b = v;
  }
  return b;
}

int main(void) {
  double ghz = best(clockGhz, 2000000000L);
  printf("clock (dependent adds), best of 5: %.2f GHz\n", ghz);
  double ma = best(mulAdd128, 300000000L);
  printf("128-bit mul + add (SIMD128): %.1f GFLOP/s = %.1f FLOP/cycle\n", ma, ma / ghz);
  double f1 = best(fma128, 300000000L);
  printf("128-bit FMA (relaxed SIMD):  %.1f GFLOP/s = %.1f FLOP/cycle\n", f1, f1 / ghz);
  if (__builtin_cpu_supports("avx512f")) {
    double f5 = best(fma512, 100000000L);
    printf("512-bit FMA (native):        %.1f GFLOP/s = %.1f FLOP/cycle\n", f5, f5 / ghz);
  } else {
    printf("512-bit FMA (native):        skipped, no AVX-512F\n");
  }
  return 0;
}
