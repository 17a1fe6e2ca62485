// The benchmark's host-speed bookkeeping: which calls count as quiet, the quiet medians the targets compare, and
// where measureInterleaved puts the probe readings. No assertion depends on a timing; the last test only checks
// that a real probe returns a positive reading.
import { describe, expect, it } from 'vitest';
import { measureInterleaved } from '../bench/harness.js';
import { fastestProbe, HostSpeed, MIN_QUIET_CALLS, QUIET_SHARE, quietCalls, quietTiming } from '../bench/host-speed.js';

describe('bench host speed', () => {
  it('a call is quiet when the readings before and after it both reach QUIET_SHARE of the fastest', () => {
    const edge = QUIET_SHARE * 20;
    expect(quietCalls([20, 20, 9, 20, 20, 9, edge, edge, edge, edge - 0.01], 20)).toEqual([true, false, false, true, false]);
    expect(quietCalls([], 20)).toEqual([]);
  });

  it('the fastest probe is taken over every probed row and ignores rows without probes', () => {
    expect(fastestProbe([{ host_gflops: [3, 18.5] }, {}, { host_gflops: [17] }])).toBe(18.5);
    expect(fastestProbe([{}, {}])).toBe(0);
  });

  it('a quiet median is the median of the quiet calls, and null below MIN_QUIET_CALLS of them', () => {
    // Calls 0, 2, 3 and 4 quiet; call 1 (100 ms) ran in a slow spell.
    const row = { rounds_ms: [10, 100, 12, 11, 13], host_gflops: [18, 18, 18, 9, 18, 18, 18, 18, 17, 18] };
    expect(quietTiming(row, 18)).toEqual({ medianMs: 11.5, quiet: 4, calls: 5 });
    const few = { rounds_ms: [10, 100, 12], host_gflops: [18, 18, 9, 9, 18, 18] };
    expect(MIN_QUIET_CALLS).toBe(3);
    expect(quietTiming(few, 18)).toEqual({ medianMs: null, quiet: 2, calls: 3 });
  });

  it('a row is judged against the fastest reading of its own measurement when it carries one', () => {
    // Readings of 18 are quiet against a measurement whose fastest was 18, not against a run whose fastest was 21.4.
    const row = { rounds_ms: [10, 11, 12], host_gflops: [18, 18, 18, 18, 18, 18], host_ref_gflops: 18 };
    expect(quietTiming(row, 21.4)).toEqual({ medianMs: 11, quiet: 3, calls: 3 });
    expect(quietTiming({ ...row, host_ref_gflops: undefined }, 21.4)).toEqual({ medianMs: null, quiet: 0, calls: 3 });
  });

  it('rows without probes, or with probes that do not pair with the calls, have no quiet timing', () => {
    expect(quietTiming({ rounds_ms: [1, 2, 3] }, 18)).toBeNull();
    expect(quietTiming({ rounds_ms: [1, 2, 3], host_gflops: [18, 18, 18] }, 18)).toBeNull();
    expect(quietTiming({ rounds_ms: [1], host_gflops: [18, 18] }, 0)).toBeNull();
  });

  it('measureInterleaved reads the probe just before and just after each call, in the order the calls ran', async () => {
    let reading = 0;
    const order: string[] = [];
    const [a, b] = await measureInterleaved([() => order.push('a'), () => order.push('b')], {
      budgetS: 0, min: 3, max: 3, probe: () => reading++,
    });
    // One warm-up round (a, b) without probes, then rounds a b | b a | a b with a reading after every call.
    expect(order).toEqual(['a', 'b', 'a', 'b', 'b', 'a', 'a', 'b']);
    expect(a!.hostGflops).toEqual([0, 1, 3, 4, 4, 5]);
    expect(b!.hostGflops).toEqual([1, 2, 2, 3, 5, 6]);
    expect(a!.roundsMs).toHaveLength(3);
    expect(a!.hostRefGflops).toBe(6);
    expect(b!.hostRefGflops).toBe(6);
    const plain = await measureInterleaved([() => 0], { budgetS: 0, min: 2, max: 2 });
    expect(plain[0]!.hostGflops).toBeUndefined();
  });

  it('the probe reads the SIMD tile in GFLOP/s and keeps the fastest reading', async () => {
    const h = await HostSpeed.create();
    expect(h).not.toBeNull();
    const g = h!.probe();
    expect(g).toBeGreaterThan(0);
    expect(h!.best).toBeGreaterThanOrEqual(g);
    h!.release();
  });
});
