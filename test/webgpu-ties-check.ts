// Run inside test/webgpu-deno.ts, test/webgpu-node.ts and the browser test's pages (a WebGPU adapter present): the relevance arg-max on ties.
// tfjs-backend-webgpu reduces 32 or more slots in a tree whose ties do not keep the lower index, so the engine takes
// the first slot that reaches the max from order-independent ops. Images with repeated patches (a plain background)
// give exactly tied queries: here every patch of an item is one of two rows, over P = 77 patches, and the traced
// arg-max and the patches' gradients must be the wasm engine's.
import { FDT } from '../src/fdt.js';
import type { TfNamespace } from '../src/engines/tfjs/load.js';
import { Rng } from '../src/rng.js';

export interface TiesCheck {
  /** Items x patches of the check. */
  shape: [number, number];
  /** (b, token) pairs whose max is reached by more than one patch (the check means nothing if 0). */
  tiedPairs: number;
  /** The traced arg-max equals the wasm engine's at every (b, token). */
  sameArgmax: boolean;
  /** Largest |difference| of the patch gradients, relative to their largest value (1e-4 allowed). */
  patchGradError: number;
}

/** `tf`: the namespace to run on (a browser bundle passes its own); by default the engine imports tfjs itself. */
export async function checkWebGpuTies(backends = ['webgpu'], tf?: TfNamespace): Promise<TiesCheck> {
  const [B, P, Di] = [2, 77, 12];
  const rng = new Rng(3);
  const rows = [Float32Array.from({ length: Di }, () => rng.normal()), Float32Array.from({ length: Di }, () => rng.normal())];
  const patches = new Float32Array(B * P * Di);
  for (let b = 0; b < B; b++) for (let p = 0; p < P; p++) patches.set(rows[(p * 7 + b) % 3 === 0 ? 1 : 0]!, (b * P + p) * Di);
  const tokens = Float32Array.from({ length: B * 4 * 10 }, () => rng.normal());
  const batch = { patches: { data: patches, shape: [B, P, Di] }, tokens: { data: tokens, shape: [B, 4, 10] } };
  const model = await FDT.create({ numTokens: 64, dim: 8, imageDim: Di, textDim: 10, temperature: 1, seed: 5, backends, ...(tf ? { tf } : {}) });
  const wasm = await model.trace(batch, { engine: 'wasm' });
  const gpu = await model.trace(batch, { engine: 'tfjs' });
  let tiedPairs = 0;
  const q = wasm.image.queries!;
  const C = model.config.numTokens;
  for (let b = 0; b < B; b++) {
    for (let c = 0; c < C; c++) {
      const a = wasm.image.argmax![b * C + c]!;
      // Another patch with the winner's query row ties with it.
      for (let p = 0; p < P; p++) {
        if (p !== a && q.subarray((b * P + p) * 8, (b * P + p + 1) * 8).every((v, k) => v === q[(b * P + a) * 8 + k])) {
          tiedPairs++;
          break;
        }
      }
    }
  }
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < wasm.grads.patches.length; i++) {
    scale = Math.max(scale, Math.abs(wasm.grads.patches[i]!));
    worst = Math.max(worst, Math.abs(wasm.grads.patches[i]! - gpu.grads.patches[i]!));
  }
  model.dispose();
  return {
    shape: [B, P],
    tiedPairs,
    sameArgmax: wasm.image.argmax!.every((v, i) => v === gpu.image.argmax![i]),
    patchGradError: worst / Math.max(scale, 1e-30),
  };
}
