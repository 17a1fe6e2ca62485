/**
 * Training checkpoints: the FDT head's parameters, AdamW's moments, the step count and the trainer's options in one
 * safetensors file. Restoring one and training on gives the same parameters, bit for bit, as never stopping (on the
 * wasm engine, same seed and batches). Writes go through FDT.save's atomic path: a crash leaves the old file or the
 * new one, complete.
 */
import { resolveConfig, type FdtConfig } from '../config.js';
import { FdtFormatError } from '../errors.js';
import { FDT } from '../fdt.js';
import { decodeSafetensors, encodeSafetensors, type EncodableTensor } from '../io/safetensors.js';
import { checkParams, paramShapes } from '../params.js';
import { Trainer, type TrainerOptions } from './trainer.js';

const FORMAT = 'fdtkit.training-checkpoint';

/** Encodes model + optimiser state + step as safetensors bytes. */
export async function encodeCheckpoint(trainer: Trainer): Promise<Uint8Array> {
  const model = trainer.model;
  if (!(model instanceof FDT)) throw new FdtFormatError('checkpoint: only FDT heads are checkpointed');
  // The moments first: reading them waits for engine calls in flight, after which the parameters are consistent.
  const moments = (await model.wasm.readMoments(model)) ?? {};
  const tensors: Record<string, EncodableTensor> = {};
  for (const [name, shape] of paramShapes(model.config)) tensors[`param/${name}`] = { dtype: 'F32', shape, data: model.params[name]! };
  for (const [name, mv] of Object.entries(moments)) {
    const shape = paramShapes(model.config).find(([n]) => n === name)![1];
    tensors[`adam_m/${name}`] = { dtype: 'F32', shape, data: mv.m };
    tensors[`adam_v/${name}`] = { dtype: 'F32', shape, data: mv.v };
  }
  return encodeSafetensors(tensors, {
    format: FORMAT,
    config: JSON.stringify(model.config),
    trainer: JSON.stringify(trainer.options),
    step: String(trainer.step),
  });
}

/** Rebuilds the model and its trainer from checkpoint bytes; every tensor is validated against the config. */
export async function decodeCheckpoint(bytes: Uint8Array): Promise<{ model: FDT; trainer: Trainer }> {
  const { tensors, metadata } = decodeSafetensors(bytes);
  if (metadata['format'] !== FORMAT) throw new FdtFormatError(`checkpoint: expected format "${FORMAT}", found ${JSON.stringify(metadata['format'] ?? null)}`);
  const json = (key: string): Record<string, unknown> => {
    try {
      const v = JSON.parse(metadata[key] ?? '');
      if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
    } catch {
      /* reported below */
    }
    throw new FdtFormatError(`checkpoint: metadata "${key}" is not a JSON object`);
  };
  let config: FdtConfig;
  try {
    config = resolveConfig(json('config') as Partial<FdtConfig>);
  } catch (e) {
    if (e instanceof FdtFormatError) throw e;
    throw new FdtFormatError(`checkpoint: metadata "config": ${(e as Error).message}`);
  }
  const step = Number(metadata['step']);
  if (!Number.isSafeInteger(step) || step < 0) throw new FdtFormatError(`checkpoint: metadata "step" is not an integer >= 0: ${metadata['step']}`);
  const params: Record<string, Float32Array> = {};
  const moments: Record<string, { m: Float32Array; v: Float32Array }> = {};
  for (const [name, shape] of paramShapes(config)) {
    const get = (key: string): Float32Array | undefined => {
      const t = tensors[key];
      if (!t) return undefined;
      if (t.dtype !== 'F32' || t.shape.join(',') !== shape.join(',')) {
        throw new FdtFormatError(`checkpoint: ${key}: expected F32 [${shape}], found ${t.dtype} [${t.shape}]`);
      }
      return t.data as Float32Array;
    };
    const p = get(`param/${name}`);
    if (!p) throw new FdtFormatError(`checkpoint: missing param/${name}`);
    params[name] = p;
    const m = get(`adam_m/${name}`);
    const v = get(`adam_v/${name}`);
    if (m && v) moments[name] = { m, v: checkMoments(name, m, v) };
    else if (m || v) throw new FdtFormatError(`checkpoint: ${name} has only one of its two AdamW moments`);
  }
  const expected = new Set([...paramShapes(config)].flatMap(([name]) => [`param/${name}`, `adam_m/${name}`, `adam_v/${name}`]));
  const unexpected = Object.keys(tensors).filter((k) => !expected.has(k));
  if (unexpected.length) throw new FdtFormatError(`checkpoint: unexpected tensors ${unexpected.slice(0, 5).join(', ')}${unexpected.length > 5 ? ', ...' : ''}`);
  const model = await FDT.fromParams(config, checkParams(config, params));
  let trainer: Trainer;
  try {
    trainer = new Trainer(model, json('trainer') as TrainerOptions);
  } catch (e) {
    throw new FdtFormatError(`checkpoint: metadata "trainer": ${(e as Error).message}`);
  }
  trainer.resumeAt(step);
  if (Object.keys(moments).length) await model.wasm.writeMoments(model, moments);
  return { model, trainer };
}

/**
 * AdamW's moments as the next step reads them: m finite, v finite and >= 0 (the update divides by sqrt(v) + eps, so
 * a negative or non-finite v would write NaN into the parameter).
 */
function checkMoments(name: string, m: Float32Array, v: Float32Array): Float32Array {
  for (let i = 0; i < m.length; i++) {
    if (!Number.isFinite(m[i]!)) throw new FdtFormatError(`checkpoint: adam_m/${name}[${i}] is ${m[i]}, expected a finite number`);
    const vi = v[i]!;
    if (!(Number.isFinite(vi) && vi >= 0)) throw new FdtFormatError(`checkpoint: adam_v/${name}[${i}] is ${vi}, expected a finite number >= 0`);
  }
  return v;
}
