// A planted bug in the sm_90a attention forward (compiled only into the emulator): the consumers
// multiply K tiles without waiting for their full mbarrier, so S comes from tiles the TMA has not
// delivered (poison in the emulator). The attention selftest must catch it. (The file name
// differs from kernels/attention.cu's: build.rs names each emulator unit after its file.)
#define ATT_THREADS 128
#include "attention_sm90.cuh"

RLVR_KERNEL_BOUNDED(planted_attn_wgmma_skip_k_wait, ATT_WG_BOUNDS, ATT_WG_PARAMS) {
    attn_fwd_wgmma<64, AttWgBug::kSkipKWait>(ATT_WG_ARGS);
}
