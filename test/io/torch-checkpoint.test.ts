import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { unzipSync, zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { FdtFormatError, FdtShapeError, FdtValueError } from '../../src/errors.js';
import { isPickleTensor, isPickleTuple, unpickle, type PickleValue } from '../../src/io/pickle.js';
import { importOfficialFdtHead, readTorchCheckpoint } from '../../src/io/torch-checkpoint.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const FIXTURE = resolve(repoRoot, '..', 'shared', 'fixtures', 'official-fdt-mini.pth.tar');
const HAVE_FIXTURE = existsSync(FIXTURE);
const enc = new TextEncoder();

/** A tiny pickle writer for hand-made (and hostile) inputs. */
class P {
  private readonly b: number[] = [];
  op(...bytes: number[]): this { this.b.push(...bytes); return this; }
  ch(s: string): this { return this.op(...enc.encode(s)); }
  u32(n: number): this { return this.op(n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255); }
  proto(): this { return this.op(0x80, 2); }
  str(s: string): this { const e = enc.encode(s); return this.op(0x58).u32(e.length).op(...e); }
  int(n: number): this { return this.op(0x4a).u32(n); }
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
  global(m: string, n: string): this { return this.ch(`c${m}\n${n}\n`); }
  mark(): this { return this.op(0x28); }
  tuple(): this { return this.op(0x74); }
  dict(): this { return this.op(0x7d); }
  setitems(): this { return this.op(0x75); }
  reduce(): this { return this.op(0x52); }
  stop(): this { return this.op(0x2e); }
  bytes(): Uint8Array { return new Uint8Array(this.b); }
  /** Pushes `_rebuild_tensor_v2(storage(key, numel), offset, shape, stride, False, OrderedDict())`. */
  tensor(key: string, numel: number, offset: number, shape: number[], stride: number[], storage = 'FloatStorage'): this {
    this.global('torch._utils', '_rebuild_tensor_v2').mark();
    this.mark().str('storage').global('torch', storage).str(key).str('cpu').int(numel).tuple().op(0x51);
    this.int(offset).mark();
    shape.forEach((s) => this.int(s));
    this.tuple().mark();
    stride.forEach((s) => this.int(s));
    return this.tuple().op(0x89).global('collections', 'OrderedDict').op(0x29).reduce().tuple().reduce();
  }
}

interface TensorSpec { name: string; key: string; numel: number; offset?: number; shape: number[]; stride?: number[]; storage?: string }

const rowMajor = (shape: number[]): number[] => shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));

/** `{'last_iter': 7, 'model': {name: tensor}}` pickled. */
function checkpointPickle(specs: TensorSpec[]): Uint8Array {
  const p = new P().proto().dict().mark().str('last_iter').int(7).str('model').dict().mark();
  for (const s of specs) p.str(s.name).tensor(s.key, s.numel, s.offset ?? 0, s.shape, s.stride ?? rowMajor(s.shape), s.storage);
  return p.setitems().setitems().stop().bytes();
}

function checkpointZip(pkl: Uint8Array, storages: Record<string, Uint8Array>, folder = 'some-run'): Uint8Array {
  const files: Record<string, Uint8Array> = { [`${folder}/data.pkl`]: pkl, [`${folder}/version`]: enc.encode('3\n') };
  for (const [k, v] of Object.entries(storages)) files[`${folder}/data/${k}`] = v;
  return zipSync(files, { level: 0 });
}

const f32Bytes = (values: number[]): Uint8Array => new Uint8Array(new Float32Array(values).buffer);
const iota = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

function refuse(fn: () => unknown, type: new (...a: never[]) => Error, msg: RegExp): void {
  expect(fn).toThrow(type);
  expect(fn).toThrow(msg);
}

describe('unpickle', () => {
  it.skipIf(!HAVE_FIXTURE)('reads the data.pkl of the official fixture', () => {
    const files = unzipSync(new Uint8Array(readFileSync(FIXTURE)));
    const name = Object.keys(files).find((n) => n.endsWith('/data.pkl')) as string;
    const top = unpickle(files[name]) as Map<string, PickleValue>;
    expect([...top.keys()]).toEqual(['last_iter', 'model', 'optimizer']);
    expect(top.get('last_iter')).toBe(2705);
    const sd = top.get('model') as Map<string, PickleValue>;
    const t = sd.get('module.space_dict');
    expect(isPickleTensor(t) && { shape: t.shape, stride: t.stride, key: t.storage.key, dtype: t.storage.dtype })
      .toEqual({ shape: [48, 12], stride: [12, 1], key: '0', dtype: 'F32' });
  });

  it('decodes scalars, tuples, lists and dicts', () => {
    const p = new P().proto().op(0x5d).op(0x71, 0).mark()
      .op(0x4b, 200).op(0x4d, 0x34, 0x12).int(-5).long1(-(2n ** 70n)).long1(2n ** 40n).op(0x8a, 0)
      .op(0x47, 0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18).op(0x4e, 0x88, 0x89).op(0x8c, 2).ch('hi').op(0x71, 1)
      .op(0x4b, 1, 0x85).op(0x29).op(0x4b, 1, 0x4b, 2, 0x4b, 3, 0x87).op(0x7d).op(0x68, 1).op(0x4b, 7, 0x73)
      .op(0x65).stop();
    const v = unpickle(p.bytes()) as PickleValue[];
    expect(v.slice(0, 11)).toEqual([200, 0x1234, -5, -(2n ** 70n), 2 ** 40, 0, Math.PI, null, true, false, 'hi']);
    expect(v.slice(11, 14)).toEqual([[1], [], [1, 2, 3]]);
    expect([v.slice(11, 14).every(isPickleTuple), isPickleTuple(v)]).toEqual([true, false]);
    expect(v[14]).toEqual(new Map([['hi', 7]]));
    expect(v).toHaveLength(15);
  });

  describe('refuses forbidden globals', () => {
    for (const [m, n] of [['os', 'system'], ['builtins', 'eval'], ['subprocess', 'Popen'], ['posix', 'system'],
      ['torch', 'load'], ['collections', 'defaultdict'], ['torch._utils', '_rebuild_qtensor'], ['__builtin__', 'getattr']]) {
      it(`${m}.${n}`, () => {
        const bytes = new P().proto().global(m, n).mark().str('echo pwned').tuple().reduce().stop().bytes();
        refuse(() => unpickle(bytes), FdtFormatError, new RegExp(`forbidden global "${m}\\.${n}" at byte 2 \\(GLOBAL 0x63\\)`));
      });
    }
    it('a protocol-0 exploit without PROTO', () => {
      refuse(() => unpickle(enc.encode("cos\nsystem\n(S'ls'\ntR.")), FdtFormatError, /forbidden global "os.system" at byte 0/);
    });
    it('an allowed global that is not callable', () => {
      const bytes = new P().proto().global('torch', 'FloatStorage').op(0x29).reduce().stop().bytes();
      refuse(() => unpickle(bytes), FdtFormatError, /global torch.FloatStorage cannot be called/);
    });
  });

  describe('refuses every other opcode, naming it and its offset', () => {
    const cases: [string, number[], RegExp][] = [
      ['STACK_GLOBAL', [0x80, 2, 0x8c, 1, 0x61, 0x8c, 1, 0x62, 0x93], /unsupported opcode at byte 8 \(STACK_GLOBAL 0x93\)/],
      ['INST', [0x80, 2, 0x28, ...enc.encode('ios\nsystem\n')], /at byte 3 \(INST 0x69\)/],
      ['OBJ', [0x80, 2, 0x28, 0x6f], /at byte 3 \(OBJ 0x6f\)/],
      ['NEWOBJ', [0x80, 2, 0x81], /at byte 2 \(NEWOBJ 0x81\)/],
      ['EXT1', [0x80, 2, 0x82, 1], /EXT1 0x82/],
      ['BINBYTES', [0x80, 2, 0x42, 0, 0, 0, 0], /BINBYTES 0x42/],
      ['STRING', [...enc.encode("S'x'\n.")], /STRING 0x53/],
      ['PERSID', [...enc.encode('Pxx\n.')], /PERSID 0x50/],
      ['unknown', [0x80, 2, 0xff], /at byte 2 \(unknown opcode 0xff\)/],
    ];
    for (const [name, bytes, msg] of cases) it(name, () => refuse(() => unpickle(new Uint8Array(bytes)), FdtFormatError, msg));
  });

  it('bounds nesting, stack and object counts, and refuses cycles', () => {
    refuse(() => unpickle(new Uint8Array([0x80, 2, ...new Array(200).fill(0x28)])), FdtFormatError, /MARKs nested deeper than 100/);
    const chain = new Uint8Array([0x80, 2, 0x4e, ...new Array(150).fill(0x85), 0x2e]);
    refuse(() => unpickle(chain), FdtFormatError, /nested deeper than 100/);
    expect(unpickle(chain, { maxNestingDepth: 200 })).toBeDefined();
    const wide = new Uint8Array([0x80, 2, ...new Array(50).fill(0x4e)]);
    refuse(() => unpickle(wide, { maxStackDepth: 20 }), FdtFormatError, /stack deeper than 20/);
    refuse(() => unpickle(wide, { maxObjects: 20 }), FdtFormatError, /more than 20 objects/);
    refuse(() => unpickle(new Uint8Array([0x80, 2, 0x5d, 0x71, 0, 0x68, 0, 0x61, 0x2e])), FdtFormatError, /cyclic/);
  });

  it('refuses malformed input', () => {
    const cases: [number[], RegExp][] = [
      [[], /input ended before STOP at byte 0 \(end of input\)/],
      [[0x80, 2, 0x4e], /input ended before STOP at byte 3/],
      [[0x80, 2, 0x58, 0xff, 0xff, 0xff, 0x7f, 0x61], /truncated: needs 2147483647 bytes, 1 left at byte 2 \(BINUNICODE/],
      [[0x80, 2, 0x8c, 1, 0xff, 0x2e], /not valid UTF-8/],
      [[0x80, 9], /unsupported protocol 9/],
      [[0x80, 2, 0x68, 3], /memo entry 3 is not defined/],
      [[0x80, 2, 0x61], /stack underflow/],
      [[0x80, 2, 0x4e, 0x74], /no MARK to close/],
      [[0x80, 2, 0x4e, 0x4e, 0x2e], /extra stack items/],
      [[0x80, 2, 0x4e, 0x2e, 0x00], /1 trailing bytes after STOP/],
      [[0x80, 2, 0x29, 0x4e, 0x61], /cannot append to a tuple/],
      [[0x80, 2, 0x7d, 0x29, 0x4e, 0x73], /unsupported dict key of type tuple/],
      [[0x80, 2, 0x5d, 0x4e, 0x62], /BUILD is only supported on an OrderedDict/],
      [[0x80, 2, 0x4e, 0x29, 0x52], /REDUCE needs an allowed global/],
      [[0x80, 2, 0x4e, 0x51], /persistent id must be/],
      [[0x80, 2, 0x63, ...new Array(300).fill(0x61)], /not terminated by a newline/],
    ];
    for (const [bytes, msg] of cases) refuse(() => unpickle(new Uint8Array(bytes)), FdtFormatError, msg);
  });

  it('checks _rebuild_tensor_v2 arguments', () => {
    const call = (args: (p: P) => P) =>
      args(new P().proto().global('torch._utils', '_rebuild_tensor_v2').mark()).tuple().reduce().stop().bytes();
    const storage = (p: P) => p.mark().str('storage').global('torch', 'FloatStorage').str('0').str('cpu').int(4).tuple().op(0x51);
    refuse(() => unpickle(call((p) => p.int(1))), FdtFormatError, /takes 6 or 7 arguments, found 1/);
    const bad = call((p) => storage(p).int(0).mark().int(-1).tuple().mark().int(1).tuple().op(0x89).global('collections', 'OrderedDict').op(0x29).reduce());
    refuse(() => unpickle(bad), FdtFormatError, /size must be a tuple of non-negative integers/);
    const bad2 = call((p) => storage(p).int(0).mark().int(2).tuple().mark().tuple().op(0x89).global('collections', 'OrderedDict').op(0x29).reduce());
    refuse(() => unpickle(bad2), FdtFormatError, /stride must be/);
    const twice = new P().proto().mark();
    storage(twice).mark().str('storage').global('torch', 'DoubleStorage').str('0').str('cpu').int(4).tuple().op(0x51).tuple().stop();
    refuse(() => unpickle(twice.bytes()), FdtFormatError, /storage "0" declared twice/);
  });
});

describe('readTorchCheckpoint on hand-made archives', () => {
  const storage12 = f32Bytes(iota(12));

  it('honours offsets and strides, scalars, empty tensors and other dtypes', () => {
    const pkl = checkpointPickle([
      { name: 't', key: 's', numel: 12, shape: [3, 4], stride: [1, 3] },
      { name: 'slice', key: 's', numel: 12, offset: 2, shape: [2], stride: [5] },
      { name: 'scalar', key: 's', numel: 12, offset: 5, shape: [], stride: [] },
      { name: 'bcast', key: 's', numel: 12, offset: 1, shape: [2, 3], stride: [0, 4] },
      { name: 'empty', key: 's', numel: 12, offset: 12, shape: [0, 3] },
      { name: 'ids', key: 'l', numel: 2, shape: [2], storage: 'LongStorage' },
    ]);
    const file = checkpointZip(pkl, { s: storage12, l: new Uint8Array(new BigInt64Array([-3n, 9n]).buffer) });
    const ck = readTorchCheckpoint(file);
    expect(ck.archiveName).toBe('some-run');
    expect(ck.lastIter).toBe(7);
    expect(ck.modelKeys).toEqual(['t', 'slice', 'scalar', 'bcast', 'empty', 'ids']);
    expect(ck.model.t.shape).toEqual([3, 4]);
    expect(Array.from(ck.model.t.data as Float32Array)).toEqual([0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11]);
    expect(Array.from(ck.model.slice.data as Float32Array)).toEqual([2, 7]);
    expect(ck.model.scalar).toEqual({ dtype: 'F32', shape: [], data: new Float32Array([5]) });
    expect(Array.from(ck.model.bcast.data as Float32Array)).toEqual([1, 5, 9, 1, 5, 9]);
    expect(ck.model.empty.data.length).toBe(0);
    expect(ck.model.ids.data).toEqual(new BigInt64Array([-3n, 9n]));
    const some = readTorchCheckpoint(file, { include: (k) => k === 'slice' });
    expect(Object.keys(some.model)).toEqual(['slice']);
  });

  it('refuses a storage shorter than the pickle declares', () => {
    const pkl = checkpointPickle([{ name: 'w', key: '0', numel: 12, shape: [12] }]);
    refuse(() => readTorchCheckpoint(checkpointZip(pkl, { '0': storage12.subarray(0, 8) })), FdtFormatError,
      /tensor "w": storage "0" holds 8 bytes, the pickle declares 12 F32 elements \(48 bytes\)/);
  });

  it('refuses views that reach past the storage or overflow', () => {
    const past = checkpointPickle([{ name: 'w', key: '0', numel: 12, shape: [4, 4] }]);
    refuse(() => readTorchCheckpoint(checkpointZip(past, { '0': storage12 })), FdtFormatError,
      /tensor "w": offset 0, size \[4, 4\], stride \[4, 1\] reach element 15 but storage "0" holds 12 elements/);
    const off = checkpointPickle([{ name: 'w', key: '0', numel: 12, offset: 11, shape: [2] }]);
    refuse(() => readTorchCheckpoint(checkpointZip(off, { '0': storage12 })), FdtFormatError, /reach element 12/);
    const p = new P().proto().dict().mark().str('model').dict().mark().str('w');
    p.global('torch._utils', '_rebuild_tensor_v2').mark().mark().str('storage').global('torch', 'FloatStorage').str('0').str('cpu')
      .int(12).tuple().op(0x51).int(0).mark().long1(2n ** 52n).long1(2n ** 52n).tuple().mark().int(1).int(1).tuple()
      .op(0x89).global('collections', 'OrderedDict').op(0x29).reduce().tuple().reduce().setitems().setitems().stop();
    refuse(() => readTorchCheckpoint(checkpointZip(p.bytes(), { '0': storage12 })), FdtFormatError, /overflow/);
  });

  it('refuses missing storages, data.pkl problems and non-zip input', () => {
    const pkl = checkpointPickle([{ name: 'w', key: '7', numel: 12, shape: [12] }]);
    refuse(() => readTorchCheckpoint(checkpointZip(pkl, {})), FdtFormatError, /storage "7" is missing from the archive/);
    refuse(() => readTorchCheckpoint(zipSync({ 'a/version': enc.encode('3') }, { level: 0 })), FdtFormatError, /no data.pkl/);
    refuse(() => readTorchCheckpoint(zipSync({ 'a/data.pkl': pkl, 'b/data.pkl': pkl }, { level: 0 })), FdtFormatError, /several data.pkl/);
    refuse(() => readTorchCheckpoint(new P().proto().stop().bytes()), FdtFormatError, /legacy/);
    refuse(() => readTorchCheckpoint(enc.encode('hello world')), FdtFormatError, /not a zip archive/);
    const hostile = checkpointZip(new P().proto().global('os', 'system').stop().bytes(), {});
    refuse(() => readTorchCheckpoint(hostile), FdtFormatError, /forbidden global "os.system"/);
  });

  it('reads byteorder, refusing big-endian and a byteorder entry longer than "little" before inflating it', () => {
    const pkl = checkpointPickle([{ name: 'w', key: '0', numel: 2, shape: [2] }]);
    const withOrder = (order: Uint8Array<ArrayBufferLike>, level: 0 | 9 = 0) => {
      const files: Record<string, Uint8Array<ArrayBufferLike>> = unzipSync(checkpointZip(pkl, { '0': f32Bytes([1, 2]) }));
      files['some-run/byteorder'] = order;
      return zipSync(files, { level });
    };
    expect(Array.from(readTorchCheckpoint(withOrder(enc.encode('little\n'))).model['w']!.data as Float32Array)).toEqual([1, 2]);
    refuse(() => readTorchCheckpoint(withOrder(enc.encode('big'))), FdtFormatError, /big-endian checkpoints are not supported/);
    // 8 MiB of zeros deflate to ~8 KiB: within the ratio check, but never a byte order.
    refuse(() => readTorchCheckpoint(withOrder(new Uint8Array(8 * 2 ** 20), 9)), FdtFormatError, /"some-run\/byteorder" claims 8388608 bytes, more than the 16 of "little" or "big"/);
  });

  it('refuses F16 tensors only when they are materialised', () => {
    const pkl = checkpointPickle([{ name: 'h', key: '0', numel: 2, shape: [2], storage: 'HalfStorage' }]);
    const file = checkpointZip(pkl, { '0': new Uint8Array(4) });
    refuse(() => readTorchCheckpoint(file), FdtFormatError, /tensor "h": dtype F16 is not supported/);
    expect(readTorchCheckpoint(file, { include: () => false }).modelKeys).toEqual(['h']);
  });

  it('bounds the bytes materialised', () => {
    const pkl = checkpointPickle([{ name: 'big', key: '0', numel: 1, shape: [1000, 1000], stride: [0, 0] }]);
    refuse(() => readTorchCheckpoint(checkpointZip(pkl, { '0': f32Bytes([1]) }), { maxTotalBytes: 1e6 }), FdtFormatError, /exceed the limit of 1000000 bytes/);
  });
});

/** One stored entry 'a/data.pkl' whose central-directory record claims the given sizes. */
function craftZip(method: number, compressed: number, original: number): Uint8Array {
  const name = enc.encode('a/data.pkl');
  const payload = new Uint8Array(10);
  const out = new Uint8Array(30 + name.length + payload.length + 46 + name.length + 22);
  const v = new DataView(out.buffer);
  v.setUint32(0, 0x04034b50, true);
  v.setUint16(8, method, true);
  v.setUint32(18, compressed, true);
  v.setUint32(22, original, true);
  v.setUint16(26, name.length, true);
  out.set(name, 30);
  out.set(payload, 30 + name.length);
  const cd = 30 + name.length + payload.length;
  v.setUint32(cd, 0x02014b50, true);
  v.setUint16(cd + 10, method, true);
  v.setUint32(cd + 20, compressed, true);
  v.setUint32(cd + 24, original, true);
  v.setUint16(cd + 28, name.length, true);
  v.setUint32(cd + 42, 0, true);
  out.set(name, cd + 46);
  const eocd = cd + 46 + name.length;
  v.setUint32(eocd, 0x06054b50, true);
  v.setUint16(eocd + 8, 1, true);
  v.setUint16(eocd + 10, 1, true);
  v.setUint32(eocd + 12, 46 + name.length, true);
  v.setUint32(eocd + 16, cd, true);
  return out;
}

describe('zip size checks happen before inflating', () => {
  it('refuses an entry claiming a huge original size', () => {
    refuse(() => readTorchCheckpoint(craftZip(8, 10, 0xfffffff0)), FdtFormatError, /claims 4294967280 bytes, more than the limit/);
  });
  it('refuses an entry claiming more than its compressed bytes can hold', () => {
    refuse(() => readTorchCheckpoint(craftZip(8, 10, 100_000_000)), FdtFormatError, /more than its 10 compressed bytes can hold/);
  });
  it('refuses a stored entry larger than the file', () => {
    refuse(() => readTorchCheckpoint(craftZip(0, 1_000_000, 1_000_000)), FdtFormatError, /claims 1000000 compressed bytes but the file holds/);
    refuse(() => readTorchCheckpoint(craftZip(0, 10, 20)), FdtFormatError, /declares 10 stored but 20 original bytes/);
    refuse(() => readTorchCheckpoint(craftZip(12, 10, 20)), FdtFormatError, /unsupported compression method 12/);
  });
});

describe.skipIf(!HAVE_FIXTURE)(`official fixture ${HAVE_FIXTURE ? '' : '(skipped: fixture not found at ' + FIXTURE + ')'}`, () => {
  const bytes = HAVE_FIXTURE ? new Uint8Array(readFileSync(FIXTURE)) : new Uint8Array(0);

  it('imports the FDT head with consistent dims and skips encoder keys', () => {
    const head = importOfficialFdtHead(bytes);
    expect(head.dims).toEqual({ numTokens: 48, dim: 12, imageDim: 24, textDim: 16 });
    expect(head.lastIter).toBe(2705);
    expect(head.skipped.sort()).toEqual(['encode_text.ln_final.weight', 'encode_text.token_embedding.weight',
      'visual.class_embedding', 'visual.conv1.weight', 'visual.positional_embedding']);
    expect(Object.keys(head.params)).toHaveLength(19);
    expect(head.shapes.space_dict).toEqual([48, 12]);
    expect(head.shapes['img_query_model.q_map.1.weight']).toEqual([12, 24]);
    expect(head.shapes['txt_query_model.q_map.1.weight']).toEqual([12, 16]);
    expect(head.shapes.logit_scale).toEqual([1]);
    for (const [k, data] of Object.entries(head.params)) {
      expect(data).toBeInstanceOf(Float32Array);
      expect(data.length).toBe(head.shapes[k].reduce((a, b) => a * b, 1));
      expect(data.every(Number.isFinite)).toBe(true);
    }
  });

  it('refuses truncated copies', () => {
    for (const n of [bytes.length - 1, bytes.length - 22, Math.floor(bytes.length / 2), 100, 3]) {
      expect(() => readTorchCheckpoint(bytes.subarray(0, n)), `truncated to ${n}`).toThrow(FdtFormatError);
    }
  });

  it('refuses a storage that was cut short', () => {
    const files = unzipSync(bytes);
    const name = Object.keys(files).find((n) => n.endsWith('/data/0')) as string;
    files[name] = files[name].subarray(0, 100);
    refuse(() => readTorchCheckpoint(zipSync(files, { level: 0 })), FdtFormatError, /tensor "module.space_dict": storage "0" holds 100 bytes/);
  });
});

describe('importOfficialFdtHead consistency checks', () => {
  const C = 4, d = 2, Di = 3, Dt = 5;
  const headShapes = (): Record<string, number[]> => {
    const s: Record<string, number[]> = { space_dict: [C, d], logit_scale: [1], logit_scale_sd: [1] };
    for (const [m, D] of [['img', Di], ['txt', Dt]] as const) {
      Object.assign(s, {
        [`${m}_query_model.q_map.0.weight`]: [D], [`${m}_query_model.q_map.0.bias`]: [D], [`${m}_query_model.q_map.1.weight`]: [d, D],
        [`${m}_query_model.q_map.1.bias`]: [d], [`${m}_query_model.q_map.3.weight`]: [d], [`${m}_query_model.q_map.3.bias`]: [d],
        [`${m}_query_model.q_map.4.weight`]: [d, d], [`${m}_query_model.q_map.4.bias`]: [d],
      });
    }
    return s;
  };
  const build = (shapes: Record<string, number[]>, fill = (i: number) => i / 10, prefix = 'module.'): Uint8Array => {
    const specs: TensorSpec[] = [];
    const storages: Record<string, Uint8Array> = {};
    Object.entries(shapes).forEach(([name, shape], i) => {
      const n = shape.reduce((a, b) => a * b, 1);
      specs.push({ name: prefix + name, key: String(i), numel: n, shape });
      storages[String(i)] = f32Bytes(iota(n).map(fill));
    });
    specs.push({ name: 'module.visual.proj', key: 'v', numel: 1, shape: [1] });
    storages.v = f32Bytes([0]);
    return checkpointZip(checkpointPickle(specs), storages);
  };

  it('accepts a consistent head, with or without the prefix', () => {
    for (const prefix of ['module.', '']) {
      const head = importOfficialFdtHead(build(headShapes(), undefined, prefix));
      expect(head.dims).toEqual({ numTokens: C, dim: d, imageDim: Di, textDim: Dt });
      expect(head.skipped).toEqual(['visual.proj']);
      expect(Array.from(head.params['txt_query_model.q_map.1.weight'])).toEqual(iota(10).map((i) => Math.fround(i / 10)));
    }
  });

  it('lists every missing key', () => {
    const s = headShapes();
    delete s['img_query_model.q_map.4.bias'];
    delete s.space_dict;
    delete s.logit_scale_sd; // optional
    refuse(() => importOfficialFdtHead(build(s)), FdtFormatError, /missing FDT head keys: space_dict, img_query_model.q_map.4.bias$/);
  });

  it('lists every mis-shaped key', () => {
    const s = headShapes();
    s['img_query_model.q_map.1.weight'] = [d, Di + 1];
    s['txt_query_model.q_map.4.weight'] = [d, d, 1];
    s.logit_scale = [2];
    const err = (() => { try { importOfficialFdtHead(build(s)); } catch (e) { return e; } })() as Error;
    expect(err).toBeInstanceOf(FdtShapeError);
    expect(err.message).toContain('img_query_model.q_map.1.weight: expected [2, 3], found [2, 4]');
    expect(err.message).toContain('txt_query_model.q_map.4.weight: expected [2, 2], found [2, 2, 1]');
    expect(err.message).toContain('logit_scale: expected [1], found [2]');
    const r = headShapes();
    r.space_dict = [C * d];
    refuse(() => importOfficialFdtHead(build(r)), FdtShapeError, /space_dict: expected 2 positive dimensions, found \[8\]/);
  });

  it('refuses non-finite weights', () => {
    refuse(() => importOfficialFdtHead(build(headShapes(), (i) => (i === 1 ? NaN : i))), FdtValueError, /space_dict\[1\] is NaN/);
  });
});
