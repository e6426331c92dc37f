// Element-wise casts and the residual add. Memory bound: per element, cast f32->bf16 moves 6 B,
// bf16->f32 6 B, residual add 6 B (1 FLOP). Grid-stride loops; any grid size is correct.
#include "common.cuh"

RLVR_KERNEL(cast_f32_to_bf16, bf16* __restrict__ out, const float* __restrict__ in, int64_t n) {
    RLVR_GRID_STRIDE(i, n) { out[i] = __float2bfloat16(in[i]); }
}

RLVR_KERNEL(cast_bf16_to_f32, float* __restrict__ out, const bf16* __restrict__ in, int64_t n) {
    RLVR_GRID_STRIDE(i, n) { out[i] = __bfloat162float(in[i]); }
}

// out = a + b, rounded once to bf16. `out` may alias `a` (in-place residual stream update).
RLVR_KERNEL(residual_add_bf16, bf16* out, const bf16* a, const bf16* b, int64_t n) {
    RLVR_GRID_STRIDE(i, n) { out[i] = __float2bfloat16(__bfloat162float(a[i]) + __bfloat162float(b[i])); }
}
