/** The JavaScript runtime this code runs in, read off its globals (no import of any runtime module). */
export type RuntimeName = 'node' | 'deno' | 'bun' | 'browser' | 'worker' | 'unknown';

export function detectRuntime(): RuntimeName {
  const g = globalThis as Record<string, unknown>;
  if (typeof g['Deno'] === 'object') return 'deno';
  if (typeof g['Bun'] === 'object') return 'bun';
  const proc = g['process'] as { versions?: { node?: string } } | undefined;
  if (proc?.versions?.node) return 'node';
  if (typeof g['window'] === 'object' && typeof g['document'] === 'object') return 'browser';
  if (typeof g['importScripts'] === 'function' || (typeof g['self'] === 'object' && typeof g['postMessage'] === 'function')) return 'worker';
  return 'unknown';
}
