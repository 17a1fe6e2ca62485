import { instantiateKernels, type KernelModule } from '../bindings/kernels.js';
import { Rng } from '../src/rng.js';
import { relevancePlainJs } from './peers/plain-js.js';

/** A relevance-kernel problem: B items of P query rows, d dims, C dictionary tokens. */
export interface RelevanceShape {
  B: number;
  P: number;
  d: number;
  C: number;
}

/** FLOPs of the relevance kernel: 2 B P d C (the GEMM; the max is free beside it). */
export function relevanceFlops(s: RelevanceShape): number {
  return 2 * s.B * s.P * s.d * s.C;
}

/** Random q [B, P, d] and T [C, d], seeded. */
export function relevanceInputs(s: RelevanceShape, seed = 1): { q: Float32Array; T: Float32Array } {
  const rng = new Rng(seed);
  const q = Float32Array.from({ length: s.B * s.P * s.d }, () => rng.normal());
  const T = Float32Array.from({ length: s.C * s.d }, () => rng.normal());
  return { q, T };
}

/**
 * Sets up the wasm relevance kernel for a shape (dictionary packed once, as the engine keeps it) and returns a
 * function that runs one forward call.
 */
export function wasmRelevanceRunner(mod: KernelModule, s: RelevanceShape, q: Float32Array, T: Float32Array): () => void {
  const a = mod.arena;
  const qp = a.alloc(q.byteLength);
  const tp = a.alloc(T.byteLength);
  const packed = a.alloc(Math.ceil(s.C / 16) * 16 * s.d * 4);
  const r = a.alloc(s.B * s.C * 4);
  const arg = a.alloc(s.B * s.C * 4);
  const scratch = a.alloc(mod.k.relevance_scratch_bytes(s.P));
  mod.f32(qp, q.length).set(q);
  mod.f32(tp, T.length).set(T);
  mod.k.f32_pack_nt(tp, s.C, s.d, packed);
  const scale = 1 / Math.sqrt(s.d);
  return () => mod.k.f32_relevance_fwd(qp, s.B, s.P, s.d, packed, s.C, scale, 0, 0, r, arg, scratch);
}

/** The plain-JS peer for a shape. */
export function plainJsRelevanceRunner(s: RelevanceShape, q: Float32Array, T: Float32Array): () => void {
  const r = new Float32Array(s.B * s.C);
  const scale = 1 / Math.sqrt(s.d);
  return () => relevancePlainJs(q, s.B, s.P, s.d, T, s.C, scale, r);
}

export { instantiateKernels };
