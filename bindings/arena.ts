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
    const size = Math.max(16, align(bytes));
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
        this.memory.grow(needPages);
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

function align(n: number): number {
  return (n + 15) & ~15;
}
