import { describe, expect, it } from 'vitest';
import { PerNamespace } from '../../src/engines/per-namespace.js';

describe('PerNamespace', () => {
  it('makes one value per namespace and one for none given, each on first use only; refuses what is not an object', () => {
    const per = new PerNamespace<{ n: number }>();
    let made = 0;
    const make = () => ({ n: ++made });
    const [a, b] = [{}, () => {}];
    const none = per.get(undefined, make);
    expect(() => per.get(null, make)).toThrow(/tf: expected a namespace object, found null/);
    expect(() => per.get('tf', make)).toThrow(/found string/);
    const forA = per.get(a, make);
    const forB = per.get(b, make);
    expect(new Set([none, forA, forB]).size).toBe(3);
    expect(per.get(a, make)).toBe(forA);
    expect(per.get(b, make)).toBe(forB);
    expect(per.get(undefined, make)).toBe(none);
    expect(made).toBe(3);
  });
});
