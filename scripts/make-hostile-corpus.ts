/**
 * Generates the hostile-file corpus of test/hostile/corpus.test.ts: broken, truncated and malicious safetensors,
 * fdtkit model files, torch.save zip checkpoints and raw pickles, plus two valid baselines. Deterministic: no clock,
 * no randomness other than a fixed-seed generator, the same bytes on every run (the test checks this).
 *
 *   npx tsx scripts/make-hostile-corpus.ts [outDir]       (default .cache/hostile, git-ignored)
 *
 * Every file is written by hand-rolled writers below (zip, deflate, pickle, safetensors), independent of src/, so
 * that the readers are tested against bytes they did not produce. manifest.json lists each file with what the public
 * loader (`FDT.load(bytes)`) and the lower-level reader must throw: the FdtError subclass and a pattern of the message.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** What a reader must throw for a file. */
export interface Refusal {
  /** The FdtError subclass. */
  error: 'FdtFormatError' | 'FdtShapeError' | 'FdtValueError';
  /** A regular expression (source) the message must match: it names the problem. */
  message: string;
}

/** The lower-level readers of src/io ('unpickle' reads the archive's data.pkl). */
export type Reader = 'decodeSafetensors' | 'decodeModel' | 'readTorchCheckpoint' | 'importOfficialFdtHead' | 'unpickle';

/** One corpus file. */
export interface CorpusEntry {
  file: string;
  /** Which family of attack or damage it belongs to (for the report). */
  category: 'zip' | 'zip-bomb' | 'pickle-global' | 'pickle-structure' | 'tensor' | 'head' | 'safetensors' | 'model' | 'valid';
  /** What is wrong with the file, in words. */
  what: string;
  /** Expected refusal of `FDT.load(bytes)`; absent for the valid baselines. */
  load?: Refusal;
  /** Lower-level readers run on the file and their expected refusals (absent: the reader accepts the file). */
  readers: { reader: Reader; options?: Record<string, number>; refusal?: Refusal }[];
  /** A file that a successful exploit would create (relative to the repository root); must never appear. */
  marker?: string;
}

// ---------------------------------------------------------------------------------------------------------------
// Byte helpers

const enc = new TextEncoder();

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function u32le(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0, true);
  return b;
}

function u64le(n: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, n), true);
  return b;
}

function f32le(values: number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

/** mulberry32: a fixed-seed generator for filler bytes and weights. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function noise(n: number, seed: number): Uint8Array {
  const r = rng(seed);
  return Uint8Array.from({ length: n }, () => Math.floor(r() * 256));
}

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// ---------------------------------------------------------------------------------------------------------------
// Zip writer (every field controllable, so that entries can lie about themselves)

interface ZipItem {
  name: string;
  /** The bytes as they lie in the archive (already compressed for method 8). */
  data: Uint8Array;
  method?: number;
  /** Claimed sizes (default: the truth). */
  compressedSize?: number;
  originalSize?: number;
  crc?: number;
}

function zip(items: ZipItem[], opts: { entryCount?: number; cdOffsetDelta?: number } = {}): Uint8Array {
  const locals: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  let offset = 0;
  for (const it of items) {
    const name = enc.encode(it.name);
    const method = it.method ?? 0;
    const csize = it.compressedSize ?? it.data.length;
    const usize = it.originalSize ?? it.data.length;
    const crc = it.crc ?? (method === 0 ? crc32(it.data) : 0);
    const lh = new Uint8Array(30);
    const lv = new DataView(lh.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 20, true);
    lv.setUint16(8, method, true);
    lv.setUint16(12, 0x21, true); // 1980-01-01: fixed, so the bytes do not depend on the clock
    lv.setUint32(14, crc, true);
    lv.setUint32(18, csize >>> 0, true);
    lv.setUint32(22, usize >>> 0, true);
    lv.setUint16(26, name.length, true);
    const ch = new Uint8Array(46);
    const cv = new DataView(ch.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 20, true);
    cv.setUint16(6, 20, true);
    cv.setUint16(10, method, true);
    cv.setUint16(14, 0x21, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, csize >>> 0, true);
    cv.setUint32(24, usize >>> 0, true);
    cv.setUint16(28, name.length, true);
    cv.setUint32(42, offset, true);
    locals.push(lh, name, it.data);
    centrals.push(ch, name);
    offset += 30 + name.length + it.data.length;
  }
  const cd = concat(centrals);
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, opts.entryCount ?? items.length, true);
  ev.setUint16(10, opts.entryCount ?? items.length, true);
  ev.setUint32(12, cd.length, true);
  ev.setUint32(16, offset + (opts.cdOffsetDelta ?? 0), true);
  return concat([...locals, cd, eocd]);
}

/**
 * A raw deflate stream that inflates to literals + 258 * matches zero bytes: one dynamic-Huffman block whose literal/length
 * code gives the length-258 symbol (285) one bit and whose distance code has the single distance 1 (one bit), so every
 * 258 output bytes cost 2 input bits (the 1032:1 maximum of deflate). After the header the stream is all zero bytes.
 */
export function deflateBomb(matches: number, literals = 1): Uint8Array {
  const bits: number[] = [];
  const put = (value: number, n: number): void => {
    for (let i = 0; i < n; i++) bits.push((value >>> i) & 1);
  }; // LSB first: header fields and extra bits
  const code = (value: number, n: number): void => {
    for (let i = n - 1; i >= 0; i--) bits.push((value >>> i) & 1);
  }; // MSB first: Huffman codes
  put(1, 1); // BFINAL
  put(2, 2); // BTYPE = dynamic
  put(29, 5); // HLIT: 286 literal/length codes
  put(0, 5); // HDIST: 1 distance code
  put(14, 4); // HCLEN: 18 code-length codes
  // Code-length code: symbols 0, 1, 2 and 18 with length 2 each (codes 00, 01, 10, 11), in the HCLEN order
  // 16 17 18 0 8 7 9 6 10 5 11 4 12 3 13 2 14 1.
  for (const len of [0, 0, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 2]) put(len, 3);
  const CL: Record<number, number> = { 0: 0b00, 1: 0b01, 2: 0b10, 18: 0b11 };
  code(CL[2]!, 2); // literal 0: length 2
  code(CL[18]!, 2); put(138 - 11, 7); // literals 1..138: unused
  code(CL[18]!, 2); put(117 - 11, 7); // literals 139..255: unused
  code(CL[2]!, 2); // end of block (256): length 2
  code(CL[18]!, 2); put(28 - 11, 7); // lengths 257..284: unused
  code(CL[1]!, 2); // length 258 (285): length 1
  code(CL[1]!, 2); // distance code 0 (distance 1): length 1
  // Canonical codes: 285 -> 0, literal 0 -> 10, end of block -> 11; distance 0 -> 0.
  for (let i = 0; i < literals; i++) code(0b10, 2); // literal zero bytes
  const headerBits = bits.length;
  const total = headerBits + 2 * matches + 2;
  const out = new Uint8Array(Math.ceil(total / 8));
  bits.forEach((b, i) => {
    if (b) out[i >> 3]! |= 1 << (i & 7);
  });
  // `matches` times (285 -> 0, distance 0 -> 0): zero bits, already in place. Then end of block, 11.
  for (const i of [headerBits + 2 * matches, headerBits + 2 * matches + 1]) out[i >> 3]! |= 1 << (i & 7);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Pickle writer

class Pickle {
  private readonly b: number[] = [];
  op(...bytes: number[]): this {
    for (const x of bytes) this.b.push(x);
    return this;
  }
  raw(s: string): this {
    return this.op(...enc.encode(s));
  }
  proto(v = 2): this {
    return this.op(0x80, v);
  }
  str(s: string): this {
    const e = enc.encode(s);
    return this.op(0x58, ...u32le(e.length), ...e);
  }
  int(n: number): this {
    return this.op(0x4a, ...u32le(n));
  }
  long1(n: bigint): this {
    const out: number[] = [];
    for (let v = n; ; ) {
      const byte = Number(BigInt.asUintN(8, v));
      out.push(byte);
      v >>= 8n;
      if ((v === 0n && byte < 0x80) || (v === -1n && byte >= 0x80)) break;
    }
    return this.op(0x8a, out.length, ...out);
  }
  /** A size or stride: BININT when it fits in 31 bits, LONG1 otherwise. */
  index(n: number | bigint): this {
    return typeof n === 'number' && n >= 0 && n < 2 ** 31 ? this.int(n) : this.long1(BigInt(n));
  }
  global(module: string, name: string): this {
    return this.raw(`c${module}\n${name}\n`);
  }
  mark(): this {
    return this.op(0x28);
  }
  tuple(): this {
    return this.op(0x74);
  }
  reduce(): this {
    return this.op(0x52);
  }
  stop(): this {
    return this.op(0x2e);
  }
  /** `_rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())`, storage by persistent id. */
  tensor(t: TensorSpec): this {
    this.global('torch._utils', '_rebuild_tensor_v2').mark();
    this.mark().str('storage').global('torch', t.storageType ?? 'FloatStorage').str(t.key).str('cpu').index(t.numel).tuple().op(0x51);
    this.index(t.offset ?? 0).mark();
    t.shape.forEach((s) => this.index(s));
    this.tuple().mark();
    (t.stride ?? rowMajor(t.shape.map(Number))).forEach((s) => this.index(s));
    return this.tuple().op(0x89).global('collections', 'OrderedDict').op(0x29).reduce().tuple().reduce();
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.b);
  }
}

interface TensorSpec {
  name: string;
  key: string;
  numel: number | bigint;
  offset?: number | bigint;
  shape: (number | bigint)[];
  stride?: (number | bigint)[];
  storageType?: string;
}

function rowMajor(shape: number[]): number[] {
  return shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
}

/** `{'last_iter': 1, 'model': {name: tensor, ...}}` */
function checkpointPickle(specs: TensorSpec[]): Uint8Array {
  const p = new Pickle().proto().op(0x7d).mark().str('last_iter').int(1).str('model').op(0x7d).mark();
  for (const s of specs) p.str(s.name).tensor(s);
  return p.op(0x75).op(0x75).stop().bytes();
}

/** A torch.save zip: archive/data.pkl, archive/byteorder, archive/data/<key>..., archive/version. */
function checkpointZip(pkl: Uint8Array, storages: Record<string, Uint8Array>, opts: { folder?: string; byteorder?: string } = {}): Uint8Array {
  const folder = opts.folder ?? 'archive';
  const items: ZipItem[] = [{ name: `${folder}/data.pkl`, data: pkl }, { name: `${folder}/byteorder`, data: enc.encode(opts.byteorder ?? 'little') }];
  for (const [k, v] of Object.entries(storages)) items.push({ name: `${folder}/data/${k}`, data: v });
  items.push({ name: `${folder}/version`, data: enc.encode('3\n') });
  return zip(items);
}

/** A pickle whose top level is a call of `module.name(arg)`, wrapped in a checkpoint zip. */
function exploitZip(pkl: Uint8Array): Uint8Array {
  return checkpointZip(pkl, {});
}

// ---------------------------------------------------------------------------------------------------------------
// The official FDT head and fdtkit's model file, small and valid, as the base of the damaged variants

const C = 4, D = 2, DI = 3, DT = 5;

function headShapes(): [string, number[]][] {
  const s: [string, number[]][] = [['space_dict', [C, D]], ['logit_scale', [1]], ['logit_scale_sd', [1]]];
  for (const [m, Din] of [['img', DI], ['txt', DT]] as const) {
    const p = `${m}_query_model.q_map`;
    s.push([`${p}.0.weight`, [Din]], [`${p}.0.bias`, [Din]], [`${p}.1.weight`, [D, Din]], [`${p}.1.bias`, [D]],
      [`${p}.3.weight`, [D]], [`${p}.3.bias`, [D]], [`${p}.4.weight`, [D, D]], [`${p}.4.bias`, [D]]);
  }
  return s;
}

function headValues(name: string, n: number): number[] {
  const r = rng(n * 31 + name.length);
  if (name.startsWith('logit_scale')) return new Array<number>(n).fill(Math.log(1 / 0.07));
  return Array.from({ length: n }, () => Math.round((r() * 2 - 1) * 1000) / 1000);
}

interface HeadOptions {
  shapes?: (s: [string, number[]][]) => [string, number[]][];
  values?: (name: string, v: number[]) => number[];
  storageType?: (name: string) => string | undefined;
  bytesOf?: (name: string, b: Uint8Array) => Uint8Array;
}

/** An official-style checkpoint of the FDT head (keys with the `module.` prefix, plus one encoder key). */
function officialHead(o: HeadOptions = {}): Uint8Array {
  const shapes = (o.shapes ?? ((s) => s))(headShapes());
  const specs: TensorSpec[] = [];
  const storages: Record<string, Uint8Array> = {};
  shapes.forEach(([name, shape], i) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const v = (o.values ?? ((_, x) => x))(name, headValues(name, n));
    const type = o.storageType?.(name);
    let bytes: Uint8Array = type === 'LongStorage' ? new Uint8Array(BigInt64Array.from(v.map((x) => BigInt(Math.trunc(x)))).buffer)
      : type === 'HalfStorage' ? new Uint8Array(2 * n) : f32le(v);
    bytes = o.bytesOf?.(name, bytes) ?? bytes;
    specs.push({ name: `module.${name}`, key: String(i), numel: n, shape, ...(type ? { storageType: type } : {}) });
    storages[String(i)] = bytes;
  });
  specs.push({ name: 'module.visual.proj', key: 'v', numel: 1, shape: [1] });
  storages['v'] = f32le([0.5]);
  return checkpointZip(checkpointPickle(specs), storages);
}

// safetensors writer (header bytes given verbatim when needed)

function safetensors(header: string | Uint8Array, data: Uint8Array = new Uint8Array(0), headerLen?: bigint): Uint8Array {
  const h = typeof header === 'string' ? enc.encode(header) : header;
  return concat([u64le(headerLen ?? BigInt(h.length)), h, data]);
}

interface StTensor { dtype: string; shape: number[]; data: Uint8Array }

function safetensorsOf(tensors: [string, StTensor][], metadata?: Record<string, unknown>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header['__metadata__'] = metadata;
  let offset = 0;
  for (const [name, t] of tensors) {
    Object.defineProperty(header, name, {
      value: { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.length] }, enumerable: true, writable: true, configurable: true,
    });
    offset += t.data.length;
  }
  return safetensors(JSON.stringify(header), concat(tensors.map(([, t]) => t.data)));
}

const CONFIG = { numTokens: C, dim: D, imageDim: DI, textDim: DT, normalizer: 'sparsemax', temperature: 1, maskMode: 'official' };

interface ModelOptions {
  config?: unknown;
  metadata?: (m: Record<string, unknown>) => Record<string, unknown>;
  tensors?: (t: [string, StTensor][]) => [string, StTensor][];
  values?: (name: string, v: number[]) => number[];
}

/** An fdtkit model file: safetensors, tensors by official name, format and config in the metadata. */
function modelFile(o: ModelOptions = {}): Uint8Array {
  let tensors: [string, StTensor][] = headShapes().map(([name, shape]) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const v = (o.values ?? ((_, x) => x))(name, headValues(name, n));
    return [name, { dtype: 'F32', shape, data: f32le(v) }];
  });
  tensors = (o.tensors ?? ((t) => t))(tensors);
  const config = 'config' in o ? o.config : JSON.stringify(CONFIG);
  const meta: Record<string, unknown> = { format: 'fdtkit.fdt-head', format_version: '1', config };
  return safetensorsOf(tensors, (o.metadata ?? ((m) => m))(meta));
}

// ---------------------------------------------------------------------------------------------------------------
// The corpus

const F = 'FdtFormatError' as const;
const S = 'FdtShapeError' as const;
const V = 'FdtValueError' as const;

/** Inflated size of the honest deflate bombs, in MiB: above the 256 MiB memory bound of the corpus test. */
export const BOMB_MIB = 320;

/** The marker files an exploit would create (relative to the repository root, where the tests run). */
export const MARKER_DIR = '.cache/hostile-markers';

interface Item extends CorpusEntry {
  bytes: Uint8Array;
}

function ckptReaders(refusal: Refusal, head: Refusal = refusal): CorpusEntry['readers'] {
  return [{ reader: 'readTorchCheckpoint', refusal }, { reader: 'importOfficialFdtHead', refusal: head }];
}

function stReaders(refusal: Refusal): CorpusEntry['readers'] {
  return [{ reader: 'decodeSafetensors', refusal }, { reader: 'decodeModel', refusal }];
}

/** Builds every corpus file in memory (deterministic). */
export function buildCorpus(): Item[] {
  const items: Item[] = [];
  const add = (file: string, category: CorpusEntry['category'], what: string, bytes: Uint8Array, load: Refusal | undefined,
    readers: CorpusEntry['readers'], marker?: string): void => {
    items.push({ file, category, what, bytes, ...(load ? { load } : {}), readers, ...(marker ? { marker } : {}) });
  };
  const both = (r: Refusal) => ({ load: r, readers: ckptReaders(r) });

  // --- valid baselines (the damaged files below differ from these in one respect each)
  add('valid-official-head.pth.tar', 'valid', 'a consistent official FDT head checkpoint (baseline)', officialHead(), undefined,
    [{ reader: 'readTorchCheckpoint' }, { reader: 'importOfficialFdtHead' }]);
  add('valid-model.safetensors', 'valid', 'a consistent fdtkit model file (baseline)', modelFile(), undefined,
    [{ reader: 'decodeSafetensors' }, { reader: 'decodeModel' }]);

  // --- zip containers
  const good = officialHead();
  {
    const r = { error: F, message: 'not a (readable )?zip archive' };
    add('zip-garbage.pth.tar', 'zip', 'zip signature followed by noise', concat([enc.encode('PK\x03\x04'), noise(4096, 1)]), r, ckptReaders(r));
  }
  {
    const r = { error: F, message: 'not a readable zip archive|truncated or corrupt' };
    add('zip-truncated-half.pth.tar', 'zip', 'a valid checkpoint cut in half', good.slice(0, good.length >> 1), r, ckptReaders(r));
    add('zip-truncated-eocd.pth.tar', 'zip', 'the end-of-central-directory record cut short', good.slice(0, good.length - 10), r, ckptReaders(r));
  }
  {
    const bad = good.slice();
    const v = new DataView(bad.buffer);
    v.setUint32(bad.length - 6, 0x7ffffff0, true); // central directory offset far beyond the file
    const r = { error: F, message: 'torch checkpoint: .*zip' };
    add('zip-cd-offset-beyond-file.pth.tar', 'zip', 'central directory offset pointing past the end', bad, r, ckptReaders(r));
  }
  {
    const bad = good.slice();
    bad.fill(0xa5, good.length - 22 - 300, good.length - 22); // smash the central directory records
    const r = { error: F, message: 'not a readable zip archive|truncated or corrupt|unsupported compression|claims|no data\\.pkl' };
    add('zip-cd-smashed.pth.tar', 'zip', 'central directory records overwritten with 0xa5', bad, r, ckptReaders(r));
  }
  {
    const bytes = zip([{ name: 'archive/data.pkl', data: new Uint8Array(8) }], { entryCount: 65535 });
    const r = { error: F, message: 'torch checkpoint: .*zip|more entries than the file can hold' };
    add('zip-entry-count-65535.pth.tar', 'zip', 'end record claims 65535 entries in a 100-byte file', bytes, r, ckptReaders(r));
  }
  {
    const pkl = new Pickle().proto().op(0x7d).stop().bytes();
    const bytes = zip([{ name: 'archive/data.pkl', data: pkl }, { name: 'archive/data.pkl', data: pkl }]);
    const r = { error: F, message: 'appears twice' };
    add('zip-duplicate-entry.pth.tar', 'zip', 'two entries with the same name', bytes, r, ckptReaders(r));
  }
  {
    const r = { error: F, message: 'no data\\.pkl in the archive' };
    add('zip-no-data-pkl.pth.tar', 'zip', 'a zip without data.pkl', zip([{ name: 'archive/version', data: enc.encode('3\n') }]), r, ckptReaders(r));
  }
  {
    const pkl = checkpointPickle([]);
    const r = { error: F, message: 'several data\\.pkl' };
    add('zip-two-archives.pth.tar', 'zip', 'two data.pkl in two folders', zip([{ name: 'a/data.pkl', data: pkl }, { name: 'b/data.pkl', data: pkl }]), r, ckptReaders(r));
  }
  {
    const r = { error: F, message: 'big-endian checkpoints are not supported' };
    add('zip-big-endian.pth.tar', 'zip', 'byteorder says big', checkpointZip(checkpointPickle([]), {}, { byteorder: 'big' }), r, ckptReaders(r));
  }
  {
    const r = { error: F, message: 'legacy \\(non-zip\\) torch\\.save format' };
    // FDT.load tells zip from safetensors by the first bytes, so it reads a non-zip file as safetensors.
    add('legacy-torch-save.pth.tar', 'zip', 'a pre-1.6 (non-zip) torch.save stream', new Pickle().proto().op(0x7d).stop().bytes(),
      { error: F, message: 'safetensors: file of 4 bytes is too short' }, ckptReaders(r));
  }
  {
    const r = { error: F, message: 'unsupported compression method 12' };
    add('zip-bzip2-method.pth.tar', 'zip', 'entry compressed with method 12 (bzip2)',
      zip([{ name: 'archive/data.pkl', data: noise(64, 2), method: 12, originalSize: 64 }]), r, ckptReaders(r));
  }
  {
    const r = { error: F, message: 'claims 100000000 compressed bytes but the file holds' };
    add('zip-stored-size-beyond-file.pth.tar', 'zip', 'stored entry claiming 100 MB in a small file',
      zip([{ name: 'archive/data.pkl', data: noise(64, 3), compressedSize: 100_000_000, originalSize: 100_000_000 }]), r, ckptReaders(r));
  }
  {
    const r = { error: F, message: 'declares 64 stored but 4096 original bytes' };
    add('zip-stored-size-mismatch.pth.tar', 'zip', 'stored entry whose two sizes disagree',
      zip([{ name: 'archive/data.pkl', data: noise(64, 4), originalSize: 4096 }]), r, ckptReaders(r));
  }
  {
    const small = deflateBomb(64);
    const r = { error: F, message: 'claims 4294967295 bytes, more than the limit' };
    add('zip-claims-4GiB.pth.tar', 'zip-bomb', 'deflated entry claiming 4 GiB (more than the 2 GiB entry limit)',
      zip([{ name: 'archive/data.pkl', data: small, method: 8, originalSize: 0xffffffff }]), r, ckptReaders(r));
  }
  {
    const small = deflateBomb(4000); // 1 KB of deflate
    const r = { error: F, message: `claims 1500000000 bytes, more than its ${small.length} compressed bytes can hold` };
    add('zip-claims-1.5GB-from-1KB.pth.tar', 'zip-bomb', 'a 1 KB deflated entry claiming 1.5 GB (beyond deflate\'s 1032:1)',
      zip([{ name: 'archive/data.pkl', data: small, method: 8, originalSize: 1_500_000_000 }]), r, ckptReaders(r));
  }
  {
    // Honest bombs: the sizes are true; inflating them is what a reader must not do blindly.
    const matches = Math.ceil((BOMB_MIB * 2 ** 20) / 258);
    const bomb = deflateBomb(matches);
    const r = { error: F, message: 'data\\.pkl|unsupported opcode|limit' };
    add(`zip-bomb-data-pkl-${BOMB_MIB}MiB.pth.tar`, 'zip-bomb', `data.pkl: ${bomb.length} deflated bytes that truly inflate to ${1 + 258 * matches} zero bytes`,
      zip([{ name: 'archive/data.pkl', data: bomb, method: 8, originalSize: 1 + 258 * matches }]), r, ckptReaders(r));
  }
  {
    const matches = 2 * Math.ceil((BOMB_MIB * 2 ** 19) / 258); // even, so that 4 + 258 * matches is a whole number of floats
    const bomb = deflateBomb(matches, 4);
    const numel = (4 + 258 * matches) / 4;
    const pkl = checkpointPickle([{ name: 'module.space_dict', key: '0', numel, shape: [C, D] }]);
    const bytes = zip([
      { name: 'archive/data.pkl', data: pkl },
      { name: 'archive/data/0', data: bomb, method: 8, originalSize: 4 + 258 * matches },
    ]);
    // A small view of a big storage is legal, but the storage is inflated whole: its full size counts against the
    // reader's budget (256 MiB by default), so this one is refused before anything is inflated.
    const r = { error: F, message: 'missing FDT head keys|limit' };
    add(`zip-bomb-storage-${BOMB_MIB}MiB.pth.tar`, 'zip-bomb', `a storage of ${bomb.length} deflated bytes that truly inflates to ${4 + 258 * matches} bytes, of which the tensor uses 32`,
      bytes, r, [{ reader: 'readTorchCheckpoint', refusal: r }, { reader: 'importOfficialFdtHead', refusal: r }]);
  }

  // --- pickles: forbidden globals (each would create a marker file if anything were executed)
  const marker = (name: string): string => `${MARKER_DIR}/PWNED-${name}`;
  const shellCall = (m: string, n: string, arg: Pickle | ((p: Pickle) => Pickle)) => (p: Pickle) => {
    p.global(m, n).mark();
    if (typeof arg === 'function') arg(p);
    return p.tuple().reduce();
  };
  const globals: [string, string, string, (p: Pickle) => Pickle][] = [
    ['os', 'system', 'os-system', (p) => p.str(`touch ${marker('os-system')}`)],
    ['posix', 'system', 'posix-system', (p) => p.str(`touch ${marker('posix-system')}`)],
    ['nt', 'system', 'nt-system', (p) => p.str(`type nul > ${marker('nt-system')}`)],
    ['builtins', 'eval', 'builtins-eval', (p) => p.str(`open('${marker('builtins-eval')}', 'w').write('x')`)],
    ['builtins', 'exec', 'builtins-exec', (p) => p.str(`import os; os.system('touch ${marker('builtins-exec')}')`)],
    ['__builtin__', 'eval', 'builtin-eval', (p) => p.str(`open('${marker('builtin-eval')}', 'w').write('x')`)],
    ['subprocess', 'Popen', 'subprocess-popen', (p) => p.op(0x5d).mark().str('touch').str(marker('subprocess-popen')).op(0x65)],
    ['torch', 'load', 'torch-load', (p) => p.str(marker('torch-load'))],
    ['builtins', '__import__', 'builtins-import', (p) => p.str('os')],
    ['numpy.core.multiarray', '_reconstruct', 'numpy-reconstruct', (p) => p.str('x')],
    ['torch.storage', '_load_from_bytes', 'torch-load-from-bytes', (p) => p.str('x')],
  ];
  for (const [m, n, tag, arg] of globals) {
    const pkl = shellCall(m, n, arg)(new Pickle().proto()).stop().bytes();
    const r = { error: F, message: `forbidden global "${m.replace(/\./g, '\\.')}\\.${n}" at byte 2 \\(GLOBAL 0x63\\)` };
    add(`pickle-global-${tag}.pth.tar`, 'pickle-global', `data.pkl calls ${m}.${n}`, exploitZip(pkl), r, ckptReaders(r), marker(tag));
  }
  {
    // The same exploit nested inside an otherwise valid state dict, after a real tensor.
    const pkl = new Pickle().proto().op(0x7d).mark().str('model').op(0x7d).mark().str('module.logit_scale')
      .tensor({ name: '', key: '0', numel: 1, shape: [1] }).str('x');
    shellCall('os', 'system', (p) => p.str(`touch ${marker('os-system-nested')}`))(pkl);
    const bytes = checkpointZip(pkl.op(0x75).op(0x75).stop().bytes(), { '0': f32le([1]) });
    const r = { error: F, message: 'forbidden global "os\\.system"' };
    add('pickle-global-nested-in-state-dict.pth.tar', 'pickle-global', 'os.system as a state-dict value after a valid tensor', bytes, r, ckptReaders(r), marker('os-system-nested'));
  }
  {
    const pkl = new Pickle().proto(4).op(0x8c, 2).raw('os').op(0x8c, 6).raw('system').op(0x93).mark()
      .str(`touch ${marker('stack-global')}`).tuple().reduce().stop().bytes();
    const r = { error: F, message: 'unsupported opcode at byte 14 \\(STACK_GLOBAL 0x93\\)' };
    add('pickle-stack-global-os-system.pth.tar', 'pickle-global', 'protocol-4 STACK_GLOBAL os.system', exploitZip(pkl), r, ckptReaders(r), marker('stack-global'));
  }
  {
    const pkl = enc.encode(`(S'touch ${marker('inst')}'\nios\nsystem\n.`);
    const r = { error: F, message: 'unsupported opcode at byte 1 \\(STRING 0x53\\)' };
    add('pickle-inst-os-system.pth.tar', 'pickle-global', 'protocol-0 INST os.system', exploitZip(pkl), r, ckptReaders(r), marker('inst'));
  }
  {
    const pkl = new Pickle().proto().mark().global('collections', 'OrderedDict').op(0x6f).stop().bytes();
    const r = { error: F, message: 'unsupported opcode at byte 28 \\(OBJ 0x6f\\)' };
    add('pickle-obj-opcode.pth.tar', 'pickle-global', 'OBJ instantiating a class', exploitZip(pkl), r, ckptReaders(r));
  }
  {
    const pkl = new Pickle().proto().global('collections', 'OrderedDict').op(0x29).op(0x81).stop().bytes();
    const r = { error: F, message: 'NEWOBJ 0x81' };
    add('pickle-newobj.pth.tar', 'pickle-global', 'NEWOBJ on an allowed class', exploitZip(pkl), r, ckptReaders(r));
  }
  {
    const pkl = new Pickle().proto().global('torch', 'FloatStorage').mark().str('x').tuple().reduce().stop().bytes();
    const r = { error: F, message: 'global torch\\.FloatStorage cannot be called' };
    add('pickle-call-storage-class.pth.tar', 'pickle-global', 'REDUCE on an allowed but non-callable global', exploitZip(pkl), r, ckptReaders(r));
  }
  {
    // BUILD (__setstate__) on a rebuilt tensor: the classic way to reach attribute writes.
    const pkl = new Pickle().proto().tensor({ name: '', key: '0', numel: 1, shape: [1] }).op(0x7d).op(0x62).stop().bytes();
    const r = { error: F, message: 'BUILD is only supported on an OrderedDict, found tensor' };
    add('pickle-build-on-tensor.pth.tar', 'pickle-global', 'BUILD (setstate) applied to a tensor', exploitZip(pkl), r, ckptReaders(r));
  }

  // --- pickles: structure
  {
    const r = { error: F, message: 'unsupported opcode at byte 2 \\(unknown opcode 0xff\\)' };
    add('pickle-unknown-opcode-ff.pth.tar', 'pickle-structure', 'opcode 0xff', exploitZip(new Pickle().proto().op(0xff).stop().bytes()), r, ckptReaders(r));
    const r2 = { error: F, message: 'unsupported opcode at byte 3 \\(unknown opcode 0xb7\\)' };
    add('pickle-unknown-opcode-b7.pth.tar', 'pickle-structure', 'opcode 0xb7 after NONE', exploitZip(new Pickle().proto().op(0x4e, 0xb7).stop().bytes()), r2, ckptReaders(r2));
  }
  {
    const bytes = new Uint8Array(2 + 100_000 + 1);
    bytes.set([0x80, 2]);
    bytes.fill(0x28, 2, 2 + 100_000);
    bytes[bytes.length - 1] = 0x2e;
    const r = { error: F, message: 'MARKs nested deeper than 100' };
    add('pickle-100k-marks.pth.tar', 'pickle-structure', '100 000 nested MARKs', exploitZip(bytes), r, ckptReaders(r));
  }
  {
    const n = 100_000;
    const bytes = new Uint8Array(2 + n + (n - 1) + 1);
    bytes.set([0x80, 2]);
    bytes.fill(0x5d, 2, 2 + n); // EMPTY_LIST x n
    bytes.fill(0x61, 2 + n, 2 + n + (n - 1)); // APPEND x (n - 1): each list into the one below it
    bytes[bytes.length - 1] = 0x2e;
    const r = { error: F, message: 'containers nested deeper than 100' };
    add('pickle-100k-nested-lists.pth.tar', 'pickle-structure', '100 000 nested lists (EMPTY_LIST x 100k, APPEND x 100k-1)', exploitZip(bytes), r, ckptReaders(r));
  }
  {
    const n = 200_000;
    const bytes = new Uint8Array(2 + n + 1);
    bytes.set([0x80, 2]);
    bytes.fill(0x4e, 2, 2 + n); // NONE x n
    bytes[bytes.length - 1] = 0x2e;
    const r = { error: F, message: 'stack deeper than 100000' };
    add('pickle-stack-flood-200k.pth.tar', 'pickle-structure', '200 000 values pushed on the stack', exploitZip(bytes), r, ckptReaders(r));
  }
  {
    const n = 100_000;
    const bytes = new Uint8Array(3 + n + 1);
    bytes.set([0x80, 2, 0x5d]);
    bytes.fill(0x85, 3, 3 + n); // TUPLE1 x n: a 100k-deep chain on a one-slot stack
    bytes[bytes.length - 1] = 0x2e;
    const r = { error: F, message: 'containers nested deeper than 100' };
    add('pickle-100k-nested-tuples.pth.tar', 'pickle-structure', '100 000 nested one-tuples (constant stack, deep result)', exploitZip(bytes), r, ckptReaders(r));
  }
  {
    const r = { error: F, message: 'memo entry 4294967295 is not defined' };
    add('pickle-huge-memo-get.pth.tar', 'pickle-structure', 'LONG_BINGET of memo index 2^32-1',
      exploitZip(new Pickle().proto().op(0x6a, 0xff, 0xff, 0xff, 0xff).stop().bytes()), r, ckptReaders(r));
  }
  {
    const n = 500_000;
    const bytes = new Uint8Array(3 + 5 * n + 1);
    bytes.set([0x80, 2, 0x4e]);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < n; i++) {
      bytes[3 + 5 * i] = 0x72; // LONG_BINPUT at a million huge indices
      view.setUint32(4 + 5 * i, 0xffffffff - i, true);
    }
    bytes[bytes.length - 1] = 0xfe;
    const r = { error: F, message: 'unknown opcode 0xfe' };
    add('pickle-memo-flood-500k.pth.tar', 'pickle-structure', '500 000 LONG_BINPUTs at huge memo indices, then a bad opcode', exploitZip(bytes), r, ckptReaders(r));
  }
  {
    const r = { error: F, message: 'truncated: needs 4294967295 bytes, 1 left at byte 2 \\(BINUNICODE' };
    add('pickle-string-4GiB.pth.tar', 'pickle-structure', 'BINUNICODE claiming 4 GiB in a 10-byte pickle',
      exploitZip(new Pickle().proto().op(0x58, 0xff, 0xff, 0xff, 0xff, 0x61).bytes()), r, ckptReaders(r));
    const r2 = { error: F, message: 'truncated: needs 255 bytes, 3 left at byte 2 \\(SHORT_BINUNICODE' };
    add('pickle-short-string-overrun.pth.tar', 'pickle-structure', 'SHORT_BINUNICODE of 255 with 3 bytes left',
      exploitZip(new Pickle().proto().op(0x8c, 0xff).raw('abc').bytes()), r2, ckptReaders(r2));
    const r3 = { error: F, message: 'BINUNICODE8 0x8d' };
    add('pickle-binunicode8-2^63.pth.tar', 'pickle-structure', 'BINUNICODE8 claiming 2^63 bytes',
      exploitZip(new Pickle().proto(4).op(0x8d, ...u64le(2n ** 63n)).bytes()), r3, ckptReaders(r3));
    const r4 = { error: F, message: 'BINBYTES8 0x8e' };
    add('pickle-binbytes8-2^64.pth.tar', 'pickle-structure', 'BINBYTES8 claiming 2^64-1 bytes',
      exploitZip(new Pickle().proto(4).op(0x8e, ...u64le(2n ** 64n - 1n)).bytes()), r4, ckptReaders(r4));
    const r5 = { error: F, message: 'LONG4 0x8b' };
    add('pickle-long4-2GiB.pth.tar', 'pickle-structure', 'LONG4 claiming a 2 GiB integer',
      exploitZip(new Pickle().proto().op(0x8b, 0xff, 0xff, 0xff, 0x7f).bytes()), r5, ckptReaders(r5));
    const r6 = { error: F, message: 'input ended before STOP' };
    add('pickle-frame-2^63.pth.tar', 'pickle-structure', 'FRAME claiming 2^63 bytes, then the input ends',
      exploitZip(new Pickle().proto(4).op(0x95, ...u64le(2n ** 63n), 0x4e).bytes()), r6, ckptReaders(r6));
  }
  {
    const r = { error: F, message: 'GLOBAL name is not terminated by a newline within 256 bytes' };
    add('pickle-global-unterminated.pth.tar', 'pickle-structure', 'GLOBAL whose module name never ends',
      exploitZip(concat([Uint8Array.of(0x80, 2, 0x63), new Uint8Array(100_000).fill(0x41)])), r, ckptReaders(r));
    const r2 = { error: F, message: 'string is not valid UTF-8' };
    add('pickle-invalid-utf8.pth.tar', 'pickle-structure', 'SHORT_BINUNICODE with invalid UTF-8',
      exploitZip(new Pickle().proto().op(0x8c, 3, 0xc3, 0x28, 0xff).stop().bytes()), r2, ckptReaders(r2));
    const r3 = { error: F, message: 'input ended before STOP' };
    add('pickle-no-stop.pth.tar', 'pickle-structure', 'a state dict without STOP',
      exploitZip(checkpointPickle([]).slice(0, -1)), r3, ckptReaders(r3));
    const r4 = { error: F, message: '4 trailing bytes after STOP' };
    add('pickle-trailing-bytes.pth.tar', 'pickle-structure', 'bytes after STOP',
      exploitZip(concat([checkpointPickle([]), enc.encode('cos\n')])), r4, ckptReaders(r4));
    const r5 = { error: F, message: 'cyclic structure' };
    add('pickle-cyclic-list.pth.tar', 'pickle-structure', 'a list that contains itself (via the memo)',
      exploitZip(new Pickle().proto().op(0x5d, 0x71, 0, 0x68, 0, 0x61).stop().bytes()), r5, ckptReaders(r5));
    const r6 = { error: F, message: 'unsupported protocol 99' };
    add('pickle-protocol-99.pth.tar', 'pickle-structure', 'PROTO 99', exploitZip(Uint8Array.of(0x80, 99, 0x4e, 0x2e)), r6, ckptReaders(r6));
    const r7 = { error: F, message: 'unsupported dict key of type list' };
    add('pickle-list-dict-key.pth.tar', 'pickle-structure', 'a dict keyed by a list',
      exploitZip(new Pickle().proto().op(0x7d, 0x5d, 0x4e, 0x73).stop().bytes()), r7, ckptReaders(r7));
    const r8 = { error: F, message: 'the pickled object is not a dict' };
    add('pickle-top-level-list.pth.tar', 'pickle-structure', 'data.pkl holds a list',
      exploitZip(new Pickle().proto().op(0x5d).stop().bytes()), r8, ckptReaders(r8));
  }

  // --- tensors of a checkpoint: storages, shapes, strides, offsets
  const tensorCase = (file: string, what: string, spec: Omit<TensorSpec, 'name' | 'key'>, storage: Uint8Array, readerMsg: string, loadMsg = readerMsg): void => {
    const pkl = checkpointPickle([{ name: 'module.space_dict', key: '0', ...spec }]);
    const bytes = checkpointZip(pkl, { '0': storage });
    const r = { error: F, message: readerMsg };
    const l = { error: F, message: loadMsg };
    add(file, 'tensor', what, bytes, l, ckptReaders(r, l));
  };
  const s12 = f32le(Array.from({ length: 12 }, (_, i) => i));
  tensorCase('tensor-storage-shorter.pth.tar', 'storage entry of 8 bytes for a declared 12-element storage', { numel: 12, shape: [12] }, s12.slice(0, 8),
    'storage "0" holds 8 bytes, the pickle declares 12 F32 elements');
  tensorCase('tensor-view-beyond-storage.pth.tar', 'a [4, 4] view of a 12-element storage', { numel: 12, shape: [4, 4] }, s12,
    'reach element 15 but storage "0" holds 12 elements');
  tensorCase('tensor-offset-beyond-storage.pth.tar', 'storage offset 1000 in a 12-element storage', { numel: 12, offset: 1000, shape: [2] }, s12,
    'offset 1000, size \\[2\\], stride \\[1\\] reach element 1001');
  tensorCase('tensor-negative-offset.pth.tar', 'storage offset -1', { numel: 12, offset: -1, shape: [2] }, s12,
    'storage offset must be a non-negative integer');
  tensorCase('tensor-negative-shape.pth.tar', 'size (-1, 12)', { numel: 12, shape: [-1, 12], stride: [12, 1] }, s12,
    'size must be a tuple of non-negative integers');
  tensorCase('tensor-shape-2^53.pth.tar', 'size (2^53,): beyond the safe integers', { numel: 12, shape: [2n ** 53n], stride: [1] }, s12,
    'size must be a tuple of non-negative integers');
  tensorCase('tensor-shape-product-overflow.pth.tar', 'size (2^40, 2^40): the product overflows', { numel: 12, shape: [2 ** 40, 2 ** 40], stride: [0, 0] }, s12,
    'overflow');
  tensorCase('tensor-stride-overflow.pth.tar', 'size (3, 3) with strides (2^52, 2^52): the extent overflows', { numel: 12, shape: [3, 3], stride: [2 ** 52, 2 ** 52] }, s12,
    'overflow');
  tensorCase('tensor-negative-stride.pth.tar', 'stride -1', { numel: 12, shape: [12], stride: [-1] }, s12,
    'stride must be a tuple of non-negative integers');
  tensorCase('tensor-stride-rank-mismatch.pth.tar', 'stride shorter than the size', { numel: 12, shape: [3, 4], stride: [4] }, s12,
    'stride must be a tuple of non-negative integers as long as the size');
  tensorCase('tensor-storage-numel-2^53.pth.tar', 'storage declaring 2^53 elements', { numel: 2n ** 53n, shape: [1] }, s12,
    'persistent id needs a string key, a string location and a non-negative integer size');
  tensorCase('tensor-unknown-storage-type.pth.tar', 'storage of type torch.ComplexFloatStorage', { numel: 12, shape: [12], storageType: 'ComplexFloatStorage' }, s12,
    'forbidden global "torch\\.ComplexFloatStorage"');
  tensorCase('tensor-broadcast-1GiB.pth.tar', 'a one-element storage viewed as [16384, 16384] with zero strides (1 GiB once materialised)',
    { numel: 1, shape: [16384, 16384], stride: [0, 0] }, f32le([1]), 'materialised tensors exceed the limit of \\d+ bytes');
  {
    const pkl = checkpointPickle([{ name: 'module.space_dict', key: '7', numel: 8, shape: [C, D] }]);
    const r = { error: F, message: 'storage "7" is missing from the archive' };
    add('tensor-storage-missing.pth.tar', 'tensor', 'the storage entry named by the pickle does not exist', checkpointZip(pkl, {}), r, ckptReaders(r));
  }
  {
    const pkl = checkpointPickle([
      { name: 'module.space_dict', key: '0', numel: 8, shape: [C, D] },
      { name: 'module.logit_scale', key: '0', numel: 4, shape: [1], storageType: 'DoubleStorage' },
    ]);
    const r = { error: F, message: 'storage "0" declared twice with different types or sizes' };
    add('tensor-storage-redeclared.pth.tar', 'tensor', 'one storage declared as float32 and as float64', checkpointZip(pkl, { '0': new Uint8Array(32) }), r, ckptReaders(r));
  }

  // --- the FDT head of an official checkpoint
  {
    const f16 = officialHead({ storageType: (n) => (n === 'space_dict' ? 'HalfStorage' : undefined) });
    const r = { error: F, message: 'tensor "module\\.space_dict": dtype F16 is not supported' };
    add('head-f16-dictionary.pth.tar', 'head', 'space_dict stored as float16', f16, r, [{ reader: 'readTorchCheckpoint', refusal: r }, { reader: 'importOfficialFdtHead', refusal: r }]);
  }
  {
    const i64 = officialHead({ storageType: (n) => (n === 'img_query_model.q_map.1.weight' ? 'LongStorage' : undefined) });
    const r = { error: F, message: 'FDT head tensors must be float32: img_query_model\\.q_map\\.1\\.weight \\(I64\\)' };
    add('head-int64-weight.pth.tar', 'head', 'a Linear weight stored as int64', i64, r, [{ reader: 'readTorchCheckpoint' }, { reader: 'importOfficialFdtHead', refusal: r }]);
  }
  {
    const bytes = officialHead({ shapes: (s) => s.filter(([n]) => n !== 'space_dict' && n !== 'txt_query_model.q_map.4.bias') });
    const r = { error: F, message: 'missing FDT head keys: space_dict, txt_query_model\\.q_map\\.4\\.bias' };
    add('head-missing-keys.pth.tar', 'head', 'no space_dict and no txt q_map.4.bias', bytes, r, [{ reader: 'readTorchCheckpoint' }, { reader: 'importOfficialFdtHead', refusal: r }]);
  }
  {
    const bytes = officialHead({ shapes: (s) => s.map(([n, sh]) => [n, n === 'img_query_model.q_map.1.weight' ? [D, DI + 1] : n === 'logit_scale' ? [2] : sh]) });
    const r = { error: S, message: '^(?=.*img_query_model\\.q_map\\.1\\.weight: expected \\[2, 3\\], found \\[2, 4\\])(?=.*logit_scale: expected \\[1\\], found \\[2\\])' };
    add('head-inconsistent-shapes.pth.tar', 'head', 'q_map.1.weight [d, Di+1] and logit_scale [2]: shapes that disagree with each other', bytes, r,
      [{ reader: 'readTorchCheckpoint' }, { reader: 'importOfficialFdtHead', refusal: r }]);
  }
  {
    const bytes = officialHead({ shapes: (s) => s.map(([n, sh]) => [n, n === 'space_dict' ? [0, D] : sh]) });
    const r = { error: S, message: 'space_dict: expected 2 positive dimensions, found \\[0, 2\\]' };
    add('head-empty-dictionary.pth.tar', 'head', 'space_dict with 0 tokens', bytes, r, [{ reader: 'readTorchCheckpoint' }, { reader: 'importOfficialFdtHead', refusal: r }]);
  }
  {
    const bytes = officialHead({ values: (n, v) => (n === 'space_dict' ? v.map((x, i) => (i === 5 ? NaN : x)) : v) });
    const r = { error: V, message: 'space_dict\\[5\\] is NaN' };
    add('head-nan-dictionary.pth.tar', 'head', 'a NaN in space_dict', bytes, r, [{ reader: 'readTorchCheckpoint' }, { reader: 'importOfficialFdtHead', refusal: r }]);
  }
  {
    const bytes = officialHead({ values: (n, v) => (n === 'logit_scale' ? [Infinity] : v) });
    const r = { error: V, message: 'logit_scale\\[0\\] is Infinity' };
    add('head-inf-logit-scale.pth.tar', 'head', 'logit_scale = +Inf', bytes, r, [{ reader: 'readTorchCheckpoint' }, { reader: 'importOfficialFdtHead', refusal: r }]);
  }

  // --- safetensors (FDT.load reads them as model files)
  const st = (file: string, what: string, bytes: Uint8Array, msg: string, opts?: Record<string, number>, loadMsg = msg): void => {
    const r = { error: F, message: msg };
    add(file, 'safetensors', what, bytes, { error: F, message: loadMsg },
      [{ reader: 'decodeSafetensors', ...(opts ? { options: opts } : {}), refusal: r }, { reader: 'decodeModel', refusal: { error: F, message: loadMsg } }]);
  };
  const t4 = f32le([1, 2, 3, 4]);
  st('st-empty.safetensors', 'an empty file', new Uint8Array(0), 'file of 0 bytes is too short');
  st('st-7-bytes.safetensors', 'shorter than the length field', Uint8Array.of(1, 0, 0, 0, 0, 0, 0), 'file of 7 bytes is too short');
  st('st-header-beyond-file.safetensors', 'header length 2^40 in a 40-byte file', safetensors('{}'.padEnd(32), new Uint8Array(0), 2n ** 40n),
    'header length 1099511627776 exceeds the 32 bytes after the length field');
  st('st-header-u64-max.safetensors', 'header length 2^64-1', safetensors('{}', new Uint8Array(0), 2n ** 64n - 1n), 'header length \\d+ exceeds the 2 bytes');
  st('st-header-above-cap.safetensors', 'a 64 KiB header (the reader runs with a 4 KiB cap; FDT.load with its 100 MB default)',
    safetensors(JSON.stringify({ __metadata__: { pad: 'x'.repeat(65536) } })), 'header length 655\\d\\d exceeds the limit of 4096 bytes', { maxHeaderBytes: 4096 },
    'expected metadata format "fdtkit\\.fdt-head", found null');
  st('st-invalid-utf8.safetensors', 'header bytes that are not UTF-8', safetensors(Uint8Array.of(0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d)), 'header is not valid UTF-8 JSON');
  st('st-invalid-json.safetensors', 'a header that is not JSON', safetensors('{"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]'), 'header is not valid UTF-8 JSON', undefined);
  st('st-header-array.safetensors', 'a header that is a JSON array', safetensors('[1, 2, 3]'), 'header must be a JSON object');
  st('st-header-null.safetensors', 'a header that is JSON null', safetensors('null'), 'header must be a JSON object');
  st('st-header-number.safetensors', 'a header that is a JSON number', safetensors('12345'), 'header must be a JSON object');
  st('st-header-100k-nested.safetensors', 'a header of 100 000 nested JSON arrays', safetensors('['.repeat(100_000) + ']'.repeat(100_000)),
    'header must be a JSON object|header is not valid UTF-8 JSON');
  st('st-entry-not-object.safetensors', 'a tensor entry that is a string', safetensors('{"w": "F32"}'), 'tensor "w": expected an object');
  st('st-unknown-dtype.safetensors', 'dtype "Q7"', safetensorsOf([['w', { dtype: 'Q7', shape: [4], data: t4 }]]), 'tensor "w": unknown dtype "Q7"');
  st('st-f16-dtype.safetensors', 'dtype F16 (refused: no float16 path)', safetensorsOf([['w', { dtype: 'F16', shape: [8], data: t4 }]]), 'tensor "w": dtype F16 is not supported');
  st('st-negative-shape.safetensors', 'shape [-4]', safetensors('{"w": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}}', t4), 'tensor "w": shape must be non-negative safe integers');
  st('st-fractional-shape.safetensors', 'shape [1.5]', safetensors('{"w": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 16]}}', t4), 'tensor "w": shape must be non-negative safe integers');
  st('st-shape-2^53.safetensors', 'shape [2^53]', safetensors('{"w": {"dtype": "F32", "shape": [9007199254740992], "data_offsets": [0, 16]}}', t4), 'tensor "w": shape must be non-negative safe integers');
  st('st-shape-product-overflow.safetensors', 'shape [2^31, 2^31, 2^31]: the product overflows',
    safetensors('{"w": {"dtype": "F32", "shape": [2147483648, 2147483648, 2147483648], "data_offsets": [0, 16]}}', t4), 'tensor "w": shape must be non-negative safe integers with a safe product');
  st('st-offsets-beyond-data.safetensors', 'data_offsets past the data section', safetensors('{"w": {"dtype": "F32", "shape": [1000000], "data_offsets": [0, 4000000]}}', t4),
    'tensor "w": data_offsets \\[0, 4000000\\] run past the data section \\(16 bytes\\)');
  st('st-offsets-2^60.safetensors', 'data_offsets beyond the safe integers', safetensors('{"w": {"dtype": "F32", "shape": [4], "data_offsets": [1152921504606846976, 1152921504606846992]}}', t4),
    'tensor "w": data_offsets must be integers');
  st('st-offsets-reversed.safetensors', 'data_offsets with begin > end', safetensors('{"w": {"dtype": "F32", "shape": [0], "data_offsets": [16, 0]}}', t4), 'tensor "w": data_offsets must be integers 0 <= begin <= end');
  st('st-offsets-not-pair.safetensors', 'data_offsets with three numbers', safetensors('{"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 8, 16]}}', t4), 'tensor "w": data_offsets must be \\[begin, end\\]');
  st('st-size-mismatch.safetensors', 'shape [4] of F32 over 12 bytes', safetensors('{"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 12]}, "v": {"dtype": "U8", "shape": [4], "data_offsets": [12, 16]}}', t4),
    'tensor "w": shape \\[4\\] of F32 needs 16 bytes, data_offsets span 12');
  st('st-overlap.safetensors', 'two tensors over the same bytes', safetensors('{"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}, "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}}', t4),
    'tensor "b" \\[8, 16\\) overlaps tensor "a"');
  st('st-gap.safetensors', 'bytes between tensors that no tensor covers', safetensors('{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "b": {"dtype": "F32", "shape": [1], "data_offsets": [12, 16]}}', t4),
    'tensor "b" \\[12, 16\\) leaves a gap of 8 bytes');
  st('st-trailing-bytes.safetensors', 'data after the last tensor', safetensors('{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}', t4),
    'tensors cover 8 bytes but the data section holds 16');
  st('st-duplicate-json-keys.safetensors', 'the same tensor name twice in the JSON (the second wins, leaving a gap)',
    safetensors('{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}}', t4),
    'tensor "a" \\[8, 16\\) leaves a gap of 8 bytes');
  st('st-metadata-not-string.safetensors', '__metadata__ with a number', safetensors('{"__metadata__": {"format": 1}}'), '__metadata__ "format" must be a string');
  st('st-metadata-array.safetensors', '__metadata__ that is an array', safetensors('{"__metadata__": ["format"]}'), '__metadata__ must be an object of strings');

  // --- fdtkit model files
  const model = (file: string, what: string, bytes: Uint8Array, refusal: Refusal): void => {
    add(file, 'model', what, bytes, refusal, [{ reader: 'decodeSafetensors' }, { reader: 'decodeModel', refusal }]);
  };
  model('model-no-format.safetensors', 'valid safetensors without the fdtkit format tag',
    modelFile({ metadata: (m) => ({ config: m['config'] }) }), { error: F, message: 'expected metadata format "fdtkit\\.fdt-head", found null' });
  model('model-wrong-format.safetensors', 'format tag of another program',
    modelFile({ metadata: (m) => ({ ...m, format: 'pt' }) }), { error: F, message: 'expected metadata format "fdtkit\\.fdt-head", found "pt"' });
  model('model-config-missing.safetensors', 'format tag but no config', modelFile({ metadata: (m) => ({ format: m['format'] }) }), { error: F, message: 'metadata "config" is not valid JSON' });
  model('model-config-not-json.safetensors', 'config that is not JSON', modelFile({ config: '{numTokens: 4' }), { error: F, message: 'metadata "config" is not valid JSON' });
  model('model-config-array.safetensors', 'config that is a JSON array', modelFile({ config: '[4, 2, 3, 5]' }), { error: F, message: 'metadata "config" is not an object' });
  model('model-config-disagrees.safetensors', 'config numTokens 5, tensors for 4',
    modelFile({ config: JSON.stringify({ ...CONFIG, numTokens: 5 }) }), { error: F, message: 'tensor space_dict: expected shape \\[5,2\\] for the config, found \\[4,2\\]' });
  model('model-config-huge-dims.safetensors', 'config with numTokens = dim = 2^26 (shapes of 2^52 elements) over tiny tensors',
    modelFile({ config: JSON.stringify({ ...CONFIG, numTokens: 2 ** 26, dim: 2 ** 26 }) }), { error: F, message: 'metadata "config": numTokens x dim: expected at most 67108864 values' });
  model('model-config-unsafe-dims.safetensors', 'config numTokens 2^60', modelFile({ config: JSON.stringify({ ...CONFIG, numTokens: 2 ** 60 }) }),
    { error: F, message: 'metadata "config": numTokens: expected a positive integer, found 1152921504606847000' });
  model('model-config-negative-temperature.safetensors', 'config temperature -1', modelFile({ config: JSON.stringify({ ...CONFIG, temperature: -1 }) }),
    { error: F, message: 'metadata "config": temperature: expected a finite number > 0, found -1' });
  model('model-config-bad-normalizer.safetensors', 'config normalizer "relu"', modelFile({ config: JSON.stringify({ ...CONFIG, normalizer: 'relu' }) }),
    { error: F, message: 'metadata "config": normalizer: expected \'sparsemax\' or \'softmax\', found "relu"' });
  model('model-config-proto.safetensors', 'config with a __proto__ key carrying numTokens',
    modelFile({ config: '{"__proto__": {"numTokens": 5}, "numTokens": 4, "dim": 2, "imageDim": 3, "textDim": 5, "temperature": "1"}' }),
    { error: F, message: 'metadata "config": config: unknown option "__proto__"' });
  model('model-missing-tensor.safetensors', 'no txt_query_model.q_map.4.bias',
    modelFile({ tensors: (t) => t.filter(([n]) => n !== 'txt_query_model.q_map.4.bias') }), { error: F, message: 'missing tensor txt_query_model\\.q_map\\.4\\.bias \\[2\\]' });
  model('model-extra-tensors.safetensors', 'extra tensors named __proto__ and constructor',
    modelFile({ tensors: (t) => [...t, ['__proto__', { dtype: 'F32', shape: [1], data: f32le([1]) }], ['constructor', { dtype: 'F32', shape: [1], data: f32le([2]) }]] }),
    { error: F, message: 'unexpected tensors __proto__, constructor' });
  model('model-f64-dictionary.safetensors', 'space_dict stored as F64',
    modelFile({ tensors: (t) => t.map(([n, x]) => [n, n === 'space_dict' ? { dtype: 'F64', shape: x.shape, data: new Uint8Array(Float64Array.from(new Float32Array(x.data.buffer)).buffer) } : x]) }),
    { error: F, message: 'tensor space_dict: expected dtype F32, found F64' });
  model('model-transposed-weight.safetensors', 'img q_map.1.weight stored as [Di, d] instead of [d, Di]',
    modelFile({ tensors: (t) => t.map(([n, x]) => [n, n === 'img_query_model.q_map.1.weight' ? { ...x, shape: [DI, D] } : x]) }),
    { error: F, message: 'tensor img_query_model\\.q_map\\.1\\.weight: expected shape \\[2,3\\] for the config, found \\[3,2\\]' });
  model('model-nan-weight.safetensors', 'a NaN in space_dict', modelFile({ values: (n, v) => (n === 'space_dict' ? v.map((x, i) => (i === 3 ? NaN : x)) : v) }),
    { error: V, message: 'params\\.space_dict: expected finite values, found NaN at index \\[1, 1\\]' });
  model('model-inf-weight.safetensors', '+Inf in txt q_map.1.weight', modelFile({ values: (n, v) => (n === 'txt_query_model.q_map.1.weight' ? v.map((x, i) => (i === 7 ? Infinity : x)) : v) }),
    { error: V, message: 'params\\.txt_query_model\\.q_map\\.1\\.weight: expected finite values, found Infinity at index \\[1, 2\\]' });
  model('model-neg-inf-logit-scale.safetensors', 'logit_scale = -Inf', modelFile({ values: (n, v) => (n === 'logit_scale' ? [-Infinity] : v) }),
    { error: V, message: 'params\\.logit_scale: expected finite values, found -Infinity at index 0' });
  {
    const full = modelFile();
    const r = { error: F, message: 'tensors cover \\d+ bytes but the data section holds|run past the data section' };
    add('model-truncated.safetensors', 'model', 'a valid model file missing its last 3 bytes', full.slice(0, full.length - 3), r,
      [{ reader: 'decodeSafetensors', refusal: r }, { reader: 'decodeModel', refusal: r }]);
  }
  // The pickle cases also go to the unpickler directly (the test extracts archive/data.pkl from the stored zip).
  for (const it of items) {
    if (it.category !== 'pickle-global' && it.category !== 'pickle-structure') continue;
    const accepted = it.file === 'pickle-top-level-list.pth.tar'; // a valid pickle; only the checkpoint reader objects
    it.readers.push({ reader: 'unpickle', ...(accepted ? {} : { refusal: it.readers[0]!.refusal! }) });
  }
  return items;
}

/** SHA-256 of every file, in corpus order: the test compares two builds to check determinism. */
export function corpusDigest(items: { file: string; bytes: Uint8Array }[]): string {
  const h = createHash('sha256');
  for (const it of items) h.update(it.file).update(it.bytes);
  return h.digest('hex');
}

/** Writes the corpus and manifest.json into `dir` (emptied first); returns the manifest. */
export function writeCorpus(dir: string): CorpusEntry[] {
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(dir)) rmSync(path.join(dir, f), { recursive: true, force: true });
  const items = buildCorpus();
  const manifest: CorpusEntry[] = [];
  for (const { bytes, ...entry } of items) {
    writeFileSync(path.join(dir, entry.file), bytes);
    manifest.push(entry);
  }
  writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify({ digest: corpusDigest(items), files: manifest }, null, 1) + '\n');
  return manifest;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2] ?? '.cache/hostile';
  const manifest = writeCorpus(dir);
  const hostile = manifest.filter((e) => e.category !== 'valid').length;
  console.log(`wrote ${manifest.length} files (${hostile} hostile, ${manifest.length - hostile} valid baselines) to ${dir}`);
}
