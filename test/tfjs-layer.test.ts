// The FDT head inside a tfjs model: gradients of the loss flow into a trainable tfjs encoder upstream, and agree
// with the input gradients the wasm engine returns (chain rule through a Dense layer).
import { describe, expect, it } from 'vitest';
import { FDT, FdtShapeError } from '../src/index.js';
import { expectClose } from './helpers/close.js';
import { Rng } from './reference/rng.js';

describe('FDT head as a tfjs layer', () => {
  it('tf.variableGrads trains an upstream encoder; its gradient equals X^T dL/dpatches from the wasm engine', async () => {
    const [B, N, L, Din, Di, Dt] = [3, 4, 5, 7, 6, 4];
    // A user training tfjs encoders has the full @tensorflow/tfjs (with the gradients of every op) and passes it in.
    const tfjs = await import('@tensorflow/tfjs');
    await tfjs.setBackend('cpu');
    const model = await FDT.create({ numTokens: 40, dim: 8, imageDim: Di, textDim: Dt, temperature: 0.5, seed: 3, tf: tfjs as never });
    const layer = await model.asTfjsLayer();
    const tf = layer.tf;
    const rng = new Rng(9);
    const X = Float32Array.from(rng.normals(B * N * Din));
    const W0 = Float32Array.from(rng.normals(Din * Di, 0.5));
    const tokens = Float32Array.from(rng.normals(B * L * Dt));
    const valid = Float32Array.from({ length: B * L }, (_, i) => (i % L < 3 ? 1 : 0));
    const W = tf.variable(tf.tensor2d(W0, [Din, Di]), true, 'encoder_w');
    const lossOf = () => {
      const x = tf.tensor2d(X, [B * N, Din]);
      const patches = tf.reshape(tf.matMul(x, W), [B, N, Di]);
      return layer.loss(patches, tf.tensor3d(tokens, [B, L, Dt]), tf.tensor2d(valid, [B, L])) as ReturnType<typeof tf.scalar>;
    };
    tf.tidy(() => void lossOf()); // the first call makes the head's parameters resident
    const before = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(lossOf);
    const gW = await grads['encoder_w']!.data();
    const loss = (await value.data())[0]!;
    tf.dispose([value, ...Object.values(grads)]);
    expect(tf.memory().numTensors).toBe(before);
    // The same through the wasm engine: patches = X W, dL/dW = X^T dL/dpatches.
    const patches = new Float32Array(B * N * Di);
    for (let r = 0; r < B * N; r++) for (let j = 0; j < Di; j++) for (let k = 0; k < Din; k++) patches[r * Di + j]! += X[r * Din + k]! * W0[k * Di + j]!;
    const ref = await model.gradients({ patches: { data: patches, shape: [B, N, Di] }, tokens: { data: tokens, shape: [B, L, Dt] }, valid: { data: valid, shape: [B, L] } }, { engine: 'wasm' });
    expect(Math.abs(loss - ref.loss)).toBeLessThan(1e-4);
    const expected = new Float64Array(Din * Di);
    for (let r = 0; r < B * N; r++) for (let k = 0; k < Din; k++) for (let j = 0; j < Di; j++) expected[k * Di + j]! += X[r * Din + k]! * ref.grads.patches[r * Di + j]!;
    expectClose('dL/dW of the upstream encoder', gW, expected);
    W.dispose();
    // Inputs that are not tensors of the right rank are refused by name (a missing mask was a TypeError inside tfjs).
    const p3 = tf.zeros([B, N, Di]);
    const t3 = tf.zeros([B, L, Dt]);
    expect(() => layer.loss(p3, t3, undefined)).toThrow(new FdtShapeError('tfjs layer: valid: expected a tensor of rank 2, found undefined'));
    expect(() => layer.loss(p3, tf.zeros([B, L]), tf.ones([B, L]))).toThrow(new FdtShapeError('tfjs layer: tokens: expected a tensor of rank 3, found rank 2 [3,5]'));
    expect(() => layer.loss([1, 2], t3, tf.ones([B, L]))).toThrow(/tfjs layer: patches: expected a tensor of rank 3, found object/);
    expect(() => layer.loss(p3, t3, tf.ones([B, L + 1]))).toThrow(/tfjs layer: expected patches \[B, N, 6\], tokens \[B, L, 4\], valid \[B, L\]/);
    tf.dispose([p3, t3]);
  });
});
