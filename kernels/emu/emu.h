// Host emulation of the CUDA execution model, so kernels/*.cu run on the CPU.
//
// Every kernel source is compiled a second time by g++ with RLVR_EMU defined. build.rs wraps each
// file as `#include "emu/emu.h"` + `namespace { #include "file.cu" }` so that everything the kernel
// file defines has internal linkage (needed for the shared-memory section trick below).
//
// The model: blocks run one after another (in a seeded shuffled order); the threads of a block are
// cooperative fibers that run, in a seeded shuffled order, until they reach a barrier, a warp
// intrinsic, or the end of the kernel. Warp intrinsics are rendezvous of the lanes named in the mask.
// `__shared__` variables are statics placed in the section `rlvr_emu_shared`, poisoned (0xFF bytes:
// NaN for f32/bf16, -1 for ints) at the start of every block, as is the dynamic shared memory.
//
// Every unit is compiled twice: plain, and traced (RLVR_EMU_TRACED, built with -fsanitize=thread
// so every load and store calls a hook of the runtime that records it for the efficiency
// counters; see counters.h). A traced unit registers its kernels as the traced
// variant and keeps its shared memory in a section of its own, so a launch without counters runs
// exactly the plain code.
#pragma once

#include <cuda_bf16.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

// crt/host_defines.h (pulled in by cuda_bf16.h) defines these for the host compiler already.
#undef __global__
#undef __device__
#undef __host__
#undef __shared__
#undef __constant__
#undef __forceinline__
#undef __noinline__
#undef __launch_bounds__
#undef __align__
#undef __restrict__

#define __global__
#define __device__
#define __host__
#define __constant__ static
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
#define __restrict__ __restrict
#ifdef RLVR_EMU_TRACED
#define RLVR_EMU_SHARED_SECTION "rlvr_emu_shared_traced"
#define RLVR_EMU_TRACED_UNIT true
#else
#define RLVR_EMU_SHARED_SECTION "rlvr_emu_shared"
#define RLVR_EMU_TRACED_UNIT false
#endif
#define __shared__ static __attribute__((section(RLVR_EMU_SHARED_SECTION), aligned(16)))

extern uint3 threadIdx;
extern uint3 blockIdx;
extern dim3 blockDim;
extern dim3 gridDim;
constexpr int warpSize = 32;

namespace rlvr_emu {

// Warp operation kinds; the runtime (emu.cpp) resolves a rendezvous of all lanes in the mask.
enum WarpOp : int {
    kShflIdx = 1,
    kShflUp = 2,
    kShflDown = 3,
    kShflXor = 4,
    kBallot = 5,
    kAny = 6,
    kAll = 7,
    kReduceAdd = 8,
    kReduceMin = 9,
    kReduceMax = 10,
    kReduceAnd = 11,
    kReduceOr = 12,
    kReduceXor = 13,
    kSyncWarp = 14,
    kReduceMinS = 15,
    kReduceMaxS = 16,
    kMma = 17,
    kLdmatrix = 18,
};

using Trampoline = void (*)(void** args);

// `traced`: the unit was compiled with access tracing (RLVR_EMU_TRACED).
bool register_kernel(const char* name, Trampoline t, int nargs, const size_t* arg_sizes, bool traced);
void syncthreads();
// Rendezvous with the lanes of `mask`; returns this lane's result bits.
uint64_t warp_op(int op, unsigned mask, uint64_t value, int arg, int width);
// mma.sync.m16n8k16 bf16 x bf16 -> f32: a rendezvous that exchanges whole fragments.
void warp_mma_m16n8k16_bf16(unsigned mask, float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4]);
// ldmatrix.sync.aligned.m8n8.x{num}[.trans].shared.b16: lane L supplies the address of row L % 8
// of matrix L / 8; register j of lane L receives row L / 4, columns 2 (L % 4) and +1 of matrix j
// (with .trans: column L / 4, rows 2 (L % 4) and +1).
void warp_ldmatrix(uint32_t* regs, const void* row_addr, int num, bool trans);
// cp.async (16 bytes, global -> shared, zero fill past src_bytes): queued per thread and only
// performed at cp_async_wait_group (or thread exit), so a missing wait reads poison.
void cp_async16(void* smem_dst, const void* gmem_src, int src_bytes);
void cp_async_commit();
void cp_async_wait_group(int pending);
void* dynamic_smem();
// Hopper (sm_90a) instructions, emulated in hopper.cpp; kernels/hopper.cuh states their contract.
// wgmma, its fences and setmaxnreg are rendezvous of the 128 threads of a warpgroup.
enum WarpgroupOp : int {
    kWgmmaFence = 1,
    kWgmmaMma = 2,
    kWgmmaCommit = 3,
    kWgmmaWait = 4,
    kSetmaxnreg = 5,
};
// The shared-window address (what __cvta_generic_to_shared gives) of dynamic shared memory.
uint32_t shared_window_address(const void* p);
void wgmma_fence();
void wgmma_commit_group();
void wgmma_wait_group(int pending);
// wgmma.mma_async m64nNk16 f32 += bf16 x bf16: A from `a_regs` (4 registers) or, when null, from
// the shared-memory descriptor `desc_a`; B from `desc_b`; d holds N / 2 floats per thread.
void wgmma_bf16(int n, float* d, const uint32_t* a_regs, uint64_t desc_a, uint64_t desc_b, int scale_d, int scale_a,
                int scale_b, int trans_a, int trans_b);
void setmaxnreg(bool inc, int regs);
void mbarrier_init(uint64_t* bar, uint32_t count);
void mbarrier_arrive_expect_tx(uint64_t* bar, uint32_t tx_bytes);
void mbarrier_arrive(uint64_t* bar);
bool mbarrier_try_wait_parity(uint64_t* bar, uint32_t parity);
void tma_load_2d(void* smem_dst, const void* tensor_map, int c0, int c1, uint64_t* bar);
void tma_store_2d(const void* tensor_map, const void* smem_src, int c0, int c1);
void bulk_commit_group();
void bulk_wait_group(int pending);
void fence_proxy_async();
[[noreturn]] void fail(const char* what);

template <typename F>
struct Tramp;
template <typename... A>
struct Tramp<void (*)(A...)> {
    static constexpr int nargs = sizeof...(A);
    static constexpr size_t sizes[sizeof...(A) + 1] = {sizeof(A)..., 0};
    template <void (*F)(A...), size_t... I>
    static void invoke(void** args, std::index_sequence<I...>) {
        F(*static_cast<std::remove_cv_t<std::remove_reference_t<A>>*>(args[I])...);
    }
    template <void (*F)(A...)>
    static void call(void** args) {
        invoke<F>(args, std::index_sequence_for<A...>{});
    }
};

template <typename T>
inline uint64_t to_bits(T v) {
    static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8, "warp intrinsics take values of at most 8 bytes");
    uint64_t b = 0;
    std::memcpy(&b, &v, sizeof(T));
    return b;
}
template <typename T>
inline T from_bits(uint64_t b) {
    T v;
    std::memcpy(&v, &b, sizeof(T));
    return v;
}

}  // namespace rlvr_emu

// Kernel declaration: a host function plus a registered trampoline that unpacks `void** args`
// exactly as cuLaunchKernel's kernelParams.
#define RLVR_KERNEL(name, ...)                                                                      \
    void name(__VA_ARGS__);                                                                        \
    [[maybe_unused]] const bool rlvr_emu_registered_##name = ::rlvr_emu::register_kernel(         \
        #name, &::rlvr_emu::Tramp<decltype(&name)>::template call<&name>,                          \
        ::rlvr_emu::Tramp<decltype(&name)>::nargs, ::rlvr_emu::Tramp<decltype(&name)>::sizes,    \
        RLVR_EMU_TRACED_UNIT);                                                                      \
    void name(__VA_ARGS__)
#define RLVR_KERNEL_BOUNDED(name, max_threads, ...) RLVR_KERNEL(name, __VA_ARGS__)
#define RLVR_DYNAMIC_SMEM(T, name) T* name = reinterpret_cast<T*>(::rlvr_emu::dynamic_smem())

inline void __syncthreads() { rlvr_emu::syncthreads(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { rlvr_emu::warp_op(rlvr_emu::kSyncWarp, mask, 0, 0, 32); }
inline void __threadfence() { asm volatile("" ::: "memory"); }
inline void __threadfence_block() { asm volatile("" ::: "memory"); }

template <typename T>
inline T __shfl_sync(unsigned mask, T v, int src, int width = warpSize) {
    return rlvr_emu::from_bits<T>(rlvr_emu::warp_op(rlvr_emu::kShflIdx, mask, rlvr_emu::to_bits(v), src, width));
}
template <typename T>
inline T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = warpSize) {
    return rlvr_emu::from_bits<T>(rlvr_emu::warp_op(rlvr_emu::kShflUp, mask, rlvr_emu::to_bits(v), int(delta), width));
}
template <typename T>
inline T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = warpSize) {
    return rlvr_emu::from_bits<T>(rlvr_emu::warp_op(rlvr_emu::kShflDown, mask, rlvr_emu::to_bits(v), int(delta), width));
}
template <typename T>
inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = warpSize) {
    return rlvr_emu::from_bits<T>(rlvr_emu::warp_op(rlvr_emu::kShflXor, mask, rlvr_emu::to_bits(v), lane_mask, width));
}
inline unsigned __ballot_sync(unsigned mask, int pred) {
    return unsigned(rlvr_emu::warp_op(rlvr_emu::kBallot, mask, pred != 0, 0, 32));
}
inline int __any_sync(unsigned mask, int pred) { return int(rlvr_emu::warp_op(rlvr_emu::kAny, mask, pred != 0, 0, 32)); }
inline int __all_sync(unsigned mask, int pred) { return int(rlvr_emu::warp_op(rlvr_emu::kAll, mask, pred != 0, 0, 32)); }
inline unsigned __reduce_add_sync(unsigned mask, unsigned v) { return unsigned(rlvr_emu::warp_op(rlvr_emu::kReduceAdd, mask, v, 0, 32)); }
inline int __reduce_add_sync(unsigned mask, int v) { return int(rlvr_emu::warp_op(rlvr_emu::kReduceAdd, mask, unsigned(v), 0, 32)); }
inline unsigned __reduce_min_sync(unsigned mask, unsigned v) { return unsigned(rlvr_emu::warp_op(rlvr_emu::kReduceMin, mask, v, 0, 32)); }
inline int __reduce_min_sync(unsigned mask, int v) { return int(rlvr_emu::warp_op(rlvr_emu::kReduceMinS, mask, uint32_t(v), 0, 32)); }
inline unsigned __reduce_max_sync(unsigned mask, unsigned v) { return unsigned(rlvr_emu::warp_op(rlvr_emu::kReduceMax, mask, v, 0, 32)); }
inline int __reduce_max_sync(unsigned mask, int v) { return int(rlvr_emu::warp_op(rlvr_emu::kReduceMaxS, mask, uint32_t(v), 0, 32)); }
inline unsigned __reduce_and_sync(unsigned mask, unsigned v) { return unsigned(rlvr_emu::warp_op(rlvr_emu::kReduceAnd, mask, v, 0, 32)); }
inline unsigned __reduce_or_sync(unsigned mask, unsigned v) { return unsigned(rlvr_emu::warp_op(rlvr_emu::kReduceOr, mask, v, 0, 32)); }
inline unsigned __reduce_xor_sync(unsigned mask, unsigned v) { return unsigned(rlvr_emu::warp_op(rlvr_emu::kReduceXor, mask, v, 0, 32)); }

// Atomics: one OS thread runs every fiber and fibers switch only at barriers and warp
// intrinsics, so a read-modify-write is atomic by construction.
template <typename T>
inline T atomicAdd(T* p, T v) { T old = *p; *p = old + v; return old; }
template <typename T>
inline T atomicSub(T* p, T v) { T old = *p; *p = old - v; return old; }
template <typename T>
inline T atomicMax(T* p, T v) { T old = *p; *p = old > v ? old : v; return old; }
template <typename T>
inline T atomicMin(T* p, T v) { T old = *p; *p = old < v ? old : v; return old; }
template <typename T>
inline T atomicExch(T* p, T v) { T old = *p; *p = v; return old; }
template <typename T>
inline T atomicCAS(T* p, T cmp, T v) { T old = *p; if (old == cmp) *p = v; return old; }
template <typename T>
inline T atomicOr(T* p, T v) { T old = *p; *p = old | v; return old; }
template <typename T>
inline T atomicAnd(T* p, T v) { T old = *p; *p = old & v; return old; }

template <typename T>
inline T __ldg(const T* p) { return *p; }

// Math intrinsics: the fast-math variants map to the accurate libm functions.
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __log2f(float x) { return log2f(x); }
inline float __sinf(float x) { return sinf(x); }
inline float __cosf(float x) { return cosf(x); }
inline float __tanf(float x) { return tanf(x); }
inline void __sincosf(float x, float* s, float* c) { *s = sinf(x); *c = cosf(x); }
inline float __powf(float a, float b) { return powf(a, b); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __frcp_rn(float a) { return 1.0f / a; }
inline float __fsqrt_rn(float a) { return sqrtf(a); }
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __saturatef(float x) { return x < 0.f ? 0.f : (x > 1.f ? 1.f : x); }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline int __float2int_rn(float x) { return int(nearbyintf(x)); }
inline int __float_as_int(float x) { return rlvr_emu::from_bits<int>(rlvr_emu::to_bits(x)); }
inline unsigned __float_as_uint(float x) { return rlvr_emu::from_bits<unsigned>(rlvr_emu::to_bits(x)); }
inline float __int_as_float(int x) { return rlvr_emu::from_bits<float>(rlvr_emu::to_bits(x)); }
inline float __uint_as_float(unsigned x) { return rlvr_emu::from_bits<float>(rlvr_emu::to_bits(x)); }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(unsigned(x)); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline unsigned __brev(unsigned x) {
    unsigned r = 0;
    for (int i = 0; i < 32; ++i) r |= ((x >> i) & 1u) << (31 - i);
    return r;
}

// CUDA's device-side integer min/max overloads.
using std::max;
using std::min;
