// Rung 5 of the GEMM ladder (kernels/gemm.cu): the sm_90a kernel of gemm_sm90.cuh — TMA into a
// 128-byte swizzled mbarrier ring, one producer and two consumer warpgroups with wgmma, persistent
// blocks in grouped tile order. gemm_bf16_wgmma_n{256,128}_{kk,kn,mk,mn}: BN = 256 (4 stages of
// 48 KiB) or 128 (5 stages of 32 KiB); layout suffixes as in gemm.cu.
#include "gemm_sm90.cuh"

#define GEMM_SM90(BN, STAGES, AK, BK) gemm_sm90<BN, STAGES, AK, BK, Sm90Bug::kNone>(GEMM_SM90_ARGS)
RLVR_KERNEL_BOUNDED(gemm_bf16_wgmma_n256_kk, 384, GEMM_SM90_PARAMS) { GEMM_SM90(256, 4, true, true); }
RLVR_KERNEL_BOUNDED(gemm_bf16_wgmma_n256_kn, 384, GEMM_SM90_PARAMS) { GEMM_SM90(256, 4, true, false); }
RLVR_KERNEL_BOUNDED(gemm_bf16_wgmma_n256_mk, 384, GEMM_SM90_PARAMS) { GEMM_SM90(256, 4, false, true); }
RLVR_KERNEL_BOUNDED(gemm_bf16_wgmma_n256_mn, 384, GEMM_SM90_PARAMS) { GEMM_SM90(256, 4, false, false); }
RLVR_KERNEL_BOUNDED(gemm_bf16_wgmma_n128_kk, 384, GEMM_SM90_PARAMS) { GEMM_SM90(128, 5, true, true); }
RLVR_KERNEL_BOUNDED(gemm_bf16_wgmma_n128_kn, 384, GEMM_SM90_PARAMS) { GEMM_SM90(128, 5, true, false); }
RLVR_KERNEL_BOUNDED(gemm_bf16_wgmma_n128_mk, 384, GEMM_SM90_PARAMS) { GEMM_SM90(128, 5, false, true); }
RLVR_KERNEL_BOUNDED(gemm_bf16_wgmma_n128_mn, 384, GEMM_SM90_PARAMS) { GEMM_SM90(128, 5, false, false); }
