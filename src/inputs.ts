import type { FdtConfig } from './config.js';
import { FdtShapeError, FdtValueError } from './errors.js';
import type { HeadBatch } from './engines/types.js';
import { expectFinite, expectShape, toTensor, type TensorLike } from './tensor.js';

/** Validated image patch features: [B, N, Di] float32. */
export function imageInput(c: FdtConfig, patches: TensorLike): { data: Float32Array; B: number; N: number } {
  const t = toTensor('patches', patches);
  expectShape('patches', t, [null, null, c.imageDim], ['B', 'N', 'imageDim']);
  expectFinite('patches', t.data, t.shape);
  return { data: t.data, B: t.shape[0]!, N: t.shape[1]! };
}

/**
 * Validated caption token features [B, L, Dt] and mask [B, L] of 0/1 (1 = real token; all ones when omitted).
 * In 'exclude' mode a caption with no real token is an error; in 'official' mode it scores 0 on every token, as the
 * official code does.
 */
export function textInput(
  c: FdtConfig, tokens: TensorLike, valid?: TensorLike,
): { data: Float32Array; valid: Int32Array; B: number; L: number } {
  const t = toTensor('tokens', tokens);
  expectShape('tokens', t, [null, null, c.textDim], ['B', 'L', 'textDim']);
  expectFinite('tokens', t.data, t.shape);
  const B = t.shape[0]!;
  const L = t.shape[1]!;
  const mask = new Int32Array(B * L);
  if (valid === undefined) {
    mask.fill(1);
  } else {
    const v = toTensor('valid', valid);
    expectShape('valid', v, [B, L], ['B', 'L']);
    for (let i = 0; i < v.data.length; i++) {
      const x = v.data[i]!;
      if (x !== 0 && x !== 1) {
        throw new FdtValueError(`valid: expected 0 or 1, found ${x} at index [${Math.floor(i / L)}, ${i % L}]`);
      }
      mask[i] = x;
    }
  }
  if (c.maskMode === 'exclude') {
    for (let b = 0; b < B; b++) {
      let any = false;
      for (let l = 0; l < L && !any; l++) any = mask[b * L + l] === 1;
      if (!any) {
        throw new FdtValueError(`valid: caption ${b} has no real token; maskMode 'exclude' needs at least one (official mode scores it 0)`);
      }
    }
  }
  return { data: t.data, valid: mask, B, L };
}

/** A validated batch of B matched image-caption pairs. */
export function batchInput(
  c: FdtConfig, batch: { patches: TensorLike; tokens: TensorLike; valid?: TensorLike },
): HeadBatch {
  if (batch === null || typeof batch !== 'object') throw new FdtValueError(`batch: expected {patches, tokens, valid?}, found ${batch}`);
  const img = imageInput(c, batch.patches);
  const txt = textInput(c, batch.tokens, batch.valid);
  if (img.B !== txt.B) {
    throw new FdtShapeError(`batch: patches has ${img.B} images but tokens has ${txt.B} captions; a batch needs matched pairs`);
  }
  return { B: img.B, N: img.N, L: txt.L, patches: img.data, tokens: txt.data, valid: txt.valid };
}
