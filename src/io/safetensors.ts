/**
 * Hugging Face safetensors: an 8-byte little-endian u64 header length N, N bytes of UTF-8 JSON describing every
 * tensor (`dtype`, `shape`, `data_offsets` relative to the data section) plus an optional `__metadata__` map of
 * strings, then the raw little-endian tensor bytes. Browser-safe: no `node:` imports.
 */
import { FdtFormatError, FdtShapeError, FdtValueError } from '../errors.js';

/** Element types understood by the readers of this folder (safetensors names). */
export type DType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

/** Bytes per element of each {@link DType}. */
export const DTYPE_BYTES: Readonly<Record<DType, number>> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

/** A typed array holding one tensor (BOOL is stored as 0/1 bytes). */
export type TensorData = Float64Array | Float32Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;

/** A dense row-major tensor. */
export interface Tensor {
  dtype: DType;
  shape: number[];
  data: TensorData;
}

/** A tensor that {@link encodeSafetensors} can write. */
export interface EncodableTensor {
  dtype: 'F32' | 'I32' | 'F64';
  shape: number[];
  data: Float32Array | Int32Array | Float64Array;
}

/** What {@link decodeSafetensors} returns. */
export interface DecodedSafetensors {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
}

/** Limits for {@link decodeSafetensors}. */
export interface DecodeSafetensorsOptions {
  /** Largest JSON header accepted, in bytes (default 100 MB). */
  maxHeaderBytes?: number;
}

const DEFAULT_MAX_HEADER_BYTES = 100_000_000;
const KNOWN_UNSUPPORTED = new Set(['F8_E4M3', 'F8_E5M2', 'U16', 'U32', 'U64', 'C64']);
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Sets an own enumerable property, also for names such as `__proto__`. */
export function setOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Product of `shape`, or -1 when an entry is not a non-negative safe integer or the product is not safe. */
export function shapeNumel(shape: readonly unknown[]): number {
  let n = 1;
  for (const s of shape) {
    if (typeof s !== 'number' || !Number.isSafeInteger(s) || s < 0) return -1;
    n *= s;
    if (!Number.isSafeInteger(n)) return -1;
  }
  return n;
}

/**
 * Copies `count` little-endian elements of `dtype` starting at `byteOffset` of `src` into a fresh, aligned typed
 * array (byte-swapped on a big-endian host). The caller has checked the range. F16/BF16 are refused.
 */
export function copyLittleEndian(src: Uint8Array, byteOffset: number, dtype: DType, count: number): TensorData {
  const size = DTYPE_BYTES[dtype];
  const raw = src.slice(byteOffset, byteOffset + count * size);
  if (!LITTLE_ENDIAN_HOST && size > 1) {
    for (let i = 0; i < raw.length; i += size) raw.subarray(i, i + size).reverse();
  }
  switch (dtype) {
    case 'F64': return new Float64Array(raw.buffer, 0, count);
    case 'F32': return new Float32Array(raw.buffer, 0, count);
    case 'I64': return new BigInt64Array(raw.buffer, 0, count);
    case 'I32': return new Int32Array(raw.buffer, 0, count);
    case 'I16': return new Int16Array(raw.buffer, 0, count);
    case 'I8': return new Int8Array(raw.buffer, 0, count);
    case 'U8': case 'BOOL': return raw;
    default: throw new FdtFormatError(`dtype ${dtype} is not supported; convert the tensor to F32`);
  }
}

const ENCODABLE: Record<string, Function> = { F32: Float32Array, I32: Int32Array, F64: Float64Array };

/**
 * Encodes tensors (laid out contiguously in sorted name order) and optional string metadata as safetensors bytes.
 * The JSON header is padded with spaces to a multiple of 8 bytes.
 * @throws FdtValueError for an unknown dtype, a data array of the wrong type or a non-string metadata value.
 * @throws FdtShapeError when a shape is invalid or its product differs from the data length.
 */
export function encodeSafetensors(tensors: Record<string, EncodableTensor>, metadata?: Record<string, string>): Uint8Array {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new FdtValueError(`safetensors metadata "${k}": expected a string, found ${typeof v}`);
    }
    setOwn(header, '__metadata__', { ...metadata });
  }
  let offset = 0;
  for (const name of names) {
    const t = tensors[name];
    if (name === '__metadata__') throw new FdtValueError('safetensors: "__metadata__" cannot be a tensor name');
    const ctor = ENCODABLE[t.dtype];
    if (ctor === undefined) throw new FdtValueError(`safetensors tensor "${name}": dtype must be F32, I32 or F64, found ${String(t.dtype)}`);
    if (!(t.data instanceof ctor)) {
      throw new FdtValueError(`safetensors tensor "${name}": dtype ${t.dtype} needs a ${ctor.name}, found ${t.data?.constructor?.name}`);
    }
    const numel = Array.isArray(t.shape) ? shapeNumel(t.shape) : -1;
    if (numel < 0) throw new FdtShapeError(`safetensors tensor "${name}": shape must be non-negative integers, found ${JSON.stringify(t.shape)}`);
    if (numel !== t.data.length) {
      throw new FdtShapeError(`safetensors tensor "${name}": shape [${t.shape.join(', ')}] holds ${numel} elements, data has ${t.data.length}`);
    }
    setOwn(header, name, { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + t.data.byteLength] });
    offset += t.data.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLen = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLen + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, headerLen % 2 ** 32, true);
  view.setUint32(4, Math.floor(headerLen / 2 ** 32), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen);
  let pos = 8 + headerLen;
  for (const name of names) {
    const d = tensors[name].data;
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), pos);
    if (!LITTLE_ENDIAN_HOST) {
      for (let i = pos; i < pos + d.byteLength; i += d.BYTES_PER_ELEMENT) out.subarray(i, i + d.BYTES_PER_ELEMENT).reverse();
    }
    pos += d.byteLength;
  }
  return out;
}

interface Entry { name: string; dtype: DType; shape: number[]; numel: number; begin: number; end: number }

function fail(message: string): never {
  throw new FdtFormatError(`safetensors: ${message}`);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseEntry(name: string, raw: unknown, dataLen: number): Entry {
  const where = `tensor ${JSON.stringify(name)}`;
  if (!isPlainObject(raw)) fail(`${where}: expected an object with dtype, shape and data_offsets`);
  const { dtype, shape, data_offsets: offsets } = raw;
  if (typeof dtype !== 'string') fail(`${where}: dtype must be a string, found ${JSON.stringify(dtype)}`);
  if (dtype === 'F16' || dtype === 'BF16' || KNOWN_UNSUPPORTED.has(dtype)) {
    fail(`${where}: dtype ${dtype} is not supported (convert the tensor to F32)`);
  }
  if (!Object.hasOwn(DTYPE_BYTES, dtype)) fail(`${where}: unknown dtype ${JSON.stringify(dtype)}`);
  const size = DTYPE_BYTES[dtype as DType];
  if (!Array.isArray(shape)) fail(`${where}: shape must be an array, found ${JSON.stringify(shape)}`);
  const numel = shapeNumel(shape);
  if (numel < 0) fail(`${where}: shape must be non-negative safe integers with a safe product, found ${JSON.stringify(shape)}`);
  if (!Array.isArray(offsets) || offsets.length !== 2) fail(`${where}: data_offsets must be [begin, end], found ${JSON.stringify(offsets)}`);
  const [begin, end] = offsets as unknown[];
  if (typeof begin !== 'number' || typeof end !== 'number' || !Number.isSafeInteger(begin) || !Number.isSafeInteger(end) ||
      begin < 0 || end < begin) {
    fail(`${where}: data_offsets must be integers 0 <= begin <= end, found ${JSON.stringify(offsets)}`);
  }
  if (end > dataLen) fail(`${where}: data_offsets [${begin}, ${end}] run past the data section (${dataLen} bytes)`);
  if (numel * size !== end - begin) {
    fail(`${where}: shape [${shape.join(', ')}] of ${dtype} needs ${numel * size} bytes, data_offsets span ${end - begin}`);
  }
  return { name, dtype: dtype as DType, shape: shape as number[], numel, begin, end };
}

/**
 * Decodes safetensors bytes. Everything is validated before any tensor is allocated: header length (within the file
 * and `maxHeaderBytes`), UTF-8 JSON object, known dtypes, shapes, offsets inside the data section, ranges that neither
 * overlap nor leave gaps, string metadata. Each tensor is copied into a fresh, aligned typed array.
 * @throws FdtFormatError naming the tensor and the problem.
 */
export function decodeSafetensors(bytes: Uint8Array, opts: DecodeSafetensorsOptions = {}): DecodedSafetensors {
  const maxHeader = opts.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  if (bytes.length < 8) fail(`file of ${bytes.length} bytes is too short for the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = view.getUint32(0, true) + view.getUint32(4, true) * 2 ** 32;
  if (headerLen > bytes.length - 8) fail(`header length ${headerLen} exceeds the ${bytes.length - 8} bytes after the length field`);
  if (headerLen > maxHeader) fail(`header length ${headerLen} exceeds the limit of ${maxHeader} bytes`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen)));
  } catch (e) {
    fail(`header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (!isPlainObject(header)) fail('header must be a JSON object');
  const dataStart = 8 + headerLen;
  const dataLen = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name !== '__metadata__') {
      entries.push(parseEntry(name, raw, dataLen));
      continue;
    }
    if (!isPlainObject(raw)) fail('__metadata__ must be an object of strings');
    for (const [k, v] of Object.entries(raw)) {
      if (typeof v !== 'string') fail(`__metadata__ ${JSON.stringify(k)} must be a string, found ${JSON.stringify(v)}`);
      setOwn(metadata, k, v);
    }
  }
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let prev: Entry | undefined;
  for (const e of sorted) {
    const range = `[${e.begin}, ${e.end})`;
    if (e.begin < cursor) fail(`tensor ${JSON.stringify(e.name)} ${range} overlaps tensor ${JSON.stringify(prev?.name)} [${prev?.begin}, ${prev?.end})`);
    if (e.begin > cursor) fail(`tensor ${JSON.stringify(e.name)} ${range} leaves a gap of ${e.begin - cursor} bytes before it`);
    cursor = e.end;
    prev = e;
  }
  if (cursor !== dataLen) fail(`tensors cover ${cursor} bytes but the data section holds ${dataLen} (trailing bytes)`);
  const tensors: Record<string, Tensor> = {};
  for (const e of entries) {
    setOwn(tensors, e.name, { dtype: e.dtype, shape: [...e.shape], data: copyLittleEndian(bytes, dataStart + e.begin, e.dtype, e.numel) });
  }
  return { tensors, metadata };
}
