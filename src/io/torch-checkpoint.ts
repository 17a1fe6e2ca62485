/**
 * Reader for `torch.save` zip checkpoints (PyTorch >= 1.6) and importer of the official FDT head weights.
 * The archive holds `<folder>/data.pkl` (restricted pickle, see ./pickle.ts) and raw little-endian storages
 * `<folder>/data/<key>`. Every size is checked before anything is inflated or allocated. Browser-safe.
 */
import { unzipSync, type UnzipFileInfo } from 'fflate';
import { FdtError, FdtFormatError, FdtShapeError, FdtValueError } from '../errors.js';
import { isPickleTensor, unpickle, type PickleLimits, type PickleTensor, type PickleValue } from './pickle.js';
import { DTYPE_BYTES, copyLittleEndian, setOwn, shapeNumel, type Tensor, type TensorData } from './safetensors.js';

/** Limits and selection for {@link readTorchCheckpoint}. */
export interface ReadTorchCheckpointOptions {
  /** Which state-dict keys to materialise (default: all). Every tensor is validated either way. */
  include?: (key: string) => boolean;
  /** Largest zip entry or materialised tensor, in bytes (default 2 GiB). */
  maxEntryBytes?: number;
  /** Most bytes materialised in all (default: the larger of 256 MiB and twice the file size). */
  maxTotalBytes?: number;
  /** Bounds for the unpickler. */
  pickle?: PickleLimits;
}

/** What {@link readTorchCheckpoint} returns. */
export interface TorchCheckpoint {
  /** The archive's inner folder (derived from the saved file name by torch; not fixed). */
  archiveName: string;
  /** Top-level `last_iter`, when it is an integer. */
  lastIter?: number;
  /** The materialised state-dict tensors (row-major, contiguous), keyed as in the file. */
  model: Record<string, Tensor>;
  /** Every tensor key of the state dict, in file order, materialised or not. */
  modelKeys: string[];
  /** State-dict keys whose value is not a tensor. */
  nonTensorKeys: string[];
  /** Keys of the top-level dict. */
  topLevelKeys: string[];
}

interface ZipEntry { name: string; size: number; originalSize: number; compression: number }

const DEFAULT_MAX_ENTRY = 2 ** 31;
/** Largest data.pkl inflated: torch.save's pickles hold structure only (a few hundred KiB for a full model). */
const DEFAULT_MAX_PICKLE = 64 * 2 ** 20;
/** Largest byteorder entry read: "little" or "big", with room for a line end. */
const MAX_BYTEORDER = 16;
/** Deflate cannot expand data by more than about 1032:1. */
const MAX_DEFLATE_RATIO = 1032;

function fail(message: string): never {
  throw new FdtFormatError(`torch checkpoint: ${message}`);
}

function zipCall<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof FdtError) throw e;
    fail(`${what}: not a readable zip archive (${(e as Error).message})`);
  }
}

function checkEntry(f: UnzipFileInfo, fileBytes: number, maxEntry: number): void {
  const name = JSON.stringify(f.name);
  if (!(f.originalSize <= maxEntry)) fail(`zip entry ${name} claims ${f.originalSize} bytes, more than the limit of ${maxEntry}`);
  if (!(f.size <= fileBytes)) fail(`zip entry ${name} claims ${f.size} compressed bytes but the file holds ${fileBytes}`);
  if (f.compression === 0) {
    if (f.size !== f.originalSize) fail(`stored zip entry ${name} declares ${f.size} stored but ${f.originalSize} original bytes`);
  } else if (f.compression === 8) {
    if (f.originalSize > f.size * MAX_DEFLATE_RATIO + 64) {
      fail(`zip entry ${name} claims ${f.originalSize} bytes, more than its ${f.size} compressed bytes can hold`);
    }
  } else {
    fail(`zip entry ${name} uses unsupported compression method ${f.compression}`);
  }
}

/** Reads the central directory only (nothing is extracted) and validates every declared size. */
function listZip(bytes: Uint8Array, maxEntry: number): Map<string, ZipEntry> {
  const entries = new Map<string, ZipEntry>();
  const maxCount = Math.floor(bytes.length / 46) + 1; // a central directory record takes at least 46 bytes
  zipCall('reading the central directory', () => unzipSync(bytes, {
    filter: (f) => {
      if (entries.size >= maxCount) fail('the central directory lists more entries than the file can hold');
      checkEntry(f, bytes.length, maxEntry);
      if (entries.has(f.name)) fail(`zip entry ${JSON.stringify(f.name)} appears twice`);
      entries.set(f.name, { name: f.name, size: f.size, originalSize: f.originalSize, compression: f.compression });
      return false;
    },
  }));
  return entries;
}

/** Extracts the named (already validated) entries and checks their lengths. */
function extract(bytes: Uint8Array, entries: Map<string, ZipEntry>, names: Set<string>): Map<string, Uint8Array> {
  const files = zipCall('extracting entries', () => unzipSync(bytes, { filter: (f) => names.has(f.name) }));
  const out = new Map<string, Uint8Array>();
  for (const name of names) {
    const data = Object.hasOwn(files, name) ? files[name] : undefined;
    const want = entries.get(name)?.originalSize;
    if (data === undefined || data.length !== want) {
      fail(`zip entry ${JSON.stringify(name)} yielded ${data?.length ?? 0} bytes instead of ${want} (truncated or corrupt)`);
    }
    out.set(name, data);
  }
  return out;
}

function findArchive(entries: Map<string, ZipEntry>): string {
  const pkls = [...entries.keys()].filter((n) => n === 'data.pkl' || n.endsWith('/data.pkl'));
  if (pkls.length === 0) fail('no data.pkl in the archive');
  if (pkls.length > 1) fail(`several data.pkl in the archive: ${pkls.join(', ')}`);
  return pkls[0].slice(0, -'data.pkl'.length);
}

function findStateDict(top: Map<unknown, PickleValue>): Map<unknown, PickleValue> {
  for (const k of ['model', 'state_dict']) {
    const v = top.get(k);
    if (v instanceof Map) return v;
  }
  if (top.size > 0 && [...top.values()].every(isPickleTensor)) return top;
  fail(`no 'model' or 'state_dict' dict (top-level keys: ${[...top.keys()].map(String).join(', ')})`);
}

/** Index of the last storage element a view touches (offset when empty), or -1 on overflow. */
function lastElement(t: PickleTensor, numel: number): number {
  if (numel === 0) return t.offset;
  let last = t.offset;
  for (let k = 0; k < t.shape.length; k++) {
    last += (t.shape[k] - 1) * t.stride[k];
    if (!Number.isSafeInteger(last)) return -1;
  }
  return last;
}

function isContiguous(shape: readonly number[], stride: readonly number[]): boolean {
  let expected = 1;
  for (let k = shape.length - 1; k >= 0; k--) {
    if (shape[k] !== 1 && stride[k] !== expected) return false;
    expected *= shape[k];
  }
  return true;
}

/** Copies a strided view into a fresh row-major array. */
function materialise(storage: Uint8Array, t: PickleTensor, numel: number, last: number): TensorData {
  const dtype = t.storage.dtype;
  const size = DTYPE_BYTES[dtype];
  if (numel === 0 || isContiguous(t.shape, t.stride)) return copyLittleEndian(storage, t.offset * size, dtype, numel);
  const src = copyLittleEndian(storage, t.offset * size, dtype, last - t.offset + 1) as unknown as Record<number, unknown>;
  const out = new (src.constructor as new (n: number) => TensorData)(numel);
  const dst = out as unknown as Record<number, unknown>;
  const nd = t.shape.length;
  const idx = new Array<number>(nd).fill(0);
  let p = 0;
  for (let i = 0; i < numel; i++) {
    dst[i] = src[p];
    for (let k = nd - 1; k >= 0; k--) {
      p += t.stride[k];
      if (++idx[k] < t.shape[k]) break;
      p -= t.stride[k] * t.shape[k];
      idx[k] = 0;
    }
  }
  return out;
}

/**
 * Reads a zip-format `torch.save` checkpoint without executing anything. Declared zip sizes are checked before any
 * entry is inflated; the pickle is decoded by the restricted unpickler; every state-dict tensor is checked against its
 * storage (dtype, storage size, offset + extent of size/stride in safe integers); the selected tensors are copied into
 * contiguous row-major typed arrays of the storage's dtype (F16/BF16 are refused).
 * @throws FdtFormatError for a malformed, truncated, hostile or inconsistent file.
 */
export function readTorchCheckpoint(bytes: Uint8Array, opts: ReadTorchCheckpointOptions = {}): TorchCheckpoint {
  const maxEntry = opts.maxEntryBytes ?? DEFAULT_MAX_ENTRY;
  const maxTotal = opts.maxTotalBytes ?? Math.max(2 ** 28, 2 * bytes.length);
  if (bytes.length < 4 || bytes[0] !== 0x50 || bytes[1] !== 0x4b || bytes[2] !== 0x03 || bytes[3] !== 0x04) {
    if (bytes[0] === 0x80) fail('legacy (non-zip) torch.save format is not supported; re-save it with PyTorch >= 1.6');
    fail('not a zip archive');
  }
  const entries = listZip(bytes, maxEntry);
  const prefix = findArchive(entries);
  const pklName = `${prefix}data.pkl`;
  const order = `${prefix}byteorder`;
  const pklEntry = entries.get(pklName);
  const maxPickle = Math.min(maxEntry, DEFAULT_MAX_PICKLE);
  if (pklEntry && pklEntry.originalSize > maxPickle) {
    fail(`${JSON.stringify(pklName)} claims ${pklEntry.originalSize} bytes, more than the ${maxPickle}-byte limit for a pickle`);
  }
  // byteorder holds "little" or "big": anything longer is refused before it is inflated (fflate allocates an
  // entry's declared size up front).
  const orderEntry = entries.get(order);
  if (orderEntry && orderEntry.originalSize > MAX_BYTEORDER) {
    fail(`${JSON.stringify(order)} claims ${orderEntry.originalSize} bytes, more than the ${MAX_BYTEORDER} of "little" or "big"`);
  }
  const head = extract(bytes, entries, new Set(orderEntry ? [pklName, order] : [pklName]));
  const byteOrder = head.get(order);
  if (byteOrder !== undefined && new TextDecoder().decode(byteOrder).trim() !== 'little') fail('big-endian checkpoints are not supported');

  const top = unpickle(head.get(pklName) as Uint8Array, opts.pickle);
  if (!(top instanceof Map)) fail('the pickled object is not a dict');
  const state = findStateDict(top);
  const tensors: [string, PickleTensor, number, number][] = [];
  const nonTensorKeys: string[] = [];
  const wanted = new Set<string>();
  let total = 0;
  for (const [key, value] of state) {
    if (typeof key !== 'string') fail(`state-dict key ${String(key)} is not a string`);
    if (!isPickleTensor(value)) { nonTensorKeys.push(key); continue; }
    const where = `tensor ${JSON.stringify(key)}`;
    const s = value.storage;
    const entry = entries.get(`${prefix}data/${s.key}`);
    if (entry === undefined) fail(`${where}: storage ${JSON.stringify(s.key)} is missing from the archive`);
    const size = DTYPE_BYTES[s.dtype];
    if (entry.originalSize !== s.numel * size) {
      fail(`${where}: storage ${JSON.stringify(s.key)} holds ${entry.originalSize} bytes, the pickle declares ${s.numel} ${s.dtype} elements (${s.numel * size} bytes)`);
    }
    const numel = shapeNumel(value.shape);
    const last = numel < 0 ? -1 : lastElement(value, numel);
    if (last < 0) fail(`${where}: size [${value.shape.join(', ')}] / stride [${value.stride.join(', ')}] overflow`);
    if (numel > 0 ? last >= s.numel : last > s.numel) {
      fail(`${where}: offset ${value.offset}, size [${value.shape.join(', ')}], stride [${value.stride.join(', ')}] reach element ${last} but storage ${JSON.stringify(s.key)} holds ${s.numel} elements`);
    }
    tensors.push([key, value, numel, last]);
    if (opts.include !== undefined && !opts.include(key)) continue;
    if (s.dtype === 'F16' || s.dtype === 'BF16') fail(`${where}: dtype ${s.dtype} is not supported (convert the checkpoint to float32)`);
    if (numel * size > maxEntry) fail(`${where}: ${numel * size} bytes exceed the limit of ${maxEntry}`);
    total += numel * size;
    if (total > maxTotal) fail(`materialised tensors exceed the limit of ${maxTotal} bytes`);
    wanted.add(key);
  }

  // Storages are inflated whole, so their full sizes count against the budget too (a small view of a huge,
  // well-compressed storage would otherwise inflate it all).
  const storageNames = new Set(tensors.filter(([k]) => wanted.has(k)).map(([, t]) => `${prefix}data/${t.storage.key}`));
  let inflated = 0;
  for (const name of storageNames) inflated += entries.get(name)!.originalSize;
  if (inflated > maxTotal) fail(`the selected tensors' storages hold ${inflated} bytes, more than the limit of ${maxTotal}`);
  const storages = extract(bytes, entries, storageNames);
  const model: Record<string, Tensor> = {};
  for (const [key, t, numel, last] of tensors) {
    if (!wanted.has(key)) continue;
    const data = materialise(storages.get(`${prefix}data/${t.storage.key}`) as Uint8Array, t, numel, last);
    setOwn(model, key, { dtype: t.storage.dtype, shape: [...t.shape], data });
  }
  const lastIter = top.get('last_iter');
  return {
    archiveName: prefix.replace(/\/$/, ''),
    ...(typeof lastIter === 'number' && Number.isSafeInteger(lastIter) ? { lastIter } : {}),
    model,
    modelKeys: tensors.map(([k]) => k),
    nonTensorKeys,
    topLevelKeys: [...top.keys()].map(String),
  };
}

const MLP_LAYERS = ['0', '1', '3', '4'];

/** FDT head keys of the official checkpoint (after the `module.` prefix); `logit_scale_sd` is optional. */
export const OFFICIAL_FDT_HEAD_KEYS: readonly string[] = [
  'space_dict', 'logit_scale', 'logit_scale_sd',
  ...['img_query_model', 'txt_query_model'].flatMap((m) =>
    MLP_LAYERS.flatMap((l) => [`${m}.q_map.${l}.weight`, `${m}.q_map.${l}.bias`])),
];
const HEAD_KEYS = new Set(OFFICIAL_FDT_HEAD_KEYS);
const OPTIONAL_KEYS = new Set(['logit_scale_sd']);

/** Options of {@link importOfficialFdtHead}. */
export interface ImportOfficialFdtHeadOptions extends Omit<ReadTorchCheckpointOptions, 'include'> {
  /** Prefix stripped from the state-dict keys when present (default `module.`, the DDP prefix). */
  prefix?: string;
}

/** The official FDT head weights of a checkpoint. */
export interface OfficialFdtHead {
  /** float32 weights under their official names (without the prefix); `logit_scale*` have shape [1]. */
  params: Record<string, Float32Array>;
  shapes: Record<string, number[]>;
  /** C, d, Di and Dt. */
  dims: { numTokens: number; dim: number; imageDim: number; textDim: number };
  /** State-dict keys (prefix stripped) that are not FDT head keys, e.g. `visual.*`, `encode_text.*`. */
  skipped: string[];
  lastIter?: number;
}

function expectedShapes(C: number, d: number, Di: number, Dt: number): Record<string, number[]> {
  const exp: Record<string, number[]> = { space_dict: [C, d], logit_scale: [1], logit_scale_sd: [1] };
  for (const [m, D] of [['img_query_model', Di], ['txt_query_model', Dt]] as const) {
    Object.assign(exp, {
      [`${m}.q_map.0.weight`]: [D], [`${m}.q_map.0.bias`]: [D], [`${m}.q_map.1.weight`]: [d, D], [`${m}.q_map.1.bias`]: [d],
      [`${m}.q_map.3.weight`]: [d], [`${m}.q_map.3.bias`]: [d], [`${m}.q_map.4.weight`]: [d, d], [`${m}.q_map.4.bias`]: [d],
    });
  }
  return exp;
}

/**
 * Imports the FDT head (`space_dict`, `logit_scale`, `logit_scale_sd`, `{img,txt}_query_model.q_map.{0,1,3,4}.*`) of
 * an official checkpoint. Encoder keys are not materialised and are listed in `skipped`. Shapes must agree:
 * space_dict [C,d]; q_map.0 [D]; q_map.1.weight [d,D]; q_map.3 [d]; q_map.4.weight [d,d]; biases [d]; logit_scale [1].
 * @throws FdtFormatError for missing keys, duplicate keys or non-float tensors; FdtShapeError listing every
 * mis-shaped key; FdtValueError for a NaN or infinite weight.
 */
export function importOfficialFdtHead(bytes: Uint8Array, opts: ImportOfficialFdtHeadOptions = {}): OfficialFdtHead {
  const prefix = opts.prefix ?? 'module.';
  const strip = (k: string): string => (prefix !== '' && k.startsWith(prefix) ? k.slice(prefix.length) : k);
  const ckpt = readTorchCheckpoint(bytes, { ...opts, include: (k) => HEAD_KEYS.has(strip(k)) });
  const found = new Map<string, Tensor>();
  const skipped: string[] = [];
  for (const key of ckpt.modelKeys) {
    const name = strip(key);
    if (!HEAD_KEYS.has(name)) { skipped.push(name); continue; }
    if (found.has(name)) fail(`FDT head key ${name} appears twice (with and without the prefix)`);
    found.set(name, ckpt.model[key]);
  }
  skipped.push(...ckpt.nonTensorKeys.map(strip));
  const missing = OFFICIAL_FDT_HEAD_KEYS.filter((k) => !found.has(k) && !OPTIONAL_KEYS.has(k));
  if (missing.length > 0) fail(`missing FDT head keys: ${missing.join(', ')}`);
  const badType = [...found].filter(([, t]) => t.dtype !== 'F32' && t.dtype !== 'F64').map(([k, t]) => `${k} (${t.dtype})`);
  if (badType.length > 0) fail(`FDT head tensors must be float32: ${badType.join(', ')}`);

  const shapeOf = (k: string): number[] => {
    const s = (found.get(k) as Tensor).shape;
    return k.startsWith('logit_scale') && s.length === 0 ? [1] : s;
  };
  const badRank = ([['space_dict', 2], ['img_query_model.q_map.0.weight', 1], ['txt_query_model.q_map.0.weight', 1]] as const)
    .filter(([k, r]) => shapeOf(k).length !== r || shapeOf(k).includes(0))
    .map(([k, r]) => `${k}: expected ${r} positive dimensions, found [${shapeOf(k).join(', ')}]`);
  if (badRank.length > 0) throw new FdtShapeError(`official FDT head: ${badRank.join('; ')}`);
  const [C, d] = shapeOf('space_dict');
  const [Di] = shapeOf('img_query_model.q_map.0.weight');
  const [Dt] = shapeOf('txt_query_model.q_map.0.weight');
  const exp = expectedShapes(C, d, Di, Dt);
  const problems: string[] = [];
  for (const [k, want] of Object.entries(exp)) {
    if (!found.has(k)) continue;
    const got = shapeOf(k);
    if (got.length !== want.length || got.some((v, i) => v !== want[i])) {
      problems.push(`${k}: expected [${want.join(', ')}], found [${got.join(', ')}]`);
    }
  }
  if (problems.length > 0) {
    throw new FdtShapeError(`official FDT head shapes disagree (C=${C}, d=${d}, Di=${Di}, Dt=${Dt} from space_dict and q_map.0.weight): ${problems.join('; ')}`);
  }
  const params: Record<string, Float32Array> = {};
  const shapes: Record<string, number[]> = {};
  for (const [k, t] of found) {
    const data = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data as Float64Array);
    const bad = data.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new FdtValueError(`official FDT head: ${k}[${bad}] is ${data[bad]} (NaN or infinite)`);
    params[k] = data;
    shapes[k] = shapeOf(k);
  }
  return {
    params, shapes, dims: { numTokens: C, dim: d, imageDim: Di, textDim: Dt }, skipped,
    ...(ckpt.lastIter !== undefined ? { lastIter: ckpt.lastIter } : {}),
  };
}
