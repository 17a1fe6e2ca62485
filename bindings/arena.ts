/** The most a wasm32 memory can hold: 65,536 pages of 64 KiB. */
const MAX_MEMORY_BYTES = 2 ** 32;

/** The wasm memory cannot grow to hold a block: the runtime refused (at most 4 GiB for wasm32, or less). */
export class WasmMemoryFullError extends RangeError {
  constructor(
    readonly blockBytes: number,
    readonly neededBytes: number,
    readonly memoryBytes: number,
  ) {
    super(`wasm memory: a block of ${mib(blockBytes)} needs ${mib(neededBytes)} of memory; it holds ${mib(memoryBytes)} and the runtime refused to grow it (wasm32 memory holds at most 4 GiB)`);
    this.name = 'WasmMemoryFullError';
  }
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

/**
 * A first-fit allocator over one WebAssembly memory. It is the only owner of the memory above the module's static
 * data; kernels never allocate. Blocks are 16-byte aligned (v128 loads). Freed blocks coalesce with neighbours, so
 * a repeated call of the same shape reuses the same addresses and memory stops growing after the first call.
 */
export class Arena {
  /** Free blocks sorted by address. */
  private readonly freeList: { ptr: number; size: number }[] = [];
  private readonly sizes = new Map<number, number>();
  private top: number;

  constructor(
    private readonly memory: WebAssembly.Memory,
    base: number,
  ) {
    this.top = align(base);
  }

  /** Bytes currently handed out. */
  get liveBytes(): number {
    let n = 0;
    for (const s of this.sizes.values()) n += s;
    return n;
  }

  /** Size of the wasm memory in bytes. */
  get memoryBytes(): number {
    return this.memory.buffer.byteLength;
  }

  /** Allocates `bytes` (rounded up to 16) and returns the block's address. Grows memory when needed. */
  alloc(bytes: number): number {
    if (!(Number.isSafeInteger(bytes) && bytes >= 0)) throw new RangeError(`Arena.alloc: expected a byte count >= 0, found ${bytes}`);
    const size = Math.max(16, align(bytes));
    // A block that cannot fit wasm32's 4 GiB is refused before the free list or memory.grow see its size.
    if (this.top + size > MAX_MEMORY_BYTES && !this.freeList.some((b) => b.size >= size)) {
      throw new WasmMemoryFullError(size, this.top + size, this.memory.buffer.byteLength);
    }
    for (let i = 0; i < this.freeList.length; i++) {
      const block = this.freeList[i]!;
      if (block.size >= size) {
        const ptr = block.ptr;
        if (block.size === size) this.freeList.splice(i, 1);
        else {
          block.ptr += size;
          block.size -= size;
        }
        this.sizes.set(ptr, size);
        return ptr;
      }
    }
    const ptr = this.top;
    const end = ptr + size;
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      // Grow by at least half the current size: page faults are expensive here, so few large grows beat many.
      const needPages = Math.ceil((end - have) / 65536);
      const pages = Math.max(needPages, Math.min(Math.ceil(have / 65536 / 2), 16384));
      try {
        this.memory.grow(pages);
      } catch {
        try {
          this.memory.grow(needPages);
        } catch {
          throw new WasmMemoryFullError(size, end, have);
        }
      }
    }
    this.top = end;
    this.sizes.set(ptr, size);
    return ptr;
  }

  /** Returns a block to the arena. Releasing an unknown address throws (it would corrupt the free list). */
  free(ptr: number): void {
    const size = this.sizes.get(ptr);
    if (size === undefined) throw new Error(`Arena.free: ${ptr} is not an allocated block`);
    this.sizes.delete(ptr);
    if (ptr + size === this.top) {
      this.top = ptr;
      // The block below the top may now be free too.
      const last = this.freeList[this.freeList.length - 1];
      if (last && last.ptr + last.size === this.top) {
        this.top = last.ptr;
        this.freeList.pop();
      }
      return;
    }
    let i = 0;
    while (i < this.freeList.length && this.freeList[i]!.ptr < ptr) i++;
    this.freeList.splice(i, 0, { ptr, size });
    const next = this.freeList[i + 1];
    if (next && ptr + size === next.ptr) {
      this.freeList[i]!.size += next.size;
      this.freeList.splice(i + 1, 1);
    }
    const prev = this.freeList[i - 1];
    if (prev && prev.ptr + prev.size === ptr) {
      prev.size += this.freeList[i]!.size;
      this.freeList.splice(i, 1);
    }
  }
}

/**
 * n rounded up to a multiple of 16, in float64 arithmetic: `(n + 15) & ~15` would wrap at 2^31 (a 3 GB request
 * became a negative size, then a 16-byte block that the kernel wrote past).
 */
function align(n: number): number {
  return Math.ceil(n / 16) * 16;
}
