/**
 * The widest tensor of a tfjs engine call that grows with its batch, which must fit in one buffer of its backend.
 * (Tensors the size of the dictionary, [C, d], its gradient and AdamW moments among them, do not grow with the
 * batch; the dictionary's upload is checked against the device's limit in upload.ts, and the others are its size.)
 *
 * tfjs has no fused max-GEMM, so the relevance scores S = q T^T of a modality are materialised as [B, L, C] float32
 * (and, in the backward, the gradient G of the same shape); every other per-item tensor is narrower (the features
 * [L, Din], the queries [L, d]). On WebGPU one buffer may hold at most the device's maxStorageBufferBindingSize
 * (128 MiB by default, on llvmpipe and on many mobile GPUs), and a tensor over it is not refused to the caller: the
 * shader's binding fails on the device, and the results come back wrong. On Deno's llvmpipe, text encodes at
 * C = 16,384, L = 77 matched the wasm engine at B = 26 (125 MiB of scores) and were all wrong from B = 27 (130 MiB).
 * Pure arithmetic, no tfjs: the dispatcher and the FDT class use it too.
 */

/**
 * Bytes of the widest per-item tensor of one modality: rows x max(C, input width, d) float32 values, and at least
 * one row of C rounded up to a power of two (sparsemax's tf.topk, which tfjs-backend-webgpu pads so; it matters only
 * for one-row items: for two rows or more, 2 C is already more).
 */
export function itemBytes(numTokens: number, dim: number, rows: number, inputDim: number): number {
  return 4 * Math.max(rows * Math.max(numTokens, inputDim, dim), 2 ** Math.ceil(Math.log2(numTokens)));
}

/** Bytes of the largest tensor of a head batch (both modalities): B items of the wider modality. */
export function batchBytes(
  c: { numTokens: number; dim: number; imageDim: number; textDim: number }, B: number, N: number, L: number,
): number {
  return B * Math.max(itemBytes(c.numTokens, c.dim, N, c.imageDim), itemBytes(c.numTokens, c.dim, L, c.textDim));
}
