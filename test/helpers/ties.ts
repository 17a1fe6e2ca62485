// The expectations on test/webgpu-ties-check.ts's report, shared by the WebGPU tests and the browser test.
import { expect } from 'vitest';
import type { TiesCheck } from '../webgpu-ties-check.js';

/** Tied slots over P = 77 give the wasm engine's (first) arg-max and patch gradients. */
export function expectFirstSlotOnTies(ties: TiesCheck, where = ''): void {
  expect(ties.tiedPairs, `${where} tied (item, token) pairs in the check`).toBeGreaterThan(50);
  expect(ties.sameArgmax, `${where} arg-max on ties`).toBe(true);
  expect(ties.patchGradError, `${where} patch gradients on ties`).toBeLessThanOrEqual(1e-4);
}
