// Probes of the emulated Hopper instructions (kernels/hopper.cuh) and planted bugs in their use.
// Compiled only into the emulator by build.rs (tests/emu_hopper.rs runs them); the same source
// also compiles with nvcc for sm_90a (tests/emu_hopper.rs checks that when nvcc is present).
#include "hopper.cuh"

// What a planted variant gets wrong (Bug::kNone: the correct kernel).
enum class Bug : int {
    kNone,
    kWrongSwizzle,        // the descriptors name a narrower swizzle than the TMA wrote
    kMissingWgmmaWait,    // the accumulators are read without wgmma.wait_group
    kMissingMbarrierWait, // shared memory is read without waiting for the TMA's mbarrier phase
    kExpectTxShort,       // arrive.expect_tx announces 16 bytes fewer than the copies deliver
    kExpectTxLong,        // ... 16 bytes more
    kMissingFence,        // wgmma.mma_async without wgmma.fence
};

// mbarrier.init by one thread, in a call of its own: a conditional call right before a
// __syncthreads lets g++ give each path its own copy of the barrier call, which the emulator
// reads as a barrier in divergent code.
static __device__ __noinline__ void init_barriers_if(bool leader, uint64_t* bars, int n, uint32_t count) {
    if (leader)
        for (int i = 0; i < n; ++i) mbar_init(&bars[i], count);
}

// Loads the K tile `kt` of A (64 rows) and B (n rows) with TMA: one box per operand of
// `kcols` columns, or with no swizzle two boxes of 8 columns (the second LBO bytes on).
static __device__ void load_tile(bf16* sa, bf16* sb, const rlvr_tensor_map* map_a, const rlvr_tensor_map* map_b,
                                 uint64_t* bar, int k0, int n, int span, bool a_from_regs, Bug bug) {
    const int kcols = span ? span / 2 : 16;
    uint32_t bytes = uint32_t((a_from_regs ? 0 : 64) + n) * uint32_t(kcols) * 2u;
    if (bug == Bug::kExpectTxShort) bytes -= 16;
    if (bug == Bug::kExpectTxLong) bytes += 16;
    mbar_arrive_expect_tx(bar, bytes);
    if (span) {
        if (!a_from_regs) tma_load_2d(sa, map_a, k0, 0, bar);
        tma_load_2d(sb, map_b, k0, 0, bar);
    } else {
        for (int h = 0; h < 2; ++h) {
            if (!a_from_regs) tma_load_2d(sa + h * 64 * 8, map_a, k0 + 8 * h, 0, bar);
            tma_load_2d(sb + h * n * 8, map_b, k0 + 8 * h, 0, bar);
        }
    }
}

// The A fragment of rows 16 w .. 16 w + 15 for k0 .. k0 + 15, straight from global memory
// (row-major, `k` columns), in the register layout of the PTX ISA.
static __device__ void load_a_fragment(uint32_t a[4], const bf16* ag, int k, int k0) {
    const int t = threadIdx.x, w = t / 32, l = t % 32;
    for (int r = 0; r < 4; ++r) {
        const int row = 16 * w + l / 4 + 8 * (r % 2);
        const int col = k0 + 2 * (l % 4) + 8 * (r / 2);
        a[r] = ld_bf16x2(ag + int64_t(row) * k + col);
    }
}

template <int N>
static __device__ void wgmma_tile(float* d, bf16* sa, bf16* sb, const bf16* ag, int k, int k0, int span,
                                  bool a_from_regs, Bug bug, int first) {
    const int kcols = span ? span / 2 : 16;
    const WgmmaSwizzle mode = span == 128 ? kSwizzle128B : span == 64 ? kSwizzle64B : span == 32 ? kSwizzle32B : kSwizzleNone;
    WgmmaSwizzle desc_mode = mode;
    if (bug == Bug::kWrongSwizzle) desc_mode = mode == kSwizzle128B ? kSwizzle64B : kSwizzle32B;
    // Register operands are written before the fence (wgmma.fence orders them before the wgmma).
    uint32_t a[4][4];
    if (a_from_regs)
        for (int kk = 0; kk < kcols; kk += 16) load_a_fragment(a[kk / 16], ag, k, k0 + kk);
    if (bug != Bug::kMissingFence) wgmma_fence();
    for (int kk = 0; kk < kcols; kk += 16) {
        // Swizzled: 8-row groups 8 x span bytes apart, K steps of 16 add 32 bytes to the start.
        // No swizzle: 8 x 16-byte core matrices, 8-row groups 128 bytes apart, the second 8 of K
        // in the second box (LBO).
        const uint64_t db = span ? wgmma_desc(sb + kk, 16, 8 * uint32_t(span), desc_mode)
                                 : wgmma_desc(sb, uint32_t(N) * 16, 128, kSwizzleNone);
        const int scale_d = first && kk == 0 ? 0 : 1;
        if (a_from_regs) {
            wgmma_rs<N>(d, a[kk / 16], db, scale_d);
        } else {
            const uint64_t da = span ? wgmma_desc(sa + kk, 16, 8 * uint32_t(span), desc_mode)
                                     : wgmma_desc(sa, 64 * 16, 128, kSwizzleNone);
            wgmma_ss<N>(d, da, db, scale_d);
        }
    }
}

// C[64][n] = A[64][k] B[n][k]^T with one warpgroup (128 threads, one block): TMA loads of each K
// tile into dynamic shared memory (swizzle span 0, 32, 64 or 128 as the tensor maps say), one
// mbarrier phase per tile, wgmma m64nNk16 over the tile, f32 results stored from the fragments.
template <int N>
static __device__ void wgmma_gemm(unsigned char* raw, float* c, const rlvr_tensor_map* map_a,
                                  const rlvr_tensor_map* map_b, const bf16* ag, int k, int span, bool a_from_regs,
                                  Bug bug) {
    // 1024-byte aligned tiles (the 128-byte swizzle pattern repeats every 1024 bytes).
    unsigned char* base = raw + ((1024 - (smem_window_address(raw) & 1023)) & 1023);
    bf16* sa = reinterpret_cast<bf16*>(base);
    bf16* sb = reinterpret_cast<bf16*>(base + 64 * 128);
    uint64_t* bar = reinterpret_cast<uint64_t*>(base + 64 * 128 + 256 * 128);
    const int t = threadIdx.x;
    init_barriers_if(t == 0, bar, 1, 1);
    __syncthreads();
    float d[N / 2];
    for (int i = 0; i < N / 2; ++i) d[i] = 0.0f;
    const int kcols = span ? span / 2 : 16;
    uint32_t phase = 0;
    for (int k0 = 0; k0 < k; k0 += kcols) {
        if (t == 0) load_tile(sa, sb, map_a, map_b, bar, k0, N, span, a_from_regs, bug);
        if (bug != Bug::kMissingMbarrierWait) mbar_wait(bar, phase);
        phase ^= 1;
        wgmma_tile<N>(d, sa, sb, ag, k, k0, span, a_from_regs, bug, k0 == 0);
        wgmma_commit();
        const bool last = k0 + kcols >= k;
        if (!(last && bug == Bug::kMissingWgmmaWait)) wgmma_wait<0>();
        __syncthreads();  // every thread is done with the tile before the next TMA overwrites it
    }
    const int w = t / 32, l = t % 32;
    for (int i = 0; i < N / 2; ++i) {
        const int row = 16 * w + l / 4 + 8 * ((i / 2) % 2);
        const int col = 8 * (i / 4) + 2 * (l % 4) + i % 2;
        c[row * N + col] = d[i];
    }
}

// N = 8 and 24 only in the emulator: hopper.cuh spells the PTX of N = 64, 128 and 256.
static __device__ void wgmma_gemm_any(unsigned char* raw, float* c, const rlvr_tensor_map* map_a,
                                      const rlvr_tensor_map* map_b, const bf16* ag, int n, int k, int span,
                                      int a_from_regs, Bug bug) {
    const bool regs = a_from_regs != 0;
    switch (n) {
#ifdef RLVR_EMU
        case 8: wgmma_gemm<8>(raw, c, map_a, map_b, ag, k, span, regs, bug); break;
        case 24: wgmma_gemm<24>(raw, c, map_a, map_b, ag, k, span, regs, bug); break;
#endif
        case 64: wgmma_gemm<64>(raw, c, map_a, map_b, ag, k, span, regs, bug); break;
        case 128: wgmma_gemm<128>(raw, c, map_a, map_b, ag, k, span, regs, bug); break;
        case 256: wgmma_gemm<256>(raw, c, map_a, map_b, ag, k, span, regs, bug); break;
        default: break;  // the test only asks for these
    }
}

#define RLVR_WGMMA_GEMM_KERNEL(name, bug)                                                                      \
    RLVR_KERNEL(name, float* __restrict__ c, const rlvr_tensor_map* map_a, const rlvr_tensor_map* map_b,     \
                const bf16* __restrict__ ag, int n, int k, int span, int a_from_regs) {                      \
        RLVR_DYNAMIC_SMEM(unsigned char, raw);                                                              \
        wgmma_gemm_any(raw, c, map_a, map_b, ag, n, k, span, a_from_regs, bug);                             \
    }

RLVR_WGMMA_GEMM_KERNEL(emu_probe_wgmma_gemm, Bug::kNone)
RLVR_WGMMA_GEMM_KERNEL(planted_wgmma_wrong_swizzle, Bug::kWrongSwizzle)
RLVR_WGMMA_GEMM_KERNEL(planted_wgmma_missing_wait, Bug::kMissingWgmmaWait)
RLVR_WGMMA_GEMM_KERNEL(planted_tma_missing_mbarrier_wait, Bug::kMissingMbarrierWait)
RLVR_WGMMA_GEMM_KERNEL(planted_tma_expect_tx_short, Bug::kExpectTxShort)
RLVR_WGMMA_GEMM_KERNEL(planted_tma_expect_tx_long, Bug::kExpectTxLong)
RLVR_WGMMA_GEMM_KERNEL(planted_wgmma_missing_fence, Bug::kMissingFence)

// TMA round trip (one warp): loads the box at (c0, c1) of X (bf16) into shared memory, writes what
// each box element holds to `plain` (box rows x box cols, read back through the swizzle formula
// of the PTX ISA, written here independently), doubles every element in shared memory and stores
// the box to Y at the same coordinates with a TMA store. `fence`: 0 leaves out fence.proxy.async.
static __device__ void tma_round_trip(unsigned char* raw, bf16* plain, const rlvr_tensor_map* map_x,
                                      const rlvr_tensor_map* map_y, int c0, int c1, int box_cols, int box_rows,
                                      int span, bool fence) {
    unsigned char* base = raw + ((1024 - (smem_window_address(raw) & 1023)) & 1023);
    uint64_t* bar = reinterpret_cast<uint64_t*>(base + 256 * 128);
    const int t = threadIdx.x;
    init_barriers_if(t == 0, bar, 1, 1);
    __syncthreads();
    if (t == 0) {
        mbar_arrive_expect_tx(bar, uint32_t(box_cols * box_rows * 2));
        tma_load_2d(base, map_x, c0, c1, bar);
    }
    mbar_wait(bar, 0);
    const uint32_t win = smem_window_address(base);
    const uint32_t bits = span == 128 ? 3 : span == 64 ? 2 : span == 32 ? 1 : 0;
    for (int e = t; e < box_cols * box_rows; e += blockDim.x) {
        const int y = e / box_cols, x = e % box_cols;
        const uint32_t a = win + uint32_t(y * box_cols * 2 + x * 2);
        const uint32_t chunk = (a >> 4) & 7, row8 = (a >> 7) & 7;
        const uint32_t swz = (a & ~uint32_t(0x70)) | (((chunk ^ (row8 & ((1u << bits) - 1))) & 7) << 4);
        bf16* p = reinterpret_cast<bf16*>(base + (swz - win));
        plain[e] = *p;
        *p = __float2bfloat16(2.0f * __bfloat162float(*p));
    }
    if (fence) fence_proxy_async();
    __syncthreads();
    if (t == 0) {
        tma_store_2d(map_y, base, c0, c1);
        bulk_commit();
        bulk_wait<0>();
    }
}

RLVR_KERNEL(emu_probe_tma_round_trip, bf16* __restrict__ plain, const rlvr_tensor_map* map_x,
            const rlvr_tensor_map* map_y, int c0, int c1, int box_cols, int box_rows, int span) {
    RLVR_DYNAMIC_SMEM(unsigned char, raw);
    tma_round_trip(raw, plain, map_x, map_y, c0, c1, box_cols, box_rows, span, true);
}

RLVR_KERNEL(planted_tma_store_missing_fence, bf16* __restrict__ plain, const rlvr_tensor_map* map_x,
            const rlvr_tensor_map* map_y, int c0, int c1, int box_cols, int box_rows, int span) {
    RLVR_DYNAMIC_SMEM(unsigned char, raw);
    tma_round_trip(raw, plain, map_x, map_y, c0, c1, box_cols, box_rows, span, false);
}

// Producer / consumer warpgroups (256 threads): warpgroup 0 gives up registers and fills a
// 2-stage ring of 64 x 64 bf16 tiles (128-byte swizzle) with TMA; warpgroup 1 takes registers,
// waits on each stage's full barrier, copies element (row, 0) of the tile's 64 rows to
// out[tile * 64 + row] and releases the stage through its empty barrier. Exercises setmaxnreg
// and mbarrier phase tracking over several passes of the ring.
RLVR_KERNEL(emu_probe_tma_ring, float* __restrict__ out, const rlvr_tensor_map* map_x, int tiles) {
    RLVR_DYNAMIC_SMEM(unsigned char, raw);
    unsigned char* base = raw + ((1024 - (smem_window_address(raw) & 1023)) & 1023);
    constexpr int kStages = 2, kTile = 64 * 128;
    uint64_t* full = reinterpret_cast<uint64_t*>(base + kStages * kTile);
    uint64_t* empty = full + kStages;
    const int t = threadIdx.x, wg = t / 128;
    init_barriers_if(t == 0, full, kStages, 1);
    init_barriers_if(t == 0, empty, kStages, 128);
    __syncthreads();
    if (wg == 0) {
        setmaxnreg_dec<40>();
        if (t == 0)
            for (int i = 0; i < tiles; ++i) {
                const int s = i % kStages;
                mbar_wait(&empty[s], ((i / kStages) & 1) ^ 1);
                mbar_arrive_expect_tx(&full[s], kTile);
                tma_load_2d(base + s * kTile, map_x, 0, 64 * i, &full[s]);
            }
    } else {
        setmaxnreg_inc<232>();
        const int row = t - 128;
        for (int i = 0; i < tiles; ++i) {
            const int s = i % kStages;
            mbar_wait(&full[s], (i / kStages) & 1);
            if (row < 64) {
                // Element (row, 0): chunk 0 of the row lands in chunk (row % 8) under 128B swizzle.
                const bf16* p = reinterpret_cast<const bf16*>(base + s * kTile + row * 128 + (row % 8) * 16);
                out[i * 64 + row] = __bfloat162float(*p);
            }
            mbar_arrive(&empty[s]);
        }
    }
}
