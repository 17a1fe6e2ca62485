// The tfjs engine on WebGPU: under Deno (its navigator.gpu; llvmpipe software adapter on GPU-less machines), every
// golden file through `verifyGolden` on the 'webgpu' backend, and the engine's upload through queue.writeBuffer
// (test/webgpu-upload-check.ts).
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it, type TestContext } from 'vitest';
import { GOLDEN_DIR, GOLDEN_SKIP_REASON, goldenHeadFiles, HAS_GOLDEN, REPO_ROOT } from './golden-io.js';
import { expectFirstSlotOnTies } from './helpers/ties.js';
import type { UploadCheck } from './webgpu-upload-check.js';

const DENO = path.join(REPO_ROOT, 'node_modules', '.bin', 'deno');

// CI sets FDT_REQUIRE_WEBGPU=1: there (Mesa's llvmpipe under Deno, OpenGL ES under Node) a missing adapter is a
// failure. Elsewhere a child that finds no adapter marks its test skipped, with the child's reason.
const REQUIRE_WEBGPU = process.env['FDT_REQUIRE_WEBGPU'] === '1';

/**
 * Fails (when CI requires WebGPU and the child found no adapter) or skips the test with the child's reason; returns
 * true when it did neither. A check that does not apply to the adapter found (`applies: false`) is skipped even then.
 */
function ran(r: { skipped?: string; applies?: boolean }, what: string, skip: (note: string) => void): boolean {
  if (!r.skipped) return true;
  if (REQUIRE_WEBGPU && r.applies !== false) expect.fail(`FDT_REQUIRE_WEBGPU=1 but ${what} skipped: ${r.skipped}`);
  console.log(`${what} skipped: ${r.skipped}`);
  skip(r.skipped);
  return false;
}

/** test/webgpu-upload-check.ts's report: the engine's uploads go through queue.writeBuffer, with the same results. */
function expectUploadThroughWriteBuffer(upload: UploadCheck): void {
  expect(upload).toMatchObject({ backend: 'webgpu', exact: true, writes: 2, writesMapped: 0, destroyed: true, leakedTensors: 0 });
  const { bytes, largeWrites } = upload.engine;
  expect(upload.engine).toMatchObject({ largeWritesMapped: { encode: [], step: [] }, sameEncode: true, sameAdamW: true });
  // The encode uploads the features and the dictionary made resident; the AdamW step the dictionary's gradient.
  expect([...largeWrites.encode].sort((a, b) => a - b)).toEqual([bytes.dictionary, bytes.features].sort((a, b) => a - b));
  expect(largeWrites.step).toEqual([bytes.dictionary]);
}

describe.skipIf(!HAS_GOLDEN)(`tfjs engine on WebGPU under Deno ${GOLDEN_SKIP_REASON}`, () => {
  it.for(goldenHeadFiles())('%s: every field within tolerance (or skipped with the reason)', { timeout: 300_000 }, (file: string, ctx: TestContext) => {
    const out = execFileSync(DENO, ['run', '-A', '--sloppy-imports', 'test/webgpu-deno.ts', path.join(GOLDEN_DIR, file)], {
      cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 240_000,
    });
    const r = JSON.parse(out.trim().split('\n').pop()!);
    if (!ran(r, 'WebGPU under Deno', (note) => ctx.skip(note))) return;
    console.log(`WebGPU adapter: ${r.adapter}; ran on ${r.engine}`);
    expect(r.engine).toBe('tfjs webgpu');
    expect(r.failed).toEqual([]);
    expect(r.ok).toBe(true);
    expectUploadThroughWriteBuffer(r.upload);
    expectFirstSlotOnTies(r.ties);
  });
});

describe('tfjs engine on WebGPU under Deno, at the device largest buffer', () => {
  it('a text encode whose scores are just over the largest buffer runs in chunks and matches the wasm engine (1e-4)', (ctx) => {
    const out = execFileSync(DENO, ['run', '-A', '--sloppy-imports', 'test/webgpu-limit-deno.ts'], {
      cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 240_000,
    });
    const r = JSON.parse(out.trim().split('\n').pop()!);
    if (!ran(r, 'the WebGPU limit check', (note) => ctx.skip(note))) return;
    expect(r.limitMismatch, `engine limit ${r.limit} vs the adapter's ${JSON.stringify(r.adapterLimits)}`).toBeUndefined();
    console.log(`WebGPU limit check on ${r.adapter}: largest buffer ${r.limit} bytes, B = ${r.B} (${r.scoresBytes} bytes of scores); errors ${r.relevance}, ${r.embeddings}`);
    expect(r.scoresBytes).toBeGreaterThan(r.limit);
    expect(r.relevance).toBeLessThanOrEqual(1e-4);
    expect(r.embeddings).toBeLessThanOrEqual(1e-4);
  }, 300_000);
});

describe.skipIf(!HAS_GOLDEN)(`tfjs engine on WebGPU under Node (the webgpu package, Dawn) ${GOLDEN_SKIP_REASON}`, () => {
  it.for(goldenHeadFiles())('%s: every field within tolerance (or skipped with the reason)', { timeout: 300_000 }, (file: string, ctx: TestContext) => {
    const out = execFileSync(process.execPath, ['--import', 'tsx', 'test/webgpu-node.ts', path.join(GOLDEN_DIR, file)], {
      cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 240_000,
      env: { ...process.env, EGL_PLATFORM: 'surfaceless' },
    });
    const r = JSON.parse(out.trim().split('\n').filter((l) => l.startsWith('{')).pop()!);
    if (!ran(r, 'WebGPU under Node', (note) => ctx.skip(note))) return;
    console.log(`Node WebGPU adapter: ${r.adapter}; ran on ${r.engine}`);
    expect(r.engine).toBe('tfjs webgpu');
    expect(r.failed).toEqual([]);
    expect(r.ok).toBe(true);
    expectUploadThroughWriteBuffer(r.upload);
    expectFirstSlotOnTies(r.ties);
  });
});
