// A planted bug in the sm_90a GEMM (compiled only into the emulator): the consumers read each
// stage without waiting for its full mbarrier, so they multiply tiles the TMA has not delivered
// (poison in the emulator). The GEMM selftest must catch it. (The file name differs from
// kernels/gemm_sm90.cu's: build.rs names each emulator unit after its file.)
#include "gemm_sm90.cuh"

RLVR_KERNEL_BOUNDED(planted_gemm_wgmma_skip_full_wait, 384, GEMM_SM90_PARAMS) {
    gemm_sm90<128, 5, true, true, Sm90Bug::kSkipFullWait>(GEMM_SM90_ARGS);
}
