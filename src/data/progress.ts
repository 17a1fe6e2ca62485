/**
 * A tiny progress helper. Long stages (rasterising, feature extraction, word-vector extraction) report
 * `ProgressEvent`s; `stderrProgress()` turns them into one rewritten line with an ETA on a TTY, or plain lines
 * (at most one every few seconds per stage, plus the final one) otherwise.
 */

export interface ProgressEvent {
  /** What is running, e.g. "raster noto 112px" or "features twemoji". */
  stage: string;
  /** Units finished so far (0..total). */
  done: number;
  /** Units in the stage. */
  total: number;
  /** Milliseconds since the stage started. */
  elapsedMs: number;
}

export type ProgressCallback = (event: ProgressEvent) => void;

/** A callback that ignores every event. */
export const silentProgress: ProgressCallback = () => {};

function fmtTime(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** The text of one progress line: "stage 120/500 (24%) 3s elapsed, ETA 10s". */
export function formatProgress(e: ProgressEvent): string {
  const pct = e.total > 0 ? Math.floor((100 * e.done) / e.total) : 100;
  const eta = e.done > 0 ? ((e.total - e.done) * e.elapsedMs) / e.done : NaN;
  const tail = e.done >= e.total ? `done in ${fmtTime(e.elapsedMs)}` : `${fmtTime(e.elapsedMs)} elapsed, ETA ${fmtTime(eta)}`;
  return `${e.stage} ${e.done}/${e.total} (${pct}%) ${tail}`;
}

/**
 * A callback printing progress to a stream (stderr by default): a `\r`-rewritten line when the stream is a TTY,
 * else plain lines at most every `intervalMs` per stage (the last event of a stage is always printed).
 */
export function stderrProgress(options: { stream?: NodeJS.WriteStream; intervalMs?: number } = {}): ProgressCallback {
  const stream = options.stream ?? process.stderr;
  const interval = options.intervalMs ?? 5000;
  const lastAt = new Map<string, number>();
  return (e) => {
    const finished = e.done >= e.total;
    const now = Date.now();
    const last = lastAt.get(e.stage);
    if (stream.isTTY) {
      if (finished || last === undefined || now - last >= 200) {
        lastAt.set(e.stage, now);
        stream.write(`\r\x1b[K${formatProgress(e)}${finished ? '\n' : ''}`);
      }
      return;
    }
    if (finished || last === undefined || now - last >= interval) {
      lastAt.set(e.stage, now);
      stream.write(`${formatProgress(e)}\n`);
    }
  };
}

/** A tracker for one stage: call `tick(n)` after each unit batch; it forwards events to the callback. */
export function stageTracker(onProgress: ProgressCallback, stage: string, total: number): { tick(n?: number): void; done: number } {
  const t0 = Date.now();
  const st = {
    done: 0,
    tick(n = 1): void {
      st.done = Math.min(total, st.done + n);
      onProgress({ stage, done: st.done, total, elapsedMs: Date.now() - t0 });
    },
  };
  onProgress({ stage, done: 0, total, elapsedMs: 0 });
  return st;
}
