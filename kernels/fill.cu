// Fill a buffer with one value (zeroing gradients and scatter targets on the device instead of
// copying zeros from the host). Memory bound: 4 B written per element.
#include "common.cuh"

RLVR_KERNEL(fill_f32, float* __restrict__ out, float value, int64_t n) {
    RLVR_GRID_STRIDE(i, n) { out[i] = value; }
}
