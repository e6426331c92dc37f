// SwiGLU's forward arithmetic, one definition for every kernel that applies it (the element-wise
// kernel and the decode step's fused gate/up product), so both give the same bits.
#pragma once

#include "common.cuh"

static __device__ __forceinline__ float sigmoidf_(float g) { return 1.0f / (1.0f + expf(-g)); }

// silu(g) * u = g * sigmoid(g) * u, f32 math on the bf16 gate and up values.
static __device__ __forceinline__ float swiglu_value(float g, float u) { return g * sigmoidf_(g) * u; }

// The backward of one element: dgate = dout * up * s * (1 + g * (1 - s)), dup = dout * silu(g),
// s = sigmoid(g) (one definition for every rung, so they give the same bits).
static __device__ __forceinline__ void swiglu_grad(float d, float g, float u, float& dgate, float& dup) {
    const float s = sigmoidf_(g);
    dup = d * g * s;
    dgate = d * u * s * (1.0f + g * (1.0f - s));
}
