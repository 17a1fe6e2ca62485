// The widest batch-sized tensor of a tfjs call: the relevance scores rows x C, or a one-row item's sparsemax top-k
// padded to a power of two on WebGPU.
import { describe, expect, it } from 'vitest';
import { batchBytes, itemBytes } from '../../src/engines/tfjs/footprint.js';

describe('footprint', () => {
  it('an item is rows x max(C, input width, d) float32, and at least one row of C rounded up to a power of two', () => {
    expect(itemBytes(16384, 512, 77, 512)).toBe(4 * 77 * 16384);
    expect(itemBytes(100, 512, 3, 768)).toBe(4 * 3 * 768);
    expect(itemBytes(10_000, 8, 1, 12)).toBe(4 * 16384); // topk of one row pads 10,000 to 16,384
    expect(itemBytes(10_000, 8, 2, 12)).toBe(4 * 20_000); // two rows of scores are wider
    expect(itemBytes(16384, 8, 1, 12)).toBe(4 * 16384);
  });

  it('a head batch is B items of the wider modality', () => {
    const c = { numTokens: 1000, dim: 64, imageDim: 576, textDim: 100 };
    expect(batchBytes(c, 32, 49, 16)).toBe(32 * 4 * 49 * 1000);
    expect(batchBytes(c, 5, 1, 1)).toBe(5 * 4 * 1024);
  });
});
