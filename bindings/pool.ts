import type { KernelExports } from './kernels.js';
import { WORKER_SOURCE } from './worker-source.js';

/** One kernel call: the export's name and its numeric arguments. */
export type KernelCall = [name: keyof KernelExports & string, args: number[]];

/**
 * Claims ranges [u0, min(units, u0 + grain)) of [0, units) from the int32 counter at byte offset `counter` of a
 * shared buffer, one Atomics.add each, and runs each range, until none is left. Threads that run this on the same
 * counter (zero at the start) together run every range exactly once, however their speeds differ. The pool's workers
 * run the same loop (worker-source.ts).
 */
export function claimLoop(buffer: ArrayBufferLike, counter: number, units: number, grain: number, run: (u0: number, u1: number) => void): void {
  const cell = new Int32Array(buffer, counter, 1);
  for (let u0 = Atomics.add(cell, 0, grain); u0 < units; u0 = Atomics.add(cell, 0, grain)) run(u0, Math.min(units, u0 + grain));
}

interface Port {
  post(msg: unknown): void;
  onMessage(fn: (msg: { id: number; error?: string }) => void): void;
  onFailure(fn: (err: Error) => void): void;
  /** Keep the process alive (Node) while a request is pending; let it exit when idle. */
  hold(busy: boolean): void;
  terminate(): void;
}

// Node, Bun and Deno all offer node:worker_threads, whose workers can be unref'd: an idle pool never keeps the
// process alive (a Web Worker would, in Deno). Browsers use Web Workers.
const isNodeLike = (): boolean => {
  const g = globalThis as Record<string, unknown>;
  return typeof g['Deno'] === 'object' || typeof (g['process'] as { versions?: { node?: string } } | undefined)?.versions?.node === 'string';
};

// node:worker_threads is imported by a specifier in a variable, so bundlers leave it alone.
const WORKER_THREADS = 'node:worker_threads';

async function spawn(): Promise<Port> {
  if (isNodeLike()) {
    const { Worker } = (await import(/* @vite-ignore */ WORKER_THREADS)) as typeof import('node:worker_threads');
    const w = new Worker(WORKER_SOURCE, { eval: true });
    return {
      post: (m) => w.postMessage(m),
      onMessage: (fn) => w.on('message', fn),
      onFailure: (fn) => {
        w.on('error', fn);
        w.on('messageerror', (e) => fn(new Error(`a worker message could not be deserialised: ${String(e)}`)));
        w.on('exit', (code) => fn(new Error(`worker exited with code ${code}`)));
      },
      // Idle workers never keep the process alive; a pending request does (else Node could exit mid-call).
      // Attaching a 'message' listener refs the worker again, so this runs after the listeners are in place.
      hold: (busy) => (busy ? w.ref() : w.unref()),
      terminate: () => void w.terminate(),
    };
  }
  const url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: 'text/javascript' }));
  const w = new Worker(url, { type: 'module' });
  return {
    post: (m) => w.postMessage(m),
    onMessage: (fn) => (w.onmessage = (e: MessageEvent) => fn(e.data)),
    // An error event does not stop a Web Worker: it is stopped here, so no request still queued in it (a claimed
    // round's, say) runs after the round has settled (terminate() is asynchronous: a kernel already running may
    // still finish).
    onFailure: (fn) => {
      w.onerror = (e: ErrorEvent) => (e.preventDefault(), w.terminate(), fn(new Error(e.message)));
      w.onmessageerror = () => (w.terminate(), fn(new Error('a worker message could not be deserialised')));
    },
    hold: () => undefined,
    // The worker has loaded its script once it is terminated or has answered: the Blob URL is no longer needed.
    terminate: () => (w.terminate(), URL.revokeObjectURL(url)),
  };
}

/** How long a worker may take to instantiate the module and run its setup. */
const START_TIMEOUT_MS = 60_000;

/** A worker with its pending requests. */
class PoolWorker {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  dead: Error | null = null;

  private constructor(private readonly port: Port) {
    port.onMessage((msg) => {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (this.pending.size === 0) port.hold(false);
      if (msg.error) p.reject(new Error(msg.error));
      else p.resolve();
    });
    port.onFailure((err) => {
      this.dead ??= err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
      port.hold(false);
    });
    port.hold(false);
  }

  /**
   * A worker with the module instantiated on `memory`, then `setup`'s calls run on it (tile_set_broadcast, ...). A
   * worker that has not answered within START_TIMEOUT_MS (a runtime that cannot pass it the shared memory may never
   * answer at all) is stopped and the start fails, so the engine falls back to fewer threads instead of waiting.
   */
  static async start(module: WebAssembly.Module, memory: WebAssembly.Memory, setup: KernelCall[]): Promise<PoolWorker> {
    const w = new PoolWorker(await spawn());
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        w.request({ init: { module, memory, setup } }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`a worker did not start within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
        }),
      ]);
    } catch (e) {
      w.terminate(); // a worker whose init or setup failed stays alive otherwise
      throw e;
    } finally {
      clearTimeout(timer);
    }
    return w;
  }

  request(msg: Record<string, unknown>): Promise<void> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      if (this.pending.size === 0) this.port.hold(true);
      this.pending.set(id, { resolve, reject });
      this.port.post({ ...msg, id });
    });
  }

  terminate(): void {
    this.dead ??= new Error('pool terminated');
    this.port.terminate();
  }
}

/**
 * Worker threads sharing one wasm memory. The calling thread is thread 0 and runs its share synchronously while the
 * workers run theirs; run() resolves when all are done. A worker that fails makes that call reject with its error;
 * a worker that dies is replaced on the next call, so the pool recovers.
 */
export class WorkerPool {
  private constructor(
    private readonly module: WebAssembly.Module,
    private readonly memory: WebAssembly.Memory,
    private readonly setup: KernelCall[],
    private readonly workers: PoolWorker[],
  ) {}

  /**
   * Starts `threads - 1` workers on the shared module and memory (thread 0 is the caller), each running `setup`'s
   * calls once after it instantiates the module (a replaced worker too), so that every thread's instance is
   * configured as the caller's.
   */
  static async start(threads: number, module: WebAssembly.Module, memory: WebAssembly.Memory, setup: KernelCall[] = []): Promise<WorkerPool> {
    const started = await Promise.allSettled(Array.from({ length: threads - 1 }, () => PoolWorker.start(module, memory, setup)));
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) {
      for (const s of started) if (s.status === 'fulfilled') s.value.terminate(); // no thread outlives a failed start
      throw failed.reason;
    }
    return new WorkerPool(module, memory, setup, started.map((s) => (s as PromiseFulfilledResult<PoolWorker>).value));
  }

  /** Threads in all, the caller's included. */
  get size(): number {
    return this.workers.length + 1;
  }

  /**
   * Runs parts[0] on this thread and parts[i] on worker i - 1, in parallel. `local` executes a call on this thread.
   * Rejects with the first worker error after every part has settled (no kernel is left running on shared memory).
   */
  async run(parts: KernelCall[][], local: (call: KernelCall) => void): Promise<void> {
    const runHere = (calls: KernelCall[]) => {
      for (const c of calls) local(c);
    };
    await this.round(parts.slice(1).map((calls) => ({ calls })), () => runHere(parts[0] ?? []), (msg) => runHere(msg['calls'] as KernelCall[]));
  }

  /**
   * Runs parts[0] on this thread and parts[i] on worker i - 1, each claiming ranges [u0, u1) of [0, units) `grain`
   * at a time from the int32 counter at byte offset `counter` of the shared memory (zero at the start; see
   * claimLoop) until none is left, and running its call with u0 and u1 appended to its arguments: a thread that
   * starts late or runs slow takes fewer ranges instead of holding up the call. Each part is its thread's own call
   * (its own scratch). Errors as in run().
   */
  async runClaimed(parts: KernelCall[], counter: number, units: number, grain: number, local: (call: KernelCall) => void): Promise<void> {
    await this.round(
      parts.slice(1).map(([name, args]) => ({ calls: [], claim: { counter, units, grain, name, args } })),
      () => {
        const first = parts[0];
        if (!first) return;
        const [name, args] = first;
        claimLoop(this.memory.buffer, counter, units, grain, (u0, u1) => local([name, [...args, u0, u1]]));
      },
    );
  }

  /**
   * One round: requests[i] to worker i, then thisThread() here; settles every request before it returns, and
   * rethrows this thread's error first, else the first worker's.
   */
  private async round(requests: Record<string, unknown>[], thisThread: () => void, orphan: (msg: Record<string, unknown>) => void = () => {}): Promise<void> {
    const gone = await this.revive();
    const remote = requests.map((msg, i) => (gone.has(i) ? null : this.workers[i]!.request(msg)));
    // This round addressed the workers by their old index; the next rounds see the smaller pool.
    if (gone.size) this.workers.splice(0, this.workers.length, ...this.workers.filter((_, i) => !gone.has(i)));
    let localError: unknown = null;
    try {
      thisThread();
      // The share of a worker that could not be replaced runs here (a claimed round needs nothing: the ranges it
      // would have claimed are taken by the other threads).
      for (const [i, msg] of requests.entries()) if (gone.has(i)) orphan(msg);
    } catch (e) {
      localError = e;
    }
    const settled = await Promise.allSettled(remote.filter((r): r is Promise<void> => r !== null));
    if (localError) throw localError;
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** @internal How a replacement worker starts (tests make it fail). */
  static startWorker = (module: WebAssembly.Module, memory: WebAssembly.Memory, setup: KernelCall[]): Promise<PoolWorker> =>
    PoolWorker.start(module, memory, setup);

  /** @internal For tests: make worker i fail its next call ('fail') or crash outright ('crash'). */
  inject(i: number, kind: 'fail' | 'crash'): Promise<void> {
    return this.workers[i]!.request({ [kind]: `injected ${kind}`, calls: [] });
  }

  /** Stops every worker. */
  terminate(): void {
    for (const w of this.workers) w.terminate();
  }

  /**
   * Replaces dead workers. One whose replacement cannot start (out of memory, a worker cap) is dropped: the pool
   * runs on fewer threads from the next call on, and this call runs the dropped workers' shares (the returned
   * indices) on the calling thread. The results are the same bits either way.
   */
  private async revive(): Promise<Set<number>> {
    const gone = new Set<number>();
    for (let i = 0; i < this.workers.length; i++) {
      if (!this.workers[i]!.dead) continue;
      this.workers[i]!.terminate();
      try {
        this.workers[i] = await WorkerPool.startWorker(this.module, this.memory, this.setup);
      } catch (e) {
        gone.add(i);
        console.debug(`fdtkit: a worker could not be replaced (${(e as Error).message}); ${this.workers.length - gone.size + 1} threads from now on`);
      }
    }
    return gone;
  }
}
