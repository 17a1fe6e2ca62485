import { instantiateKernels, type KernelModule } from '../bindings/kernels.js';
import { Rng } from '../src/rng.js';
import { relevancePlainJs } from './peers/plain-js.js';
import { flopsOf, type Shape } from './shapes.js';

/** A relevance-kernel problem: B items of P query rows, d dims, C dictionary tokens. */
export type RelevanceShape = Shape;

/** FLOPs of the relevance kernel: 2 B P d C (the GEMM; the max is free beside it). */
export function relevanceFlops(s: RelevanceShape): number {
  return flopsOf(s);
}

/** Random q [B, P, d] and T [C, d], seeded (standard normal; q first, then T). */
export function relevanceInputs(s: RelevanceShape, seed = 1): { q: Float32Array; T: Float32Array } {
  const rng = new Rng(seed);
  const q = new Float32Array(s.B * s.P * s.d);
  for (let i = 0; i < q.length; i++) q[i] = rng.normal();
  const T = new Float32Array(s.C * s.d);
  for (let i = 0; i < T.length; i++) T[i] = rng.normal();
  return { q, T };
}

/** One shape set up in a kernel module: run() is one forward call; release() frees its blocks. */
export interface WasmRelevanceSetup {
  run: () => void;
  /** Copies R [B, C] out of wasm memory. */
  read: () => Float32Array;
  release: () => void;
  scale: number;
  /** Where the inputs and outputs live in the module's memory: q [B, P, d], the packed dictionary, R and ARG [B, C]. */
  buffers: { q: number; packed: number; R: number; ARG: number };
}

/**
 * Sets up the wasm relevance kernel for a shape (the dictionary packed once, as the engine keeps it resident).
 */
export function wasmRelevanceSetup(mod: KernelModule, s: RelevanceShape, q: Float32Array, T: Float32Array): WasmRelevanceSetup {
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
  return {
    run: () => mod.k.f32_relevance_fwd(qp, s.B, s.P, s.d, packed, s.C, scale, 0, 0, r, arg, scratch),
    read: () => mod.f32(r, s.B * s.C).slice(),
    release: () => {
      for (const p of [scratch, arg, r, packed, tp, qp]) a.free(p);
    },
    scale,
    buffers: { q: qp, packed, R: r, ARG: arg },
  };
}

/**
 * Sets up the wasm relevance kernel for a shape (dictionary packed once, as the engine keeps it) and returns a
 * function that runs one forward call.
 */
export function wasmRelevanceRunner(mod: KernelModule, s: RelevanceShape, q: Float32Array, T: Float32Array): () => void {
  return wasmRelevanceSetup(mod, s, q, T).run;
}

/** The plain-JS peer for a shape. */
export function plainJsRelevanceRunner(s: RelevanceShape, q: Float32Array, T: Float32Array): () => void {
  const r = new Float32Array(s.B * s.C);
  const scale = 1 / Math.sqrt(s.d);
  return () => relevancePlainJs(q, s.B, s.P, s.d, T, s.C, scale, r);
}

export { instantiateKernels };
