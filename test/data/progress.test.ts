import { describe, expect, it } from 'vitest';
import { formatProgress, stageTracker, stderrProgress, type ProgressEvent } from '../../src/data/progress.js';

function fakeStream(isTTY: boolean): { stream: NodeJS.WriteStream; out: string[] } {
  const out: string[] = [];
  return { stream: { isTTY, write: (s: string) => (out.push(s), true) } as unknown as NodeJS.WriteStream, out };
}

describe('progress', () => {
  it('formats a line with an ETA', () => {
    expect(formatProgress({ stage: 'x', done: 25, total: 100, elapsedMs: 5000 })).toBe('x 25/100 (25%) 5s elapsed, ETA 15s');
    expect(formatProgress({ stage: 'x', done: 100, total: 100, elapsedMs: 125000 })).toBe('x 100/100 (100%) done in 2m05s');
  });

  it('prints plain throttled lines when not a TTY, a rewritten line on a TTY', () => {
    const plain = fakeStream(false);
    const cb = stderrProgress({ stream: plain.stream, intervalMs: 60_000 });
    const t = stageTracker(cb, 'stage', 3);
    t.tick();
    t.tick();
    t.tick();
    expect(plain.out).toEqual(['stage 0/3 (0%) 0s elapsed, ETA ?\n', expect.stringMatching(/^stage 3\/3 \(100%\) done in/)]);
    const tty = fakeStream(true);
    const events: ProgressEvent[] = [];
    const t2 = stageTracker((e) => (events.push(e), stderrProgress({ stream: tty.stream })(e)), 's', 1);
    t2.tick();
    expect(events.map((e) => e.done)).toEqual([0, 1]);
    expect(tty.out.every((s) => s.startsWith('\r'))).toBe(true);
  });
});
