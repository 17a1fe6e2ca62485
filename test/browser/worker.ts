import { runCase } from './app.js';

self.onmessage = async (e: MessageEvent) => {
  self.postMessage(await runCase(e.data));
};
