// SwiGLU's forward arithmetic, one definition for every kernel that applies it (the element-wise
// kernel and the decode step's fused gate/up product), so both give the same bits.
#pragma once

#include "common.cuh"

static __device__ __forceinline__ float sigmoidf_(float g) { return 1.0f / (1.0f + expf(-g)); }

// silu(g) * u = g * sigmoid(g) * u, f32 math on the bf16 gate and up values.
static __device__ __forceinline__ float swiglu_value(float g, float u) { return g * sigmoidf_(g) * u; }
