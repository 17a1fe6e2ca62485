// The relevance kernel's forward (fused GEMM + max over slots), one thread, with a recorded arg-max. At d = 512,
// C = 16,384: image batches at P = 49 (B = 8, 1 and 32), caption batches at L = 77 whose real slots number 5-40 (a
// mask, in the official mode; B = 8), and the paper's caption batch with every slot real (B = 32). At d = 128: the
// demo's image batch (B = 128, C = 1,024) and the suite's small shape (B = 4, C = 1,000).
//
//   npx tsx bench/experiments/relevance-fwd.ts [--baseline OTHER/bindings/wasm-bytes.generated.ts] [--rounds N]
//                                              [--case b8-p49,b8-l77-masked,b1-p49,b32-p49,b32-l77,demo,small]
//
// With --baseline the other build runs in the same process, interleaved call by call, and the scores and arg-maxima
// of both are compared bit for bit.
import { numberArg, stringArg } from './args.js';
import { compareBuilds, floats, simdBuilds } from './modules.js';

const rounds = numberArg('--rounds', 10);
const builds = await simdBuilds(stringArg('--baseline'));
console.log(`one thread, ${rounds} rounds${builds.length > 1 ? ', interleaved with the baseline build' : ''}`);
// [id, label, B, L, masked, d, C]
const CASES = [
  ['b8-p49', 'images', 8, 49, false, 512, 16384], ['b8-l77-masked', 'captions', 8, 77, true, 512, 16384],
  ['b1-p49', 'images', 1, 49, false, 512, 16384], ['b32-p49', 'images', 32, 49, false, 512, 16384],
  ['b32-l77', 'captions, every slot real', 32, 77, false, 512, 16384],
  ['demo', 'demo images', 128, 49, false, 128, 1024], ['small', 'small', 4, 49, false, 128, 1000],
] as const;
const only = stringArg('--case');
const cases = CASES.filter(([id]) => only === undefined || only.split(',').includes(id));
if (!cases.length) throw new Error(`--case: none of ${only}; known: ${CASES.map(([id]) => id).join(', ')}`);
for (const [id, label, B, L, masked, d, C] of cases) {
  // Caption b keeps its first 5 + (b * 13) % 36 slots.
  const real = (b: number) => (masked ? 5 + ((b * 13) % 36) : L);
  const runs = builds.map(([, m]) => {
    const Q = floats(m, B * L * d, (i) => Math.sin(i * 0.37));
    const Tp = floats(m, Math.ceil(C / 16) * 16 * d, (i) => Math.cos(i * 0.11));
    const valid = masked ? m.arena.alloc(B * L * 4) : 0;
    if (masked) m.i32(valid, B * L).set(Int32Array.from({ length: B * L }, (_, i) => (i % L < real(Math.floor(i / L)) ? 1 : 0)));
    const R = floats(m, B * C);
    const ARG = m.arena.alloc(B * C * 4);
    const scratch = m.arena.alloc(m.k.relevance_scratch_bytes(L));
    return {
      call: () => m.k.f32_relevance_fwd(Q, B, L, d, Tp, C, 0.05, valid, 0, R, ARG, scratch),
      out: () => [...m.f32(R, B * C), ...m.i32(ARG, B * C)],
    };
  });
  let slots = 0;
  for (let b = 0; b < B; b++) slots += real(b);
  const gflops = (ms: number) => ` (${((2 * slots * d * C) / ms / 1e6).toFixed(1)} GFLOP/s)`;
  console.log(`  ${id}: ${label} B ${B} L ${L} d ${d} C ${C} (${slots} real slots): ${await compareBuilds(builds, runs, rounds, 1, gflops)}`);
}
process.exit(0);
