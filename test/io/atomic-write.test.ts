import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../src/io/atomic-write.js';

describe('writeFileAtomic', () => {
  let dir = '';
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'fdt-atomic-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes a new file and replaces an existing one, leaving no temporary file', async () => {
    const path = join(dir, 'w.safetensors');
    await writeFileAtomic(path, new Uint8Array([1, 2, 3]));
    expect([...readFileSync(path)]).toEqual([1, 2, 3]);
    writeFileSync(path, 'old contents that are longer');
    const big = new Uint8Array(1 << 20).map((_, i) => i & 255);
    await writeFileAtomic(path, big.subarray(7));
    expect(Buffer.from(big.subarray(7)).equals(readFileSync(path))).toBe(true);
    expect(readdirSync(dir)).toEqual(['w.safetensors']);
  });

  it('rejects when the directory is missing', async () => {
    await expect(writeFileAtomic(join(dir, 'nope', 'x.bin'), new Uint8Array(1))).rejects.toThrow(/ENOENT/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('removes the temporary file when the rename fails', async () => {
    mkdirSync(join(dir, 'target'));
    writeFileSync(join(dir, 'target', 'inside'), 'x');
    await expect(writeFileAtomic(join(dir, 'target'), new Uint8Array([9]))).rejects.toThrow();
    expect(readdirSync(dir)).toEqual(['target']);
  });
});
