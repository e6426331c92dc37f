// Element-wise casts and the residual add. Memory bound: per element, cast f32->bf16 moves 6 B,
// bf16->f32 6 B, residual add 6 B (1 FLOP). Grid-stride loops; any grid size is correct.
// Rung 1 takes one element per thread and step (2- and 4-byte accesses); rung 2 several (16-byte
// accesses, lengths that are multiples of its width), with the same rounding and so the same bits.
#include "common.cuh"
#include "vec16.cuh"

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

// Rung 2 of the casts: four elements per thread and step, one 16-byte access on the f32 side and
// one 8-byte access on the bf16 side, so that a warp's accesses are contiguous on both sides
// (eight f32 per thread would leave each 16-byte load using half of its 32-byte sectors). n4 = n / 4.
RLVR_KERNEL(cast_f32_to_bf16_x4, bf16* __restrict__ out, const float* __restrict__ in, int64_t n4) {
    RLVR_GRID_STRIDE(i, n4) {
        const float4 a = ld_f32x4(in + 4 * i);
        const float v[4] = {a.x, a.y, a.z, a.w};
        st_bf16_run<4>(out + 4 * i, v);
    }
}

RLVR_KERNEL(cast_bf16_to_f32_x4, float* __restrict__ out, const bf16* __restrict__ in, int64_t n4) {
    RLVR_GRID_STRIDE(i, n4) {
        const uint2 w = ld_u32x2(in + 4 * i);
        st_f32x4(out + 4 * i, make_float4(bf16_lo(w.x), bf16_hi(w.x), bf16_lo(w.y), bf16_hi(w.y)));
    }
}

// Rung 2 of the residual add: eight elements per thread and step, every access 16 bytes;
// n8 = n / 8. `out` may alias `a`: each thread reads its run of both inputs before writing it.
RLVR_KERNEL(residual_add_x8_bf16, bf16* out, const bf16* a, const bf16* b, int64_t n8) {
    RLVR_GRID_STRIDE(i, n8) {
        float v[8];
        unpack8(ld_u32x4(a + 8 * i), v);
        add_bf16_run<8>(v, b + 8 * i);
        st_bf16_run<8>(out + 8 * i, v);
    }
}
