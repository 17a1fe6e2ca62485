// The base64 decoder that loads the embedded wasm builds (bindings/base64.ts), against Node's Buffer.
import { describe, expect, it } from 'vitest';
import { decodeBase64 } from '../bindings/base64.js';
import { SIMD_WASM_BASE64 } from '../bindings/wasm-bytes.generated.js';

describe('decodeBase64', () => {
  it('gives the bytes Buffer gives, for every length mod 3 and every byte value', () => {
    for (let n = 0; n <= 70; n++) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n * 11) & 255);
      const b64 = Buffer.from(bytes).toString('base64');
      expect(Array.from(decodeBase64(b64))).toEqual(Array.from(bytes));
    }
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect(decodeBase64(Buffer.from(all).toString('base64'))).toEqual(all);
  });

  it('decodes an embedded build to a module the runtime validates', () => {
    const bytes = decodeBase64(SIMD_WASM_BASE64);
    expect(Array.from(bytes.subarray(0, 4))).toEqual([0, 0x61, 0x73, 0x6d]);
    expect(bytes).toEqual(new Uint8Array(Buffer.from(SIMD_WASM_BASE64, 'base64')));
  });

  it('refuses a length that is not a multiple of 4 and a character outside the alphabet, naming them', () => {
    expect(() => decodeBase64('QUJD=')).toThrow('multiple of 4, found 5');
    expect(() => decodeBase64('QU-D')).toThrow('character "-" at 2 is outside the alphabet');
    expect(() => decodeBase64('QU=D')).toThrow('character "=" at 2');
    expect(() => decodeBase64('QUJ\u00e9')).toThrow('at 3');
  });
});
