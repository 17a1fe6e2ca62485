import { describe, expect, it } from 'vitest';
import { FdtFormatError, FdtShapeError, FdtValueError } from '../../src/errors.js';
import { decodeSafetensors, encodeSafetensors, type EncodableTensor } from '../../src/io/safetensors.js';

const bytesOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Builds a safetensors file from a header object (or raw header text) and a data section. */
function craft(header: unknown, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function headerOf(file: Uint8Array): Record<string, unknown> {
  const n = new DataView(file.buffer, file.byteOffset).getUint32(0, true);
  return JSON.parse(new TextDecoder().decode(file.subarray(8, 8 + n)));
}

const f32 = (name: string, begin: number, end: number, shape = [(end - begin) / 4]) => ({ [name]: { dtype: 'F32', shape, data_offsets: [begin, end] } });

describe('safetensors round trip', () => {
  const special = new Float32Array([NaN, -0, Infinity, -Infinity, 1e-45, 3.4028234663852886e38, -1.5]);
  new Uint32Array(special.buffer)[0] = 0x7fc01234; // a NaN payload must survive
  const tensors: Record<string, EncodableTensor> = {
    'b.weight': { dtype: 'F32', shape: [7], data: special },
    'a.ids': { dtype: 'I32', shape: [1, 1, 3], data: new Int32Array([-2147483648, 0, 2147483647]) },
    'c.f64': { dtype: 'F64', shape: [2, 1], data: new Float64Array([Math.PI, 5e-324]) },
    scalar: { dtype: 'F32', shape: [], data: new Float32Array([42]) },
    empty: { dtype: 'F32', shape: [3, 0, 2], data: new Float32Array(0) },
    __proto__x: { dtype: 'I32', shape: [0], data: new Int32Array(0) },
  };

  it('is bit-exact, with metadata', () => {
    const file = encodeSafetensors(tensors, { format: 'pt', note: 'é ✓' });
    const { tensors: out, metadata } = decodeSafetensors(file);
    expect(metadata).toEqual({ format: 'pt', note: 'é ✓' });
    expect(Object.keys(out).sort()).toEqual(Object.keys(tensors).sort());
    for (const [name, t] of Object.entries(tensors)) {
      expect(out[name].dtype).toBe(t.dtype);
      expect(out[name].shape).toEqual(t.shape);
      expect(out[name].data.constructor).toBe(t.data.constructor);
      expect(bytesOf(out[name].data)).toEqual(bytesOf(t.data));
      expect(out[name].data.buffer).not.toBe(file.buffer);
      expect(out[name].data.byteOffset % t.data.BYTES_PER_ELEMENT).toBe(0);
    }
  });

  it('pads the header with spaces to a multiple of 8 and lays tensors out in sorted order', () => {
    const file = encodeSafetensors(tensors);
    const n = new DataView(file.buffer).getUint32(0, true);
    expect(n % 8).toBe(0);
    expect(new TextDecoder().decode(file.subarray(8, 8 + n))).toMatch(/} *$/);
    const header = headerOf(file) as Record<string, { data_offsets: number[] }>;
    const names = Object.keys(tensors).sort();
    let cursor = 0;
    for (const name of names) {
      expect(header[name].data_offsets[0]).toBe(cursor);
      cursor = header[name].data_offsets[1];
    }
    expect(file.length).toBe(8 + n + cursor);
  });

  it('handles empty and absent metadata and an empty tensor set', () => {
    expect(decodeSafetensors(encodeSafetensors(tensors, {})).metadata).toEqual({});
    expect(decodeSafetensors(encodeSafetensors(tensors)).metadata).toEqual({});
    expect(decodeSafetensors(encodeSafetensors({}))).toEqual({ tensors: {}, metadata: {} });
  });

  it('keeps a tensor named __proto__ as an own entry', () => {
    const out = decodeSafetensors(encodeSafetensors({ ['__proto__']: { dtype: 'F32', shape: [1], data: new Float32Array([3]) } } as never));
    expect(Object.hasOwn(out.tensors, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(out.tensors)).toBe(Object.prototype);
  });

  it('decodes a file whose F64 tensor sits at an unaligned offset', () => {
    const data = new Uint8Array(12);
    new DataView(data.buffer).setFloat32(0, 1.25, true);
    new DataView(data.buffer).setFloat64(4, -2.5, true);
    const file = craft({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F64', shape: [1], data_offsets: [4, 12] } }, data);
    const out = decodeSafetensors(file);
    expect(Array.from(out.tensors.a.data as Float32Array)).toEqual([1.25]);
    expect(Array.from(out.tensors.b.data as Float64Array)).toEqual([-2.5]);
  });

  it('decodes I64 into a BigInt64Array', () => {
    const data = new Uint8Array(new BigInt64Array([-5n, 2n ** 62n]).buffer);
    const out = decodeSafetensors(craft({ x: { dtype: 'I64', shape: [2], data_offsets: [0, 16] } }, data));
    expect(Array.from(out.tensors.x.data as BigInt64Array)).toEqual([-5n, 2n ** 62n]);
  });
});

describe('encodeSafetensors refusals', () => {
  it('refuses a data array of the wrong type or an unknown dtype', () => {
    expect(() => encodeSafetensors({ x: { dtype: 'F32', shape: [1], data: new Float64Array(1) } })).toThrow(FdtValueError);
    expect(() => encodeSafetensors({ x: { dtype: 'F16' as never, shape: [1], data: new Float32Array(1) } })).toThrow(/dtype must be/);
  });
  it('refuses shapes that disagree with the data', () => {
    expect(() => encodeSafetensors({ x: { dtype: 'F32', shape: [2, 2], data: new Float32Array(3) } })).toThrow(FdtShapeError);
    expect(() => encodeSafetensors({ x: { dtype: 'F32', shape: [-1], data: new Float32Array(1) } })).toThrow(FdtShapeError);
  });
  it('refuses a non-string metadata value and the reserved name', () => {
    expect(() => encodeSafetensors({}, { a: 1 as never })).toThrow(FdtValueError);
    expect(() => encodeSafetensors({ __metadata__: { dtype: 'F32', shape: [0], data: new Float32Array(0) } })).toThrow(/__metadata__/);
  });
});

describe('decodeSafetensors refusals', () => {
  const refuse = (file: Uint8Array, msg: RegExp, opts?: { maxHeaderBytes?: number }) => {
    expect(() => decodeSafetensors(file, opts)).toThrow(FdtFormatError);
    expect(() => decodeSafetensors(file, opts)).toThrow(msg);
  };
  const four = new Uint8Array(4);

  it('checks the header length against the file and the cap', () => {
    refuse(new Uint8Array(5), /too short/);
    const long = craft({});
    new DataView(long.buffer).setUint32(0, 1000, true);
    refuse(long, /header length 1000 exceeds the 2 bytes/);
    const huge = craft({});
    new DataView(huge.buffer).setUint32(4, 0xffffffff, true);
    refuse(huge, /exceeds/);
    refuse(craft(f32('x', 0, 4), four), /exceeds the limit of 10 bytes/, { maxHeaderBytes: 10 });
  });

  it('requires a UTF-8 JSON object', () => {
    refuse(craft('{"a": '), /not valid UTF-8 JSON/);
    const bad = craft('{"x":1}');
    bad[10] = 0xff;
    refuse(bad, /not valid UTF-8 JSON/);
    refuse(craft('[]'), /must be a JSON object/);
    refuse(craft('null'), /must be a JSON object/);
  });

  it('requires known, supported dtypes', () => {
    refuse(craft({ w: { dtype: 'F17', shape: [1], data_offsets: [0, 4] } }, four), /tensor "w": unknown dtype "F17"/);
    refuse(craft({ w: { dtype: 'F16', shape: [2], data_offsets: [0, 4] } }, four), /tensor "w": dtype F16 is not supported/);
    refuse(craft({ w: { dtype: 'toString', shape: [1], data_offsets: [0, 4] } }, four), /unknown dtype/);
    refuse(craft({ w: 3 }), /tensor "w": expected an object/);
  });

  it('requires valid shapes whose size matches the offsets', () => {
    refuse(craft(f32('w', 0, 4, [-1]), four), /tensor "w": shape must be non-negative/);
    refuse(craft(f32('w', 0, 4, [1.5]), four), /shape must be/);
    refuse(craft(f32('w', 0, 4, ['1'] as never), four), /shape must be/);
    refuse(craft(f32('w', 0, 4, [2 ** 40, 2 ** 40]), four), /safe product/);
    refuse(craft({ w: { dtype: 'F32', shape: 4, data_offsets: [0, 4] } }, four), /shape must be an array/);
    refuse(craft(f32('w', 0, 4, [2]), four), /tensor "w": shape \[2\] of F32 needs 8 bytes, data_offsets span 4/);
  });

  it('requires offsets within the data section', () => {
    refuse(craft({ w: { dtype: 'F32', shape: [1], data_offsets: [0] } }, four), /data_offsets must be \[begin, end\]/);
    refuse(craft({ w: { dtype: 'F32', shape: [1], data_offsets: [-4, 0] } }, four), /0 <= begin <= end/);
    refuse(craft({ w: { dtype: 'F32', shape: [1], data_offsets: [4, 0] } }, four), /0 <= begin <= end/);
    refuse(craft(f32('w', 4, 8), four), /tensor "w": data_offsets \[4, 8\] run past the data section \(4 bytes\)/);
  });

  it('refuses overlaps, gaps and trailing bytes', () => {
    const eight = new Uint8Array(8);
    refuse(craft({ ...f32('a', 0, 8), ...f32('b', 4, 8) }, eight), /tensor "b" \[4, 8\) overlaps tensor "a"/);
    refuse(craft({ ...f32('a', 0, 8), ...f32('z', 4, 4, [0]) }, eight), /tensor "z" \[4, 4\) overlaps/);
    refuse(craft(f32('a', 4, 8), eight), /tensor "a" \[4, 8\) leaves a gap of 4 bytes/);
    refuse(craft(f32('a', 0, 4), eight), /cover 4 bytes but the data section holds 8/);
  });

  it('requires string metadata', () => {
    refuse(craft({ __metadata__: { a: 1 } }), /__metadata__ "a" must be a string/);
    refuse(craft({ __metadata__: ['x'] }), /__metadata__ must be an object/);
  });
});
