/**
 * Sparsemax at C = 16,384: our kernel (Michelot passes over the candidates y > max - 1, Condat as the fallback; no sort) vs the sort-based algorithm of
 * the official code, written in plain JS. Two regimes of rows:
 *   - trained-like: 2-20 active tokens (Gaussian rows, sigma log-uniform in [0.3, 1.5]; rows outside 2..20 are
 *     redrawn, using our kernel's support count, and the sort-based result is checked to have the same support);
 *   - temperature-1000-like: ~4,400 active tokens (sigma = 3.7e-4 around 0.01: the tiny spread of relevance / 1000
 *     at initialisation).
 * Reported per row (us/row), from calls over R = 64 rows.
 */
import { instantiateKernels } from '../../bindings/kernels.js';
import { Rng } from '../../src/rng.js';
import { measure } from '../harness.js';
import { sparsemaxSortJs } from '../peers/plain-js.js';
import type { Ctx } from '../context.js';

const C = 16384;
const R = 64;

export async function sparsemaxSuite(ctx: Ctx): Promise<void> {
  ctx.log(`sparsemax (C = ${C}, ${R} rows per call)`);
  const mod = await instantiateKernels('simd');
  const a = mod.arena;
  const zp = a.alloc(R * C * 4);
  const pp = a.alloc(R * C * 4);
  const sup = a.alloc(R * 4);
  const scratch = a.alloc(mod.k.sparsemax_scratch_bytes(C));
  const rng = new Rng(7);
  const row = new Float32Array(C);
  const out = new Float32Array(C);
  const sorted = new Float32Array(C);

  for (const regime of ['2-20 active', '~4400 active'] as const) {
    const z = mod.f32(zp, R * C);
    for (let r = 0; r < R; r++) {
      for (let attempt = 0; ; attempt++) {
        const sigma = regime === '2-20 active' ? Math.exp(Math.log(0.3) + rng.uniform() * Math.log(1.5 / 0.3)) : 3.7e-4;
        const offset = regime === '2-20 active' ? 0 : 0.01;
        for (let i = 0; i < C; i++) row[i] = offset + sigma * rng.normal();
        if (regime !== '2-20 active') break;
        const k = sparsemaxSortJs(row, out, sorted);
        if (k >= 2 && k <= 20) break;
        if (attempt > 100) throw new Error('sparsemax suite: could not draw a row with 2-20 active tokens');
      }
      mod.f32(zp, R * C).set(row, r * C);
    }
    void z;
    const ours = () => mod.k.f32_sparsemax_fwd(zp, R, C, pp, sup, scratch);
    ours();
    const counts = Array.from(mod.i32(sup, R));
    // The sort-based peer must find the same supports.
    const zs = mod.f32(zp, R * C).slice();
    let mismatch = 0;
    for (let r = 0; r < R; r++) if (sparsemaxSortJs(zs.subarray(r * C, (r + 1) * C), out, sorted) !== counts[r]) mismatch++;
    if (mismatch) ctx.notes.push(`MISMATCH: sparsemax supports differ on ${mismatch} of ${R} rows (${regime})`);
    const kMin = Math.min(...counts);
    const kMax = Math.max(...counts);
    const kMean = counts.reduce((x, y) => x + y, 0) / R;
    const shape = `R=${R} C=${C} ${regime} (k ${kMin}..${kMax}, mean ${kMean.toFixed(1)})`;
    const t1 = await measure(ours, { budgetS: ctx.full ? 2 : 1, min: 9, max: 200, warmup: 2 });
    ctx.add({
      kernel: 'sparsemax', shape, impl: 'fdtkit-simd', threads: 1, median_ms: t1.medianMs, gflops: null, samples: t1.samples, others_load: t1.othersLoad,
      extra: { us_per_row: (t1.medianMs * 1000) / R, regime, k_mean: kMean, k_min: kMin, k_max: kMax },
    });
    const js = () => {
      for (let r = 0; r < R; r++) sparsemaxSortJs(zs.subarray(r * C, (r + 1) * C), out, sorted);
    };
    const t2 = await measure(js, { budgetS: ctx.full ? 3 : 1.5, min: 5, max: 100, warmup: 1 });
    ctx.add({
      kernel: 'sparsemax', shape, impl: 'js-sort', threads: 1, median_ms: t2.medianMs, gflops: null, samples: t2.samples, others_load: t2.othersLoad,
      extra: { us_per_row: (t2.medianMs * 1000) / R, regime, k_mean: kMean, k_min: kMin, k_max: kMax },
    });
  }
  for (const b of [scratch, sup, pp, zp]) a.free(b);
}
