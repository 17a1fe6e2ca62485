/**
 * Base64 decoding in plain JavaScript, for the wasm builds embedded in wasm-bytes.generated.ts.
 *
 * Not `atob` and not `Buffer.from(s, 'base64')`: in Node 20 on x86-64 both decode inputs of this size (46 KB) with
 * AVX2 code that returns with the upper halves of the YMM registers still in use (XINUSE bit 2; no VZEROUPPER),
 * and that state stays with the thread. On a Cascade Lake Xeon every wasm SIMD loop of the thread then ran 11-13%
 * slower (the in-L1 tile 18.7 against 21.6 GFLOP/s) until something cleared it, though V8 encodes every
 * instruction of those loops with VEX (docs/PERFORMANCE.md, "Dirty vector registers").
 * This loop decodes the 34 KB of the SIMD build in 0.33-0.55 ms (Node, Deno, Bun; bench/experiments/vector-state.ts),
 * and a test fails if loading the kernels calls `atob` or Buffer's base64 again.
 */

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Character code -> 6-bit value; 255 for a code outside the alphabet. */
const VALUES = (() => {
  const v = new Uint8Array(256).fill(255);
  for (let i = 0; i < ALPHABET.length; i++) v[ALPHABET.charCodeAt(i)] = i;
  return v;
})();

/**
 * Decodes standard base64 (RFC 4648 section 4, with '=' padding to a multiple of 4 characters).
 * @throws Error naming the offending length or the position of a character outside the alphabet.
 */
export function decodeBase64(b64: string): Uint8Array<ArrayBuffer> {
  if (b64.length % 4 !== 0) throw new Error(`base64: expected a length that is a multiple of 4, found ${b64.length}`);
  const pad = b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0;
  const out = new Uint8Array((b64.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < b64.length; i += 4) {
    const last = i + 4 === b64.length;
    const a = value(b64, i);
    const b = value(b64, i + 1);
    const c = last && pad === 2 ? 0 : value(b64, i + 2);
    const d = last && pad >= 1 ? 0 : value(b64, i + 3);
    const n = (a << 18) | (b << 12) | (c << 6) | d;
    out[o++] = n >>> 16;
    if (o < out.length) out[o++] = (n >>> 8) & 255;
    if (o < out.length) out[o++] = n & 255;
  }
  return out;
}

function value(s: string, i: number): number {
  const code = s.charCodeAt(i);
  const v = code < 256 ? VALUES[code]! : 255;
  if (v === 255) throw new Error(`base64: character ${JSON.stringify(s[i])} at ${i} is outside the alphabet`);
  return v;
}
