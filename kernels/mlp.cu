// SwiGLU: out = silu(gate) * up, silu(g) = g * sigmoid(g). Element-wise, f32 math, bf16 storage.
// Forward: 6 B per element, ~5 FLOPs + one exp. Backward: 10 B per element, ~10 FLOPs + one exp.
#include "common.cuh"
#include "swiglu.cuh"

RLVR_KERNEL(swiglu_fwd_bf16, bf16* __restrict__ out, const bf16* __restrict__ gate, const bf16* __restrict__ up,
            int64_t n) {
    RLVR_GRID_STRIDE(i, n) {
        const float g = ld_bf16(gate + i);
        st_bf16(out + i, swiglu_value(g, ld_bf16(up + i)));
    }
}

// dup = dout * silu(g); dgate = dout * up * s * (1 + g * (1 - s)), s = sigmoid(g).
RLVR_KERNEL(swiglu_bwd_bf16, bf16* __restrict__ dgate, bf16* __restrict__ dup, const bf16* __restrict__ dout,
            const bf16* __restrict__ gate, const bf16* __restrict__ up, int64_t n) {
    RLVR_GRID_STRIDE(i, n) {
        const float g = ld_bf16(gate + i), u = ld_bf16(up + i), d = ld_bf16(dout + i);
        const float s = sigmoidf_(g);
        st_bf16(dup + i, d * g * s);
        st_bf16(dgate + i, d * u * s * (1.0f + g * (1.0f - s)));
    }
}
