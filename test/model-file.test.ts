import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FDT, FdtFormatError } from '../src/index.js';
import { decodeSafetensors, encodeSafetensors } from '../src/io/safetensors.js';
import { SHARED_DIR } from './golden-io.js';
import { expectClose } from './helpers/close.js';

const FIXTURE = path.join(SHARED_DIR, 'fixtures', 'official-fdt-mini.pth.tar');
const EXPECTED = path.join(SHARED_DIR, 'fixtures', 'official-fdt-mini.expected.json');

describe('model files', () => {
  it('save / load round trip is bit-exact, config included, and the write is atomic', async () => {
    const m = await FDT.create({ numTokens: 40, dim: 6, imageDim: 5, textDim: 3, temperature: 0.25, normalizer: 'softmax', maskMode: 'exclude', seed: 9 });
    const dir = mkdtempSync(path.join(tmpdir(), 'fdt-model-'));
    const file = path.join(dir, 'm.safetensors');
    await m.save(file, { step: '12' });
    expect(readdirSync(dir)).toEqual(['m.safetensors']);
    const back = await FDT.load(file);
    expect(back.config).toEqual(m.config);
    for (const [name, v] of Object.entries(m.params)) expect(Buffer.from(back.params[name]!.buffer).equals(Buffer.from(v.buffer)), name).toBe(true);
    const again = await FDT.load(new Uint8Array(readFileSync(file)));
    expect(again.config.temperature).toBe(0.25);
  });

  it('refuses files that are not fdtkit models, or whose tensors disagree with their config', async () => {
    const m = await FDT.create({ numTokens: 4, dim: 2, imageDim: 2, textDim: 2, seed: 1 });
    const bytes = m.toBytes();
    const { tensors, metadata } = decodeSafetensors(bytes);
    const plain = encodeSafetensors({ x: { dtype: 'F32', shape: [1], data: new Float32Array(1) } });
    await expect(FDT.load(plain)).rejects.toThrow(/expected metadata format "fdtkit.fdt-head", found null/);
    const cfg = JSON.parse(metadata['config']!);
    const wrong = encodeSafetensors(tensors as never, { ...metadata, config: JSON.stringify({ ...cfg, numTokens: 5 }) });
    await expect(FDT.load(wrong)).rejects.toThrow(/space_dict: expected shape \[5,2\] for the config, found \[4,2\]/);
    await expect(FDT.load(bytes.subarray(0, bytes.length - 3))).rejects.toThrow(FdtFormatError);
    await expect(FDT.load('/nonexistent.safetensors')).rejects.toThrow(/cannot read/);
    const newer = encodeSafetensors(tensors as never, { ...metadata, format_version: '2' });
    await expect(FDT.load(newer)).rejects.toThrow(new FdtFormatError('model file: format_version "2", this fdtkit reads version 1'));
    const badConfig = encodeSafetensors(tensors as never, { ...metadata, config: JSON.stringify({ ...cfg, temperature: -1 }) });
    await expect(FDT.load(badConfig)).rejects.toThrow(new FdtFormatError('model file: metadata "config": temperature: expected a finite number > 0, found -1'));
  });

  it.skipIf(!existsSync(FIXTURE))(`the official checkpoint fixture loads and reproduces the official outputs${existsSync(FIXTURE) ? '' : ` (skipped: no fixture at ${FIXTURE})`}`, async () => {
    const m = await FDT.load(FIXTURE);
    const exp = JSON.parse(readFileSync(EXPECTED, 'utf8'));
    const r = await m.loss({ patches: exp.inputs.patch_features, tokens: exp.inputs.word_features, valid: exp.inputs.text_valid });
    expectClose('fdt_embed_img', r.image.embeddingsRaw, exp.outputs.fdt_embed_img.flat());
    expectClose('fdt_embed_txt', r.text.embeddingsRaw, exp.outputs.fdt_embed_txt.flat());
    expectClose('weights_img', r.image.weights, exp.outputs.weights_img.flat());
    expectClose('weights_txt', r.text.weights, exp.outputs.weights_txt.flat());
    expectClose('logits_per_image', r.logitsPerImage, exp.outputs.logits_per_image.flat());
    expectClose('logits_per_text', r.logitsPerText, exp.outputs.logits_per_text.flat());
    expect(Math.abs(r.loss - exp.outputs.loss)).toBeLessThan(1e-4);
    expect(r.logitScaleUsed).toBeCloseTo(exp.outputs.logit_scale_used, 5);
  });
});
