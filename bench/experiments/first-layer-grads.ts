// The parameter gradients of each query MLP's first LayerNorm and Linear in a paper-scale training step, one thread,
// by the two routes the engine has (src/engines/wasm/head.ts):
//   with the input gradient:  gA = gY W1 (GEMM, W1 packed after each update), gW1 += gY^T a, gb1 += colsum gY,
//                             then LayerNorm's parameter sums over gA (f32_layernorm_bwd, no input gradient written);
//   without (the training step): G = gY^T xhat (the one GEMM), S = colsum gY, f32_ln_linear_param_grads.
//
//   npx tsx bench/experiments/first-layer-grads.ts [--rounds N]
//
// Interleaved call by call (bench/harness.ts measureInterleaved), so the host's slow periods hit both routes alike.
// Shapes: image M = 32 x 49 rows, K = 768; captions M = 32 x 77 rows, K = 512; N = d = 512.
import { instantiateKernels } from '../../bindings/kernels.js';
import { measureInterleaved } from '../harness.js';
import { numberArg } from './args.js';
import { floats } from './modules.js';

const rounds = numberArg('--rounds', 15);
const mod = await instantiateKernels('simd');
const k = mod.k;
const alloc = (n: number, seed = 0) => floats(mod, n, seed ? (i) => Math.sin(seed * i + 0.5) : undefined);
const N = 512;
const gemmScratch = mod.arena.alloc(k.gemm_scratch_bytes());
console.log(`one thread, ${rounds} rounds, interleaved`);
for (const [name, M, K] of [['image', 32 * 49, 768], ['captions', 32 * 77, 512]] as const) {
  const x = alloc(M * K, 1);
  const gamma = alloc(K, 2);
  const beta = alloc(K, 3);
  const a = alloc(M * K);
  const mean = alloc(M);
  const rstd = alloc(M);
  k.f32_layernorm_fwd(x, M, K, gamma, beta, 1e-5, a, mean, rstd);
  const W = alloc(N * K, 4);
  const gY = alloc(M * N, 5);
  const [gW, gb, gg, gbeta] = [alloc(N * K), alloc(N), alloc(K), alloc(K)];
  const Wp = alloc(Math.ceil(K / 16) * 16 * N);
  const gA = alloc(M * K);
  const gYt = alloc(N * M);
  const xp = alloc(Math.ceil(K / 16) * 16 * M);
  const xh = alloc(M * K);
  const G = alloc(N * K);
  const S = alloc(N);
  const withInputGrad = () => {
    k.f32_pack_nn(W, N, K, Wp);
    k.f32_gemm(gY, M, N, N, Wp, K, 0, gA, K, 0, gemmScratch);
    k.f32_transpose(gY, M, N, gYt);
    k.f32_pack_nn(a, M, K, xp);
    k.f32_gemm(gYt, N, M, M, xp, K, 0, gW, K, 1, gemmScratch);
    k.f32_colsum_acc(gY, M, N, gb);
    k.f32_layernorm_bwd(x, gA, M, K, gamma, mean, rstd, 0, gg, gbeta);
  };
  const throughG = () => {
    k.f32_layernorm_xhat(x, M, K, mean, rstd, xh);
    k.f32_pack_nn(xh, M, K, xp);
    k.f32_transpose(gY, M, N, gYt);
    k.f32_gemm(gYt, N, M, M, xp, K, 0, G, K, 0, gemmScratch);
    mod.f32(S, N).fill(0);
    k.f32_colsum_acc(gY, M, N, S);
    k.f32_ln_linear_param_grads(G, S, W, gamma, beta, N, K, gW, gb, gg, gbeta);
  };
  const [t0, t1] = await measureInterleaved([withInputGrad, throughG], { budgetS: 60, min: rounds, max: rounds, warmup: 2 });
  console.log(`  ${name.padEnd(9)} M ${M} K ${K}: through gA ${t0!.medianMs.toFixed(1)} ms (min ${t0!.minMs.toFixed(1)}), through G ${t1!.medianMs.toFixed(1)} ms (min ${t1!.minMs.toFixed(1)}): ${(t0!.medianMs / t1!.medianMs).toFixed(2)}x, ${(t0!.medianMs - t1!.medianMs).toFixed(1)} ms saved per step`);
}
process.exit(0);
