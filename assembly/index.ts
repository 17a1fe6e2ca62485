// The kernel ABI. Every export takes byte offsets into this module's one linear memory and explicit sizes; no
// kernel allocates, grows memory or keeps state between calls. Conventions:
//   - float32 arrays are row-major and 4-byte aligned; panels and scratch are 16-byte aligned;
//   - int32 arrays (valid masks, arg-max indices, support counts) are row-major;
//   - a pointer argument of 0 means "not wanted" where the kernel's doc says so;
//   - outputs named "acc" accumulate (+=), all others are overwritten;
//   - inputs are finite (the TypeScript layer validates them); ties go to the lowest index.
// The same sources build with SIMD128 (simd target) and without (scalar target); both give identical bits. The
// *-shared targets import one shared memory so that worker threads run kernels on the same data.
export {
  f32_pack_nt, f32_pack_nn, f32_gemm, f32_gemm_rows, gemm_scratch_bytes, f32_transpose, f32_colsum_acc, tile_2x16,
  tile_set_broadcast,
} from './gemm';
export {
  f32_relevance_fwd, f32_relevance_fwd_part, f32_relevance_bwd, f32_relevance_bwd_gq_part, f32_relevance_bwd_gt_part,
  relevance_scratch_bytes, relevance_set_tile, tile_1x32,
} from './relevance';
export { f32_sparsemax_fwd, f32_sparsemax_bwd, sparsemax_scratch_bytes, sparsemax_set_michelot_passes } from './sparsemax';
export { f32_softmax_fwd, f32_softmax_bwd } from './softmax';
export { f32_wsum_fwd, f32_wsum_bwd, f32_wsum_bwd_part, f32_l2norm_fwd, f32_l2norm_bwd } from './wsum';
export { f32_infonce, infonce_scratch_bytes } from './infonce';
export {
  f32_layernorm_fwd, f32_layernorm_bwd, f32_layernorm_bwd_params, f32_layernorm_xhat, f32_ln_linear_param_grads, f32_gelu_fwd,
  f32_gelu_bwd,
} from './mlp';
export { f32_adamw_step, f32_first_nonfinite } from './optim';

/** First free byte after the module's static data: the host's arena starts here. */
export function heap_base(): usize {
  return __heap_base;
}

/** 1 when this build uses SIMD128. */
export function has_simd(): i32 {
  return ASC_FEATURE_SIMD ? 1 : 0;
}
