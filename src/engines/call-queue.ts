/**
 * Calls that run one after another: each starts when the ones queued before it have settled (a failed call does not
 * stop the queue). Both engines queue their calls: a call awaits its kernels (the worker pool) or its reads (a GPU)
 * between steps, and a second call issued meanwhile could otherwise repack, update or free what the first is using.
 */
export class CallQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private queued = 0;

  /** Runs `call` after every call queued before it. */
  run<T>(call: () => Promise<T>): Promise<T> {
    this.queued++;
    const run = this.tail.then(call).finally(() => this.queued--);
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** Runs `fn` at once when nothing is queued or running, else after the calls queued before it. */
  whenIdle(fn: () => void): void {
    if (this.queued === 0) fn();
    else void this.run(async () => fn());
  }
}
