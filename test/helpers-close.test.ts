// The comparison helpers every oracle test goes through must fail where they should: a NaN anywhere, an infinity
// against a finite value, an error just over the tolerance, a length mismatch.
import { describe, expect, it } from 'vitest';
import { expectClose, expectIdentical } from './helpers/close.js';

const fails = (f: () => void) => expect(f).toThrow();

describe('expectClose', () => {
  it('fails on a NaN at any position, on either side, whatever follows it', () => {
    fails(() => expectClose('x', [NaN, 0, 0], [0, 0, 0]));
    fails(() => expectClose('x', [0, NaN, 1], [0, 0, 1]));
    fails(() => expectClose('x', [0, 0, 0], [0, NaN, 0]));
    fails(() => expectClose('x', [0, NaN, 0], [0, 0, 0], 1e30));
  });

  it('fails on an infinity against a finite value or the other infinity; passes the same infinity and NaN against NaN', () => {
    fails(() => expectClose('x', [Infinity, 1], [5, 1]));
    fails(() => expectClose('x', [1, 2], [Infinity, 2]));
    fails(() => expectClose('x', [-Infinity], [Infinity]));
    expectClose('x', [-Infinity, 1, NaN], [-Infinity, 1, NaN]);
  });

  it('allows rtol * max(1, max |expected|) and not a hair more; checks the length', () => {
    expectClose('x', [1.0001, 0], [1, 0]);
    fails(() => expectClose('x', [1.00011, 0], [1, 0]));
    expectClose('x', [100.009], [100]);
    fails(() => expectClose('x', [100.011], [100]));
    fails(() => expectClose('x', [1, 2], [1, 2, 3]));
  });
});

describe('expectIdentical', () => {
  it('compares bits of finite values (0 and -0 differ), NaN equals NaN, lengths must match', () => {
    expectIdentical('x', [1, NaN, -0], [1, NaN, -0]);
    fails(() => expectIdentical('x', [0], [-0]));
    fails(() => expectIdentical('x', [1, 2], [1, 2.0000001]));
    fails(() => expectIdentical('x', [], [1]));
  });
});
