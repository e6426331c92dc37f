// Probe of the emulated warp intrinsics (compiled only into the emulator): each lane writes what
// it received, and tests/emu_warp_ops.rs compares with the CUDA Programming Guide definitions.
#include "common.cuh"

// One warp; out has 10 * 32 entries, row k for intrinsic k.
RLVR_KERNEL(emu_probe_warp_ops, unsigned* __restrict__ out) {
    const unsigned lane = threadIdx.x & 31, full = 0xffffffffu;
    out[0 * 32 + lane] = __shfl_sync(full, lane * 10, int(lane) + 3, 8);
    out[1 * 32 + lane] = __shfl_up_sync(full, lane * 10, 3, 16);
    out[2 * 32 + lane] = __shfl_down_sync(full, lane * 10, 5);
    out[3 * 32 + lane] = __shfl_xor_sync(full, lane * 10, 4, 8);
    out[4 * 32 + lane] = __ballot_sync(full, lane % 3 == 0);
    out[5 * 32 + lane] = __any_sync(full, lane == 7);
    out[6 * 32 + lane] = __all_sync(full, lane < 31);
    out[7 * 32 + lane] = __reduce_add_sync(full, lane);
    out[8 * 32 + lane] = __reduce_max_sync(full, (lane * 7) % 32);
    out[9 * 32 + lane] = unsigned(__reduce_min_sync(full, int(lane) - 16));
}
