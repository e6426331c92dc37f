// Shared helpers for every kernel file. The same source compiles with nvcc (for the GPU) and with
// g++ against kernels/emu/emu.h (RLVR_EMU, for the host emulator).
//
// Conventions: bf16 storage, f32 accumulation. Kernels are declared with RLVR_KERNEL(name, params...)
// so that nvcc sees `extern "C" __global__` and the emulator registers a trampoline that unpacks the
// same `void** kernelParams` cuLaunchKernel gets. Element counts are int64_t, shape sizes int.
#pragma once

#ifdef RLVR_EMU
#include "emu/emu.h"
#else
#include <cuda_bf16.h>
#include <stdint.h>
#define RLVR_KERNEL(name, ...) extern "C" __global__ void name(__VA_ARGS__)
#define RLVR_KERNEL_BOUNDED(name, max_threads, ...) \
    extern "C" __global__ void __launch_bounds__(max_threads) name(__VA_ARGS__)
#define RLVR_DYNAMIC_SMEM(T, name)                                   \
    extern __shared__ __align__(16) unsigned char rlvr_dyn_smem_[]; \
    T* name = reinterpret_cast<T*>(rlvr_dyn_smem_)
#endif

typedef __nv_bfloat16 bf16;

static __device__ __forceinline__ float ld_bf16(const bf16* p) { return __bfloat162float(*p); }
static __device__ __forceinline__ void st_bf16(bf16* p, float v) { *p = __float2bfloat16(v); }

// Sum over the 32 lanes of a full warp (every lane gets the result).
static __device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
    return v;
}

static __device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off));
    return v;
}

// Sum over the whole block (blockDim.x a multiple of 32, at most 1024); every thread gets the
// result. `scratch` holds 32 floats of shared memory; the order of additions is fixed, so the
// result is deterministic. Ends with a barrier so `scratch` can be reused right away.
static __device__ __forceinline__ float block_sum(float v, float* scratch) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    v = warp_sum(v);
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    float t = lane < nwarps ? scratch[lane] : 0.0f;
    t = warp_sum(t);
    __syncthreads();
    return t;
}

// Maximum over the whole block, same contract as block_sum.
static __device__ __forceinline__ float block_max(float v, float* scratch) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    v = warp_max(v);
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    float t = lane < nwarps ? scratch[lane] : -INFINITY;
    t = warp_max(t);
    __syncthreads();
    return t;
}

// Grid-stride loop over [0, n).
#define RLVR_GRID_STRIDE(i, n) \
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); i += int64_t(gridDim.x) * blockDim.x)

// Two consecutive bf16 (4-byte aligned) as the 32-bit register an mma fragment holds.
static __device__ __forceinline__ uint32_t ld_bf16x2(const bf16* p) {
#ifdef RLVR_EMU
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
#else
    return *reinterpret_cast<const uint32_t*>(p);
#endif
}

// d = a * b + c for one warp: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 (sm_80+).
// Fragments (g = lane / 4, t = lane % 4), per the PTX ISA:
//   a[r]: A[g + 8 * (r & 1)][2t + 8 * (r >> 1) + {0, 1}]   (A is 16 x 16, m x k)
//   b[r]: B[2t + 8 * r + {0, 1}][g]                         (B is 16 x 8, k x n)
//   c/d[i]: C[g + 8 * (i >> 1)][2t + (i & 1)]               (C is 16 x 8)
// The emulator runs it as a warp rendezvous that evaluates exactly this layout.
static __device__ __forceinline__ void mma_bf16_16816(float d[4], const uint32_t a[4], const uint32_t b[2],
                                                      const float c[4]) {
#ifdef RLVR_EMU
    rlvr_emu::warp_mma_m16n8k16_bf16(0xffffffffu, d, a, b, c);
#else
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%10,%11,%12,%13};\n"
        : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]), "f"(c[2]),
          "f"(c[3]));
#endif
}

// ldmatrix.sync.aligned.m8n8.x4.shared.b16: lane L passes the address of row L % 8 of matrix
// L / 8 (16-byte aligned, shared memory); r[j] gets row L / 4, columns 2 (L % 4) .. +1 of matrix j.
static __device__ __forceinline__ void ldmatrix_x4(uint32_t r[4], const bf16* row_addr) {
#ifdef RLVR_EMU
    rlvr_emu::warp_ldmatrix(r, row_addr, 4, false);
#else
    const unsigned a = static_cast<unsigned>(__cvta_generic_to_shared(row_addr));
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(a));
#endif
}

// ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16: addresses as ldmatrix_x4; r[j] gets column L / 4,
// rows 2 (L % 4) .. +1 of matrix j (the transpose), i.e. an operand stored [k][outer] arrives in
// the fragment layout of one stored [outer][k].
static __device__ __forceinline__ void ldmatrix_x4_trans(uint32_t r[4], const bf16* row_addr) {
#ifdef RLVR_EMU
    rlvr_emu::warp_ldmatrix(r, row_addr, 4, true);
#else
    const unsigned a = static_cast<unsigned>(__cvta_generic_to_shared(row_addr));
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(a));
#endif
}

// cp.async.cg 16 bytes global -> shared; bytes past `src_bytes` (0..16) are zero-filled.
static __device__ __forceinline__ void cp_async16(bf16* smem_dst, const bf16* gmem_src, int src_bytes) {
#ifdef RLVR_EMU
    rlvr_emu::cp_async16(smem_dst, gmem_src, src_bytes);
#else
    const unsigned d = static_cast<unsigned>(__cvta_generic_to_shared(smem_dst));
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(d), "l"(gmem_src), "r"(src_bytes));
#endif
}

static __device__ __forceinline__ void cp_async_commit() {
#ifdef RLVR_EMU
    rlvr_emu::cp_async_commit();
#else
    asm volatile("cp.async.commit_group;\n" ::);
#endif
}

// Waits until at most N committed cp.async groups of this thread are still in flight.
template <int N>
static __device__ __forceinline__ void cp_async_wait() {
#ifdef RLVR_EMU
    rlvr_emu::cp_async_wait_group(N);
#else
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
#endif
}

// 16-byte (and 8-byte) global/shared accesses, the Packed128 idea: one LDG.E.128 / STG.E.128
// moves 4 f32 or 8 bf16. Pointers must be aligned to the access size.
static __device__ __forceinline__ float4 ld_f32x4(const float* p) {
#ifdef RLVR_EMU
    float4 v;
    memcpy(&v, p, 16);
    return v;
#else
    return *reinterpret_cast<const float4*>(p);
#endif
}
static __device__ __forceinline__ void st_f32x4(float* p, float4 v) {
#ifdef RLVR_EMU
    memcpy(p, &v, 16);
#else
    *reinterpret_cast<float4*>(p) = v;
#endif
}
static __device__ __forceinline__ void st_f32x2(float* p, float x, float y) {
#ifdef RLVR_EMU
    const float v[2] = {x, y};
    memcpy(p, v, 8);
#else
    *reinterpret_cast<float2*>(p) = make_float2(x, y);
#endif
}
static __device__ __forceinline__ uint4 ld_u32x4(const void* p) {
#ifdef RLVR_EMU
    uint4 v;
    memcpy(&v, p, 16);
    return v;
#else
    return *reinterpret_cast<const uint4*>(p);
#endif
}
static __device__ __forceinline__ void st_u32x4(void* p, uint4 v) {
#ifdef RLVR_EMU
    memcpy(p, &v, 16);
#else
    *reinterpret_cast<uint4*>(p) = v;
#endif
}
// A float another CTA of the same launch wrote (after a __threadfence and an atomic that ordered
// it), read through L2: this SM's L1 may hold an older copy of the line.
static __device__ __forceinline__ float ld_cg_f32(const float* p) {
#ifdef RLVR_EMU
    return *p;
#else
    return __ldcg(p);
#endif
}
static __device__ __forceinline__ uint2 ld_u32x2(const void* p) {
#ifdef RLVR_EMU
    uint2 v;
    memcpy(&v, p, 8);
    return v;
#else
    return *reinterpret_cast<const uint2*>(p);
#endif
}
static __device__ __forceinline__ void st_u32x2(void* p, uint2 v) {
#ifdef RLVR_EMU
    memcpy(p, &v, 8);
#else
    *reinterpret_cast<uint2*>(p) = v;
#endif
}

// bf16 pairs packed in a 32-bit word (low half first in memory), converted exactly to f32.
static __device__ __forceinline__ float bf16_lo(uint32_t w) { return __uint_as_float(w << 16); }
static __device__ __forceinline__ float bf16_hi(uint32_t w) { return __uint_as_float(w & 0xffff0000u); }
static __device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi) {
    return uint32_t(__bfloat16_as_ushort(__float2bfloat16(lo))) |
           (uint32_t(__bfloat16_as_ushort(__float2bfloat16(hi))) << 16);
}

// v[0..V) += the V bf16 at p (V = 4: one 8-byte load; V = 8: one 16-byte load).
template <int V>
static __device__ __forceinline__ void add_bf16_run(float* v, const bf16* p) {
    static_assert(V == 4 || V == 8, "runs of 4 or 8");
    uint32_t w[4];
    if constexpr (V == 8) {
        const uint4 x = ld_u32x4(p);
        w[0] = x.x, w[1] = x.y, w[2] = x.z, w[3] = x.w;
    } else {
        const uint2 x = ld_u32x2(p);
        w[0] = x.x, w[1] = x.y;
    }
#pragma unroll
    for (int i = 0; i < V / 2; ++i) {
        v[2 * i] += bf16_lo(w[i]);
        v[2 * i + 1] += bf16_hi(w[i]);
    }
}

// The V values rounded to bf16 and stored at p in one access.
template <int V>
static __device__ __forceinline__ void st_bf16_run(bf16* p, const float* v) {
    static_assert(V == 4 || V == 8, "runs of 4 or 8");
    if constexpr (V == 8) {
        st_u32x4(p, make_uint4(pack_bf16x2(v[0], v[1]), pack_bf16x2(v[2], v[3]), pack_bf16x2(v[4], v[5]),
                               pack_bf16x2(v[6], v[7])));
    } else {
        st_u32x2(p, make_uint2(pack_bf16x2(v[0], v[1]), pack_bf16x2(v[2], v[3])));
    }
}
