// Which runtime ran the suite. CI runs the portable tests under Node, Deno and Bun with FDT_EXPECT_RUNTIME set, so
// a run that silently fell back to Node fails here.
import { describe, expect, it } from 'vitest';
import { FDT } from '../src/index.js';
import { detectRuntime } from '../src/runtime.js';
import { instantiateKernels, sharedMemoryIsFaster, simdSupported } from '../bindings/kernels.js';
import { clearsVectorState, clearUpperVectorState } from '../bindings/vector-state.js';

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

  it('runs the kernels on the shared-memory twin under Deno (V8 checks bounds in code there) and on the plain build elsewhere', async () => {
    const runtime = detectRuntime();
    expect(sharedMemoryIsFaster()).toBe(runtime === 'deno');
    const mod = await instantiateKernels('auto');
    const shared = typeof SharedArrayBuffer === 'function' && mod.k.memory.buffer instanceof SharedArrayBuffer;
    expect(shared).toBe(runtime === 'deno');
    // The arena grows the memory (shared or not) past its first pages, and a kernel writes where the views read:
    // GELU of 3 over a 4 MiB block.
    const n = 1 << 20;
    const x = mod.arena.alloc(4 * n);
    const y = mod.arena.alloc(4 * n);
    mod.f32(x, n).fill(3);
    mod.k.f32_gelu_fwd(x, n, y, 0);
    const out = mod.f32(y, n);
    expect(out[0]).toBeCloseTo(2.99595, 4);
    expect(out[n - 1]).toBe(out[0]);
    mod.arena.free(y);
    mod.arena.free(x);
  });

  it('clears the upper vector state before engine calls exactly where it is left dirty: Node on x86-64', () => {
    const proc = (globalThis as { process?: { arch?: string; getBuiltinModule?: unknown } }).process;
    const expected = detectRuntime() === 'node' && proc?.arch === 'x64' && typeof proc.getBuiltinModule === 'function';
    expect(clearsVectorState()).toBe(expected);
    expect(() => clearUpperVectorState()).not.toThrow();
  });
});
