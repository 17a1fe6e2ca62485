/**
 * The shape grid of the benchmarks, shared with the tests: (B, P, d, C) = B items of P query rows (patches or
 * caption slots) of dimension d, against a dictionary of C tokens. FLOPs of the relevance kernel = 2 B P d C.
 *
 * Tests import `TEST_SHAPES` (every shape small enough to check against a reference in a unit test) and may import
 * `GRID` to walk the same paper shapes the benchmark reports; nothing here allocates or runs anything.
 */

/** A relevance-kernel problem: B items of P query rows, d dims, C dictionary tokens. */
export interface Shape {
  B: number;
  P: number;
  d: number;
  C: number;
}

/** Which kind of shape a grid entry is, and in which grid it runs. */
export interface GridShape extends Shape {
  /** A short stable id ('b1-p49', 'edge', ...), used in result records and chart labels. */
  id: string;
  /** 'paper': the paper's dimensions; 'small': fits a unit test; 'edge': sizes off every tile boundary. */
  kind: 'paper' | 'small' | 'edge';
  /** True when the shape runs only with --full (too slow for the quick grid on a 2-core machine). */
  fullOnly: boolean;
  /** What the shape stands for. */
  note: string;
}

/** The paper's dimensions: d = 512, C = 16,384, P = 49 patches (ViT-B/32 at 224 px) or 77 caption slots (CLIP). */
export const PAPER = { d: 512, C: 16384, patches: 49, captionSlots: 77, imageDim: 768, textDim: 512, batch: 32 } as const;

/** The benchmark grid, in report order. */
export const GRID: readonly GridShape[] = [
  { id: 'b1-p49', kind: 'paper', B: 1, P: 49, d: 512, C: 16384, fullOnly: false, note: 'one image (latency)' },
  { id: 'b32-p49', kind: 'paper', B: 32, P: 49, d: 512, C: 16384, fullOnly: false, note: 'a training batch of images' },
  { id: 'b32-p77', kind: 'paper', B: 32, P: 77, d: 512, C: 16384, fullOnly: false, note: 'a training batch of captions (77 slots, all real)' },
  { id: 'b256-p49', kind: 'paper', B: 256, P: 49, d: 512, C: 16384, fullOnly: true, note: 'bulk encoding of images' },
  { id: 'small', kind: 'small', B: 4, P: 49, d: 128, C: 1000, fullOnly: false, note: 'a small head' },
  { id: 'edge', kind: 'edge', B: 3, P: 17, d: 33, C: 4097, fullOnly: false, note: 'odd P (tile of 2 rows), d, and C = 256 panels + 1 column' },
];

/** Shapes the tests can afford to check against a float64 reference (small and tile-edge shapes). */
export const TEST_SHAPES: readonly GridShape[] = GRID.filter((s) => s.kind !== 'paper');

/** The grid for a mode: 'quick' (`npm run bench`) drops the full-only shapes. */
export function gridFor(mode: 'quick' | 'full'): GridShape[] {
  return GRID.filter((s) => mode === 'full' || !s.fullOnly);
}

/** FLOPs of the relevance kernel on a shape: 2 B P d C (the GEMM; the max over P is free beside it). */
export function flopsOf(s: Shape): number {
  return 2 * s.B * s.P * s.d * s.C;
}

/**
 * The GEMM FLOPs of a paper-scale training step: the two relevance forwards, and the query MLPs' Linear layers. Each
 * Linear [M, K] -> [M, N] costs 2 M K N for its forward and the same again for its weight gradient; the second
 * Linear also for its input gradient. The first one has none: the features come from frozen encoders, and LayerNorm's
 * parameter gradients are taken through the weight gradient's GEMM (src/engines/wasm/head.ts, lnLinearParamGrads).
 */
export function stepGemmFlops(): { relevance: number; mlp: number } {
  const relevance = flopsOf({ B: PAPER.batch, P: PAPER.patches, d: PAPER.d, C: PAPER.C })
    + flopsOf({ B: PAPER.batch, P: PAPER.captionSlots, d: PAPER.d, C: PAPER.C });
  const gemm = (M: number, K: number, N: number) => 2 * M * K * N;
  const mlp = (M: number, Din: number) => 2 * gemm(M, Din, PAPER.d) + 3 * gemm(M, PAPER.d, PAPER.d);
  return { relevance, mlp: mlp(PAPER.batch * PAPER.patches, PAPER.imageDim) + mlp(PAPER.batch * PAPER.captionSlots, PAPER.textDim) };
}

/** 'B=32 P=49 d=512 C=16384'. */
export function shapeLabel(s: Shape): string {
  return `B=${s.B} P=${s.P} d=${s.d} C=${s.C}`;
}

/** '(32, 49, 512, 16384)'. */
export function shapeTuple(s: Shape): string {
  return `(${s.B}, ${s.P}, ${s.d}, ${s.C})`;
}

/** The grid entry with this id (throws on an unknown id). */
export function shapeById(id: string): GridShape {
  const s = GRID.find((g) => g.id === id);
  if (!s) throw new Error(`unknown shape id ${JSON.stringify(id)}; known: ${GRID.map((g) => g.id).join(', ')}`);
  return s;
}
