import type { KernelModule } from '../../../bindings/kernels.js';

/**
 * Allocations that live for one engine call. Every block is returned to the arena by dispose(), so repeated calls
 * of one shape reuse the same memory. Views are made fresh from pointers on every read (memory may have grown).
 */
export class Scope {
  private readonly blocks: number[] = [];
  constructor(readonly mod: KernelModule) {}

  /** Allocates `bytes` bytes. */
  bytes(bytes: number): number {
    const p = this.mod.arena.alloc(bytes);
    this.blocks.push(p);
    return p;
  }
  /** Allocates n float32 values (contents undefined). */
  f32(n: number): number {
    return this.bytes(n * 4);
  }
  /** Allocates n float32 values set to zero. */
  zeros(n: number): number {
    const p = this.f32(n);
    this.mod.f32(p, n).fill(0);
    return p;
  }
  /** Allocates n int32 values (contents undefined). */
  i32(n: number): number {
    return this.bytes(n * 4);
  }
  /** Copies host data into a new block. */
  upload(data: Float32Array | Int32Array): number {
    const p = this.bytes(data.byteLength);
    if (data instanceof Float32Array) this.mod.f32(p, data.length).set(data);
    else this.mod.i32(p, data.length).set(data);
    return p;
  }
  /** Copies n float32 values out of wasm memory into a new host array. */
  readF32(ptr: number, n: number): Float32Array {
    return this.mod.f32(ptr, n).slice();
  }
  /** Copies n int32 values out of wasm memory into a new host array. */
  readI32(ptr: number, n: number): Int32Array {
    return this.mod.i32(ptr, n).slice();
  }
  dispose(): void {
    for (const p of this.blocks) this.mod.arena.free(p);
    this.blocks.length = 0;
  }
}
