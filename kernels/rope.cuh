// The rotation of one rotate_half pair, shared by rope.cu and the decode step's fused
// RoPE + KV append (attn_decode.cu) so that both round exactly alike.
#pragma once
#include "common.cuh"

// sin and cos of the angle p * f, sin scaled by dir (+1 forward, -1 backward).
static __device__ __forceinline__ void rope_angle(float p, float f, float dir, float& s, float& c) {
    sincosf(p * f, &s, &c);
    s *= dir;
}

// The rotated pair in f32: lo = a cos - b sin, hi = b cos + a sin. One function for every RoPE
// kernel, so that each contracts the same expressions the same way.
static __device__ __forceinline__ void rope_mix(float a, float b, float c, float s, float& lo, float& hi) {
    lo = a * c - b * s;
    hi = b * c + a * s;
}

// out_lo = a cos - b sin, out_hi = b cos + a sin at angle p * f, sin scaled by dir (+1 forward,
// -1 backward), f32 math and one bf16 rounding each.
static __device__ __forceinline__ void rope_pair(bf16* out_lo, bf16* out_hi, float a, float b, float p, float f,
                                                 float dir) {
    float s, c, lo, hi;
    rope_angle(p, f, dir, s, c);
    rope_mix(a, b, c, s, lo, hi);
    st_bf16(out_lo, lo);
    st_bf16(out_hi, hi);
}
