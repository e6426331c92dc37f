//! CUDA backend: kernels from kernels/*.cu (fatbins embedded by build.rs), loaded with cudarc.
//!
//! `device` is the launcher interface shared by the GPU (`gpu`) and the host emulator
//! (`backend::emu`); `launch` holds the launch-configuration helpers every launcher shares;
//! `kernels` what build.rs compiled. Above the launchers sit `model`, the whole model on a
//! device, and `selftest`, the parity checks (see the layer order in the crate documentation).
//!
//! # One op, one name
//!
//! Each `kernels/X.cu` has its launchers in `backend/cuda/X.rs`, its parity checks in
//! `backend/cuda/selftest/X.rs` and its bench entries in `bench/kernels/X.rs`
//! (`tests/kernels_build.rs` checks that these exist and that X.rs launches every kernel of
//! X.cu). The checks compare against the CPU op that CPU training runs:
//!
//! | op `X` | kernels | CPU reference |
//! |---|---|---|
//! | `attention` | `attn_fwd_bf16`, `attn_bwd_{delta,dkdv,dq}_bf16` (rung 1), `attn_bwd_delta_x8_bf16` (the row statistic's rung 2), `attn_{fwd,bwd_dkdv,bwd_dq}_{mma,fa2}_d{64,128}_bf16` (rungs 2, 3), `attn_fwd_fa2split_d{64,128}_bf16` (rung 4) | `backend::cpu::attention` |
//! | `attn_decode` | `attn_decode_bf16` (rung 1), `attn_decode_{split,merge}_bf16` (rung 2), `attn_decode_tiles_d{64,128}_bf16`, `attn_decode_fold_bf16` (rung 3), `attn_decode_tiles_fold_d{64,128}_bf16` (rung 4), `attn_decode_append_bf16`, `attn_decode_rope_append_bf16` | `backend::cpu::attention::attend_head`, `backend::cpu::rope::rope_append` |
//! | `bias` | `bias_add_bf16`, `colsum_partial_bf16` (rung 1), `bias_add_x8_bf16`, `colsum_partial_x8_bf16` (rung 2) | `backend::cpu::bias` |
//! | `cast` | `cast_f32_to_bf16`, `cast_bf16_to_f32`, `residual_add_bf16` (rung 1), `cast_f32_to_bf16_x4`, `cast_bf16_to_f32_x4`, `residual_add_x8_bf16` (rung 2) | `backend::cpu::cast` |
//! | `embedding` | `embedding_fwd_bf16`, `embedding_bwd_f32` (rung 1), `embedding_fwd_x8_bf16`, `embedding_bwd_x4_f32` (rung 2) | `backend::cpu::embedding` |
//! | `fill` | `fill_f32` | the value itself |
//! | `gemm` | `gemm_bf16_mma`, `gemm_bf16_mma_kc` (rung 1), `gemm_bf16_ldsm_*` (rung 2), `gemm_bf16_t128_*` (rungs 3, 4), `gemm_bf16_splitk_sum`, `gemm_bf16_rows*_kk` (rungs 6, 9), `gemm_bf16_t64_kk` (rung 7), `gemm_bf16_t64x32_kk`, `gemm_bf16_t128x64_kk` (rung 10), `gemm_bf16_t128x256_*` (rung 8) | `backend::cpu::gemm` |
//! | `gemm_sm90` | `gemm_bf16_wgmma_n{256,128}_{kk,kn,mk,mn}` (rung 5 of `gemm`, sm_90a) | `backend::cpu::gemm` |
//! | `logprob` | `logprob_fwd_rows_f32`, `logprob_bwd_rows_f32` | `backend::cpu::logprob` |
//! | `mlp` | `swiglu_fwd_bf16`, `swiglu_bwd_bf16` (rung 1), `swiglu_fwd_x8_bf16`, `swiglu_bwd_x8_bf16` (rung 2) | `backend::cpu::mlp` |
//! | `norm` | `rmsnorm_fwd_bf16`, `rmsnorm_bwd_bf16` (rung 1), `rmsnorm_fwd_x8_bf16`, `rmsnorm_bwd_x8_bf16` (rung 2), `rmsnorm_dw_reduce_f32` | `backend::cpu::norm` |
//! | `optim` | `adamw_step_f32`, `adamw_multi_f32` | `optim::AdamW::update` |
//! | `reduce` | `sumsq_partial_f32`, `sumsq_multi_f32`, `grad_norm_finalize_f32`, `scale_by_f32` | `optim::{global_norm, clip_coefficient}` |
//! | `rope` | `rope_fwd_bf16`, `rope_bwd_bf16`, `rope_qk_fwd_bf16`, `rope_qk_bwd_bf16` | `backend::cpu::rope` |
//! | `sampling` | `sample_rows_f32`, `sample_rows_params_f32`, `sample_rows_radix_f32`, `sample_rows_params_radix_f32` | `backend::cpu::sampling` |
//! | `softmax` | `softmax_fwd_bf16`, `log_softmax_fwd_bf16` | `backend::cpu::softmax` |
//! | `sum_parts` | `sum_parts_f32` | `dist::reduce_scatter_sum_f32` (the host's ordered sum) |
pub mod attention;
pub mod attn_decode;
pub mod bias;
pub mod cast;
pub mod detect;
pub mod device;
pub mod embedding;
pub mod fill;
pub mod gemm;
pub mod gemm_sm90;
pub mod gpu;
pub mod kernels;
pub mod launch;
pub mod logprob;
pub mod mlp;
pub mod model;
pub mod norm;
pub mod optim;
pub mod reduce;
pub mod rope;
pub mod sampling;
pub mod selftest;
pub mod softmax;
pub mod sum_parts;
