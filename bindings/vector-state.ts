/**
 * Clears the upper halves of the calling thread's AVX registers where Node leaves them in use.
 *
 * Why: in Node 20 on x86-64, base64 encodes and decodes of tens of KB and more (`atob`, `btoa`,
 * `Buffer#toString('base64')`, `Buffer.from(s, 'base64')`) run AVX2 code that returns without VZEROUPPER, so the
 * thread keeps the upper halves of the YMM registers in use (XINUSE bit 2, read with XGETBV) until something clears
 * them. On a Cascade Lake Xeon every wasm SIMD loop of that thread then ran 11-13% slower, although V8 encodes every
 * instruction of those loops with VEX: the in-L1 tile read 18.7 against 21.6 GFLOP/s, the relevance forward at the
 * paper shape (B = 1) took 52.0 against 45.4 ms (bench/experiments/vector-state.ts; docs/PERFORMANCE.md, "Dirty
 * vector registers"). Deno and Bun left the state clean in the same tests. A server that decodes base64 images on
 * the thread that calls FDT is the common case.
 *
 * How: JavaScript cannot execute VZEROUPPER, but a SHA-512 of one byte does: OpenSSL's SHA-512 block function on
 * x86-64 (there is no SHA-512 instruction on these CPUs) is its AVX or AVX2 code, which ends with VZEROUPPER. Where
 * OpenSSL takes another path the hash is merely wasted: 3.2 us, against the milliseconds of any engine call.
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

/** What the clearer needs of the runtime: Node on x86-64 with process.getBuiltinModule (20.16+), or null. */
function nodeOnX64(): NodeProcess | null {
  const g = globalThis as Record<string, unknown>;
  if (typeof g['Deno'] === 'object' || typeof g['Bun'] === 'object') return null;
  const proc = g['process'] as NodeProcess | undefined;
  return proc?.release?.name === 'node' && proc.arch === 'x64' ? proc : null;
}

/** The clearing call where it does something, else null. */
function makeClearer(): (() => void) | null {
  const proc = nodeOnX64();
  if (!proc || typeof proc.getBuiltinModule !== 'function') return null;
  try {
    const crypto = proc.getBuiltinModule('node:crypto') as NodeCrypto | undefined;
    if (!crypto || typeof crypto.createHash !== 'function') return null;
    const clear = (): void => {
      crypto.createHash('sha512').update('x').digest();
    };
    clear();
    return clear;
  } catch {
    return null; // a Node built without crypto (ERR_NO_CRYPTO), or whose OpenSSL refuses SHA-512
  }
}

let clearer: (() => void) | null | undefined;

/** True where clearUpperVectorState does something: Node 20.16+ on x86-64, with SHA-512. */
export function clearsVectorState(): boolean {
  if (clearer === undefined) clearer = makeClearer();
  return clearer !== null;
}

/**
 * Node on x86-64 where the state is left as it is, with the reason (for `fdt doctor`); null where it is cleared or
 * where it does not need to be (other runtimes and architectures).
 */
export function vectorStateNotCleared(): string | null {
  const proc = nodeOnX64();
  if (clearsVectorState() || !proc) return null;
  return typeof proc.getBuiltinModule === 'function'
    ? 'node:crypto or its SHA-512 is unavailable in this Node'
    : 'this Node lacks process.getBuiltinModule (Node 20.16 and later have it)';
}

/**
 * Clears the upper halves of the calling thread's AVX registers (Node on x86-64; a no-op elsewhere). The wasm engine
 * calls it at the start of every engine call and before thread 0's share of each pooled kernel step, the tfjs engine
 * before each of its calls, the benchmark harness before every timed call; 3.2 us (bench/experiments/vector-state.ts prints it).
 */
export function clearUpperVectorState(): void {
  if (clearsVectorState()) clearer!();
}
