import { expect } from 'vitest';

/**
 * The float32 engines' tolerance: |actual - expected| <= rtol * max(1, max |expected|), rtol = 1e-4 by default. A NaN
 * on one side only fails whatever the tolerance.
 */
export function expectClose(name: string, actual: ArrayLike<number>, expected: ArrayLike<number>, rtol = 1e-4): void {
  expect(actual.length, `${name}: length`).toBe(expected.length);
  let scale = 1;
  for (let i = 0; i < expected.length; i++) if (Number.isFinite(expected[i]!)) scale = Math.max(scale, Math.abs(expected[i]!));
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    // Equal values (the same infinity, or NaN on both sides) are no error; a NaN on one side is an infinite one (kept
    // as NaN, it would lose every later comparison with a finite error).
    const a = actual[i]!;
    const e = expected[i]!;
    const diff = Object.is(a, e) || a === e ? 0 : Math.abs(a - e);
    const err = Number.isNaN(diff) ? Infinity : diff;
    if (err > worst) {
      worst = err;
      at = i;
    }
  }
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
