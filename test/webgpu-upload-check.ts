// Run inside test/webgpu-deno.ts and test/webgpu-node.ts (a WebGPU adapter present): the tfjs engine's upload on
// WebGPU, through queue.writeBuffer instead of tfjs' buffer mapped at creation (src/engines/tfjs/upload.ts).
// hostTensor's values are read back (a whole array, a view at a byte offset, an empty one), every buffer it writes
// into must be destroyed before it returns, and the engine's encode and AdamW step must go through it (the sizes of
// the large writes) and give the same bits as with tfjs' own upload.
import { TfjsEngine } from '../src/engines/tfjs/engine.js';
import { loadTf } from '../src/engines/tfjs/load.js';
import { hostTensor, setWebGpuUpload, type WebGpuUpload } from '../src/engines/tfjs/upload.js';
import { FDT } from '../src/fdt.js';
import { isDecayed } from '../src/params.js';
import { Rng } from '../src/rng.js';

export interface UploadCheck {
  /** The backend the check ran on (expected 'webgpu'). */
  backend: string;
  /** Every value read back equals the host value: a whole array, a view at an offset, and an empty array. */
  exact: boolean;
  /** queue.writeBuffer calls for hostTensor's two uploads with the default setting (expected 2) and with 'mapped' (0). */
  writes: number;
  writesMapped: number;
  /** Every buffer hostTensor wrote into was destroyed before it returned (expected true). */
  destroyed: boolean;
  /** tfjs tensors alive after disposing what the check (engine part included) made, minus before (expected 0). */
  leakedTensors: number;
  /**
   * The engine's encode and AdamW step: the sizes in bytes of the writes of 1 KiB or more with each setting (at this
   * model only the features and the dictionary, or its gradient, are that large; `bytes` gives both), and whether
   * the two settings give the same bits (finite ones).
   */
  engine: {
    largeWrites: { encode: number[]; step: number[] };
    largeWritesMapped: { encode: number[]; step: number[] };
    bytes: { features: number; dictionary: number };
    sameEncode: boolean;
    sameAdamW: boolean;
  };
}

interface Spied {
  queue: { writeBuffer: (...a: unknown[]) => void };
  createBuffer: (...a: unknown[]) => { destroy(): void };
}

export async function checkWebGpuUpload(): Promise<UploadCheck> {
  const { tf, backend } = await loadTf({ backends: ['webgpu'] });
  const device = (tf.backend() as unknown as { device: Spied }).device;
  const { queue } = device;
  const originalWrite = queue.writeBuffer;
  const originalCreate = device.createBuffer;
  const writeSizes: number[] = [];
  // Buffers made while the spies are on, and whether each was destroyed; the buffers written into, in order.
  const made = new WeakMap<object, { destroyed: boolean }>();
  let written: object[] = [];
  queue.writeBuffer = function (this: unknown, ...a: unknown[]) {
    writeSizes.push((a[2] as ArrayBufferView).byteLength);
    written.push(a[0] as object);
    return originalWrite.apply(this, a);
  };
  device.createBuffer = function (this: unknown, ...a: unknown[]) {
    const buffer = originalCreate.apply(this, a);
    const record = { destroyed: false };
    made.set(buffer, record);
    const destroy = buffer.destroy.bind(buffer);
    buffer.destroy = () => {
      record.destroyed = true;
      destroy();
    };
    return buffer;
  };
  const withUpload = async <T>(mode: WebGpuUpload, f: () => Promise<T>): Promise<T> => {
    const previous = setWebGpuUpload(mode);
    try {
      return await f();
    } finally {
      setWebGpuUpload(previous);
    }
  };
  try {
    const before = tf.memory().numTensors;
    const whole = Float32Array.from({ length: 3 * 1000 }, (_, i) => Math.sin(i) * 1e3);
    const view = new Float32Array(whole.buffer, 7 * 4, 1001); // a view at a byte offset: writeBuffer must honour it
    let exact = true;
    let destroyed = true;
    const roundTrip = async (): Promise<void> => {
      written = [];
      const a = hostTensor(tf, whole, [3, 1000]);
      const b = hostTensor(tf, view, [7, 143]);
      const empty = hostTensor(tf, new Float32Array(0), [0, 4]);
      // Checked right after the calls: each buffer hostTensor wrote into is already destroyed.
      destroyed = written.every((buffer) => made.get(buffer)?.destroyed === true);
      const [da, db, de] = await Promise.all([a.data(), b.data(), empty.data()]);
      tf.dispose([a, b, empty]);
      exact &&= da.length === whole.length && whole.every((v, i) => da[i] === v);
      exact &&= db.length === view.length && view.every((v, i) => db[i] === v);
      exact &&= de.length === 0;
    };
    writeSizes.length = 0;
    await roundTrip();
    const writes = writeSizes.length;
    const destroyedDefault = destroyed;
    writeSizes.length = 0;
    await withUpload('mapped', roundTrip);
    const writesMapped = writeSizes.length;
    const engine = await checkEngine(withUpload, writeSizes);
    const leakedTensors = tf.memory().numTensors - before;
    return { backend, exact, writes, writesMapped, destroyed: destroyedDefault, leakedTensors, engine };
  } finally {
    queue.writeBuffer = originalWrite;
    device.createBuffer = originalCreate;
  }
}

/**
 * The engine on two identical models, one per upload setting: an image encode, then one AdamW step with the same
 * gradients. tfjs writes its uniforms through queue.writeBuffer too, but none reaches 1 KiB at these shapes.
 */
async function checkEngine(
  withUpload: <T>(mode: WebGpuUpload, f: () => Promise<T>) => Promise<T>, writeSizes: number[],
): Promise<UploadCheck['engine']> {
  const engine = await TfjsEngine.create({ backends: ['webgpu'] });
  const a = await FDT.create({ numTokens: 64, dim: 8, imageDim: 12, textDim: 10, seed: 3 });
  const b = await FDT.fromParams(a.config, a.stateDict());
  const rng = new Rng(4);
  const [B, N, L] = [3, 40, 6];
  const patches = Float32Array.from({ length: B * N * 12 }, () => rng.normal());
  const batch = {
    B, N, L, patches,
    tokens: Float32Array.from({ length: B * L * 10 }, () => rng.normal()),
    valid: Int32Array.from({ length: B * L }, (_, i) => (i % L < 4 ? 1 : 0)),
  };
  const large = () => writeSizes.filter((s) => s >= 1024);
  writeSizes.length = 0;
  const encA = await engine.encode(a, 'image', patches, B, N, null);
  const largeA = large();
  writeSizes.length = 0;
  const encB = await withUpload('mapped', () => engine.encode(b, 'image', patches, B, N, null));
  const largeB = large();
  const same = (x: ArrayLike<number>, y: ArrayLike<number>) => x.length === y.length && Array.from(x).every((v, i) => Object.is(v, y[i]));
  const sameEncode = encA.embeddings.every(Number.isFinite) && encA.relevance.every(Number.isFinite)
    && same(encA.embeddings, encB.embeddings) && same(encA.weights, encB.weights) && same(encA.relevance, encB.relevance);
  const grads = (await engine.forwardBackward(a, batch, { grads: true, inputGrads: false })).grads!.params;
  const h = { lr: 1e-2, beta1: 0.9, beta2: 0.98, eps: 1e-8, weightDecay: 0.1 };
  writeSizes.length = 0;
  await engine.adamwStep(a, grads, 1, h, isDecayed);
  const largeStepA = large();
  writeSizes.length = 0;
  await withUpload('mapped', () => engine.adamwStep(b, grads, 1, h, isDecayed));
  const largeStepB = large();
  const sameAdamW = Object.keys(grads).every((n) => a.params[n]!.every(Number.isFinite) && same(a.params[n]!, b.params[n]!));
  engine.release(a);
  engine.release(b);
  return {
    largeWrites: { encode: largeA, step: largeStepA },
    largeWritesMapped: { encode: largeB, step: largeStepB },
    bytes: { features: patches.byteLength, dictionary: a.params['space_dict']!.byteLength },
    sameEncode,
    sameAdamW,
  };
}
