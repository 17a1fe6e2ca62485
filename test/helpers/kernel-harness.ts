import { instantiateKernels, type KernelModule } from '../../bindings/kernels.js';

/** The allocations of one kernel call, released by {@link Mem.free} so that thousands of runs reuse the arena. */
export class Mem {
  private readonly ptrs: number[] = [];
  constructor(readonly mod: KernelModule) {}

  get k() {
    return this.mod.k;
  }
  /** A 16-byte-aligned block of at least `bytes` bytes, zero-filled. */
  bytes(bytes: number): number {
    const p = this.mod.arena.alloc(Math.max(16, bytes));
    this.ptrs.push(p);
    new Uint8Array(this.mod.k.memory.buffer, p, Math.max(16, bytes)).fill(0);
    return p;
  }
  /** n zeroed 4-byte words. */
  zeros(n: number): number {
    return this.bytes(n * 4);
  }
  f32(data: ArrayLike<number>): number {
    const p = this.zeros(data.length);
    this.mod.f32(p, data.length).set(Float32Array.from(data));
    return p;
  }
  i32(data: ArrayLike<number>): number {
    const p = this.zeros(data.length);
    this.mod.i32(p, data.length).set(Int32Array.from(data));
    return p;
  }
  readF32(p: number, n: number): Float32Array {
    return this.mod.f32(p, n).slice();
  }
  readI32(p: number, n: number): Int32Array {
    return this.mod.i32(p, n).slice();
  }
  readF64(p: number, n: number): Float64Array {
    return this.mod.f64(p, n).slice();
  }
  free(): void {
    for (const p of this.ptrs.reverse()) this.mod.arena.free(p);
    this.ptrs.length = 0;
  }
}

/** A kernel module of one build plus Mem's helpers, for direct kernel tests (blocks live as long as the module). */
export class Harness extends Mem {
  static async create(build: 'simd' | 'scalar' | 'relaxed'): Promise<Harness> {
    return new Harness(await instantiateKernels(build));
  }
}

/** Rounds a float64 array to float32 precision and back, so that reference and kernel see the same inputs. */
export function f32round(x: Float64Array | number[]): Float64Array {
  return Float64Array.from(Float32Array.from(x));
}
