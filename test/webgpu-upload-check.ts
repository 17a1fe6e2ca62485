// Run inside test/webgpu-deno.ts and test/webgpu-node.ts (a WebGPU adapter present): hostTensor on tfjs' WebGPU
// backend, which uploads through queue.writeBuffer instead of tfjs' buffer mapped at creation
// (src/engines/tfjs/upload.ts). Reads each tensor back and counts the writeBuffer calls, with each setting.
import { loadTf } from '../src/engines/tfjs/load.js';
import { hostTensor, setWebGpuUpload } from '../src/engines/tfjs/upload.js';

export interface UploadCheck {
  /** The backend the check ran on (expected 'webgpu'). */
  backend: string;
  /** Every value read back equals the host value, for a whole array and for a view at an offset. */
  exact: boolean;
  /** queue.writeBuffer calls for the two uploads with the default setting (expected 2) and with 'mapped' (0). */
  writes: number;
  writesMapped: number;
  /** tfjs tensors alive after disposing what the check made, minus before (expected 0). */
  leakedTensors: number;
}

export async function checkWebGpuUpload(): Promise<UploadCheck> {
  const { tf, backend } = await loadTf({ backends: ['webgpu'] });
  const device = (tf.backend() as unknown as { device: { queue: { writeBuffer: (...a: unknown[]) => void } } }).device;
  const queue = device.queue;
  const original = queue.writeBuffer;
  let writes = 0;
  queue.writeBuffer = function (this: unknown, ...a: unknown[]) {
    writes++;
    return original.apply(this, a);
  };
  const before = tf.memory().numTensors;
  const whole = Float32Array.from({ length: 3 * 1000 }, (_, i) => Math.sin(i) * 1e3);
  const view = new Float32Array(whole.buffer, 7 * 4, 1001); // a view at a byte offset: writeBuffer must honour it
  let exact = true;
  const roundTrip = async (): Promise<void> => {
    const a = hostTensor(tf, whole, [3, 1000]);
    const b = hostTensor(tf, view, [7, 143]);
    const [da, db] = await Promise.all([a.data(), b.data()]);
    tf.dispose([a, b]);
    exact &&= da.length === whole.length && whole.every((v, i) => da[i] === v);
    exact &&= db.length === view.length && view.every((v, i) => db[i] === v);
  };
  try {
    await roundTrip();
    const writesDefault = writes;
    writes = 0;
    const previous = setWebGpuUpload('mapped');
    try {
      await roundTrip();
    } finally {
      setWebGpuUpload(previous);
    }
    return { backend, exact, writes: writesDefault, writesMapped: writes, leakedTensors: tf.memory().numTensors - before };
  } finally {
    queue.writeBuffer = original;
  }
}
