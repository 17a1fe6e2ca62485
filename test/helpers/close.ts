import { expect } from 'vitest';
import { maxError } from '../../src/verify/golden.js';

/**
 * The float32 engines' tolerance: |actual - expected| <= rtol * max(1, max |expected|), rtol = 1e-4 by default, by
 * maxError's rule (src/verify/golden.ts, as `fdt verify`): a NaN on one side only fails whatever the tolerance.
 */
export function expectClose(name: string, actual: ArrayLike<number>, expected: ArrayLike<number>, rtol = 1e-4): void {
  expect(actual.length, `${name}: length`).toBe(expected.length);
  const { maxAbs: worst, at, scale } = maxError(actual, expected);
  const allowed = rtol * scale;
  expect(
    worst <= allowed,
    `${name}: max abs error ${worst} at ${at} (actual ${actual[at]}, expected ${expected[at]}) > allowed ${allowed}`,
  ).toBe(true);
}

/** Exact (bitwise for finite values) equality of two float arrays. */
export function expectIdentical(name: string, a: ArrayLike<number>, b: ArrayLike<number>): void {
  expect(a.length, `${name}: length`).toBe(b.length);
  for (let i = 0; i < a.length; i++) {
    if (!Object.is(a[i], b[i])) expect.fail(`${name}: differs at ${i}: ${a[i]} vs ${b[i]}`);
  }
}

/** The two wasm builds every kernel test runs on. */
export const BUILDS = ['simd', 'scalar'] as const;
