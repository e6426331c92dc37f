// The sm_90a GEMM (rung 5 of kernels/gemm.cu's ladder): C = alpha A B^T (+ bias, + residual,
// + beta C_f32) with the operand conventions of gemm.cu, one batch entry per launch.
//
// Warp specialisation: 384 threads. Warpgroup 0 is the producer: it gives up registers
// (setmaxnreg.dec) and one thread issues TMA loads of the A and B tiles (BK = 64 columns of K,
// 128-byte swizzle) into a ring of STAGES shared-memory stages; each stage has a full mbarrier
// (one arrival with expect_tx of the stage's bytes, completed by the copies) and an empty
// mbarrier (one arrival per consumer warpgroup once its wgmmas have read the stage).
// Warpgroups 1 and 2 are the consumers (setmaxnreg.inc): consumer c computes rows 64 c .. 64 c + 63
// of the 128 x BN tile with wgmma m64nBNk16 straight from shared memory, keeping one K tile's
// wgmma group in flight while it waits for the next stage, then writes its accumulators through
// the epilogue of gemm_epilogue.cuh (bounds-checked: partial tiles never write outside C).
// Persistent: gridDim.x blocks (the SM count) walk the tiles in the grouped order of rung 3
// (bands of 8 M-tiles walk N together).
//
// Operand layouts (gemm.cu's suffixes): K-major A = x [M, K] is one TMA box of 64 K x 128 rows;
// M-major A (stored [K, M]) is two boxes of 64 M x 64 K rows, one per consumer; likewise B with
// BN rows (K-major) or BN / 64 boxes of 64 N (N-major). Out-of-bounds box elements are zero-filled
// by TMA, so K needs no multiple of 64 and edge tiles need no special loads. The wgmma descriptors
// (hopper.cuh): K-major 8-row groups 1024 bytes apart (SBO), a K step of 16 adds 32 bytes;
// MN-major 8-K groups 1024 bytes apart (SBO), 64-element MN blocks one box (8192 bytes) apart
// (LBO), a K step of 16 adds 2048 bytes.
#pragma once

#include "gemm_epilogue.cuh"
#include "hopper.cuh"

// nvcc compiles the wgmma / TMA path for sm_90a only; other targets get a kernel that traps (the
// launcher never selects it there).
#if defined(RLVR_EMU) || defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define RLVR_GEMM_SM90 1
#endif

#define SM90_BM 128
#define SM90_BK 64
#define SM90_THREADS 384
#define SM90_GROUP 8
#define SM90_PRODUCER_REGS 40
#define SM90_CONSUMER_REGS 232

// Shared-memory plan of one tile configuration (offsets from the 1024-byte aligned base).
template <int BN, int STAGES>
struct Sm90Smem {
    static constexpr int A_BYTES = SM90_BM * SM90_BK * 2;  // 16 KiB
    static constexpr int B_BYTES = BN * SM90_BK * 2;
    static constexpr int STAGE_BYTES = A_BYTES + B_BYTES;
    static constexpr int BARRIERS = STAGES * STAGE_BYTES;  // full[STAGES], then empty[STAGES]
    // What the launcher allocates: stages, barriers and the alignment slack.
    static constexpr int TOTAL = BARRIERS + 16 * STAGES + 1024;
};

// What a planted variant gets wrong (kNone: the real kernel).
enum class Sm90Bug : int {
    kNone,
    kSkipFullWait,  // consumers read a stage without waiting for its full barrier
};

// mbarrier.init by one thread in a call of its own (see kernels/emu/planted/hopper.cu).
static __device__ __noinline__ void sm90_init_barriers(bool leader, uint64_t* full, uint64_t* empty, int stages) {
    if (leader)
        for (int s = 0; s < stages; ++s) {
            mbar_init(&full[s], 1);
            mbar_init(&empty[s], 2);
        }
}

// (m0, n0) of the persistent loop's tile `tile` in the grouped order.
static __device__ __forceinline__ void sm90_tile_origin(int tile, int tiles_m, int tiles_n, int bn, int* m0,
                                                        int* n0) {
    const int band = SM90_GROUP * tiles_n;
    const int first_m = (tile / band) * SM90_GROUP;
    const int band_rows = min(tiles_m - first_m, SM90_GROUP);
    *m0 = (first_m + (tile % band) % band_rows) * SM90_BM;
    *n0 = ((tile % band) / band_rows) * bn;
}

// The producer thread: fills the ring for every K tile of every tile of this block.
// Columns n and n + 1 (n even) of one row; `vec` (epilogue_vectors): one 8-byte f32 and one
// 4-byte bf16 access per pair instead of two each (N is then even, so both are inside C or
// neither is).
static __device__ __forceinline__ void sm90_epilogue_pair(const Epilogue& e, int64_t idx, int n, int N, float v0,
                                                          float v1, bool vec) {
    if (!vec) {
        if (n < N) epilogue_one(e, idx, n, v0);
        if (n + 1 < N) epilogue_one(e, idx + 1, n + 1, v1);
        return;
    }
    if (n >= N) return;
    v0 *= e.alpha;
    v1 *= e.alpha;
    if (e.bias) {
        const uint32_t b = ld_bf16x2(e.bias + n);
        v0 += bf16_lo(b);
        v1 += bf16_hi(b);
    }
    if (e.residual) {
        const uint32_t r = ld_bf16x2(e.residual + idx);
        v0 += bf16_lo(r);
        v1 += bf16_hi(r);
    }
    if (e.c_f32) {
        if (e.beta != 0.0f) {
            const uint2 o = ld_u32x2(e.c_f32 + idx);
            v0 += e.beta * __uint_as_float(o.x);
            v1 += e.beta * __uint_as_float(o.y);
        }
        st_f32x2(e.c_f32 + idx, v0, v1);
    }
    if (e.c_bf16) {
        const uint32_t w = pack_bf16x2(v0, v1);
#ifdef RLVR_EMU
        memcpy(static_cast<void*>(e.c_bf16 + idx), &w, 4);
#else
        *reinterpret_cast<uint32_t*>(e.c_bf16 + idx) = w;
#endif
    }
}

template <int BN, int STAGES, bool A_K, bool B_K>
static __device__ void sm90_produce(unsigned char* base, const rlvr_tensor_map* map_a, const rlvr_tensor_map* map_b,
                                    int tiles_m, int tiles_n, int ktiles) {
    using S = Sm90Smem<BN, STAGES>;
    uint64_t* full = reinterpret_cast<uint64_t*>(base + S::BARRIERS);
    uint64_t* empty = full + STAGES;
    int it = 0;
    for (int tile = blockIdx.x; tile < tiles_m * tiles_n; tile += gridDim.x) {
        int m0, n0;
        sm90_tile_origin(tile, tiles_m, tiles_n, BN, &m0, &n0);
        for (int kt = 0; kt < ktiles; ++kt, ++it) {
            const int s = it % STAGES;
            mbar_wait(&empty[s], ((it / STAGES) & 1) ^ 1);
            mbar_arrive_expect_tx(&full[s], S::STAGE_BYTES);
            unsigned char* sa = base + s * S::STAGE_BYTES;
            unsigned char* sb = sa + S::A_BYTES;
            const int k0 = kt * SM90_BK;
            if (A_K) {
                tma_load_2d(sa, map_a, k0, m0, &full[s]);
            } else {
                tma_load_2d(sa, map_a, m0, k0, &full[s]);
                tma_load_2d(sa + 8192, map_a, m0 + 64, k0, &full[s]);
            }
            if (B_K) {
                tma_load_2d(sb, map_b, k0, n0, &full[s]);
            } else {
#pragma unroll
                for (int h = 0; h < BN / 64; ++h) tma_load_2d(sb + 8192 * h, map_b, n0 + 64 * h, k0, &full[s]);
            }
        }
    }
}

// One consumer warpgroup (c = 0 or 1): rows 64 c .. 64 c + 63 of every tile of this block.
template <int BN, int STAGES, bool A_K, bool B_K, Sm90Bug BUG>
static __device__ void sm90_consume(unsigned char* base, int c, const Epilogue& e, int M, int N, int tiles_m,
                                    int tiles_n, int ktiles) {
    using S = Sm90Smem<BN, STAGES>;
    uint64_t* full = reinterpret_cast<uint64_t*>(base + S::BARRIERS);
    uint64_t* empty = full + STAGES;
    const int t = threadIdx.x % 128;
    const bool leader = t == 0;
    // A K step of 16 inside a stage: 32 bytes along a K-major row, 16 rows of 128 bytes MN-major.
    constexpr uint32_t A_STEP = A_K ? 32 : 2048, B_STEP = B_K ? 32 : 2048;
    const uint32_t a_off = A_K ? uint32_t(c) * 64 * 128 : uint32_t(c) * 8192;
    const bool vec = epilogue_vectors(e, N);
    float d[BN / 2];
#pragma unroll
    for (int i = 0; i < BN / 2; ++i) d[i] = 0.0f;
    int it = 0;
    for (int tile = blockIdx.x; tile < tiles_m * tiles_n; tile += gridDim.x) {
        int m0, n0;
        sm90_tile_origin(tile, tiles_m, tiles_n, BN, &m0, &n0);
        for (int kt = 0; kt < ktiles; ++kt, ++it) {
            const int s = it % STAGES;
            if (BUG != Sm90Bug::kSkipFullWait) mbar_wait(&full[s], (it / STAGES) & 1);
            unsigned char* sa = base + s * S::STAGE_BYTES + a_off;
            unsigned char* sb = base + s * S::STAGE_BYTES + S::A_BYTES;
            wgmma_fence();
#pragma unroll
            for (int kk = 0; kk < SM90_BK / 16; ++kk) {
                const uint64_t da = wgmma_desc(sa + kk * A_STEP, A_K ? 16 : 8192, 1024, kSwizzle128B);
                const uint64_t db = wgmma_desc(sb + kk * B_STEP, B_K ? 16 : 8192, 1024, kSwizzle128B);
                wgmma_ss_t<BN, A_K ? 0 : 1, B_K ? 0 : 1>(d, da, db, kt > 0 || kk > 0 ? 1 : 0);
            }
            wgmma_commit();
            // The previous K tile's group has retired: its stage may be refilled.
            wgmma_wait<1>();
            if (kt > 0 && leader) mbar_arrive(&empty[(it + STAGES - 1) % STAGES]);
        }
        wgmma_wait<0>();
        if (leader) mbar_arrive(&empty[(it + STAGES - 1) % STAGES]);
        // Epilogue from the fragments: value i of thread t is D[row][col] (hopper.cuh).
        // Values 2 j and 2 j + 1 are columns n, n + 1 of one row.
        const int row0 = m0 + 64 * c + 16 * (t / 32) + (t % 32) / 4;
#pragma unroll
        for (int i = 0; i < BN / 2; i += 2) {
            const int m = row0 + 8 * ((i / 2) % 2);
            const int n = n0 + 8 * (i / 4) + 2 * (t % 4);
            if (m < M) sm90_epilogue_pair(e, int64_t(m) * N + n, n, N, d[i], d[i + 1], vec);
        }
    }
}

template <int BN, int STAGES, bool A_K, bool B_K, Sm90Bug BUG>
static __device__ __forceinline__ void gemm_sm90(const rlvr_tensor_map* map_a, const rlvr_tensor_map* map_b,
                                                 float* c_f32, bf16* c_bf16, const bf16* bias, const bf16* residual,
                                                 int M, int N, int K, float alpha, float beta) {
#ifdef RLVR_GEMM_SM90
    using S = Sm90Smem<BN, STAGES>;
    RLVR_DYNAMIC_SMEM(unsigned char, raw);
    unsigned char* base = raw + ((1024 - (smem_window_address(raw) & 1023)) & 1023);
    uint64_t* full = reinterpret_cast<uint64_t*>(base + S::BARRIERS);
    const int wg = threadIdx.x / 128;
    sm90_init_barriers(threadIdx.x == 0, full, full + STAGES, STAGES);
    __syncthreads();
    const int tiles_m = (M + SM90_BM - 1) / SM90_BM, tiles_n = (N + BN - 1) / BN;
    const int ktiles = (K + SM90_BK - 1) / SM90_BK;
    if (wg == 0) {
        setmaxnreg_dec<SM90_PRODUCER_REGS>();
        if (threadIdx.x == 0) sm90_produce<BN, STAGES, A_K, B_K>(base, map_a, map_b, tiles_m, tiles_n, ktiles);
    } else {
        setmaxnreg_inc<SM90_CONSUMER_REGS>();
        const Epilogue e{c_f32, c_bf16, bias, residual, alpha, beta};
        sm90_consume<BN, STAGES, A_K, B_K, BUG>(base, wg - 1, e, M, N, tiles_m, tiles_n, ktiles);
    }
#else
    if (M >= 0) __trap();  // not sm_90a: never launched
#endif
}

#define GEMM_SM90_PARAMS                                                                                      \
    RLVR_TMAP_PARAM(map_a), RLVR_TMAP_PARAM(map_b), float *c_f32, bf16 *c_bf16, const bf16 *bias,           \
        const bf16 *residual, int M, int N, int K, float alpha, float beta
#define GEMM_SM90_ARGS \
    RLVR_TMAP(map_a), RLVR_TMAP(map_b), c_f32, c_bf16, bias, residual, M, N, K, alpha, beta
