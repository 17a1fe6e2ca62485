// The arena's sizes in float64: requests at and past 2^31 bytes are sized exactly (a 32-bit align once turned a 3 GB
// request into a 16-byte block), refused with WasmMemoryFullError when memory cannot grow, and never corrupt it.
import { describe, expect, it } from 'vitest';
import { Arena, WasmMemoryFullError } from '../bindings/arena.js';

describe('Arena', () => {
  it('refuses blocks the memory cannot grow to hold, at 2^31 bytes and past 4 GiB, leaving its state as it was', () => {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 4 });
    const arena = new Arena(memory, 1024);
    const a = arena.alloc(1000);
    for (const bytes of [3e9, 2 ** 31, 2 ** 31 - 8, 2 ** 32, 5e9, 4 * 65536]) {
      expect(() => arena.alloc(bytes), `${bytes} bytes`).toThrow(WasmMemoryFullError);
    }
    expect(() => arena.alloc(3e9)).toThrow(/wasm memory: a block of 2861\.0 MiB needs 2861\.0 MiB of memory; it holds 0\.1 MiB/);
    expect(arena.liveBytes).toBe(1008);
    const b = arena.alloc(100_000);
    expect(b).toBe(a + 1008);
    expect(memory.buffer.byteLength).toBe(2 * 65536);
    arena.free(b);
    arena.free(a);
    expect(arena.liveBytes).toBe(0);
  });

  it('rounds sizes up to 16 bytes and refuses a size that is not a byte count', () => {
    const arena = new Arena(new WebAssembly.Memory({ initial: 1 }), 0);
    const p = arena.alloc(1);
    expect(arena.alloc(17) - p).toBe(16);
    expect(arena.liveBytes).toBe(48);
    for (const bad of [-1, 1.5, NaN, Infinity]) expect(() => arena.alloc(bad), String(bad)).toThrow(/Arena.alloc: expected a byte count >= 0/);
  });
});
