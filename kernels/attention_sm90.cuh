// The sm_90a attention forward (rung 6 of attention.cu's ladder), FlashAttention-3 style, with
// rung 5's arithmetic: the same bits as attn_fwd_fa2merge_d{64,128}_bf16 for every row.
//
// Work of a block: 128 consecutive "packed" query rows of one kv head g of one sequence. Packed
// row r is (position r / G, query head g G + r % G) with G = Hq / Hkv, so the query heads of a
// GQA group share the block and every K/V tile it loads; with G = 1 it is a 128-query tile.
// Grid (Hkv, ceil(max_len G / 128), sequences), row blocks in reverse (the longest first, as
// rung 3's AttBlock).
//
// Warp specialisation: 384 threads. Warpgroup 0 is the producer (setmaxnreg.dec): one thread
// streams the 64-key K and V tiles by TMA (boxes of 64 keys x 64 head-dim columns, 128-byte
// swizzle, out of [N, Hkv D] viewed as a 2-D tensor) into a ring of STAGES stages; each stage has
// a K and a V full mbarrier (expect-tx of the tile's bytes), so QK^T can start before V lands,
// and an empty mbarrier (one arrival per consumer warpgroup). Warpgroups 1 and 2 are consumers
// (setmaxnreg.inc), 64 packed rows each; all 384 threads first stage the block's Q rows into
// shared memory in the same swizzled K-major layout (rows of a GQA group are not one box).
//
// A consumer's loop over key tiles kt (two wgmma groups in flight):
//   S_kt = Q K_kt^T          wgmma m64n64k16 from shared memory (DT / 16 steps)
//   part_{kt-1} = P V        wgmma m64nDTk16, P (bf16) from registers, V MN-major (4 steps)
//   wait S_kt                softmax of tile kt (att_tile_softmax) and the fold of m, l
//                            run while the tensor cores compute part_{kt-1}
//   wait part_{kt-1}         release the stage, fold part_{kt-1} into O (att_fold), pack P_kt
// The wgmma accumulator fragment of a warp (16 rows, n8 tiles, hopper.cuh) is the mma.sync C
// fragment of rung 5 (d[4 j + r] = C tile j, register r), and the register A operand of P V is
// its A fragment, so the tile-merged softmax functions of attention_mma.cuh run unchanged; each
// product sums k16 steps in key order from zero as rung 5's mma.sync chain does. A row folds
// exactly the tiles that hold a key it sees (the tiles rung 5 visits for it): rows of a GQA
// block span several positions, so a tile past a row's position leaves that row untouched.
//
// Keys past the sequence are read (the tensor maps end at the last sequence's end, so a
// sequence's last tile holds the next sequence's rows) and masked by causality: they enter P V
// with weight exactly 0, which keeps rung 5's bits (its zero-filled rows add +0 too) as long as
// those rows are finite.
#pragma once

#include "attention_mma.cuh"
#include "hopper.cuh"

// nvcc compiles the wgmma / TMA path for sm_90a only; other targets get a kernel that traps (the
// launcher never selects it there).
#if defined(RLVR_EMU) || defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define RLVR_ATTN_SM90 1
#endif

#define ATT_WG_THREADS 384
// Launch bounds: one block per SM, which lets ptxas know the register count at entry (setmaxnreg
// is ignored where it cannot).
#define ATT_WG_BOUNDS ATT_WG_THREADS, 1
#define ATT_WG_ROWS 128  // packed query rows per block: two consumer warpgroups of 64
#define ATT_WG_BK 64     // keys per tile (rung 5's tile: the fold's unit)
#define ATT_WG_PRODUCER_REGS 40
#define ATT_WG_CONSUMER_REGS 232

// Shared-memory plan (offsets from the 1024-byte aligned base): Q of consumer 0 then 1 (DT / 64
// boxes of 64 rows x 128 bytes each), then per stage K then V (DT / 64 boxes each), then the
// mbarriers full_k[STAGES], full_v[STAGES], empty[STAGES].
template <int DT>
struct AttWgSmem {
    static_assert(DT == 64 || DT == 128, "head dims 64 and 128");
    static constexpr int STAGES = DT == 128 ? 3 : 4;
    static constexpr int BOX = 64 * 128;  // one box: 64 rows of 64 bf16
    static constexpr int CHUNKS = DT / 64;
    static constexpr int Q_WG = CHUNKS * BOX;  // one consumer's 64 Q rows
    static constexpr int KV = CHUNKS * BOX;    // one K or V tile
    static constexpr int STAGE = 2 * KV;
    static constexpr int RING = 2 * Q_WG;
    static constexpr int BARRIERS = RING + STAGES * STAGE;
    // What the launcher allocates: Q, stages, barriers and the alignment slack.
    static constexpr int TOTAL = BARRIERS + 3 * 8 * STAGES + 1024;
};

// What a planted variant gets wrong (kNone: the real kernel).
enum class AttWgBug : int {
    kNone,
    kSkipKWait,  // consumers read K tiles without waiting for their full barrier
};

// Pins registers at this point of the program: the compiler may not move their definitions (or
// uses) across it, so the P fragments and accumulators are final before the wgmma.fence that
// precedes the wgmma reading them (otherwise ptxas inserts a fence of its own).
template <class T, int N>
static __device__ __forceinline__ void att_wg_pin(T (&x)[N]) {
#ifndef RLVR_EMU
#pragma unroll
    for (int i = 0; i < N; ++i) {
        if constexpr (sizeof(T) == 4 && !__is_same(T, float))
            asm volatile("" : "+r"(x[i])::"memory");
        else
            asm volatile("" : "+f"(x[i])::"memory");
    }
#endif
}
template <class T, int N, int M>
static __device__ __forceinline__ void att_wg_pin(T (&x)[N][M]) {
#pragma unroll
    for (int i = 0; i < N; ++i) att_wg_pin(x[i]);
}

// Byte offset of element (row, col) of a [64][DT] operand stored as 64-column boxes with the
// 128-byte swizzle (what TMA writes and the wgmma descriptors read).
static __device__ __forceinline__ int att_wg_swz(int row, int col) {
    return (col >> 6) * (64 * 128) + row * 128 + ((((col & 63) >> 3) ^ (row & 7)) << 4) + (col & 7) * 2;
}

// Key tiles a consumer's 64 packed rows from `first` need (rows at or past `rows` are padding):
// through the tile of its last row's position; 0 for a consumer with no row.
static __device__ __forceinline__ int att_wg_tiles(int first, int rows, int group) {
    if (first >= rows) return 0;
    return (min(rows - 1, first + 63) / group) / ATT_WG_BK + 1;
}

static __device__ __noinline__ void att_wg_init_barriers(bool leader, uint64_t* bars, int stages) {
    if (leader)
        for (int s = 0; s < stages; ++s) {
            mbar_init(&bars[s], 1);               // full_k
            mbar_init(&bars[stages + s], 1);      // full_v
            mbar_init(&bars[2 * stages + s], 2);  // empty: one arrival per consumer
        }
}

// The producer thread: K then V of every key tile the block needs, through the ring.
template <int DT>
static __device__ void att_wg_produce(unsigned char* base, const rlvr_tensor_map* map_k,
                                      const rlvr_tensor_map* map_v, int64_t start, int col0, int nkt) {
    using S = AttWgSmem<DT>;
    uint64_t* full_k = reinterpret_cast<uint64_t*>(base + S::BARRIERS);
    uint64_t* full_v = full_k + S::STAGES;
    uint64_t* empty = full_v + S::STAGES;
    for (int kt = 0; kt < nkt; ++kt) {
        const int s = kt % S::STAGES;
        mbar_wait(&empty[s], ((kt / S::STAGES) & 1) ^ 1);
        unsigned char* ks = base + S::RING + s * S::STAGE;
        unsigned char* vs = ks + S::KV;
        const int row = int(start) + kt * ATT_WG_BK;
        mbar_arrive_expect_tx(&full_k[s], S::KV);
#pragma unroll
        for (int c = 0; c < S::CHUNKS; ++c) tma_load_2d(ks + c * S::BOX, map_k, col0 + 64 * c, row, &full_k[s]);
        mbar_arrive_expect_tx(&full_v[s], S::KV);
#pragma unroll
        for (int c = 0; c < S::CHUNKS; ++c) tma_load_2d(vs + c * S::BOX, map_v, col0 + 64 * c, row, &full_v[s]);
    }
}

// One consumer warpgroup: packed rows first .. first + 63 of the block (`rows` packed rows in the
// sequence), key tiles 0 .. nkt_c - 1 of the block's nkt.
template <int DT, AttWgBug BUG>
static __device__ void att_wg_consume(unsigned char* base, int c, bf16* __restrict__ o, float* __restrict__ lse,
                                      int64_t start, int first, int rows, int group, int head0, int hq, int d,
                                      float scale, int nkt) {
    using S = AttWgSmem<DT>;
    constexpr int NT = DT / 8, KT = DT / 16;
    uint64_t* full_k = reinterpret_cast<uint64_t*>(base + S::BARRIERS);
    uint64_t* full_v = full_k + S::STAGES;
    uint64_t* empty = full_v + S::STAGES;
    unsigned char* qs = base + c * S::Q_WG;
    const int t = threadIdx.x % 128, warp = t / 32, lane = t % 32;
    const bool leader = t == 0;
    const int nkt_c = att_wg_tiles(first, rows, group);
    // The positions of this thread's two fragment rows (row halves), and the consumer's first.
    int pos[2];
#pragma unroll
    for (int half = 0; half < 2; ++half) pos[half] = (first + 16 * warp + lane / 4 + 8 * half) / group;
    const int pos_min = first / group;
    const float sl = scale * 1.4426950408889634f;

    float oacc[NT][4], part[NT][4], s[ATT_WG_BK / 8][4];
    uint32_t pa[ATT_WG_BK / 16][4];
    // Defined before the first wgmma names them (their values are not read: scale-d is 0).
    att_zero(oacc);
    att_zero(part);
    att_zero(s);
    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
    // Fold weights of the tile whose P V is in flight (pend) and of the tile just softmaxed.
    float pend_a[2] = {1.0f, 1.0f}, pend_b[2] = {0.0f, 0.0f};
    bool pend_live[2] = {false, false};

    auto issue_s = [&](int kt) {
        const unsigned char* ks = base + S::RING + (kt % S::STAGES) * S::STAGE;
#pragma unroll
        for (int kk = 0; kk < KT; ++kk) {
            const int off = (kk / 4) * S::BOX + (kk % 4) * 32;
            const uint64_t da = wgmma_desc(qs + off, 16, 1024, kSwizzle128B);
            const uint64_t db = wgmma_desc(ks + off, 16, 1024, kSwizzle128B);
            wgmma_ss<ATT_WG_BK>(&s[0][0], da, db, kk > 0 ? 1 : 0);
        }
        wgmma_commit();
    };
    // V [64 keys][DT] is the MN-major B of P V: a k16 step is 16 rows (2048 bytes), 64-column
    // boxes one box apart (LBO).
    auto issue_pv = [&](int kt) {
        const unsigned char* vs = base + S::RING + (kt % S::STAGES) * S::STAGE + S::KV;
#pragma unroll
        for (int kk = 0; kk < ATT_WG_BK / 16; ++kk) {
            const uint64_t db = wgmma_desc(vs + kk * 2048, S::BOX, 1024, kSwizzle128B);
            wgmma_rs_t<DT, 1>(&part[0][0], pa[kk], db, kk > 0 ? 1 : 0);
        }
        wgmma_commit();
    };
    // Tile kt's softmax on S (rung 5's att_tile_softmax), the fold of m and l, and its weights.
    auto softmax = [&](int kt, float (&wa)[2], float (&wb)[2], bool (&live)[2]) {
        const int k0 = kt * ATT_WG_BK;
        float mt[2], lt[2];
        att_tile_softmax<ATT_WG_BK>(s, k0, pos, k0 + ATT_WG_BK - 1 > pos_min, sl, mt, lt);
#pragma unroll
        for (int half = 0; half < 2; ++half) {
            live[half] = k0 <= pos[half];
            float m_new;
            att_fold_weights(m[half], mt[half], m_new, wa[half], wb[half]);
            if (live[half]) {
                l[half] = att_fold(l[half], wa[half], lt[half], wb[half]);
                m[half] = m_new;
            }
        }
    };
    // P of the softmaxed tile as the A fragments of P V (att_pv_parts' packing).
    auto pack_p = [&]() {
#pragma unroll
        for (int kk = 0; kk < ATT_WG_BK / 16; ++kk)
#pragma unroll
            for (int r = 0; r < 4; ++r) {
                const float* v = s[2 * kk + (r >> 1)] + 2 * (r & 1);
                pa[kk][r] = att_pack_bf16x2(v[0], v[1]);
            }
        att_wg_pin(pa);
    };
    auto fold_o = [&]() {
#pragma unroll
        for (int n = 0; n < NT; ++n)
#pragma unroll
            for (int r = 0; r < 4; ++r)
                if (pend_live[r >> 1]) oacc[n][r] = att_fold(oacc[n][r], pend_a[r >> 1], part[n][r], pend_b[r >> 1]);
        att_wg_pin(part);
    };
    auto wait_k = [&](int kt) {
        if (BUG != AttWgBug::kSkipKWait) mbar_wait(&full_k[kt % S::STAGES], (kt / S::STAGES) & 1);
    };
    auto wait_v = [&](int kt) { mbar_wait(&full_v[kt % S::STAGES], (kt / S::STAGES) & 1); };
    auto release = [&](int kt) {
        if (leader) mbar_arrive(&empty[kt % S::STAGES]);
    };

    if (nkt_c > 0) {
        wait_k(0);
        wgmma_fence();
        issue_s(0);
        wgmma_wait<0>();
        softmax(0, pend_a, pend_b, pend_live);
        pack_p();
        for (int kt = 1; kt < nkt_c; ++kt) {
            // V of tile kt - 1 was issued before K of tile kt, so waiting for it first costs
            // nothing, and no spin loop separates the fence from the second product.
            wait_v(kt - 1);
            wait_k(kt);
            wgmma_fence();
            issue_s(kt);
            issue_pv(kt - 1);
            wgmma_wait<1>();  // S_kt is in; P V of tile kt - 1 still runs
            float wa[2], wb[2];
            bool live[2];
            softmax(kt, wa, wb, live);
            wgmma_wait<0>();
            release(kt - 1);
            fold_o();
#pragma unroll
            for (int half = 0; half < 2; ++half) {
                pend_a[half] = wa[half];
                pend_b[half] = wb[half];
                pend_live[half] = live[half];
            }
            pack_p();
        }
        wait_v(nkt_c - 1);
        wgmma_fence();
        issue_pv(nkt_c - 1);
        wgmma_wait<0>();
        release(nkt_c - 1);
        fold_o();
    }
    // Tiles only the other consumer needs: pass them through (after their copies landed, so the
    // arrival counts toward this use of the stage).
    for (int kt = nkt_c; kt < nkt; ++kt) {
        mbar_wait(&full_k[kt % S::STAGES], (kt / S::STAGES) & 1);
        wait_v(kt);
        release(kt);
    }
    if (nkt_c == 0) return;

    // O = acc / l as bf16, staged through this warp's own Q rows (their last reader, the final
    // S product, has retired) in the swizzled layout, then written as 16-byte row pieces.
    const int gr = lane / 4, tq = lane % 4;
    const float inv[2] = {1.0f / l[0], 1.0f / l[1]};
#pragma unroll
    for (int n = 0; n < NT; ++n)
#pragma unroll
        for (int half = 0; half < 2; ++half) {
            const int row = 16 * warp + gr + 8 * half;
            const uint32_t w = att_pack_bf16x2(oacc[n][2 * half] * inv[half], oacc[n][2 * half + 1] * inv[half]);
            *reinterpret_cast<uint32_t*>(qs + att_wg_swz(row, 8 * n + 2 * tq)) = w;
        }
    __syncwarp();
    for (int e = lane; e < 16 * NT; e += 32) {
        const int i = e / NT, col = (e % NT) * 8, row = 16 * warp + i, r = first + row;
        if (r >= rows) continue;
        const int p = r / group, h = head0 + r % group;
        const uint4 val = *reinterpret_cast<const uint4*>(qs + att_wg_swz(row, col));
        *reinterpret_cast<uint4*>(o + (start + p) * int64_t(hq) * d + int64_t(h) * d + col) = val;
    }
    if (tq == 0)
#pragma unroll
        for (int half = 0; half < 2; ++half) {
            const int r = first + 16 * warp + gr + 8 * half;
            if (r < rows) lse[(start + r / group) * hq + head0 + r % group] = att_lse(m[half], l[half]);
        }
}

// Forward. Dynamic shared memory: AttWgSmem<DT>::TOTAL bytes. d must equal DT.
template <int DT, AttWgBug BUG>
static __device__ __forceinline__ void attn_fwd_wgmma(const rlvr_tensor_map* map_k, const rlvr_tensor_map* map_v,
                                                      bf16* __restrict__ o, float* __restrict__ lse,
                                                      const bf16* __restrict__ q, const int* __restrict__ seqs,
                                                      int hq, int hkv, int d, float scale) {
#ifdef RLVR_ATTN_SM90
    using S = AttWgSmem<DT>;
    const int group = hq / hkv, g = blockIdx.x;
    const int len = seqs[2 * blockIdx.z + 1];
    const int rows = len * group;
    // A block past its sequence's rows has no tiles and stores nothing; it still runs the
    // setmaxnreg rendezvous with every warpgroup (no early return before it).
    const int r0 = int(gridDim.y - 1 - blockIdx.y) * ATT_WG_ROWS;
    const int64_t start = seqs[2 * blockIdx.z];
    unsigned char* raw = reinterpret_cast<unsigned char*>(att_smem());
    unsigned char* base = raw + ((1024 - (smem_window_address(raw) & 1023)) & 1023);
    att_wg_init_barriers(threadIdx.x == 0, reinterpret_cast<uint64_t*>(base + S::BARRIERS), S::STAGES);
    // Q of the block's packed rows (zeros past the sequence), 16 bytes per thread and step.
    const int64_t qs = int64_t(hq) * d;
    for (int e = threadIdx.x; e < ATT_WG_ROWS * (DT / 8); e += ATT_WG_THREADS) {
        const int rr = e / (DT / 8), col = (e % (DT / 8)) * 8, r = r0 + rr;
        uint4 val = make_uint4(0, 0, 0, 0);
        if (r < rows)
            val = *reinterpret_cast<const uint4*>(q + (start + r / group) * qs + int64_t(g * group + r % group) * d +
                                                  col);
        *reinterpret_cast<uint4*>(base + (rr / 64) * S::Q_WG + att_wg_swz(rr % 64, col)) = val;
    }
    // The wgmmas (async proxy) read what these generic stores wrote.
    fence_proxy_async();
    __syncthreads();
    const int nkt = max(att_wg_tiles(r0, rows, group), att_wg_tiles(r0 + 64, rows, group));
    // Warp-uniform in the compiler's eyes (a shuffle from lane 0), so the wgmma paths below are not
    // treated as divergent (which serialises them).
    const int wg = __shfl_sync(0xffffffffu, int(threadIdx.x) / 128, 0);
    if (wg == 0) {
        setmaxnreg_dec<ATT_WG_PRODUCER_REGS>();
        if (threadIdx.x == 0) att_wg_produce<DT>(base, map_k, map_v, start, g * d, nkt);
    } else {
        setmaxnreg_inc<ATT_WG_CONSUMER_REGS>();
        att_wg_consume<DT, BUG>(base, wg - 1, o, lse, start, r0 + 64 * (wg - 1), rows, group, g * group, hq, d,
                                scale, nkt);
    }
#else
    if (hq >= 0) __trap();  // not sm_90a: never launched
#endif
}

#define ATT_WG_PARAMS                                                                                          \
    RLVR_TMAP_PARAM(map_k), RLVR_TMAP_PARAM(map_v), bf16 *__restrict__ o, float *__restrict__ lse,             \
        const bf16 *__restrict__ q, const int *__restrict__ seqs, int hq, int hkv, int d, float scale
#define ATT_WG_ARGS RLVR_TMAP(map_k), RLVR_TMAP(map_v), o, lse, q, seqs, hq, hkv, d, scale
