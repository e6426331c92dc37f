// 16-byte global loads and stores (LDG.E.128 / STG.E.128) and the 8 bf16 they hold: the memory
// access of the bandwidth-bound decode kernels. Addresses must be 16-byte aligned: the kernels
// take whole device buffers (256-byte aligned) and use these only on rows whose length is a
// multiple of 8 elements.
#pragma once
#include "common.cuh"

// Read-only data through the non-coherent path (weights, the KV cache, logits); stores use
// common.cuh's st_u32x4.
static __device__ __forceinline__ uint4 ldg16(const void* p) {
#ifdef RLVR_EMU
    uint4 v;
    memcpy(&v, p, 16);
    return v;
#else
    return __ldg(reinterpret_cast<const uint4*>(p));
#endif
}


// Eight consecutive bf16 (one 16-byte load) as floats, element i at f[i] (bf16_lo/bf16_hi from
// common.cuh).
static __device__ __forceinline__ void unpack8(const uint4 v, float f[8]) {
    f[0] = bf16_lo(v.x);
    f[1] = bf16_hi(v.x);
    f[2] = bf16_lo(v.y);
    f[3] = bf16_hi(v.y);
    f[4] = bf16_lo(v.z);
    f[5] = bf16_hi(v.z);
    f[6] = bf16_lo(v.w);
    f[7] = bf16_hi(v.w);
}
