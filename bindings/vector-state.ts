/**
 * Clears the upper halves of the calling thread's AVX registers where Node leaves them in use.
 *
 * Why: in Node 20 on x86-64, large base64 encodes and decodes (`atob`, `btoa`, `Buffer#toString('base64')`,
 * `Buffer.from(s, 'base64')`; tens of KB and up) run AVX2 code that returns without VZEROUPPER, so the thread keeps
 * the upper halves of the YMM registers in use (XINUSE bit 2, read with XGETBV) until something clears them. On a
 * Cascade Lake Xeon every wasm SIMD loop of that thread then ran 13-14% slower, although V8 encodes every
 * instruction of those loops with VEX: the in-L1 tile read 18.8 against 21.6 GFLOP/s, the relevance forward at the
 * paper shape (B = 1) took 49.6 against 43.4 ms (bench/experiments/vector-state.ts; docs/PERFORMANCE.md, "Dirty
 * vector registers"). Deno and Bun left the state clean in the same tests. A user's server that decodes base64 images on the thread that calls FDT is the common case.
 *
 * How: JavaScript cannot execute VZEROUPPER, but a SHA-512 of one byte does: OpenSSL's SHA-512 block function on
 * x86-64 (there is no SHA-512 instruction on these CPUs) is its AVX or AVX2 code, which ends with VZEROUPPER. Where
 * OpenSSL takes another path the hash is merely wasted: ~3 us, against the milliseconds of any engine call.
 *
 * Elsewhere (Deno, Bun, browsers, other architectures, Node before 20.16 without process.getBuiltinModule, or where
 * the hash is unavailable) it does nothing.
 */

interface NodeProcess {
  arch?: string;
  release?: { name?: string };
  getBuiltinModule?: (id: string) => unknown;
}

interface NodeCrypto {
  createHash(algorithm: string): { update(data: string): { digest(): unknown } };
}

/** The clearing call where it does something, else null. */
function makeClearer(): (() => void) | null {
  const g = globalThis as Record<string, unknown>;
  if (typeof g['Deno'] === 'object' || typeof g['Bun'] === 'object') return null;
  const proc = g['process'] as NodeProcess | undefined;
  if (proc?.release?.name !== 'node' || proc.arch !== 'x64' || typeof proc.getBuiltinModule !== 'function') return null;
  const crypto = proc.getBuiltinModule('node:crypto') as NodeCrypto | undefined;
  if (!crypto || typeof crypto.createHash !== 'function') return null;
  const clear = (): void => {
    crypto.createHash('sha512').update('x').digest();
  };
  try {
    clear();
  } catch {
    return null; // a Node whose OpenSSL refuses SHA-512
  }
  return clear;
}

let clearer: (() => void) | null | undefined;

/** True where clearUpperVectorState does something: Node on x86-64, with SHA-512. */
export function clearsVectorState(): boolean {
  if (clearer === undefined) clearer = makeClearer();
  return clearer !== null;
}

/**
 * Clears the upper halves of the calling thread's AVX registers (Node on x86-64; a no-op elsewhere). The wasm engine
 * calls it before every engine call, the benchmark harness before every timed call; ~3 us.
 */
export function clearUpperVectorState(): void {
  if (clearsVectorState()) clearer!();
}
