/**
 * Host arrays into tfjs tensors, and on WebGPU the way they get to the GPU.
 *
 * tfjs-backend-webgpu 4.22 uploads a tensor made from host values (`tf.tensor(values)`) by creating a GPU buffer
 * mapped at creation, filling the mapped range and unmapping it. Through Dawn that costs little (8.9 ms for the
 * 18 MiB of a B = 128 image batch on an NVIDIA H200), but under Deno's WebGPU (wgpu) the same upload took 809 ms,
 * most of the tfjs engine's 929 ms encode (bench/results/2026-11-27-h200-webgpu-ops.txt). So on WebGPU the values go
 * through `queue.writeBuffer` into a buffer of ours, which tfjs copies on the GPU into a buffer of its own pool
 * (`tf.tensor({ buffer })`, createTensorFromGPUData); ours is then destroyed. Other backends take `tf.tensor`.
 */
import type { Tensor } from '@tensorflow/tfjs-core';
import { FdtEngineError, FdtShapeError } from '../../errors.js';
import { bufferLimit } from './device.js';
import type { TfNamespace } from './load.js';

/** How float32 host values reach a WebGPU backend: our queue.writeBuffer, or tfjs' buffer mapped at creation. */
export type WebGpuUpload = 'write-buffer' | 'mapped';

let webGpuUpload: WebGpuUpload = 'write-buffer';

/**
 * Sets how host values reach a WebGPU backend (for A/B measurements: bench/experiments/webgpu-ops.ts) and returns
 * the previous setting. Not part of the public API.
 */
export function setWebGpuUpload(mode: WebGpuUpload): WebGpuUpload {
  const previous = webGpuUpload;
  webGpuUpload = mode;
  return previous;
}

interface GpuBufferLike {
  destroy(): void;
}

interface GpuDeviceLike {
  createBuffer(descriptor: { size: number; usage: number }): GpuBufferLike;
  queue: { writeBuffer(buffer: GpuBufferLike, offset: number, data: Float32Array): void };
}

// GPUBufferUsage flags, fixed by the WebGPU specification (the same numbers in every implementation).
const COPY_SRC = 0x04;
const COPY_DST = 0x08;
const STORAGE = 0x80;

/**
 * The GPUDevice of tfjs' active backend when that is WebGPU, it exposes its device, and it makes tensors from GPU
 * buffers (createTensorFromGPUData, tfjs-backend-webgpu 4.x); otherwise null, and tf.tensor uploads as before (an
 * application's own older tfjs, say).
 */
function webGpuDevice(tf: TfNamespace): GpuDeviceLike | null {
  if (webGpuUpload !== 'write-buffer' || tf.getBackend() !== 'webgpu') return null;
  const backend = tf.backend() as unknown as { device?: Partial<GpuDeviceLike>; createTensorFromGPUData?: unknown };
  const device = backend.device;
  return typeof backend.createTensorFromGPUData === 'function' && device && typeof device.createBuffer === 'function'
    && typeof device.queue?.writeBuffer === 'function'
    ? (device as GpuDeviceLike)
    : null;
}

/**
 * A float32 tensor of `shape` holding `values` (length = product of shape), on tfjs' active backend.
 *
 * On WebGPU: a buffer of values.byteLength bytes (STORAGE | COPY_SRC | COPY_DST) filled by queue.writeBuffer, copied
 * by tfjs into its own buffer, then destroyed. That is safe because tfjs-backend-webgpu 4.22 submits the copy before
 * `tf.tensor` returns (createTensorFromGPUData -> copyBuffer -> submitQueue), and WebGPU keeps a destroyed buffer
 * alive until submitted work that uses it completes. Elsewhere: `tf.tensor(values)`, which on the CPU backends may
 * keep a reference to `values`; pass `ownCopy` when the tensor must not alias the caller's array (it is then copied
 * on the host first).
 *
 * @throws FdtShapeError when values.length is not the product of shape (checked here: on WebGPU tfjs only refuses a
 *   buffer that is too small).
 * @throws FdtEngineError on the writeBuffer path (WebGPU) when values.byteLength is over the device's maxBufferSize
 *   or maxStorageBufferBindingSize: WebGPU reports such a buffer as a validation error on the device, not to the
 *   caller, and every result computed from it would be wrong without a word. (The engine keeps its batch-sized
 *   inputs under that limit; what can reach it is a parameter as large as the dictionary.)
 */
export function hostTensor(tf: TfNamespace, values: Float32Array, shape: number[], ownCopy = false): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  if (values.length !== n) throw new FdtShapeError(`hostTensor: values: expected ${n} values for shape [${shape}], found ${values.length}`);
  const device = values.length > 0 ? webGpuDevice(tf) : null;
  if (!device) return tf.tensor(ownCopy ? values.slice() : values, shape, 'float32');
  const limit = bufferLimit(tf, 'webgpu');
  if (values.byteLength > limit) {
    throw new FdtEngineError(`tfjs engine on WebGPU: a tensor of [${shape}] float32 (${values.byteLength} bytes) is over this device's largest buffer (${limit} bytes); use the wasm engine for this model`);
  }
  const buffer = device.createBuffer({ size: values.byteLength, usage: STORAGE | COPY_SRC | COPY_DST });
  try {
    device.queue.writeBuffer(buffer, 0, values);
    return tf.tensor({ buffer: buffer as never, zeroCopy: false }, shape, 'float32');
  } finally {
    buffer.destroy();
  }
}
