import { runCase } from './app.js';

// The worker's own errors and console.error calls go back with its result: the page's collector does not see them.
const errors: string[] = [];
self.addEventListener('error', (e) => void errors.push(`worker: ${e.message}`));
self.addEventListener('unhandledrejection', (e) => void errors.push(`worker: unhandled rejection: ${String((e.reason as Error)?.message ?? e.reason)}`));
const consoleError = console.error;
console.error = (...a: unknown[]) => {
  errors.push(`worker: console.error: ${a.map(String).join(' ')}`);
  consoleError.apply(console, a);
};

self.onmessage = async (e: MessageEvent) => {
  try {
    self.postMessage({ ...(await runCase(e.data)), errors });
  } catch (err) {
    self.postMessage({ errors: [...errors, `worker: ${(err as Error).stack ?? String(err)}`] });
  }
};
