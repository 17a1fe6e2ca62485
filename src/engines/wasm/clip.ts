import type { ParamState } from '../types.js';
import type { WasmEngine } from './engine.js';
import { linearBackward } from './head.js';
import { Scope } from './scope.js';

/** Result of the CLIP-style baseline's forward (and backward) on the wasm kernels. */
export interface ClipPassOutput {
  imageEmbeddings: Float32Array;
  textEmbeddings: Float32Array;
  logitsPerImage: Float32Array;
  loss: number;
  logitScaleUsed: number;
  grads?: Record<string, Float32Array>;
}

/**
 * The baseline head on pooled features: e = pooled W^T + b, e_hat = e / (||e|| + 1e-10), symmetric InfoNCE with the
 * same logit-scale rules as FDT. Pooled inputs: image [B, Di], text [B, Dt]. Parameters: image_proj.{weight,bias},
 * text_proj.{weight,bias}, logit_scale.
 */
export async function clipPass(
  engine: WasmEngine, head: ParamState, dims: { dim: number; imageDim: number; textDim: number },
  pooledImage: Float32Array, pooledText: Float32Array, B: number, grads: boolean,
): Promise<ClipPassOutput> {
  const mod = engine.mod;
  const k = mod.k;
  const rp = engine.resident(head);
  const s = new Scope(mod);
  const d = dims.dim;
  try {
    const scratch = s.bytes(k.gemm_scratch_bytes());
    const side = (name: string, x: Float32Array, Din: number) => {
      const xp = s.upload(x);
      const e = s.f32(B * d);
      k.f32_gemm(xp, B, Din, Din, rp.packedNT(`${name}.weight`, d, Din), d, rp.raw(`${name}.bias`), e, d, 0, scratch);
      const ehat = s.f32(B * d);
      const norms = s.f32(B);
      k.f32_l2norm_fwd(e, B, d, ehat, norms);
      return { name, xp, Din, ehat, norms };
    };
    const img = side('image_proj', pooledImage, dims.imageDim);
    const txt = side('text_proj', pooledText, dims.textDim);
    const logits = s.f32(B * B);
    const gEi = grads ? s.f32(B * d) : 0;
    const gEt = grads ? s.f32(B * d) : 0;
    const out = s.bytes(24);
    k.f32_infonce(img.ehat, txt.ehat, B, d, head.params['logit_scale']![0]!, logits, gEi, gEt, out, s.bytes(k.infonce_scratch_bytes(B, d)));
    const [loss, gScale, scaleUsed] = mod.f64(out, 3);
    const result: ClipPassOutput = {
      imageEmbeddings: s.readF32(img.ehat, B * d),
      textEmbeddings: s.readF32(txt.ehat, B * d),
      logitsPerImage: s.readF32(logits, B * B),
      loss: loss!,
      logitScaleUsed: scaleUsed!,
    };
    if (grads) {
      const g: Record<string, number> = {};
      for (const side of [img, txt]) {
        g[`${side.name}.weight`] = s.zeros(d * side.Din);
        g[`${side.name}.bias`] = s.zeros(d);
      }
      for (const [side, gEhat] of [[img, gEi], [txt, gEt]] as const) {
        const gE = s.f32(B * d);
        k.f32_l2norm_bwd(side.ehat, side.norms, gEhat, B, d, gE);
        await linearBackward(mod, engine.parallel, s, rp, side.name, gE, side.xp, B, side.Din, d, g);
      }
      result.grads = { 'logit_scale': Float32Array.of(gScale!) };
      for (const [name, ptr] of Object.entries(g)) result.grads[name] = s.readF32(ptr, head.params[name]!.length);
    }
    return result;
  } finally {
    s.dispose();
  }
}
