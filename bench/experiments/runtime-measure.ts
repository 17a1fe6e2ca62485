// What bench/experiments/browsers.ts measures in one runtime, the same in Node and in a browser page: the kernels'
// rows (kernel-speed.ts) and the engine's thread scaling (engine-threads.ts), as its --suites ask. No Node module.
import { measureThreadScaling, type ThreadScaling } from './engine-threads.js';
import { measureKernelSpeed, type KernelSpeed } from './kernel-speed.js';

export const SUITES = ['kernels', 'threads'] as const;
export type Suite = (typeof SUITES)[number];

export interface RuntimeResult {
  kernels?: KernelSpeed;
  scaling?: ThreadScaling;
}

export async function measureRuntime(suites: readonly Suite[]): Promise<RuntimeResult> {
  return {
    kernels: suites.includes('kernels') ? await measureKernelSpeed() : undefined,
    scaling: suites.includes('threads') ? await measureThreadScaling() : undefined,
  };
}
