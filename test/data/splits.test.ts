import { describe, expect, it } from 'vitest';
import { FdtValueError } from '../../src/errors.js';
import { commonConcepts, mulberry32, splitConcepts, splitHexcodes } from '../../src/data/splits.js';

const ALL = ['noto', 'twemoji', 'fluent-emoji-flat', 'openmoji'];

describe('concept splits', () => {
  it('uses only the concepts common to every style', () => {
    expect(commonConcepts(ALL).length).toBe(1594);
    expect(commonConcepts(['twemoji', 'openmoji']).length).toBeGreaterThanOrEqual(1594);
  });

  it('is deterministic, disjoint and covers the common concepts (70/10/20)', () => {
    const a = splitConcepts(ALL, { seed: 7 });
    const b = splitConcepts([...ALL].reverse(), { seed: 7 });
    expect(b).toEqual(a);
    expect(a.counts).toEqual({ train: 1116, val: 159, test: 319, total: 1594 });
    const all = [...a.train, ...a.val, ...a.test];
    expect(new Set(all).size).toBe(all.length);
    expect(new Set(all)).toEqual(new Set(commonConcepts(ALL)));
    const c = splitConcepts(ALL, { seed: 8 });
    expect(c.test).not.toEqual(a.test);
  });

  it('cuts to maxConcepts with a seeded sample', () => {
    const ids = Array.from({ length: 100 }, (_, i) => `H${i}`);
    const s = splitHexcodes(ids, { seed: 1, maxConcepts: 10 });
    expect(s.counts).toEqual({ train: 7, val: 1, test: 2, total: 10 });
    expect(splitHexcodes(ids, { seed: 1, maxConcepts: 10 })).toEqual(s);
    // lists come back in input order
    for (const l of [s.train, s.val, s.test]) expect(l).toEqual([...l].sort((x, y) => ids.indexOf(x) - ids.indexOf(y)));
  });

  it('validates its options', () => {
    expect(() => splitHexcodes(['a'], { seed: -1 })).toThrow(FdtValueError);
    expect(() => splitHexcodes(['a'], { fractions: { train: 0.5, val: 0.1, test: 0.1 } })).toThrow(/summing to 1/);
    expect(() => splitHexcodes(['a'], { maxConcepts: 0 })).toThrow(/maxConcepts/);
    expect(() => commonConcepts([])).toThrow(FdtValueError);
  });

  it('mulberry32 is a deterministic uniform generator', () => {
    const r = mulberry32(42);
    const xs = Array.from({ length: 1000 }, r);
    expect(xs).toEqual(Array.from({ length: 1000 }, mulberry32(42)));
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    expect(Math.abs(xs.reduce((a, b) => a + b, 0) / 1000 - 0.5)).toBeLessThan(0.05);
  });
});
