/* For bench/experiments/vector-state.ts --xinuse: XINUSE of the calling thread (XGETBV with ECX = 1; bit 2 = the
 * upper halves of YMM0-15 in use). Deno and Bun call xinuse() through their FFI; Node loads a fresh copy with
 * process.dlopen, whose constructor writes it to the file named by XINUSE_OUT. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

uint64_t xinuse(void) {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(1));
  return ((uint64_t)hi << 32) | lo;
}

__attribute__((constructor)) static void write_on_load(void) {
  const char *path = getenv("XINUSE_OUT");
  FILE *f = path ? fopen(path, "w") : NULL;
  if (!f) return;
  fprintf(f, "0x%llx", (unsigned long long)xinuse());
  fclose(f);
}
