// Which runtime ran the suite. CI runs the portable tests under Node, Deno and Bun with FDT_EXPECT_RUNTIME set, so
// a run that silently fell back to Node fails here.
import { describe, expect, it } from 'vitest';
import { FDT } from '../src/index.js';
import { detectRuntime } from '../src/runtime.js';
import { simdSupported } from '../bindings/kernels.js';

describe('runtime', () => {
  it('is the one CI asked for, and picks the SIMD build when the runtime validates it', async () => {
    const runtime = detectRuntime();
    const expected = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.['FDT_EXPECT_RUNTIME'];
    if (expected) expect(runtime).toBe(expected);
    expect(['node', 'deno', 'bun']).toContain(runtime);
    const m = await FDT.create({ numTokens: 8, dim: 4, imageDim: 2, textDim: 2, seed: 1 });
    expect(m.build).toBe(simdSupported() ? 'simd' : 'scalar');
    const r = await m.encodeImage({ data: [1, 2, 3, 4], shape: [1, 2, 2] });
    expect(r.embeddings.length).toBe(4);
    console.log(`runtime ${runtime}, wasm build ${m.build}`);
  });
});
