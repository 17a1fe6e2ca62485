// The tfjs engine on WebGPU: under Deno (its navigator.gpu; llvmpipe software adapter on GPU-less machines), every
// golden file through `verifyGolden` on the 'webgpu' backend, and the engine's upload through queue.writeBuffer
// (test/webgpu-upload-check.ts).
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { GOLDEN_DIR, goldenHeadFiles, HAS_GOLDEN, REPO_ROOT } from './golden-io.js';
import type { UploadCheck } from './webgpu-upload-check.js';

const DENO = path.join(REPO_ROOT, 'node_modules', '.bin', 'deno');

/** test/webgpu-upload-check.ts's report: the engine's uploads go through queue.writeBuffer, with the same results. */
function expectUploadThroughWriteBuffer(upload: UploadCheck): void {
  expect(upload).toMatchObject({ backend: 'webgpu', exact: true, writes: 2, writesMapped: 0, destroyed: true, leakedTensors: 0 });
  const { bytes, largeWrites } = upload.engine;
  expect(upload.engine).toMatchObject({ largeWritesMapped: { encode: [], step: [] }, sameEncode: true, sameAdamW: true });
  // The encode uploads the features and the dictionary made resident; the AdamW step the dictionary's gradient.
  expect([...largeWrites.encode].sort((a, b) => a - b)).toEqual([bytes.dictionary, bytes.features].sort((a, b) => a - b));
  expect(largeWrites.step).toEqual([bytes.dictionary]);
}

describe.skipIf(!HAS_GOLDEN)('tfjs engine on WebGPU under Deno', () => {
  it.each(goldenHeadFiles())('%s: every field within tolerance (or skipped with the reason)', (file) => {
    const out = execFileSync(DENO, ['run', '-A', '--sloppy-imports', 'test/webgpu-deno.ts', path.join(GOLDEN_DIR, file)], {
      cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 240_000,
    });
    const r = JSON.parse(out.trim().split('\n').pop()!);
    if (r.skipped) {
      console.log(`WebGPU skipped: ${r.skipped}`);
      return;
    }
    console.log(`WebGPU adapter: ${r.adapter}; ran on ${r.engine}`);
    expect(r.engine).toBe('tfjs webgpu');
    expect(r.failed).toEqual([]);
    expect(r.ok).toBe(true);
    expectUploadThroughWriteBuffer(r.upload);
  }, 300_000);
});

describe('tfjs engine on WebGPU under Deno, at the device largest buffer', () => {
  it('a text encode whose scores are just over the largest buffer runs in chunks and matches the wasm engine (1e-4)', () => {
    const out = execFileSync(DENO, ['run', '-A', '--sloppy-imports', 'test/webgpu-limit-deno.ts'], {
      cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 240_000,
    });
    const r = JSON.parse(out.trim().split('\n').pop()!);
    if (r.skipped) {
      console.log(`WebGPU limit check skipped: ${r.skipped}`);
      return;
    }
    expect(r.limitMismatch, `engine limit ${r.limit} vs the adapter's ${JSON.stringify(r.adapterLimits)}`).toBeUndefined();
    console.log(`WebGPU limit check on ${r.adapter}: largest buffer ${r.limit} bytes, B = ${r.B} (${r.scoresBytes} bytes of scores); errors ${r.relevance}, ${r.embeddings}`);
    expect(r.scoresBytes).toBeGreaterThan(r.limit);
    expect(r.relevance).toBeLessThanOrEqual(1e-4);
    expect(r.embeddings).toBeLessThanOrEqual(1e-4);
  }, 300_000);
});

describe.skipIf(!HAS_GOLDEN)('tfjs engine on WebGPU under Node (the webgpu package, Dawn)', () => {
  it.each(goldenHeadFiles())('%s: every field within tolerance (or skipped with the reason)', (file) => {
    const out = execFileSync(process.execPath, ['--import', 'tsx', 'test/webgpu-node.ts', path.join(GOLDEN_DIR, file)], {
      cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 240_000,
      env: { ...process.env, EGL_PLATFORM: 'surfaceless' },
    });
    const r = JSON.parse(out.trim().split('\n').filter((l) => l.startsWith('{')).pop()!);
    if (r.skipped) {
      console.log(`Node WebGPU skipped: ${r.skipped}`);
      return;
    }
    console.log(`Node WebGPU adapter: ${r.adapter}; ran on ${r.engine}`);
    expect(r.engine).toBe('tfjs webgpu');
    expect(r.failed).toEqual([]);
    expect(r.ok).toBe(true);
    expectUploadThroughWriteBuffer(r.upload);
  }, 300_000);
});
