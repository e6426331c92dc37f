// The GEMM epilogue shared by kernels/gemm.cu and kernels/gemm_sm90.cu: alpha, the fused bias and
// residual, beta onto a previous f32 output, f32 and/or bf16 stores.
#pragma once

#include "common.cuh"

// What happens to an accumulated value v at C[z][m][n] (index idx):
//   v = alpha v (+ bias[n]) (+ residual[idx]) (+ beta c_f32[idx]);  c_f32[idx] = v;  c_bf16[idx] = bf16(v).
// The residual may be the bf16 output itself (each element is read before it is written).
struct Epilogue {
    float* c_f32;
    bf16* c_bf16;
    const bf16* bias;
    const bf16* residual;
    float alpha, beta;
};

// Whether runs of 4 and 8 columns may use vector accesses: N % 8 == 0 and 16-byte aligned bases
// (a null pointer is not accessed).
static __device__ __forceinline__ bool epilogue_vectors(const Epilogue& e, int N) {
    auto ok = [](const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; };
    return N % 8 == 0 && ok(e.c_f32) && ok(e.c_bf16) && ok(e.bias) && ok(e.residual);
}

static __device__ __forceinline__ void epilogue_one(const Epilogue& e, int64_t idx, int n, float v) {
    v *= e.alpha;
    if (e.bias) v += __bfloat162float(e.bias[n]);
    if (e.residual) v += __bfloat162float(e.residual[idx]);
    if (e.c_f32) {
        if (e.beta != 0.0f) v += e.beta * e.c_f32[idx];
        e.c_f32[idx] = v;
    }
    if (e.c_bf16) e.c_bf16[idx] = __float2bfloat16(v);
}

// V (4 or 8) consecutive columns n.. (n a multiple of V) of one row with 16-byte (f32) or
// 8/16-byte (bf16) accesses when `vec` (epilogue_vectors) and the run lies inside N; else element
// by element.
template <int V>
static __device__ __forceinline__ void epilogue_run(const Epilogue& e, int64_t idx, int n, int N, float v[V],
                                                    bool vec) {
    if (!vec || n + V > N) {
#pragma unroll
        for (int i = 0; i < V; ++i)
            if (n + i < N) epilogue_one(e, idx + i, n + i, v[i]);
        return;
    }
#pragma unroll
    for (int i = 0; i < V; ++i) v[i] *= e.alpha;
    if (e.bias) add_bf16_run<V>(v, e.bias + n);
    if (e.residual) add_bf16_run<V>(v, e.residual + idx);
    if (e.c_f32) {
#pragma unroll
        for (int i = 0; i < V; i += 4) {
            float* p = e.c_f32 + idx + i;
            if (e.beta != 0.0f) {
                const float4 o = ld_f32x4(p);
                v[i] += e.beta * o.x;
                v[i + 1] += e.beta * o.y;
                v[i + 2] += e.beta * o.z;
                v[i + 3] += e.beta * o.w;
            }
            st_f32x4(p, make_float4(v[i], v[i + 1], v[i + 2], v[i + 3]));
        }
    }
    if (e.c_bf16) st_bf16_run<V>(e.c_bf16 + idx, v);
}
