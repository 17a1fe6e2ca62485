/**
 * fdtkit's own model file: safetensors with every parameter by its official name (float32) and the head's config in
 * the header metadata. Browser-safe (bytes in, bytes out); src/io/files.ts adds paths and atomic writes for Node.
 */
import { resolveConfig, type FdtConfig } from '../config.js';
import { FdtFormatError } from '../errors.js';
import { checkParams, type FdtParams } from '../params.js';
import { decodeSafetensors, encodeSafetensors, type EncodableTensor } from './safetensors.js';
import { importOfficialFdtHead } from './torch-checkpoint.js';
import { paramShapes } from '../params.js';

export const MODEL_FORMAT = 'fdtkit.fdt-head';
export const MODEL_FORMAT_VERSION = '1';

/** A head's config and parameters, as stored in a file. */
export interface ModelData {
  config: FdtConfig;
  params: FdtParams;
  /** Free-form string metadata kept in the file (e.g. training step, source checkpoint). */
  metadata: Record<string, string>;
}

/** Encodes a head as safetensors: tensors by official name, config and format in `__metadata__`. */
export function encodeModel(config: FdtConfig, params: FdtParams, extra: Record<string, string> = {}): Uint8Array {
  const tensors: Record<string, EncodableTensor> = {};
  for (const [name, shape] of paramShapes(config)) tensors[name] = { dtype: 'F32', shape, data: params[name]! };
  return encodeSafetensors(tensors, {
    ...extra,
    format: MODEL_FORMAT,
    format_version: MODEL_FORMAT_VERSION,
    config: JSON.stringify(config),
  });
}

/** Decodes and validates a model file written by encodeModel. */
export function decodeModel(bytes: Uint8Array): ModelData {
  const { tensors, metadata } = decodeSafetensors(bytes);
  if (metadata['format'] !== MODEL_FORMAT) {
    throw new FdtFormatError(`model file: expected metadata format "${MODEL_FORMAT}", found ${JSON.stringify(metadata['format'] ?? null)}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(metadata['config'] ?? '');
  } catch {
    throw new FdtFormatError('model file: metadata "config" is not valid JSON');
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new FdtFormatError('model file: metadata "config" is not an object');
  const version = metadata['format_version'];
  if (version !== undefined && version !== MODEL_FORMAT_VERSION) {
    throw new FdtFormatError(`model file: format_version ${JSON.stringify(version)}, this fdtkit reads version ${MODEL_FORMAT_VERSION}`);
  }
  let config: FdtConfig;
  try {
    config = resolveConfig(raw as Partial<FdtConfig>);
  } catch (e) {
    throw new FdtFormatError(`model file: metadata "config": ${(e as Error).message}`);
  }
  const given: Record<string, Float32Array> = {};
  for (const [name, shape] of paramShapes(config)) {
    const t = tensors[name];
    if (!t) throw new FdtFormatError(`model file: missing tensor ${name} [${shape}]`);
    if (t.dtype !== 'F32') throw new FdtFormatError(`model file: tensor ${name}: expected dtype F32, found ${t.dtype}`);
    if (t.shape.join(',') !== shape.join(',')) {
      throw new FdtFormatError(`model file: tensor ${name}: expected shape [${shape}] for the config, found [${t.shape}]`);
    }
    given[name] = t.data as Float32Array;
  }
  const extra = Object.keys(tensors).filter((k) => !Object.hasOwn(given, k));
  if (extra.length) throw new FdtFormatError(`model file: unexpected tensors ${extra.slice(0, 5).join(', ')}`);
  const rest = Object.fromEntries(Object.entries(metadata).filter(([k]) => !['format', 'format_version', 'config'].includes(k)));
  return { config, params: checkParams(config, given), metadata: rest };
}

/** True when the bytes look like a zip archive (a torch.save checkpoint) rather than safetensors. */
export function isZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

/**
 * Reads either file kind: an fdtkit model file, or an official `.pth.tar` checkpoint (whose config is not in the
 * file: temperature, normaliser and mask mode come from `options`, dimensions from the tensors).
 */
export function readModelBytes(bytes: Uint8Array, options: Partial<Pick<FdtConfig, 'temperature' | 'normalizer' | 'maskMode'>> = {}): ModelData {
  if (!isZip(bytes)) {
    const m = decodeModel(bytes);
    return { ...m, config: resolveConfig({ ...m.config, ...stripUndefined(options) }) };
  }
  const head = importOfficialFdtHead(bytes);
  const config = resolveConfig({ ...head.dims, temperature: 1, ...stripUndefined(options) });
  const params = { ...head.params };
  // logit_scale_sd is unused by the model; older checkpoints may lack it.
  params['logit_scale_sd'] ??= Float32Array.of(params['logit_scale']![0]!);
  const metadata: Record<string, string> = { source: 'official checkpoint' };
  if (head.lastIter !== undefined) metadata['last_iter'] = String(head.lastIter);
  if (head.skipped.length) metadata['skipped_keys'] = String(head.skipped.length);
  return { config, params: checkParams(config, params), metadata };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
