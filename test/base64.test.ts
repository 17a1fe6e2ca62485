// The base64 decoder that loads the embedded wasm builds (bindings/base64.ts), against Buffer's.
import { Buffer } from 'node:buffer';
import { describe, expect, it, vi } from 'vitest';
import { decodeBase64 } from '../bindings/base64.js';
import { instantiateKernels, relaxedSimdSupported, simdSupported } from '../bindings/kernels.js';
import { SIMD_WASM_BASE64 } from '../bindings/wasm-bytes.generated.js';

describe('loading the kernels', () => {
  // Runs first in this file, so nothing is compiled or validated yet (each test file has its own module instances).
  it('decodes the builds without atob or Buffer (in Node they leave the AVX upper state dirty: 11-13% off every kernel)', async () => {
    const atob = vi.spyOn(globalThis, 'atob');
    const from = vi.spyOn(Buffer, 'from');
    try {
      simdSupported();
      relaxedSimdSupported();
      await instantiateKernels('auto', false);
      await instantiateKernels('auto', true);
      expect(atob).not.toHaveBeenCalled();
      expect(from.mock.calls.filter((c) => (c as unknown[])[1] === 'base64')).toEqual([]);
    } finally {
      atob.mockRestore();
      from.mockRestore();
    }
  });
});

describe('decodeBase64', () => {
  it('gives the bytes Buffer gives, for every length mod 3 and every byte value', () => {
    for (let n = 0; n <= 70; n++) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n * 11) & 255);
      const b64 = Buffer.from(bytes).toString('base64');
      expect(Array.from(decodeBase64(b64))).toEqual(Array.from(bytes));
    }
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect(decodeBase64(Buffer.from(all).toString('base64'))).toEqual(all);
    expect(decodeBase64('')).toEqual(new Uint8Array(0));
    expect(Array.from(decodeBase64('QQ=='))).toEqual([65]);
    expect(Array.from(decodeBase64('QUI='))).toEqual([65, 66]);
  });

  it('decodes an embedded build to a module the runtime validates', () => {
    const bytes = decodeBase64(SIMD_WASM_BASE64);
    expect(Array.from(bytes.subarray(0, 4))).toEqual([0, 0x61, 0x73, 0x6d]);
    expect(WebAssembly.validate(bytes)).toBe(simdSupported());
    expect(bytes).toEqual(new Uint8Array(Buffer.from(SIMD_WASM_BASE64, 'base64')));
  });

  it('refuses a length that is not a multiple of 4 and a character outside the alphabet, naming them', () => {
    expect(() => decodeBase64('QUJD=')).toThrow('multiple of 4, found 5');
    expect(() => decodeBase64('QU-D')).toThrow('character "-" at 2 is outside the alphabet');
    expect(() => decodeBase64('QU=D')).toThrow('character "=" at 2');
    expect(() => decodeBase64('QUJ\u00e9')).toThrow('at 3');
    expect(() => decodeBase64('====')).toThrow('character "=" at 0');
    expect(() => decodeBase64('Q===')).toThrow('character "=" at 1');
  });
});
