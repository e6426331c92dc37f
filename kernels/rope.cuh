// The rotation of one rotate_half pair, shared by rope.cu and the decode step's fused
// RoPE + KV append (attn_decode.cu) so that both round exactly alike.
#pragma once
#include "common.cuh"

// out_lo = a cos - b sin, out_hi = b cos + a sin at angle p * f, sin scaled by dir (+1 forward,
// -1 backward), f32 math and one bf16 rounding each.
static __device__ __forceinline__ void rope_pair(bf16* out_lo, bf16* out_hi, float a, float b, float p, float f,
                                                 float dir) {
    float s, c;
    sincosf(p * f, &s, &c);
    s *= dir;
    st_bf16(out_lo, a * c - b * s);
    st_bf16(out_hi, b * c + a * s);
}
