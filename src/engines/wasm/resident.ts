import type { KernelModule } from '../../../bindings/kernels.js';
import type { FdtParams } from '../../params.js';

/** What an engine needs to know of a model's parameters: values and a version per name that changes on every write. */
export interface ParamSource {
  readonly params: FdtParams;
  readonly versions: Readonly<Record<string, number>>;
}

type Layout = 'raw' | 'nt' | 'nn';

interface Entry {
  ptr: number;
  version: number;
  bytes: number;
}

/**
 * A model's parameters held in wasm memory between calls, with their packed layouts: the dictionary T packed into
 * 16-column panels costs ~10 ms at paper scale, so it is packed once and repacked only when its version changes.
 */
export class ResidentParams {
  private readonly entries = new Map<string, Entry>();
  constructor(
    private readonly mod: KernelModule,
    private readonly source: ParamSource,
  ) {}

  /** Pointer to the parameter as stored (row-major), uploaded if stale. */
  raw(name: string): number {
    return this.get(name, 'raw', [0, 0]);
  }

  /** Pointer to the [N, K] parameter packed as B^T panels (f32_pack_nt: the forward GEMM / relevance layout). */
  packedNT(name: string, N: number, K: number): number {
    return this.get(name, 'nt', [N, K]);
  }

  /**
   * packedNT, with a stale packing redone by `pack` (the worker pool: the dictionary is 8.4 M values at paper scale
   * and is repacked after every update).
   */
  async packedNTWith(name: string, N: number, K: number, pack: (src: number, N: number, K: number, dst: number) => Promise<void>): Promise<number> {
    const key = `${name}:nt`;
    const version = this.source.versions[name] ?? 0;
    const bytes = Math.ceil(N / 16) * 16 * K * 4;
    const { ptr, current } = this.claim(key, version, bytes);
    if (current) return ptr;
    // Stale until packed: a failure part way leaves the entry unusable rather than half written.
    this.entries.set(key, { ptr, version: -1, bytes });
    await pack(this.raw(name), N, K, ptr);
    this.entries.set(key, { ptr, version, bytes });
    return ptr;
  }

  /** Pointer to the [K, N] parameter packed as B panels (f32_pack_nn: the backward GEMM layout). */
  packedNN(name: string, K: number, N: number): number {
    return this.get(name, 'nn', [K, N]);
  }

  /** Marks the raw copy of `name` as current at `version` (after an in-place update in wasm memory). */
  adopt(name: string, version: number): void {
    const e = this.entries.get(`${name}:raw`);
    if (e) e.version = version;
  }

  /** Marks the raw copy of `name` stale (an in-place update that failed part way): the next use uploads the host values. */
  invalidate(name: string): void {
    const e = this.entries.get(`${name}:raw`);
    if (e) e.version = -1;
  }

  /** Frees every block. */
  release(): void {
    for (const e of this.entries.values()) this.mod.arena.free(e.ptr);
    this.entries.clear();
  }

  private get(name: string, layout: Layout, dims: [number, number]): number {
    const key = `${name}:${layout}`;
    const version = this.source.versions[name] ?? 0;
    const data = this.source.params[name]!;
    // nt packs an [N, K] matrix (dims = [N, K]); nn packs a [K, N] matrix (dims = [K, N]): ceil(N/16) panels of
    // depth K either way.
    const [N, K] = layout === 'nt' ? dims : [dims[1], dims[0]];
    const bytes = layout === 'raw' ? data.byteLength : Math.ceil(N / 16) * 16 * K * 4;
    // A packed layout's source first: were its upload to fail (memory full), no packed block would be left unowned.
    const src = layout === 'raw' ? 0 : this.raw(name);
    const { ptr, current } = this.claim(key, version, bytes);
    if (current) return ptr;
    if (layout === 'raw') {
      this.mod.f32(ptr, data.length).set(data);
    } else {
      if (layout === 'nt') this.mod.k.f32_pack_nt(src, dims[0], dims[1], ptr);
      else this.mod.k.f32_pack_nn(src, dims[0], dims[1], ptr);
    }
    this.entries.set(key, { ptr, version, bytes });
    return ptr;
  }

  /**
   * The block of entry `key`: current (same version and size), or to be filled: the old block when the size is
   * unchanged, else a new one (the old freed).
   */
  private claim(key: string, version: number, bytes: number): { ptr: number; current: boolean } {
    const e = this.entries.get(key);
    if (e && e.bytes === bytes) return { ptr: e.ptr, current: e.version === version };
    if (e) {
      this.mod.arena.free(e.ptr);
      this.entries.delete(key);
    }
    return { ptr: this.mod.arena.alloc(bytes), current: false };
  }
}
