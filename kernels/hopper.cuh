// Hopper (sm_90a) building blocks: wgmma (warpgroup MMA reading shared memory through matrix
// descriptors), TMA bulk tensor copies completed through mbarriers, and the fences around them.
// The same source compiles with nvcc (inline PTX, sm_90a only) and with g++ against the emulator
// (kernels/emu/hopper.cpp), which evaluates exactly the layouts documented here.
//
// Warpgroup: 4 consecutive warps (threads 128 w .. 128 w + 127). wgmma, wgmma_fence,
// wgmma_commit, wgmma_wait and setmaxnreg are executed by all 128 threads together.
//
// Accumulator fragment of m64nNk16 (thread t of the warpgroup, value i in [0, N/2)):
//   d[i] = D[16 (t / 32) + (t % 32) / 4 + 8 ((i / 2) % 2)][8 (i / 4) + 2 (t % 4) + i % 2]
// A from registers (4 x 32 bits, two bf16 each, low half first), value v in [0, 8), r = v / 2:
//   A[16 (t / 32) + (t % 32) / 4 + 8 (r % 2)][2 (t % 4) + 8 (r / 2) + v % 2]
//
// Shared-memory matrix descriptor (64 bits): start address >> 4 in bits 0-13, leading-dimension
// byte offset (LBO) >> 4 in bits 16-29, stride-dimension byte offset (SBO) >> 4 in bits 32-45,
// base offset in bits 49-51 (0 here), swizzle in bits 62-63 (0 none, 1 128B, 2 64B, 3 32B).
// For a K-major operand (rows along M or N, 16 bf16 of K per row slice), element (mn, k):
//   no swizzle: start + 16 (mn % 8) + SBO (mn / 8) + LBO (k / 8) + 2 (k % 8)
//   W-byte swizzle (W = 32, 64, 128): start + W (mn % 8) + SBO (mn / 8) + 2 k, then the address
//   bits 4.. (log2(W) - 1) are XORed with bits 7.. (the 16-byte chunk with the row within the
//   8-row pattern); stepping K by 16 inside a swizzled row adds 32 bytes to the start address.
// MN-major operands (trans = 1) follow the canonical layouts of the PTX ISA; see hopper.cpp.
//
// TMA: the tensor map is built on the host (cuTensorMapEncodeTiled, or the emulator's
// rlvr_emu_tensor_map_encode_tiled with the same arguments) and passed to the kernel by value
// (RLVR_TMAP_PARAM) or, as the probes do, as a pointer to global memory. A load writes the box at (c0 = column, c1 = row) into shared memory, rows of
// box[0] elements packed and swizzled as above, zero-filled outside the tensor, and counts the
// whole box's bytes on the mbarrier.
#pragma once

#include "common.cuh"

struct __align__(64) rlvr_tensor_map {
    unsigned long long opaque[16];
};

// A tensor-map kernel parameter: on the GPU the map itself, passed by value (the driver's
// CUtensorMap, 128 bytes) as a __grid_constant__ parameter, the way TMA wants it; in the
// emulator a pointer to the map in device memory. RLVR_TMAP(name) is the `const
// rlvr_tensor_map*` the TMA functions below take, in either build.
#ifdef RLVR_EMU
#define RLVR_TMAP_PARAM(name) const rlvr_tensor_map* name
#define RLVR_TMAP(name) (name)
#else
#define RLVR_TMAP_PARAM(name) const __grid_constant__ rlvr_tensor_map name
#define RLVR_TMAP(name) (&(name))
#endif

enum WgmmaSwizzle : int { kSwizzleNone = 0, kSwizzle128B = 1, kSwizzle64B = 2, kSwizzle32B = 3 };

static __device__ __forceinline__ uint32_t smem_window_address(const void* p) {
#ifdef RLVR_EMU
    return rlvr_emu::shared_window_address(p);
#else
    return static_cast<uint32_t>(__cvta_generic_to_shared(p));
#endif
}

// The matrix descriptor of the operand that starts at `smem` (dynamic shared memory).
static __device__ __forceinline__ uint64_t wgmma_desc(const void* smem, uint32_t lbo_bytes, uint32_t sbo_bytes,
                                                      WgmmaSwizzle swizzle) {
    const uint64_t start = (smem_window_address(smem) & 0x3FFFFu) >> 4;
    return start | (uint64_t((lbo_bytes >> 4) & 0x3FFFu) << 16) | (uint64_t((sbo_bytes >> 4) & 0x3FFFu) << 32) |
           (uint64_t(swizzle) << 62);
}

static __device__ __forceinline__ void wgmma_fence() {
#ifdef RLVR_EMU
    rlvr_emu::wgmma_fence();
#else
    asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#endif
}

static __device__ __forceinline__ void wgmma_commit() {
#ifdef RLVR_EMU
    rlvr_emu::wgmma_commit_group();
#else
    asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
#endif
}

// Waits until at most N committed wgmma groups of the warpgroup are in flight; only then do their
// accumulators hold the results (before, the emulator has them read as NaN).
template <int N>
static __device__ __forceinline__ void wgmma_wait() {
#ifdef RLVR_EMU
    rlvr_emu::wgmma_wait_group(N);
#else
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
#endif
}

#ifndef RLVR_EMU
#define RLVR_D8(i)                                                                                              \
    "+f"(d[(i) + 0]), "+f"(d[(i) + 1]), "+f"(d[(i) + 2]), "+f"(d[(i) + 3]), "+f"(d[(i) + 4]), "+f"(d[(i) + 5]), \
        "+f"(d[(i) + 6]), "+f"(d[(i) + 7])
template <int N>
struct Wgmma;
template <>
struct Wgmma<64> {
    template <int TA, int TB>
    static __device__ __forceinline__ void ss(float* d, uint64_t da, uint64_t db, int scale_d) {
        asm volatile(
            "{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
            "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31}, %32, %33, p, 1, 1, %35, %36;\n}\n"
            : RLVR_D8(0), RLVR_D8(8), RLVR_D8(16), RLVR_D8(24)
            : "l"(da), "l"(db), "r"(scale_d), "n"(TA), "n"(TB));
    }
    template <int TB>
    static __device__ __forceinline__ void rs(float* d, const uint32_t* a, uint64_t db, int scale_d) {
        asm volatile(
            "{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
            "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31}, {%32,%33,%34,%35}, %36, p, 1, 1, %38;\n}\n"
            : RLVR_D8(0), RLVR_D8(8), RLVR_D8(16), RLVR_D8(24)
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(scale_d), "n"(TB));
    }
};

template <>
struct Wgmma<128> {
    template <int TA, int TB>
    static __device__ __forceinline__ void ss(float* d, uint64_t da, uint64_t db, int scale_d) {
        asm volatile(
            "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
            "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31,%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63}, %64, %65, p, 1, 1, %67, %68;\n}\n"
            : RLVR_D8(0), RLVR_D8(8), RLVR_D8(16), RLVR_D8(24), RLVR_D8(32), RLVR_D8(40), RLVR_D8(48), RLVR_D8(56)
            : "l"(da), "l"(db), "r"(scale_d), "n"(TA), "n"(TB));
    }
    template <int TB>
    static __device__ __forceinline__ void rs(float* d, const uint32_t* a, uint64_t db, int scale_d) {
        asm volatile(
            "{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
            "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31,%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63}, {%64,%65,%66,%67}, %68, p, 1, 1, %70;\n}\n"
            : RLVR_D8(0), RLVR_D8(8), RLVR_D8(16), RLVR_D8(24), RLVR_D8(32), RLVR_D8(40), RLVR_D8(48), RLVR_D8(56)
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(scale_d), "n"(TB));
    }
};

template <>
struct Wgmma<256> {
    template <int TA, int TB>
    static __device__ __forceinline__ void ss(float* d, uint64_t da, uint64_t db, int scale_d) {
        asm volatile(
            "{\n.reg .pred p;\nsetp.ne.b32 p, %130, 0;\n"
            "wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31,%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63,%64,%65,%66,%67,%68,%69,%70,%71,%72,%73,%74,%75,%76,%77,%78,%79,%80,%81,%82,%83,%84,%85,%86,%87,%88,%89,%90,%91,%92,%93,%94,%95,%96,%97,%98,%99,%100,%101,%102,%103,%104,%105,%106,%107,%108,%109,%110,%111,%112,%113,%114,%115,%116,%117,%118,%119,%120,%121,%122,%123,%124,%125,%126,%127}, %128, %129, p, 1, 1, %131, %132;\n}\n"
            : RLVR_D8(0), RLVR_D8(8), RLVR_D8(16), RLVR_D8(24), RLVR_D8(32), RLVR_D8(40), RLVR_D8(48), RLVR_D8(56), RLVR_D8(64), RLVR_D8(72), RLVR_D8(80), RLVR_D8(88), RLVR_D8(96), RLVR_D8(104), RLVR_D8(112), RLVR_D8(120)
            : "l"(da), "l"(db), "r"(scale_d), "n"(TA), "n"(TB));
    }
    template <int TB>
    static __device__ __forceinline__ void rs(float* d, const uint32_t* a, uint64_t db, int scale_d) {
        asm volatile(
            "{\n.reg .pred p;\nsetp.ne.b32 p, %133, 0;\n"
            "wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31,%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63,%64,%65,%66,%67,%68,%69,%70,%71,%72,%73,%74,%75,%76,%77,%78,%79,%80,%81,%82,%83,%84,%85,%86,%87,%88,%89,%90,%91,%92,%93,%94,%95,%96,%97,%98,%99,%100,%101,%102,%103,%104,%105,%106,%107,%108,%109,%110,%111,%112,%113,%114,%115,%116,%117,%118,%119,%120,%121,%122,%123,%124,%125,%126,%127}, {%128,%129,%130,%131}, %132, p, 1, 1, %134;\n}\n"
            : RLVR_D8(0), RLVR_D8(8), RLVR_D8(16), RLVR_D8(24), RLVR_D8(32), RLVR_D8(40), RLVR_D8(48), RLVR_D8(56), RLVR_D8(64), RLVR_D8(72), RLVR_D8(80), RLVR_D8(88), RLVR_D8(96), RLVR_D8(104), RLVR_D8(112), RLVR_D8(120)
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(scale_d), "n"(TB));
    }
};
#undef RLVR_D8
#endif

// d (N / 2 floats per thread) = A (64 x 16, descriptor) x B (16 x N, descriptor of N rows x 16 K)
// + (scale_d ? d : 0). TA / TB = 1: that operand is MN-major (the transposed canonical layout).
template <int N, int TA, int TB>
static __device__ __forceinline__ void wgmma_ss_t(float* d, uint64_t desc_a, uint64_t desc_b, int scale_d) {
#ifdef RLVR_EMU
    rlvr_emu::wgmma_bf16(N, d, nullptr, desc_a, desc_b, scale_d, 1, 1, TA, TB);
#else
    Wgmma<N>::template ss<TA, TB>(d, desc_a, desc_b, scale_d);
#endif
}

// Both operands K-major.
template <int N>
static __device__ __forceinline__ void wgmma_ss(float* d, uint64_t desc_a, uint64_t desc_b, int scale_d) {
    wgmma_ss_t<N, 0, 0>(d, desc_a, desc_b, scale_d);
}

// The same with A from registers (fragment layout above); TB = 1: B is MN-major.
template <int N, int TB>
static __device__ __forceinline__ void wgmma_rs_t(float* d, const uint32_t a[4], uint64_t desc_b, int scale_d) {
#ifdef RLVR_EMU
    rlvr_emu::wgmma_bf16(N, d, a, 0, desc_b, scale_d, 1, 1, 0, TB);
#else
    Wgmma<N>::template rs<TB>(d, a, desc_b, scale_d);
#endif
}

template <int N>
static __device__ __forceinline__ void wgmma_rs(float* d, const uint32_t a[4], uint64_t desc_b, int scale_d) {
    wgmma_rs_t<N, 0>(d, a, desc_b, scale_d);
}

// Warpgroup register reallocation (producer warpgroups give registers to consumer warpgroups).
template <int Regs>
static __device__ __forceinline__ void setmaxnreg_inc() {
#ifdef RLVR_EMU
    rlvr_emu::setmaxnreg(true, Regs);
#else
    asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(Regs));
#endif
}
template <int Regs>
static __device__ __forceinline__ void setmaxnreg_dec() {
#ifdef RLVR_EMU
    rlvr_emu::setmaxnreg(false, Regs);
#else
    asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(Regs));
#endif
}

static __device__ __forceinline__ void mbar_init(uint64_t* bar, uint32_t count) {
#ifdef RLVR_EMU
    rlvr_emu::mbarrier_init(bar, count);
#else
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(smem_window_address(bar)), "r"(count));
#endif
}

// One arrival that also announces `tx_bytes` of bulk-copy transactions for the current phase.
static __device__ __forceinline__ void mbar_arrive_expect_tx(uint64_t* bar, uint32_t tx_bytes) {
#ifdef RLVR_EMU
    rlvr_emu::mbarrier_arrive_expect_tx(bar, tx_bytes);
#else
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(smem_window_address(bar)),
                 "r"(tx_bytes)
                 : "memory");
#endif
}

static __device__ __forceinline__ void mbar_arrive(uint64_t* bar) {
#ifdef RLVR_EMU
    rlvr_emu::mbarrier_arrive(bar);
#else
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(smem_window_address(bar)) : "memory");
#endif
}

// True once the phase with parity `parity` has completed.
static __device__ __forceinline__ bool mbar_try_wait(uint64_t* bar, uint32_t parity) {
#ifdef RLVR_EMU
    return rlvr_emu::mbarrier_try_wait_parity(bar, parity);
#else
    uint32_t done;
    asm volatile(
        "{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
        : "=r"(done)
        : "r"(smem_window_address(bar)), "r"(parity)
        : "memory");
    return done != 0;
#endif
}

static __device__ __forceinline__ void mbar_wait(uint64_t* bar, uint32_t parity) {
    while (!mbar_try_wait(bar, parity)) {
    }
}

// Orders this thread's generic-proxy shared-memory writes before later async-proxy accesses
// (a TMA store reading them).
static __device__ __forceinline__ void fence_proxy_async() {
#ifdef RLVR_EMU
    rlvr_emu::fence_proxy_async();
#else
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
#endif
}

// TMA load of the box at (c0, c1) into `smem_dst` (128-byte aligned; 1024 for 128-byte swizzle),
// completing on `bar`.
static __device__ __forceinline__ void tma_load_2d(void* smem_dst, const rlvr_tensor_map* map, int c0, int c1,
                                                   uint64_t* bar) {
#ifdef RLVR_EMU
    rlvr_emu::tma_load_2d(smem_dst, map, c0, c1, bar);
#else
    asm volatile(
        "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];\n" ::"r"(
            smem_window_address(smem_dst)),
        "l"(map), "r"(c0), "r"(c1), "r"(smem_window_address(bar))
        : "memory");
#endif
}

// TMA store of the box at `smem_src` to (c0, c1); elements outside the tensor are not written.
static __device__ __forceinline__ void tma_store_2d(const rlvr_tensor_map* map, const void* smem_src, int c0, int c1) {
#ifdef RLVR_EMU
    rlvr_emu::tma_store_2d(map, smem_src, c0, c1);
#else
    asm volatile("cp.async.bulk.tensor.2d.global.shared::cta.bulk_group [%0, {%2, %3}], [%1];\n" ::"l"(map),
                 "r"(smem_window_address(smem_src)), "r"(c0), "r"(c1)
                 : "memory");
#endif
}

static __device__ __forceinline__ void bulk_commit() {
#ifdef RLVR_EMU
    rlvr_emu::bulk_commit_group();
#else
    asm volatile("cp.async.bulk.commit_group;\n" ::: "memory");
#endif
}

// Waits until at most N committed bulk-store groups of this thread are still writing.
template <int N>
static __device__ __forceinline__ void bulk_wait() {
#ifdef RLVR_EMU
    rlvr_emu::bulk_wait_group(N);
#else
    asm volatile("cp.async.bulk.wait_group %0;\n" ::"n"(N) : "memory");
#endif
}
