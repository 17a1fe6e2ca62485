/**
 * The code every pool worker runs, as a string: workers are created from it (Node: `eval`, elsewhere a Blob URL),
 * so no worker script is resolved from a path at run time. A worker instantiates the shared-memory kernel module
 * on the memory it is sent and runs the init message's setup calls on it ({init: {module, memory, setup}}), then
 * runs batches of kernel calls: {id, calls: [[name, args], ...]} -> {id} or {id, error}. Kernels touch only the
 * memory ranges the caller assigned to this worker. A request may also carry {claim: {counter, units, grain, name,
 * args}}: the worker then claims ranges [u0, u0 + grain) of [0, units) from the int32 counter at byte offset
 * `counter` (Atomics.add, as every other thread of the call does) and runs name(...args, u0, the range's end),
 * until none is left (claimLoop in pool.ts).
 */
export const WORKER_SOURCE = `
let kernels = null;
let memory = null;
function handle(msg, reply) {
  if (msg.init) {
    memory = msg.init.memory;
    WebAssembly.instantiate(msg.init.module, { env: { memory: msg.init.memory } }).then(
      (instance) => {
        kernels = instance.exports;
        try {
          for (const [name, args] of msg.init.setup || []) kernels[name](...args);
          reply({ id: msg.id });
        } catch (e) {
          reply({ id: msg.id, error: 'worker setup failed: ' + (e && e.message || e) });
        }
      },
      (e) => reply({ id: msg.id, error: 'worker init failed: ' + (e && e.message || e) }),
    );
    return;
  }
  try {
    if (msg.fail) throw new Error(msg.fail);
    if (msg.crash) { setTimeout(() => { throw new Error(msg.crash); }); return; }
    for (const [name, args] of msg.calls) kernels[name](...args);
    if (msg.claim) {
      const { counter, units, grain, name, args } = msg.claim;
      const cell = new Int32Array(memory.buffer, counter, 1);
      for (let u0 = Atomics.add(cell, 0, grain); u0 < units; u0 = Atomics.add(cell, 0, grain)) {
        kernels[name](...args, u0, Math.min(units, u0 + grain));
      }
    }
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
