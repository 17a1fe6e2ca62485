/**
 * A restricted, non-executing unpickler for what `torch.save` writes (pickle protocol 2; a few protocol-4 framing
 * opcodes are tolerated). Only an allowlist of globals is accepted and none is ever called: REDUCE of an allowed global
 * builds a plain description (a Map for OrderedDict, a {@link PickleTensor} for `_rebuild_tensor_v2`). Every other
 * opcode or global is refused with an {@link FdtFormatError} naming it and its byte offset. Browser-safe.
 */
import { FdtFormatError } from '../errors.js';
import type { DType } from './safetensors.js';

/** A reference to an allowed global (`module.name`); it is never resolved or called. */
export interface PickleGlobal { readonly kind: 'global'; readonly module: string; readonly name: string }

/** A torch storage, from a persistent id `('storage', torch.XStorage, key, location, numel)`. */
export interface PickleStorage {
  readonly kind: 'storage';
  readonly key: string;
  readonly dtype: DType;
  readonly location: string;
  readonly numel: number;
}

/** A tensor view rebuilt by `torch._utils._rebuild_tensor_v2` (offset and strides in elements). */
export interface PickleTensor {
  readonly kind: 'tensor';
  readonly storage: PickleStorage;
  readonly offset: number;
  readonly shape: readonly number[];
  readonly stride: readonly number[];
  readonly requiresGrad: boolean;
}

/** A dict key: only scalar Python keys are accepted. */
export type PickleKey = string | number | bigint | boolean | null;

/**
 * An unpickled value. Python lists are arrays, tuples are frozen arrays (see {@link isPickleTuple}), dicts and
 * OrderedDicts are Maps, ints are numbers (bigint outside the safe range).
 */
export type PickleValue =
  | PickleKey | PickleValue[] | readonly PickleValue[] | Map<PickleKey, PickleValue>
  | PickleGlobal | PickleStorage | PickleTensor;

/** Work bounds for {@link unpickle}. */
export interface PickleLimits {
  /** Most values held on the stack and under open MARKs together (default 100 000). */
  maxStackDepth?: number;
  /** Most values created, memo entries included (default 1 000 000). */
  maxObjects?: number;
  /** Deepest MARK nesting and deepest container nesting in the result (default 100). */
  maxNestingDepth?: number;
}

const STORAGES: Readonly<Record<string, DType>> = {
  FloatStorage: 'F32', DoubleStorage: 'F64', HalfStorage: 'F16', BFloat16Storage: 'BF16', LongStorage: 'I64',
  IntStorage: 'I32', ShortStorage: 'I16', CharStorage: 'I8', ByteStorage: 'U8', BoolStorage: 'BOOL',
};

const ALLOWED_GLOBALS = new Set([
  'collections.OrderedDict', 'torch._utils._rebuild_tensor_v2', 'torch._utils._rebuild_parameter',
  ...Object.keys(STORAGES).map((s) => `torch.${s}`),
]);

const OPCODE_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries({
    '(': 'MARK', '.': 'STOP', '0': 'POP', '1': 'POP_MARK', '2': 'DUP', F: 'FLOAT', I: 'INT', J: 'BININT', K: 'BININT1',
    L: 'LONG', M: 'BININT2', N: 'NONE', P: 'PERSID', Q: 'BINPERSID', R: 'REDUCE', S: 'STRING', T: 'BINSTRING',
    U: 'SHORT_BINSTRING', V: 'UNICODE', X: 'BINUNICODE', a: 'APPEND', b: 'BUILD', c: 'GLOBAL', d: 'DICT',
    '}': 'EMPTY_DICT', e: 'APPENDS', g: 'GET', h: 'BINGET', i: 'INST', j: 'LONG_BINGET', l: 'LIST', ']': 'EMPTY_LIST',
    o: 'OBJ', p: 'PUT', q: 'BINPUT', r: 'LONG_BINPUT', s: 'SETITEM', t: 'TUPLE', ')': 'EMPTY_TUPLE', u: 'SETITEMS',
    G: 'BINFLOAT', B: 'BINBYTES', C: 'SHORT_BINBYTES', '\x80': 'PROTO', '\x81': 'NEWOBJ', '\x82': 'EXT1',
    '\x83': 'EXT2', '\x84': 'EXT4', '\x85': 'TUPLE1', '\x86': 'TUPLE2', '\x87': 'TUPLE3', '\x88': 'NEWTRUE',
    '\x89': 'NEWFALSE', '\x8a': 'LONG1', '\x8b': 'LONG4', '\x8c': 'SHORT_BINUNICODE', '\x8d': 'BINUNICODE8',
    '\x8e': 'BINBYTES8', '\x8f': 'EMPTY_SET', '\x90': 'ADDITEMS', '\x91': 'FROZENSET', '\x92': 'NEWOBJ_EX',
    '\x93': 'STACK_GLOBAL', '\x94': 'MEMOIZE', '\x95': 'FRAME', '\x96': 'BYTEARRAY8', '\x97': 'NEXT_BUFFER',
    '\x98': 'READONLY_BUFFER',
  }).map(([ch, name]) => [ch.charCodeAt(0), name]),
);

/** True for a Python tuple (a frozen array); lists are ordinary arrays. */
export function isPickleTuple(v: unknown): v is readonly PickleValue[] {
  return Array.isArray(v) && Object.isFrozen(v);
}

/** True for an unpickled tensor description. */
export function isPickleTensor(v: unknown): v is PickleTensor {
  return typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === 'tensor';
}

function isGlobal(v: unknown): v is PickleGlobal {
  return typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === 'global';
}

function isStorage(v: unknown): v is PickleStorage {
  return typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === 'storage';
}

function isIndex(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function describe(v: PickleValue): string {
  if (v === null) return 'None';
  if (Array.isArray(v)) return isPickleTuple(v) ? 'tuple' : 'list';
  if (v instanceof Map) return 'dict';
  if (typeof v === 'object') return (v as { kind: string }).kind;
  return typeof v;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

class Unpickler {
  private pos = 0;
  private at = 0;
  private stack: PickleValue[] = [];
  private readonly metastack: PickleValue[][] = [];
  private held = 0;
  private objects = 0;
  private readonly memo = new Map<number, PickleValue>();
  private readonly storages = new Map<string, PickleStorage>();
  private readonly maxStack: number;
  private readonly maxObjects: number;
  readonly maxNesting: number;

  constructor(private readonly bytes: Uint8Array, limits: PickleLimits) {
    this.maxStack = limits.maxStackDepth ?? 100_000;
    // A full model's torch.save pickle holds thousands of objects; 1M bounds a hostile memo flood to ~1 s and ~100 MB.
    this.maxObjects = limits.maxObjects ?? 1_000_000;
    this.maxNesting = limits.maxNestingDepth ?? 100;
  }

  private fail(message: string): never {
    const op = this.bytes[this.at];
    const what = op === undefined ? 'end of input' : `${OPCODE_NAMES[op] ?? 'unknown opcode'} 0x${op.toString(16).padStart(2, '0')}`;
    throw new FdtFormatError(`pickle: ${message} at byte ${this.at} (${what})`);
  }

  private take(n: number): Uint8Array {
    if (n > this.bytes.length - this.pos) this.fail(`truncated: needs ${n} bytes, ${this.bytes.length - this.pos} left`);
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  private u8(): number { return this.take(1)[0]; }
  private u16(): number { const b = this.take(2); return b[0] | (b[1] << 8); }
  private u32(): number { const b = this.take(4); return (b[0] | (b[1] << 8) | (b[2] << 16)) + b[3] * 2 ** 24; }

  private text(n: number): string {
    try {
      return utf8.decode(this.take(n));
    } catch (e) {
      if (e instanceof FdtFormatError) throw e;
      this.fail('string is not valid UTF-8');
    }
  }

  private line(): string {
    const max = Math.min(this.bytes.length, this.pos + 256);
    let end = this.pos;
    while (end < max && this.bytes[end] !== 0x0a) end++;
    if (end >= max) this.fail('GLOBAL name is not terminated by a newline within 256 bytes');
    const s = this.text(end - this.pos);
    this.pos++;
    return s;
  }

  private count(): void {
    if (++this.objects > this.maxObjects) this.fail(`more than ${this.maxObjects} objects`);
  }

  private push(v: PickleValue, isNew = true): void {
    if (isNew) this.count();
    if (this.stack.length + this.held >= this.maxStack) this.fail(`stack deeper than ${this.maxStack}`);
    this.stack.push(v);
  }

  private pop(): PickleValue {
    if (this.stack.length === 0) this.fail('stack underflow');
    return this.stack.pop() as PickleValue;
  }

  private top(): PickleValue {
    if (this.stack.length === 0) this.fail('stack underflow');
    return this.stack[this.stack.length - 1];
  }

  private popMark(): PickleValue[] {
    const items = this.stack;
    const below = this.metastack.pop();
    if (below === undefined) this.fail('no MARK to close');
    this.held -= below.length;
    this.stack = below;
    return items;
  }

  private tuple(items: PickleValue[]): void {
    this.push(Object.freeze(items));
  }

  private put(index: number): void {
    this.count();
    this.memo.set(index, this.top());
  }

  private get(index: number): void {
    const v = this.memo.get(index);
    if (v === undefined) this.fail(`memo entry ${index} is not defined`);
    this.push(v, false);
  }

  private long1(n: number): number | bigint {
    const b = this.take(n);
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    if (n > 0 && b[n - 1] & 0x80) v -= 1n << BigInt(8 * n);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }

  private setItems(items: PickleValue[]): void {
    const dict = this.top();
    if (!(dict instanceof Map)) this.fail(`cannot set items on a ${describe(dict)}`);
    if (items.length % 2 !== 0) this.fail('odd number of items for a dict');
    for (let i = 0; i < items.length; i += 2) {
      const k = items[i];
      if (k !== null && typeof k === 'object') this.fail(`unsupported dict key of type ${describe(k)}`);
      dict.set(k, items[i + 1]);
    }
  }

  private appendItems(items: PickleValue[]): void {
    const list = this.top();
    if (!Array.isArray(list) || isPickleTuple(list)) this.fail(`cannot append to a ${describe(list)}`);
    for (const v of items) (list as PickleValue[]).push(v);
  }

  private global(): void {
    const module = this.line();
    const name = this.line();
    const full = `${module}.${name}`;
    if (!ALLOWED_GLOBALS.has(full)) this.fail(`forbidden global ${JSON.stringify(full)}`);
    this.push({ kind: 'global', module, name });
  }

  private persistentId(pid: PickleValue): PickleStorage {
    if (!isPickleTuple(pid) || pid.length !== 5 || pid[0] !== 'storage') {
      this.fail("persistent id must be ('storage', type, key, location, numel)");
    }
    const [, type, key, location, numel] = pid;
    const dtype = isGlobal(type) && type.module === 'torch' && Object.hasOwn(STORAGES, type.name) ? STORAGES[type.name] : undefined;
    if (dtype === undefined) this.fail('persistent id does not name a torch storage type');
    if (typeof key !== 'string' || typeof location !== 'string' || !isIndex(numel)) {
      this.fail('persistent id needs a string key, a string location and a non-negative integer size');
    }
    const seen = this.storages.get(key);
    if (seen !== undefined) {
      if (seen.dtype !== dtype || seen.numel !== numel) this.fail(`storage ${JSON.stringify(key)} declared twice with different types or sizes`);
      return seen;
    }
    const storage: PickleStorage = { kind: 'storage', key, dtype, location, numel };
    this.storages.set(key, storage);
    return storage;
  }

  private rebuildTensor(args: readonly PickleValue[]): PickleTensor {
    if (args.length !== 6 && args.length !== 7) this.fail(`_rebuild_tensor_v2 takes 6 or 7 arguments, found ${args.length}`);
    const [storage, offset, shape, stride, requiresGrad, hooks, meta] = args;
    if (!isStorage(storage)) this.fail(`_rebuild_tensor_v2 needs a storage, found ${describe(storage)}`);
    if (!isIndex(offset)) this.fail('_rebuild_tensor_v2 storage offset must be a non-negative integer');
    if (!isPickleTuple(shape) || !shape.every(isIndex)) this.fail('_rebuild_tensor_v2 size must be a tuple of non-negative integers');
    if (!isPickleTuple(stride) || !stride.every(isIndex) || stride.length !== shape.length) {
      this.fail('_rebuild_tensor_v2 stride must be a tuple of non-negative integers as long as the size');
    }
    if (typeof requiresGrad !== 'boolean') this.fail('_rebuild_tensor_v2 requires_grad must be a bool');
    if (!(hooks instanceof Map)) this.fail('_rebuild_tensor_v2 backward_hooks must be an OrderedDict');
    if (meta !== undefined && meta !== null && !(meta instanceof Map)) this.fail('_rebuild_tensor_v2 metadata must be a dict');
    return { kind: 'tensor', storage, offset, shape: [...shape] as number[], stride: [...stride] as number[], requiresGrad };
  }

  private reduce(): void {
    const args = this.pop();
    const fn = this.pop();
    if (!isGlobal(fn)) this.fail(`REDUCE needs an allowed global, found ${describe(fn)}`);
    if (!isPickleTuple(args)) this.fail('REDUCE arguments must be a tuple');
    const full = `${fn.module}.${fn.name}`;
    if (full === 'collections.OrderedDict') {
      if (args.length !== 0) this.fail('OrderedDict() must be called without arguments');
      this.push(new Map());
    } else if (full === 'torch._utils._rebuild_tensor_v2') {
      this.push(this.rebuildTensor(args));
    } else if (full === 'torch._utils._rebuild_parameter') {
      const [data, requiresGrad, hooks] = args;
      if (args.length !== 3 || !isPickleTensor(data) || typeof requiresGrad !== 'boolean' || !(hooks instanceof Map)) {
        this.fail('_rebuild_parameter takes (tensor, bool, OrderedDict)');
      }
      this.push({ ...data, requiresGrad });
    } else {
      this.fail(`global ${full} cannot be called`);
    }
  }

  private build(): void {
    const state = this.pop();
    const obj = this.top();
    if (!(obj instanceof Map)) this.fail(`BUILD is only supported on an OrderedDict, found ${describe(obj)}`);
    // An OrderedDict's state holds instance attributes such as a state_dict's `_metadata`; they are dropped.
    if (state !== null && !(state instanceof Map)) this.fail(`OrderedDict state must be a dict, found ${describe(state)}`);
  }

  run(): PickleValue {
    const bytes = this.bytes;
    for (;;) {
      this.at = this.pos;
      if (this.pos >= bytes.length) this.fail('truncated: input ended before STOP');
      const op = bytes[this.pos++];
      switch (op) {
        case 0x80: { const v = this.u8(); if (v < 2 || v > 5) this.fail(`unsupported protocol ${v}`); break; }
        case 0x95: this.take(8); break; // FRAME: a size hint only
        case 0x7d: this.push(new Map()); break;
        case 0x5d: this.push([]); break;
        case 0x29: this.tuple([]); break;
        case 0x28: // MARK
          if (this.metastack.length >= this.maxNesting) this.fail(`MARKs nested deeper than ${this.maxNesting}`);
          this.metastack.push(this.stack);
          this.held += this.stack.length;
          this.stack = [];
          break;
        case 0x58: this.push(this.text(this.u32())); break;
        case 0x8c: this.push(this.text(this.u8())); break;
        case 0x71: this.put(this.u8()); break;
        case 0x72: this.put(this.u32()); break;
        case 0x94: this.put(this.memo.size); break;
        case 0x68: this.get(this.u8()); break;
        case 0x6a: this.get(this.u32()); break;
        case 0x4a: { const b = this.take(4); this.push(b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)); break; }
        case 0x4b: this.push(this.u8()); break;
        case 0x4d: this.push(this.u16()); break;
        case 0x8a: this.push(this.long1(this.u8())); break;
        case 0x47: { const b = this.take(8); this.push(new DataView(b.buffer, b.byteOffset, 8).getFloat64(0, false)); break; }
        case 0x4e: this.push(null); break;
        case 0x88: this.push(true); break;
        case 0x89: this.push(false); break;
        case 0x74: this.tuple(this.popMark()); break;
        case 0x85: this.tuple([this.pop()]); break;
        case 0x86: { const b = this.pop(); this.tuple([this.pop(), b]); break; }
        case 0x87: { const c = this.pop(); const b = this.pop(); this.tuple([this.pop(), b, c]); break; }
        case 0x73: { const v = this.pop(); const k = this.pop(); this.setItems([k, v]); break; }
        case 0x75: this.setItems(this.popMark()); break;
        case 0x61: this.appendItems([this.pop()]); break;
        case 0x65: this.appendItems(this.popMark()); break;
        case 0x63: this.global(); break;
        case 0x52: this.reduce(); break;
        case 0x51: this.push(this.persistentId(this.pop())); break;
        case 0x62: this.build(); break;
        case 0x2e: { // STOP
          if (this.metastack.length !== 0 || this.stack.length !== 1) this.fail('STOP with an unclosed MARK or extra stack items');
          if (this.pos !== bytes.length) this.fail(`${bytes.length - this.pos} trailing bytes after STOP`);
          return this.stack[0];
        }
        default:
          this.fail('unsupported opcode');
      }
    }
  }
}

function containerChildren(v: PickleValue): PickleValue[] | undefined {
  if (Array.isArray(v)) return v as PickleValue[];
  if (v instanceof Map) return [...v.values()];
  return undefined;
}

/** Refuses cyclic results and containers nested deeper than `maxDepth`, without recursion. */
function checkNesting(root: PickleValue, maxDepth: number): void {
  const height = new Map<object, number>();
  const onPath = new Set<object>();
  const frames: { node: object; kids: PickleValue[]; i: number; h: number }[] = [];
  const tooDeep = (): never => {
    throw new FdtFormatError(`pickle: containers nested deeper than ${maxDepth}`);
  };
  const enter = (node: PickleValue): void => {
    const kids = containerChildren(node);
    if (kids === undefined) return;
    if (frames.length >= maxDepth) tooDeep();
    onPath.add(node as object);
    frames.push({ node: node as object, kids, i: 0, h: 0 });
  };
  enter(root);
  while (frames.length > 0) {
    const f = frames[frames.length - 1];
    if (f.i < f.kids.length) {
      const c = f.kids[f.i++];
      if (c === null || typeof c !== 'object') continue;
      if (onPath.has(c)) throw new FdtFormatError('pickle: cyclic structure (a container holds itself)');
      const h = height.get(c);
      if (h === undefined) enter(c);
      else if (frames.length + 1 + h > maxDepth) tooDeep();
      else f.h = Math.max(f.h, h + 1);
      continue;
    }
    frames.pop();
    onPath.delete(f.node);
    height.set(f.node, f.h);
    if (frames.length > 0) frames[frames.length - 1].h = Math.max(frames[frames.length - 1].h, f.h + 1);
  }
}

/**
 * Unpickles `bytes` with the restricted opcode set and global allowlist described in this module. Nothing is executed.
 * @throws FdtFormatError for any unsupported opcode, forbidden global, malformed or truncated input, cycle, or a
 * limit of `limits` exceeded; the message names the opcode and its byte offset.
 */
export function unpickle(bytes: Uint8Array, limits: PickleLimits = {}): PickleValue {
  const u = new Unpickler(bytes, limits);
  const result = u.run();
  checkNesting(result, u.maxNesting);
  return result;
}
