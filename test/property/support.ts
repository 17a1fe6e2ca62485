// Shared pieces of the property suites (test/property/*.test.ts): fast-check settings (fixed seeds, run counts that
// are printed), per-run kernel memory that is freed again, inputs drawn from value distributions that include
// extreme but finite magnitudes, the float64-reference tolerance, and central differences. See docs/RELIABILITY.md.
import fc from 'fast-check';
import { afterAll } from 'vitest';
import { instantiateKernels, instantiateThreaded, threadsSupported, type KernelModule } from '../../bindings/kernels.js';
import { Mem } from '../helpers/kernel-harness.js';

export { Mem };
import { Rng } from '../reference/rng.js';

/**
 * Every build of the kernels: SIMD and scalar on their own memory, and the same two compiled for a shared memory
 * (what worker threads run). All must give the same bits.
 */
export const BUILDS = ['simd', 'scalar', 'simd-shared', 'scalar-shared'] as const;
export type Build = (typeof BUILDS)[number];

// ---------------------------------------------------------------------------------------------------------------
// fast-check settings

/** Base seed of every property (override with FDT_PROP_SEED to explore; CI uses the default). */
export const BASE_SEED = Number(process.env['FDT_PROP_SEED'] ?? 20230618);
/** Multiplies every property's run count (FDT_PROP_RUNS=10 for a long local run). */
const RUN_FACTOR = Number(process.env['FDT_PROP_RUNS'] ?? 1);

/** A property's own seed: the base seed mixed with a hash of its name, so that properties do not share streams. */
export function seedOf(name: string): number {
  let h = BASE_SEED >>> 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x9e3779b1) >>> 0;
  return h | 0;
}

const summary: string[] = [];
let summaryFile = '';
/** The builds whose outputs every property compared bit for bit (filled by loadBuilds). */
let buildsCompared: string[] = [];

/**
 * Asserts `predicate` on `runs` inputs drawn from `arb` with the property's fixed seed, and prints the number of runs,
 * the seed and the time. The predicate throws (with a message naming what differs) to fail.
 */
export function check<T>(name: string, arb: fc.Arbitrary<T>, predicate: (v: T) => void, runs: number): void {
  const numRuns = Math.max(1, Math.round(runs * RUN_FACTOR));
  const seed = seedOf(name);
  const t0 = performance.now();
  fc.assert(fc.property(arb, predicate), { seed, numRuns });
  const line = `${name}: ${numRuns} runs, seed ${seed}, ${(performance.now() - t0).toFixed(0)} ms`;
  summary.push(line);
  console.log(`[property] ${line}`);
}

/** Prints the runs of every property of the calling file once it is done. */
export function printSummaryAfterAll(file: string): void {
  summaryFile = file;
  afterAll(() => {
    console.log(`[property summary] ${summaryFile} (builds compared bit for bit: ${buildsCompared.join(', ')})\n  ${summary.join('\n  ')}`);
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Kernel memory per run

/** Every build (the shared ones where this runtime has SharedArrayBuffer), instantiated once per test file. */
export async function loadBuilds(): Promise<Builds> {
  const mods: Builds = { simd: await instantiateKernels('simd'), scalar: await instantiateKernels('scalar') };
  if (threadsSupported()) {
    // One thread: no workers are started; the calling thread runs the shared-memory build.
    mods['simd-shared'] = (await instantiateThreaded('simd', 1)).mod;
    mods['scalar-shared'] = (await instantiateThreaded('scalar', 1)).mod;
  }
  buildsCompared = BUILDS.filter((b) => mods[b]);
  return mods;
}

export type Builds = { simd: KernelModule; scalar: KernelModule } & Partial<Record<Build, KernelModule>>;

export type Outputs = Record<string, Float32Array | Int32Array | Float64Array>;

/**
 * Runs `fn` on every build with fresh memory each, asserts that every output is bitwise identical to the SIMD build's,
 * and returns the SIMD outputs (equal to all the others).
 */
export function onBoth<T extends Outputs>(mods: Builds, fn: (m: Mem) => T): T {
  const out: Partial<Record<Build, T>> = {};
  for (const b of BUILDS) {
    const mod = mods[b];
    if (!mod) continue;
    const m = new Mem(mod);
    try {
      out[b] = fn(m);
    } finally {
      m.free();
    }
  }
  const simd = out.simd!;
  for (const b of BUILDS) {
    if (b === 'simd' || !out[b]) continue;
    for (const key of Object.keys(simd)) identical(`${key} (simd vs ${b})`, simd[key]!, out[b][key]!);
  }
  return simd;
}

// ---------------------------------------------------------------------------------------------------------------
// Comparisons (throwing plain Errors: fast inside fast-check and reported with the counterexample)

/** Bitwise identity of two arrays (Object.is per element: +0 and -0 differ; NaN equals NaN). */
export function identical(name: string, a: ArrayLike<number>, b: ArrayLike<number>): void {
  if (a.length !== b.length) throw new Error(`${name}: lengths ${a.length} vs ${b.length}`);
  for (let i = 0; i < a.length; i++) {
    if (!Object.is(a[i], b[i])) throw new Error(`${name}: differs at ${i}: ${a[i]} vs ${b[i]}`);
  }
}

/**
 * The float32-vs-float64 tolerance: |actual - expected| <= rtol * max(unit, max |expected|), rtol = 1e-4 and unit = 1
 * by default (the project's tolerance). Properties on extreme-scale inputs pass the natural unit of the output
 * (e.g. 2^100 when the inputs were scaled by 2^100) so that the bound scales with the data instead of being vacuous.
 * `extra[i]`, when given, is added to element i's bound (a documented, computed allowance such as the effect of a
 * float32-rounded intermediate). Infinite expected values must be matched exactly.
 */
export function close(
  name: string, actual: ArrayLike<number>, expected: ArrayLike<number>, rtol = 1e-4, unit = 1, extra?: ArrayLike<number>,
): void {
  if (actual.length !== expected.length) throw new Error(`${name}: length ${actual.length}, expected ${expected.length}`);
  let scale = unit;
  for (let i = 0; i < expected.length; i++) if (Number.isFinite(expected[i]!)) scale = Math.max(scale, Math.abs(expected[i]!));
  const allowed = rtol * scale;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (!Number.isFinite(e)) {
      if (a !== e) throw new Error(`${name}: at ${i} expected ${e}, found ${a}`);
      continue;
    }
    const err = Math.abs(a - e);
    const bound = allowed + (extra ? extra[i]! : 0);
    if (!(err <= bound)) throw new Error(`${name}: at ${i} |${a} - ${e}| = ${err} > ${bound} (rtol ${rtol}, scale ${scale})`);
  }
}

export function closeScalar(name: string, actual: number, expected: number, rtol = 1e-4, unit = 1): void {
  close(name, [actual], [expected], rtol, unit);
}

export function equalInts(name: string, actual: ArrayLike<number>, expected: ArrayLike<number>): void {
  identical(name, Array.from(actual), Array.from(expected));
}

// ---------------------------------------------------------------------------------------------------------------
// Inputs

/** Sizes that straddle the 16-column panel and the 4-lane vector: 1 and 15..17, 31..33, plus anything in 1..max. */
export function dimArb(max = 40): fc.Arbitrary<number> {
  return fc.oneof(fc.constantFrom(1, 15, 16, 17, 31, 32, 33).filter((n) => n <= max), fc.integer({ min: 1, max }));
}

/**
 * How values are drawn: 'normal' N(0, 1); 'ints' small integers in [-3, 3] (exact in float32: ties and exact
 * products); 'wide' sign * 10^U(-6, 6) (twelve orders of magnitude in one array); 'sparse' N(0, 1) with about half
 * the entries exactly 0.
 */
export type Dist = 'normal' | 'ints' | 'wide' | 'sparse';
export const DISTS: readonly Dist[] = ['normal', 'ints', 'wide', 'sparse'];

/** n float32-representable values (as float64) of the distribution, times `scale` (a power of two keeps them exact). */
export function draw(rng: Rng, n: number, dist: Dist, scale = 1): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let v: number;
    switch (dist) {
      case 'normal': v = rng.normal(); break;
      case 'ints': v = Math.floor(rng.uniform(0, 7)) - 3; break;
      case 'wide': v = (rng.next() < 0.5 ? -1 : 1) * 10 ** rng.uniform(-6, 6); break;
      case 'sparse': v = rng.next() < 0.5 ? 0 : rng.normal(); break;
    }
    out[i] = Math.fround(v * scale);
  }
  return out;
}

/** A seed for the value generator: fast-check shrinks shapes and options; values follow from the seed. */
export const seedArb = fc.integer({ min: 1, max: 0x7fffffff });

export { Rng };

/** 2^e as a float (exact). */
export const pow2 = (e: number): number => 2 ** e;

// ---------------------------------------------------------------------------------------------------------------
// Central differences on the float64 reference

/** Directional derivative of `f` at x along v: (f(x + h v) - f(x - h v)) / 2h. */
export function centralDiff(f: (x: Float64Array) => number, x: Float64Array, v: Float64Array, h: number): number {
  const xp = x.map((xi, i) => xi + h * v[i]!);
  const xm = x.map((xi, i) => xi - h * v[i]!);
  return (f(xp) - f(xm)) / (2 * h);
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** A unit-norm random direction. */
export function direction(rng: Rng, n: number): Float64Array {
  const v = Float64Array.from({ length: n }, () => rng.normal());
  const norm = Math.sqrt(dot(v, v)) || 1;
  return v.map((x) => x / norm);
}

/**
 * The reference VJP against central differences of the reference forward: for a random unit direction v and upstream
 * gradient g, <VJP(g), v> must equal d/dt <g, f(x + t v)> to rtol * max(1, |<VJP(g), v>|). h = 1e-6 (float64 central
 * differences: truncation O(h^2), rounding O(1e-16 / h)); rtol = 1e-6 unless stated.
 */
export function fdAgrees(name: string, analytic: number, numeric: number, rtol = 1e-6): void {
  const allowed = rtol * Math.max(1, Math.abs(analytic));
  if (!(Math.abs(analytic - numeric) <= allowed)) {
    throw new Error(`${name}: VJP . v = ${analytic}, central difference = ${numeric}, |diff| ${Math.abs(analytic - numeric)} > ${allowed}`);
  }
}
