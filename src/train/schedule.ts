import { FdtValueError } from '../errors.js';

/** The learning-rate schedule of the released config: linear warm-up, then cosine decay to 0. */
export interface Schedule {
  /** Peak learning rate (1e-3 in the released config). */
  lr: number;
  /** Learning rate at step 0 of the warm-up (1e-4). */
  warmupStartLr: number;
  /** Warm-up length in steps (2,500). */
  warmupSteps: number;
  /** Step at which the cosine reaches 0 (86,560). */
  totalSteps: number;
}

/**
 * lr(t) for step t (0-based): warmupStartLr + (lr - warmupStartLr) t / warmupSteps during the warm-up, then
 * lr * (1 + cos(pi (t - warmupSteps) / (totalSteps - warmupSteps))) / 2, and 0 from totalSteps on.
 */
export function learningRate(s: Schedule, t: number): number {
  if (t < s.warmupSteps) return s.warmupStartLr + ((s.lr - s.warmupStartLr) * t) / s.warmupSteps;
  if (t >= s.totalSteps) return 0;
  const span = s.totalSteps - s.warmupSteps;
  return (s.lr * (1 + Math.cos((Math.PI * (t - s.warmupSteps)) / span))) / 2;
}

/** Checks a schedule's fields. */
export function checkSchedule(s: Schedule): void {
  for (const k of ['lr', 'warmupStartLr'] as const) {
    if (!(Number.isFinite(s[k]) && s[k] >= 0)) throw new FdtValueError(`schedule.${k}: expected a finite number >= 0, found ${s[k]}`);
  }
  for (const k of ['warmupSteps', 'totalSteps'] as const) {
    if (!(Number.isSafeInteger(s[k]) && s[k] >= 0)) throw new FdtValueError(`schedule.${k}: expected an integer >= 0, found ${s[k]}`);
  }
  if (s.totalSteps < s.warmupSteps) {
    throw new FdtValueError(`schedule.totalSteps: expected >= warmupSteps (${s.warmupSteps}), found ${s.totalSteps}`);
  }
}
