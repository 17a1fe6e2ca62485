// Training checkpoints: resume gives bit-identical parameters, and a process killed while saving never leaves a
// file that loads as a different model.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FDT, FdtFormatError, Trainer } from '../../src/index.js';
import { REPO_ROOT } from '../golden-io.js';
import { decodeSafetensors, encodeSafetensors, type EncodableTensor } from '../../src/io/safetensors.js';
import { Rng } from '../reference/rng.js';

function batches(n: number, seed: number) {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => ({
    patches: { data: Float32Array.from(rng.normals(6 * 4 * 12)), shape: [6, 4, 12] },
    tokens: { data: Float32Array.from(rng.normals(6 * 5 * 10)), shape: [6, 5, 10] },
    valid: { data: Float32Array.from({ length: 30 }, (_, i) => (i % 5 < 3 + (i % 2) ? 1 : 0)), shape: [6, 5] },
  }));
}

describe('training checkpoints', () => {
  it('N steps, save, restore, N more steps equals 2N uninterrupted steps, bit for bit', async () => {
    const N = 8;
    const data = batches(2 * N, 7);
    const options = { schedule: { lr: 2e-3, warmupStartLr: 2e-4, warmupSteps: 4, totalSteps: 2 * N } };
    const straight = await FDT.create({ numTokens: 48, dim: 8, imageDim: 12, textDim: 10, temperature: 0.5, seed: 3 });
    const t1 = new Trainer(straight, options);
    for (const b of data) await t1.stepOn(b);

    const first = await FDT.create({ numTokens: 48, dim: 8, imageDim: 12, textDim: 10, temperature: 0.5, seed: 3 });
    const t2 = new Trainer(first, options);
    for (const b of data.slice(0, N)) await t2.stepOn(b);
    const dir = mkdtempSync(path.join(tmpdir(), 'fdt-ckpt-'));
    const file = path.join(dir, 'train.ckpt');
    await t2.saveCheckpoint(file);
    first.dispose();
    const { model: resumed, trainer: t3 } = await Trainer.restore(file);
    expect(t3.step).toBe(N);
    expect(resumed.config).toEqual(straight.config);
    for (const b of data.slice(N)) await t3.stepOn(b);
    for (const [name, v] of Object.entries(straight.params)) {
      expect(Buffer.from(resumed.params[name]!.buffer).equals(Buffer.from(v.buffer)), name).toBe(true);
    }
  });

  it('refuses a checkpoint that is not one, or is missing a moment', async () => {
    const m = await FDT.create({ numTokens: 8, dim: 4, imageDim: 2, textDim: 2, seed: 1 });
    await expect(Trainer.restore(m.toBytes())).rejects.toThrow(/expected format "fdtkit.training-checkpoint"/);
    await expect(Trainer.restore(new Uint8Array(12))).rejects.toThrow(FdtFormatError);
  });

  it('refuses moments that would make the next step write NaN, unknown tensors and trainer options out of range', async () => {
    const model = await FDT.create({ numTokens: 8, dim: 4, imageDim: 12, textDim: 10, seed: 1 });
    const trainer = new Trainer(model);
    const [b] = batches(1, 5);
    await trainer.stepOn(b!);
    const good = decodeSafetensors(await trainer.checkpoint());
    const variant = (edit: (t: Record<string, EncodableTensor>, meta: Record<string, string>) => void): Uint8Array => {
      const tensors: Record<string, EncodableTensor> = {};
      for (const [k, t] of Object.entries(good.tensors)) tensors[k] = { dtype: 'F32', shape: t.shape, data: Float32Array.from(t.data as Float32Array) };
      const meta = { ...good.metadata };
      edit(tensors, meta);
      return encodeSafetensors(tensors, meta);
    };
    expect((await Trainer.restore(variant(() => {}))).trainer.step).toBe(1);
    const cases: [string, Uint8Array, RegExp][] = [
      ['negative v', variant((t) => ((t['adam_v/space_dict']!.data as Float32Array)[3] = -1)), /adam_v\/space_dict\[3\] is -1, expected a finite number >= 0/],
      ['NaN m', variant((t) => ((t['adam_m/img_query_model.q_map.1.weight']!.data as Float32Array)[0] = NaN)), /adam_m\/img_query_model\.q_map\.1\.weight\[0\] is NaN, expected a finite number/],
      ['an extra tensor', variant((t) => (t['param/extra'] = { dtype: 'F32', shape: [1], data: new Float32Array(1) })), /unexpected tensors param\/extra/],
      ['eps 0', variant((_, m) => (m['trainer'] = JSON.stringify({ ...JSON.parse(m['trainer']!), eps: 0 }))), /metadata "trainer": eps: expected a finite number > 0, found 0/],
      ['beta1 1', variant((_, m) => (m['trainer'] = JSON.stringify({ ...JSON.parse(m['trainer']!), beta1: 1 }))), /metadata "trainer": beta1: expected a number in \[0, 1\), found 1/],
      ['a bad config', variant((_, m) => (m['config'] = JSON.stringify({ ...JSON.parse(m['config']!), temperature: -1 }))), /metadata "config": temperature/],
    ];
    for (const [what, bytes, message] of cases) {
      await expect(Trainer.restore(bytes), what).rejects.toThrow(FdtFormatError);
      await expect(Trainer.restore(bytes), what).rejects.toThrow(message);
    }
  });

  it('a process killed at random points while saving leaves the previous or the new checkpoint, complete', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'fdt-kill-'));
    const file = path.join(dir, 'train.ckpt');
    const rng = new Rng(11);
    const kills = 12;
    let loaded = 0;
    for (let k = 0; k < kills; k++) {
      const child = spawn(process.execPath, ['--import', 'tsx', path.join('test', 'reliability', 'checkpoint-child.ts'), file], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let saved = 0;
      child.stdout.on('data', (d: Buffer) => (saved = Number(/saved (\d+)\s*$/.exec(d.toString())?.[1] ?? saved)));
      // Wait for the first complete save, then kill at a random moment of the following saves.
      await new Promise<void>((resolve, reject) => {
        const t = setInterval(() => saved > 0 && (clearInterval(t), resolve()), 5);
        child.on('exit', (code) => (clearInterval(t), code ? reject(new Error(`child exited ${code}`)) : resolve()));
      });
      await new Promise((r) => setTimeout(r, rng.uniform() * 150));
      child.kill('SIGKILL');
      await new Promise((r) => child.on('close', r));
      // Whatever is on disk must load completely and be a checkpoint of some step >= 1.
      const { model, trainer } = await Trainer.restore(file);
      expect(trainer.step).toBeGreaterThanOrEqual(1);
      expect(model.config.numTokens).toBe(4096);
      loaded++;
      // Besides the checkpoint, only the temp files of writes a kill interrupted (never read back) are left.
      expect(readdirSync(dir).filter((f) => f !== 'train.ckpt' && !f.endsWith('.tmp'))).toEqual([]);
    }
    expect(loaded).toBe(kills);
    // Temp files left by writes that a kill interrupted: evidence the kills landed mid-save (they are never read).
    const interrupted = readdirSync(dir).filter((f) => f.endsWith('.tmp')).length;
    console.log(`${kills} kills, ${loaded} loads of a complete checkpoint, ${interrupted} kills landed during a write`);
    expect(existsSync(file)).toBe(true);
    expect(readFileSync(file).length).toBeGreaterThan(4096 * 64 * 4);
  }, 180_000);
});
