// SwiGLU: out = silu(gate) * up, silu(g) = g * sigmoid(g). Element-wise, f32 math, bf16 storage.
// Forward: 6 B per element, ~5 FLOPs + one exp. Backward: 10 B per element, ~10 FLOPs + one exp.
#include "common.cuh"
#include "swiglu.cuh"
#include "vec16.cuh"

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
        float dg, du;
        swiglu_grad(ld_bf16(dout + i), ld_bf16(gate + i), ld_bf16(up + i), dg, du);
        st_bf16(dup + i, du);
        st_bf16(dgate + i, dg);
    }
}

// Rung 2 of both: eight elements per thread and step, every access 16 bytes (rung 1: 2 bytes).
// n8 = n / 8; the launcher takes this rung when n is a multiple of 8. Same arithmetic per
// element, so the same bits.
RLVR_KERNEL(swiglu_fwd_x8_bf16, bf16* __restrict__ out, const bf16* __restrict__ gate, const bf16* __restrict__ up,
            int64_t n8) {
    RLVR_GRID_STRIDE(i, n8) {
        float g[8], u[8], o[8];
        unpack8(ld_u32x4(gate + 8 * i), g);
        unpack8(ld_u32x4(up + 8 * i), u);
#pragma unroll
        for (int j = 0; j < 8; ++j) o[j] = swiglu_value(g[j], u[j]);
        st_bf16_run<8>(out + 8 * i, o);
    }
}

RLVR_KERNEL(swiglu_bwd_x8_bf16, bf16* __restrict__ dgate, bf16* __restrict__ dup, const bf16* __restrict__ dout,
            const bf16* __restrict__ gate, const bf16* __restrict__ up, int64_t n8) {
    RLVR_GRID_STRIDE(i, n8) {
        float d[8], g[8], u[8], dg[8], du[8];
        unpack8(ld_u32x4(dout + 8 * i), d);
        unpack8(ld_u32x4(gate + 8 * i), g);
        unpack8(ld_u32x4(up + 8 * i), u);
#pragma unroll
        for (int j = 0; j < 8; ++j) swiglu_grad(d[j], g[j], u[j], dg[j], du[j]);
        st_bf16_run<8>(dup + 8 * i, du);
        st_bf16_run<8>(dgate + 8 * i, dg);
    }
}
