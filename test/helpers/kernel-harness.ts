import { instantiateKernels, type KernelModule } from '../../bindings/kernels.js';

/** A kernel module plus helpers to move arrays in and out by pointer, for direct kernel tests. */
export class Harness {
  private constructor(readonly mod: KernelModule) {}

  static async create(build: 'simd' | 'scalar' | 'relaxed'): Promise<Harness> {
    return new Harness(await instantiateKernels(build));
  }

  get k() {
    return this.mod.k;
  }

  /** Copies float data in (as float32); returns the pointer. */
  f32(data: ArrayLike<number>): number {
    const p = this.mod.arena.alloc(Math.max(4, data.length * 4));
    this.mod.f32(p, data.length).set(Float32Array.from(data));
    return p;
  }
  /** Copies int data in; returns the pointer. */
  i32(data: ArrayLike<number>): number {
    const p = this.mod.arena.alloc(Math.max(4, data.length * 4));
    this.mod.i32(p, data.length).set(Int32Array.from(data));
    return p;
  }
  /** A zeroed block of n float32/int32 (or raw bytes). */
  zeros(n: number): number {
    const p = this.mod.arena.alloc(Math.max(16, n * 4));
    this.mod.f32(p, n).fill(0);
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
}

/** Rounds a float64 array to float32 precision and back, so that reference and kernel see the same inputs. */
export function f32round(x: Float64Array | number[]): Float64Array {
  return Float64Array.from(Float32Array.from(x));
}
