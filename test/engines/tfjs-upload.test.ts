// hostTensor's WebGPU path against a stand-in backend (the order of the GPU calls, the buffer's usage and size, the
// destroy after tfjs' copy, the limits, the fallbacks); test/webgpu.test.ts runs it on real WebGPU adapters.
import { describe, expect, it } from 'vitest';
import { bufferLimit } from '../../src/engines/tfjs/device.js';
import type { TfNamespace } from '../../src/engines/tfjs/load.js';
import { hostTensor, setWebGpuUpload } from '../../src/engines/tfjs/upload.js';
import { FdtEngineError, FdtShapeError } from '../../src/errors.js';

/** A tf namespace whose active backend is a WebGPU stand-in that logs every call hostTensor makes. */
function standIn(opts: { backend?: string; limits?: Record<string, number>; fromGpuData?: boolean; tensorThrows?: boolean } = {}) {
  const log: string[] = [];
  const device = {
    limits: opts.limits,
    createBuffer: (d: { size: number; usage: number }) => {
      log.push(`createBuffer size=${d.size} usage=0x${d.usage.toString(16)}`);
      return { destroy: () => log.push('destroy') };
    },
    queue: {
      writeBuffer: (_b: unknown, offset: number, data: Float32Array) => log.push(`writeBuffer offset=${offset} bytes=${data.byteLength}`),
    },
  };
  const backend: Record<string, unknown> = { device };
  if (opts.fromGpuData !== false) backend['createTensorFromGPUData'] = () => undefined;
  const tf = {
    getBackend: () => opts.backend ?? 'webgpu',
    backend: () => backend,
    tensor: (values: unknown, shape: number[]) => {
      const gpu = typeof values === 'object' && values !== null && 'buffer' in values && !ArrayBuffer.isView(values);
      log.push(gpu ? `tensor from GPU data zeroCopy=${(values as unknown as { zeroCopy: boolean }).zeroCopy} [${shape}]` : `tensor from host values [${shape}]`);
      if (opts.tensorThrows) throw new Error('out of memory');
      return { shape, values };
    },
  } as unknown as TfNamespace;
  return { tf, log };
}

describe('hostTensor on WebGPU (stand-in backend)', () => {
  it('writes into a buffer of its own, lets tfjs copy it, then destroys it', () => {
    const { tf, log } = standIn();
    const t = hostTensor(tf, new Float32Array(6), [2, 3]) as unknown as { shape: number[] };
    expect(t.shape).toEqual([2, 3]);
    // STORAGE | COPY_SRC | COPY_DST = 0x80 | 0x04 | 0x08; the destroy comes after tfjs' copy was made.
    expect(log).toEqual(['createBuffer size=24 usage=0x8c', 'writeBuffer offset=0 bytes=24', 'tensor from GPU data zeroCopy=false [2,3]', 'destroy']);
  });

  it('destroys its buffer when tfjs fails to make the tensor', () => {
    const { tf, log } = standIn({ tensorThrows: true });
    expect(() => hostTensor(tf, new Float32Array(4), [4])).toThrow('out of memory');
    expect(log.at(-1)).toBe('destroy');
  });

  it('refuses an input over the device largest buffer, naming both sizes', () => {
    const { tf, log } = standIn({ limits: { maxBufferSize: 1 << 20, maxStorageBufferBindingSize: 64 } });
    expect(() => hostTensor(tf, new Float32Array(17), [17])).toThrow(FdtEngineError);
    expect(() => hostTensor(tf, new Float32Array(17), [17])).toThrow(/a tensor of \[17\] float32 \(68 bytes\) is over this device's largest buffer \(64 bytes\); use the wasm engine/);
    expect(log).toEqual([]);
    hostTensor(tf, new Float32Array(16), [16]);
    expect(log[0]).toBe('createBuffer size=64 usage=0x8c');
    const bufferBound = standIn({ limits: { maxBufferSize: 32, maxStorageBufferBindingSize: 1 << 20 } });
    expect(() => hostTensor(bufferBound.tf, new Float32Array(9), [9])).toThrow(/\(36 bytes\) is over this device's largest buffer \(32 bytes\)/);
  });

  it('bufferLimit: the smaller of the two WebGPU limits; unbounded on other backends or without limits', () => {
    expect(bufferLimit(standIn({ limits: { maxBufferSize: 1000, maxStorageBufferBindingSize: 600 } }).tf, 'webgpu')).toBe(600);
    expect(bufferLimit(standIn({ limits: { maxBufferSize: 500, maxStorageBufferBindingSize: 600 } }).tf, 'webgpu')).toBe(500);
    expect(bufferLimit(standIn({ limits: { maxBufferSize: 500 } }).tf, 'webgl')).toBe(Infinity);
    expect(bufferLimit(standIn().tf, 'webgpu')).toBe(Infinity);
    const throwing = { backend: () => { throw new Error('no backend'); } } as unknown as TfNamespace;
    expect(bufferLimit(throwing, 'webgpu')).toBe(Infinity);
  });

  it('refuses a length that is not the shape product before touching the GPU', () => {
    const { tf, log } = standIn();
    expect(() => hostTensor(tf, new Float32Array(5), [2, 3])).toThrow(FdtShapeError);
    expect(log).toEqual([]);
  });

  it('takes tf.tensor for an empty array, another backend, a backend without GPU-data tensors, and the mapped setting', () => {
    for (const [label, opts] of [['other backend', { backend: 'webgl' }], ['no createTensorFromGPUData', { fromGpuData: false }]] as const) {
      const { tf, log } = standIn(opts);
      hostTensor(tf, new Float32Array(3), [3]);
      expect(log, label).toEqual(['tensor from host values [3]']);
    }
    const empty = standIn();
    hostTensor(empty.tf, new Float32Array(0), [0, 3]);
    expect(empty.log).toEqual(['tensor from host values [0,3]']);
    const mapped = standIn();
    const previous = setWebGpuUpload('mapped');
    try {
      hostTensor(mapped.tf, new Float32Array(2), [2]);
    } finally {
      setWebGpuUpload(previous);
    }
    expect(mapped.log).toEqual(['tensor from host values [2]']);
  });
});
