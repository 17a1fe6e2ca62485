/* For bench/experiments/vector-state.ts --xinuse. xinuse(): XINUSE of the calling thread (XGETBV with ECX = 1; bit 2
 * = the upper halves of YMM0-15 in use). dirty_upper(): sets bit 2 (a 256-bit write, no VZEROUPPER), the positive
 * control. clear_upper(): VZEROUPPER. Deno and Bun call them through their FFI. Node loads a fresh copy with
 * process.dlopen, whose constructor runs dirty_upper() when XINUSE_DIRTY is set and writes xinuse() to the file
 * named by XINUSE_OUT when that is set. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

uint64_t xinuse(void) {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(1));
  return ((uint64_t)hi << 32) | lo;
}

void dirty_upper(void) { __asm__ volatile("vpcmpeqd %%ymm1, %%ymm1, %%ymm1" ::: "xmm1"); }

void clear_upper(void) { __asm__ volatile("vzeroupper"); }

__attribute__((constructor)) static void on_load(void) {
  if (getenv("XINUSE_DIRTY")) dirty_upper();
  const char *path = getenv("XINUSE_OUT");
  FILE *f = path ? fopen(path, "w") : NULL;
  if (!f) return;
  fprintf(f, "0x%llx", (unsigned long long)xinuse());
  fclose(f);
}
