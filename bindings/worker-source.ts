/**
 * The code every pool worker runs, as a string: workers are created from it (Node: `eval`, elsewhere a Blob URL),
 * so no worker script is resolved from a path at run time. A worker instantiates the shared-memory kernel module
 * on the memory it is sent, then runs batches of kernel calls: {id, calls: [[name, args], ...]} -> {id} or
 * {id, error}. Kernels touch only the memory ranges the caller assigned to this worker.
 */
export const WORKER_SOURCE = `
let kernels = null;
function handle(msg, reply) {
  if (msg.init) {
    WebAssembly.instantiate(msg.init.module, { env: { memory: msg.init.memory } }).then(
      (instance) => { kernels = instance.exports; reply({ id: msg.id }); },
      (e) => reply({ id: msg.id, error: 'worker init failed: ' + (e && e.message || e) }),
    );
    return;
  }
  try {
    if (msg.fail) throw new Error(msg.fail);
    if (msg.crash) { setTimeout(() => { throw new Error(msg.crash); }); return; }
    for (const [name, args] of msg.calls) kernels[name](...args);
    reply({ id: msg.id });
  } catch (e) {
    reply({ id: msg.id, error: String(e && e.message || e) });
  }
}
if (typeof self !== 'undefined' && typeof self.postMessage === 'function' && typeof require === 'undefined') {
  self.onmessage = (e) => handle(e.data, (m) => self.postMessage(m));
} else {
  const { parentPort } = require('node:worker_threads');
  parentPort.on('message', (m) => handle(m, (r) => parentPort.postMessage(r)));
}
`;
