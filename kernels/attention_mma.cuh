// Tensor-core bodies of the training attention kernels (the kernels themselves are declared in
// attention.cu, one per rung and head-dim bucket, after ATT_THREADS = 128). Layout and semantics
// as attention.cu.
//
// FlashAttention-2 structure with mma.sync m16n8k16 (bf16 in, f32 accumulation), 4 warps per CTA,
// each warp owning 16 rows of a 64-row tile. Tiles are staged in shared memory as bf16 with rows
// padded by 16 bytes (DT + 8 elements): a row stride of 144 or 272 bytes puts the 8 rows an
// ldmatrix phase reads 4 banks apart, so fragment loads and the 16-byte tile writes are free of
// bank conflicts. Head dims are bucketed (DT = 64 or 128); columns d..DT are zero-filled, so any
// d <= DT is correct and d = 64, 128 waste nothing.
//
// Two rungs share these bodies (template flag FA2):
//   rung 2 (FA2 = false): tensor cores, S and P in registers, the S accumulator reused as the A
//     operand of PV (and dS, P as the A operands of dQ, dK, dV); tiles loaded synchronously with
//     16-byte loads; natural exp with a separate scale; the causal mask applied to every tile;
//     blocks in grid order.
//   rung 3 (FA2 = true): + cp.async double buffering of the streamed tiles (K/V in the forward
//     and the dQ pass, Q/dO/lse/delta in the dK/dV pass), exp2 with scale * log2(e) folded into
//     one FMA, the mask applied only to tiles that cross the diagonal or the sequence end, and
//     the longest tiles scheduled first (see AttBlock).
//   rung 4 (forward only, P_TERMS = 3): rung 3 with P entering P V as three bf16 terms, which
//     hold its f32 value exactly, so the output is rung 1's up to f32 summation order (decode
//     keeps P in f32 too; an activation whose bf16 rounding flips moves later log-probs by up
//     to ~1e-2, so P to 2^-17 with two terms is far from enough). P V runs three times: 2x the
//     forward's tensor FLOPs. Its backward is rung 3's.
//   rung 5 (forward only, MERGE): rung 3 with every 64-key tile's softmax computed on its own
//     (its own max, bf16 P, P V from zero) and folded into the row's running state in key order
//     (att_fold). A tile's state then depends on that tile alone, so decode attention (rung 3 of
//     attn_decode.cu) computes the tiles of a cache in parallel, folds them the same way and gets
//     the training forward's bits: the sampler's log-probs are the trainer's, on tensor cores.
//     Costs rung 3's FLOPs plus one FMA per output element and tile. Its backward is rung 3's.
// All: tiles wholly above the diagonal are never visited; the dK/dV pass loops over the query
// heads of a GQA group inside one CTA, so one K/V tile in shared memory serves the whole group
// and dK, dV need no cross-head reduction; dQ is a separate pass over key tiles (no atomics), so
// every output is a fixed-order sum and runs are bit-reproducible.
#pragma once

#include "common.cuh"

#define ATT_TC_ROWS 64  // rows of the CTA tile: 4 warps x 16
#define ATT_TC_PAD 8    // bf16 per shared-memory row beyond DT (16 bytes)

// ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16: as ldmatrix_x4, but register j of lane L gets
// column L / 4, rows 2 (L % 4) and +1 of matrix j (the B fragment of a row-major k x n tile).
static __device__ __forceinline__ void att_ldmatrix_x4_trans(uint32_t r[4], const bf16* row_addr) {
#ifdef RLVR_EMU
    rlvr_emu::warp_ldmatrix(r, row_addr, 4, true);
#else
    const unsigned a = static_cast<unsigned>(__cvta_generic_to_shared(row_addr));
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(a));
#endif
}

// 2^x with the hardware's approximate exp2 (MUFU.EX2; flushes denormals, which only round p to 0).
static __device__ __forceinline__ float att_exp2(float x) {
#ifdef RLVR_EMU
    return exp2f(x);
#else
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
#endif
}

// Two floats as the bf16 pair of one mma fragment register (lo in the low half).
static __device__ __forceinline__ uint32_t att_pack_bf16x2(float lo, float hi) {
    const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    uint32_t u;
    memcpy(&u, &v, 4);
    return u;
}

// The dynamic shared memory (one name for every body, so nvcc sees one extern declaration).
#ifndef RLVR_EMU
extern __shared__ __align__(16) unsigned char att_tc_smem[];
#endif
static __device__ __forceinline__ bf16* att_smem() {
#ifdef RLVR_EMU
    return static_cast<bf16*>(rlvr_emu::dynamic_smem());
#else
    return reinterpret_cast<bf16*>(att_tc_smem);
#endif
}

template <int DT>
struct AttTile {
    static_assert(DT == 64 || DT == 128, "head-dim buckets are 64 and 128");
    static constexpr int LD = DT + ATT_TC_PAD;  // shared row stride, elements
    static constexpr int NT = DT / 8;           // n8 tiles (and 16-byte chunks) across the head dim
    static constexpr int KT = DT / 16;          // k16 steps across the head dim
    static constexpr int TILE = ATT_TC_ROWS * LD;
};

// Copies rows [row0, row0 + rows) of one head (src: row 0 of the sequence, `stride` elements
// between rows) into a padded [rows][DT + 8] bf16 tile; rows at or past `len` and columns at or
// past d are zero. With `vec` (d % 8 == 0, so rows are 16-byte aligned) each thread moves
// 16-byte chunks, by cp.async when ASYNC (completed by the caller's cp_async_wait), else through
// registers; otherwise element by element.
template <int DT, bool ASYNC>
static __device__ __forceinline__ void att_tile_load(bf16* dst, const bf16* src, int64_t stride, int row0, int rows,
                                                     int len, int d, bool vec) {
    constexpr int NT = AttTile<DT>::NT, LD = AttTile<DT>::LD;
    for (int e = threadIdx.x; e < rows * NT; e += ATT_THREADS) {
        const int r = e / NT, c = (e % NT) * 8, row = row0 + r;
        bf16* s = dst + r * LD + c;
        const bf16* g = src + int64_t(row) * stride + c;
        if (vec) {
            const bool ok = row < len && c < d;
            if (ASYNC) {
                cp_async16(s, ok ? g : src, ok ? 16 : 0);
            } else {
                uint4 v = make_uint4(0, 0, 0, 0);
                if (ok) v = *reinterpret_cast<const uint4*>(g);
                *reinterpret_cast<uint4*>(s) = v;
            }
        } else {
#pragma unroll
            for (int j = 0; j < 8; ++j) s[j] = (row < len && c + j < d) ? g[j] : __float2bfloat16(0.0f);
        }
    }
}

// Writes the warp's 16 staged rows (bf16, padded stride) to rows [row0, row0 + 16) of one head,
// skipping rows at or past `len` and columns at or past d; 16-byte stores when `vec`.
template <int DT>
static __device__ __forceinline__ void att_rows_store(bf16* dst, int64_t stride, const bf16* staged, int row0, int len,
                                                      int d, bool vec) {
    constexpr int NT = AttTile<DT>::NT, LD = AttTile<DT>::LD;
    const int lane = threadIdx.x & 31;
    for (int e = lane; e < 16 * NT; e += 32) {
        const int r = e / NT, c = (e % NT) * 8, row = row0 + r;
        if (row >= len || c >= d) continue;
        const bf16* s = staged + r * LD + c;
        bf16* g = dst + int64_t(row) * stride + c;
        if (vec) {
            *reinterpret_cast<uint4*>(g) = *reinterpret_cast<const uint4*>(s);
        } else {
            for (int j = 0; j < 8 && c + j < d; ++j) g[j] = s[j];
        }
    }
}

// Stages a warp's 16 x DT f32 accumulator (C fragments, times `mul` per row half) as bf16 rows
// of `staged` (padded stride), then makes them visible to the whole warp.
template <int DT>
static __device__ __forceinline__ void att_stage_rows(bf16* staged, const float (&acc)[AttTile<DT>::NT][4],
                                                      float mul0, float mul1) {
    constexpr int NT = AttTile<DT>::NT, LD = AttTile<DT>::LD;
    const int lane = threadIdx.x & 31, gr = lane >> 2, tq = lane & 3;
#pragma unroll
    for (int n = 0; n < NT; ++n) {
        const int c = n * 8 + 2 * tq;
        *reinterpret_cast<uint32_t*>(staged + gr * LD + c) = att_pack_bf16x2(acc[n][0] * mul0, acc[n][1] * mul0);
        *reinterpret_cast<uint32_t*>(staged + (gr + 8) * LD + c) = att_pack_bf16x2(acc[n][2] * mul1, acc[n][3] * mul1);
    }
    __syncwarp();
}

// acc[n] (16 x NB, n8 tiles n = 0..NB/8) += A(16 rows of `a`, k = DT) * B^T where B is NB rows of
// `b` (both padded [rows][DT + 8] tiles): the S = Q K^T shape. A by ldmatrix, B by ldmatrix
// (non-transposed: rows of b are the n index, contiguous in k, i.e. the mma's "col" operand).
template <int DT, int NB>
static __device__ __forceinline__ void att_mma_abt(float (&acc)[NB / 8][4], const bf16* a, const bf16* b) {
    constexpr int LD = AttTile<DT>::LD;
    const int lane = threadIdx.x & 31;
    const bf16* arow = a + ((lane & 7) + 8 * ((lane >> 3) & 1)) * LD + 8 * (lane >> 4);
    const bf16* brow = b + ((lane & 7) + 8 * (lane >> 4)) * LD + 8 * ((lane >> 3) & 1);
#pragma unroll
    for (int kk = 0; kk < AttTile<DT>::KT; ++kk) {
        uint32_t af[4];
        ldmatrix_x4(af, arow + kk * 16);
#pragma unroll
        for (int j = 0; j < NB / 8; j += 2) {
            uint32_t bf[4];
            ldmatrix_x4(bf, brow + j * 8 * LD + kk * 16);
            const uint32_t b0[2] = {bf[0], bf[1]}, b1[2] = {bf[2], bf[3]};
            mma_bf16_16816(acc[j], af, b0, acc[j]);
            mma_bf16_16816(acc[j + 1], af, b1, acc[j + 1]);
        }
    }
}

// A pair of floats as TERMS bf16 terms packed as fragment registers: t[0] = bf16(x), each next
// term the bf16 of what the earlier ones leave (every remainder is exact in f32). One term
// carries x to 2^-9 relative, two to about 2^-17, three exactly (8 + 8 + 8 significant bits
// cover f32's 24).
template <int TERMS>
static __device__ __forceinline__ void att_split_bf16x2(float x0, float x1, uint32_t (&t)[TERMS]) {
#pragma unroll
    for (int i = 0; i < TERMS; ++i) {
        t[i] = att_pack_bf16x2(x0, x1);
        x0 -= bf16_lo(t[i]);
        x1 -= bf16_hi(t[i]);
    }
}

// acc[n] (16 x DT) += P (16 x NB, given as C fragments p[j] of n8 tiles, reused as A fragments)
// * B where B is NB rows of `b` ([rows][DT + 8], row-major k x n, loaded with ldmatrix.trans):
// the O += P V shape. P enters the mma as TERMS bf16 terms (att_split_bf16x2), one mma per term
// and B fragment (the B fragment loaded once): TERMS = 1 rounds P to bf16, 3 keeps it exact.
template <int DT, int NB, int TERMS = 1>
static __device__ __forceinline__ void att_mma_pb(float (&acc)[AttTile<DT>::NT][4], const float (&p)[NB / 8][4],
                                                  const bf16* b) {
    constexpr int LD = AttTile<DT>::LD;
    const int lane = threadIdx.x & 31;
    const bf16* brow = b + ((lane & 7) + 8 * ((lane >> 3) & 1)) * LD + 8 * (lane >> 4);
#pragma unroll
    for (int kk = 0; kk < NB / 16; ++kk) {
        // A register r: C tile 2kk + r / 2, row half r % 2 (C and A fragments share a lane layout).
        uint32_t af[TERMS][4];
#pragma unroll
        for (int r = 0; r < 4; ++r) {
            const float* c = p[2 * kk + (r >> 1)] + 2 * (r & 1);
            uint32_t t[TERMS];
            att_split_bf16x2<TERMS>(c[0], c[1], t);
#pragma unroll
            for (int i = 0; i < TERMS; ++i) af[i][r] = t[i];
        }
#pragma unroll
        for (int n = 0; n < AttTile<DT>::NT; n += 2) {
            uint32_t bf[4];
            att_ldmatrix_x4_trans(bf, brow + kk * 16 * LD + n * 8);
            const uint32_t b0[2] = {bf[0], bf[1]}, b1[2] = {bf[2], bf[3]};
#pragma unroll
            for (int i = 0; i < TERMS; ++i) {
                mma_bf16_16816(acc[n], af[i], b0, acc[n]);
                mma_bf16_16816(acc[n + 1], af[i], b1, acc[n + 1]);
            }
        }
    }
}

template <int N>
static __device__ __forceinline__ void att_zero(float (&acc)[N][4]) {
#pragma unroll
    for (int i = 0; i < N; ++i)
#pragma unroll
        for (int r = 0; r < 4; ++r) acc[i][r] = 0.0f;
}

// Max and sum over the 4 lanes of a quad (the lanes holding one row of a C fragment).
static __device__ __forceinline__ float att_quad_max(float v) {
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
    return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}
static __device__ __forceinline__ float att_quad_sum(float v) {
    v += __shfl_xor_sync(0xffffffffu, v, 1);
    return v + __shfl_xor_sync(0xffffffffu, v, 2);
}

// --- Tile-merged softmax: the arithmetic rung 5 and decode rung 3 share, per query row and
// 64-key tile. Both call these functions with the same fragment layout, so every row gets the
// same bits whichever kernel computes it and whatever else shares the mma tile.

// log-sum-exp in natural-log units of a state whose max m is in the log2 domain.
static __device__ __forceinline__ float att_lse(float m, float l) { return fmaf(m, 0.6931471805599453f, logf(l)); }

// The weights that fold a tile's state (max mt) into a running state (max m): m' = max(m, mt),
// alpha = 2^(m - m'), beta = 2^(mt - m'). An empty running state (m = -inf) gets alpha = 0, so
// folding the first tile copies it exactly; a state that is still empty keeps weight 0.
static __device__ __forceinline__ void att_fold_weights(float m, float mt, float& m_new, float& alpha, float& beta) {
    m_new = fmaxf(m, mt);
    const float ref = m_new == -INFINITY ? 0.0f : m_new;
    alpha = att_exp2(m - ref);
    beta = att_exp2(mt - ref);
}

// acc * alpha + part * beta, rounded the same way in every kernel (no contraction of the product).
static __device__ __forceinline__ float att_fold(float acc, float alpha, float part, float beta) {
    return fmaf(part, beta, __fmul_rn(acc, alpha));
}

// A warp's 16 rows against one BK-key tile starting at key k0: s (the C fragments of the raw
// S = Q K^T) becomes p = 2^(s sl - mt) in place, with mt[half] = sl * the row's max over its
// visible keys (keys after row[half] are masked when `mask`) and lt[half] = the row's sum of p
// (per-thread partials in fragment order, then the quad).
template <int BK>
static __device__ __forceinline__ void att_tile_softmax(float (&s)[BK / 8][4], int k0, const int (&row)[2], bool mask,
                                                        float sl, float (&mt)[2], float (&lt)[2]) {
    const int tq = threadIdx.x & 3;
#pragma unroll
    for (int half = 0; half < 2; ++half) {
        float mx = -INFINITY;
#pragma unroll
        for (int j = 0; j < BK / 8; ++j)
#pragma unroll
            for (int c = 0; c < 2; ++c) {
                const int key = k0 + j * 8 + 2 * tq + c;
                if (mask && key > row[half]) s[j][2 * half + c] = -INFINITY;
                mx = fmaxf(mx, s[j][2 * half + c]);
            }
        const float m = __fmul_rn(att_quad_max(mx), sl);
        const float ref = m == -INFINITY ? 0.0f : m;
        float sum = 0.0f;
#pragma unroll
        for (int j = 0; j < BK / 8; ++j)
#pragma unroll
            for (int c = 0; c < 2; ++c) {
                const float p = att_exp2(fmaf(s[j][2 * half + c], sl, -ref));
                s[j][2 * half + c] = p;
                sum += p;
            }
        mt[half] = m;
        lt[half] = att_quad_sum(sum);
    }
}

// This tile's P V (P: the C fragments p of a 16 x NB tile, rounded to bf16 as the A operand; V:
// NB rows of `b`, [rows][DT + 8], by ldmatrix.trans), one pair of n8 tiles at a time, each from
// zero over the NB / 16 k16 steps in key order: use(n, part) gets C fragments part[0..1] of the
// n8 tiles n, n + 1 (the forward folds them into its accumulator, decode writes them out).
template <int DT, int NB, class Use>
static __device__ __forceinline__ void att_pv_parts(const float (&p)[NB / 8][4], const bf16* b, Use&& use) {
    constexpr int LD = AttTile<DT>::LD;
    const int lane = threadIdx.x & 31;
    const bf16* brow = b + ((lane & 7) + 8 * ((lane >> 3) & 1)) * LD + 8 * (lane >> 4);
    uint32_t af[NB / 16][4];
#pragma unroll
    for (int kk = 0; kk < NB / 16; ++kk)
#pragma unroll
        for (int r = 0; r < 4; ++r) {
            const float* c = p[2 * kk + (r >> 1)] + 2 * (r & 1);
            af[kk][r] = att_pack_bf16x2(c[0], c[1]);
        }
#pragma unroll
    for (int n = 0; n < AttTile<DT>::NT; n += 2) {
        float part[2][4];
        att_zero(part);
#pragma unroll
        for (int kk = 0; kk < NB / 16; ++kk) {
            uint32_t bf[4];
            att_ldmatrix_x4_trans(bf, brow + kk * 16 * LD + n * 8);
            const uint32_t b0[2] = {bf[0], bf[1]}, b1[2] = {bf[2], bf[3]};
            mma_bf16_16816(part[0], af[kk], b0, part[0]);
            mma_bf16_16816(part[1], af[kk], b1, part[1]);
        }
        use(n, part);
    }
}

// Which (tile, head, sequence) this CTA owns. Rung 2: grid (tiles, heads, sequences). Rung 3:
// grid (heads, tiles, sequences): the blocks the hardware starts first are every head of one
// tile (neighbours share a GQA group's K/V in L2), and with `longest_last` the tile index is
// reversed so each sequence's longest tiles start first and its shortest end the launch
// (forward and dQ: later query tiles see more keys; dK/dV: earlier key tiles see more queries).
template <bool FA2>
struct AttBlock {
    int tile, head, seq;
    __device__ __forceinline__ explicit AttBlock(bool longest_last) {
        if (FA2) {
            head = blockIdx.x;
            tile = longest_last ? int(gridDim.y - 1 - blockIdx.y) : int(blockIdx.y);
        } else {
            tile = blockIdx.x;
            head = blockIdx.y;
        }
        seq = blockIdx.z;
    }
};

// The K/V tiles of one key head streamed through shared memory, tile after tile (forward and dQ
// pass): Ks, Vs each hold `STAGES` padded tiles. Rung 2 loads tile kt synchronously when it is
// needed; rung 3 issues tile kt + 1's cp.async before waiting for tile kt.
template <int DT, bool FA2>
struct AttKvStream {
    static constexpr int STAGES = FA2 ? 2 : 1, BK = ATT_TC_ROWS;
    bf16* Ks;
    bf16* Vs;
    const bf16* kb;
    const bf16* vb;
    int64_t ks;
    int len, d;
    bool vec;

    __device__ __forceinline__ const bf16* k_tile(int kt) const { return Ks + (kt % STAGES) * AttTile<DT>::TILE; }
    __device__ __forceinline__ const bf16* v_tile(int kt) const { return Vs + (kt % STAGES) * AttTile<DT>::TILE; }

    // Rung 3: starts tile 0's copy (committed with whatever the caller issued before).
    __device__ __forceinline__ void start() const {
        if (FA2) {
            issue(0);
            cp_async_commit();
        }
    }
    // Makes tile kt (of nkt) resident for the whole CTA.
    __device__ __forceinline__ void acquire(int kt, int nkt) const {
        if (FA2) {
            if (kt + 1 < nkt) {
                issue(kt + 1);
                cp_async_commit();
                cp_async_wait<1>();
            } else {
                cp_async_wait<0>();
            }
        } else {
            __syncthreads();  // the previous tile is consumed
            att_tile_load<DT, false>(Ks, kb, ks, kt * BK, BK, len, d, vec);
            att_tile_load<DT, false>(Vs, vb, ks, kt * BK, BK, len, d, vec);
        }
        __syncthreads();
    }
    // Rung 3: tile kt is consumed before a later issue overwrites its stage.
    __device__ __forceinline__ void release() const {
        if (FA2) __syncthreads();
    }

  private:
    __device__ __forceinline__ void issue(int kt) const {
        bf16* k_dst = Ks + (kt % STAGES) * AttTile<DT>::TILE;
        bf16* v_dst = Vs + (kt % STAGES) * AttTile<DT>::TILE;
        att_tile_load<DT, true>(k_dst, kb, ks, kt * BK, BK, len, d, vec);
        att_tile_load<DT, true>(v_dst, vb, ks, kt * BK, BK, len, d, vec);
    }
};

// Forward. Dynamic shared memory: Q [64][DT + 8] then K, V [stages][64][DT + 8] (bf16).
// P_TERMS: the bf16 terms P enters P V as (rung 4: 3, see att_mma_pb). MERGE: rung 5 (FA2 only),
// every key tile's softmax on its own, folded in key order (att_tile_softmax, att_pv_parts,
// att_fold); l is then each row's whole sum, not a per-thread partial.
template <int DT, bool FA2, int P_TERMS = 1, bool MERGE = false>
__device__ __forceinline__ void attn_fwd_tc(bf16* __restrict__ o, float* __restrict__ lse,
                                                   const bf16* __restrict__ q, const bf16* __restrict__ k,
                                                   const bf16* __restrict__ v, const int* __restrict__ seqs, int hq,
                                                   int hkv, int d, float scale) {
    using T = AttTile<DT>;
    constexpr int BQ = ATT_TC_ROWS, BK = ATT_TC_ROWS, STAGES = AttKvStream<DT, FA2>::STAGES;
    const AttBlock<FA2> blk(true);
    const int len = seqs[2 * blk.seq + 1];
    const int q0 = blk.tile * BQ;
    if (q0 >= len) return;
    const int64_t start = seqs[2 * blk.seq];
    const int h = blk.head, g = h / (hq / hkv);
    const int64_t qs = int64_t(hq) * d, ks = int64_t(hkv) * d;
    const bf16* qb = q + start * qs + int64_t(h) * d;
    const bf16* kb = k + start * ks + int64_t(g) * d;
    const bf16* vb = v + start * ks + int64_t(g) * d;
    const bool vec = (d & 7) == 0;

    bf16* sm = att_smem();
    bf16* Qs = sm;
    bf16* Ks = Qs + T::TILE;
    bf16* Vs = Ks + STAGES * T::TILE;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int gr = lane >> 2, tq = lane & 3;
    bf16* Qw = Qs + warp * 16 * T::LD;  // this warp's 16 query rows
    const int row_lo = q0 + warp * 16 + gr;  // rows of this thread's C-fragment halves: row_lo, +8

    // Keys past the tile's last query are masked for all of it: the diagonal tile is the last.
    const int nkt = (min(len, q0 + BQ) + BK - 1) / BK;
    // Rung 3 works in the log2 domain: s2 = s * scale * log2(e), p = 2^(s2 - m2).
    const float sl = FA2 ? scale * 1.4426950408889634f : scale;

    float oacc[T::NT][4];
    att_zero(oacc);
    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};

    att_tile_load<DT, FA2>(Qs, qb, qs, q0, BQ, len, d, vec);
    const AttKvStream<DT, FA2> kv{Ks, Vs, kb, vb, ks, len, d, vec};
    kv.start();
    for (int kt = 0; kt < nkt; ++kt) {
        const int k0 = kt * BK;
        kv.acquire(kt, nkt);
        const bf16* Kt = kv.k_tile(kt);
        const bf16* Vt = kv.v_tile(kt);

        float s[BK / 8][4];
        att_zero(s);
        att_mma_abt<DT, BK>(s, Qw, Kt);
        // Only a tile reaching past this warp's first row needs the causal mask (rung 2 masks all).
        const bool mask = !FA2 || k0 + BK - 1 > q0 + warp * 16;
        if (MERGE) {
            static_assert(!MERGE || (FA2 && P_TERMS == 1), "rung 5 is rung 3's pipeline with bf16 P");
            const int rows[2] = {row_lo, row_lo + 8};
            float mt[2], lt[2], alpha[2], beta[2];
            att_tile_softmax<BK>(s, k0, rows, mask, sl, mt, lt);
#pragma unroll
            for (int half = 0; half < 2; ++half) {
                float m_new;
                att_fold_weights(m[half], mt[half], m_new, alpha[half], beta[half]);
                l[half] = att_fold(l[half], alpha[half], lt[half], beta[half]);
                m[half] = m_new;
            }
            att_pv_parts<DT, BK>(s, Vt, [&](int n, const float(&part)[2][4]) {
#pragma unroll
                for (int i = 0; i < 2; ++i)
#pragma unroll
                    for (int r = 0; r < 4; ++r)
                        oacc[n + i][r] = att_fold(oacc[n + i][r], alpha[r >> 1], part[i][r], beta[r >> 1]);
            });
        } else {
#pragma unroll
            for (int half = 0; half < 2; ++half) {
                const int row = row_lo + 8 * half;
                // Masked scores become -inf; the row max is taken on the raw scores (scale > 0).
                float mx = -INFINITY;
#pragma unroll
                for (int j = 0; j < BK / 8; ++j)
#pragma unroll
                    for (int c = 0; c < 2; ++c) {
                        const int key = k0 + j * 8 + 2 * tq + c;
                        if (mask && key > row) s[j][2 * half + c] = -INFINITY;
                        mx = fmaxf(mx, s[j][2 * half + c]);
                    }
                const float m_new = fmaxf(m[half], att_quad_max(mx) * sl);
                // A row with nothing visible yet keeps m = -inf; use 0 so exp gives 0, not NaN.
                const float m_ref = m_new == -INFINITY ? 0.0f : m_new;
                const float alpha = FA2 ? att_exp2(m[half] - m_ref) : __expf(m[half] - m_ref);
                float sum = 0.0f;
#pragma unroll
                for (int j = 0; j < BK / 8; ++j)
#pragma unroll
                    for (int c = 0; c < 2; ++c) {
                        const float x = s[j][2 * half + c];
                        // rung 3: one FFMA and one MUFU.EX2 per score
                        const float p = FA2 ? att_exp2(fmaf(x, sl, -m_ref)) : __expf(x * sl - m_ref);
                        s[j][2 * half + c] = p;
                        sum += p;
                    }
                // Per-thread partial row sums; the quad's are added once at the end.
                l[half] = l[half] * alpha + sum;
                m[half] = m_new;
#pragma unroll
                for (int n = 0; n < T::NT; ++n) {
                    oacc[n][2 * half] *= alpha;
                    oacc[n][2 * half + 1] *= alpha;
                }
            }
            att_mma_pb<DT, BK, P_TERMS>(oacc, s, Vt);
        }
        kv.release();
    }

    // Every row sees its own key, so l > 0 (rows past len see key 0 and are not stored).
    const float l0 = MERGE ? l[0] : att_quad_sum(l[0]), l1 = MERGE ? l[1] : att_quad_sum(l[1]);
    att_stage_rows<DT>(Qw, oacc, 1.0f / l0, 1.0f / l1);
    att_rows_store<DT>(o + start * qs + int64_t(h) * d, qs, Qw, q0 + warp * 16, len, d, vec);
    if (tq == 0) {
        // lse in natural-log units: m is scaled by log2(e) on rung 3.
        const float unit = FA2 ? 0.6931471805599453f : 1.0f;
        const float lse0 = MERGE ? att_lse(m[0], l0) : m[0] * unit + logf(l0);
        const float lse1 = MERGE ? att_lse(m[1], l1) : m[1] * unit + logf(l1);
        if (row_lo < len) lse[(start + row_lo) * hq + h] = lse0;
        if (row_lo + 8 < len) lse[(start + row_lo + 8) * hq + h] = lse1;
    }
}

// dQ pass: one CTA per (64-query tile, query head, sequence), looping over key tiles in order;
// recomputes P and dS = P * (dO V^T - delta) and accumulates dQ = scale * dS K in registers.
// Dynamic shared memory: Q, dO [64][DT + 8] then K, V [stages][64][DT + 8] (bf16).
template <int DT, bool FA2>
__device__ __forceinline__ void attn_bwd_dq_tc(bf16* __restrict__ dq, const bf16* __restrict__ dout,
                                                      const bf16* __restrict__ q, const bf16* __restrict__ k,
                                                      const bf16* __restrict__ v, const float* __restrict__ lse,
                                                      const float* __restrict__ delta, const int* __restrict__ seqs,
                                                      int hq, int hkv, int d, float scale) {
    using T = AttTile<DT>;
    constexpr int BQ = ATT_TC_ROWS, BK = ATT_TC_ROWS, STAGES = AttKvStream<DT, FA2>::STAGES;
    const AttBlock<FA2> blk(true);
    const int len = seqs[2 * blk.seq + 1];
    const int q0 = blk.tile * BQ;
    if (q0 >= len) return;
    const int64_t start = seqs[2 * blk.seq];
    const int h = blk.head, g = h / (hq / hkv);
    const int64_t qs = int64_t(hq) * d, ks = int64_t(hkv) * d;
    const bf16* qb = q + start * qs + int64_t(h) * d;
    const bf16* dob = dout + start * qs + int64_t(h) * d;
    const bf16* kb = k + start * ks + int64_t(g) * d;
    const bf16* vb = v + start * ks + int64_t(g) * d;
    const bool vec = (d & 7) == 0;

    bf16* sm = att_smem();
    bf16* Qs = sm;
    bf16* dOs = Qs + T::TILE;
    bf16* Ks = dOs + T::TILE;
    bf16* Vs = Ks + STAGES * T::TILE;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int gr = lane >> 2, tq = lane & 3;
    const int row_lo = q0 + warp * 16 + gr;
    const float sl = FA2 ? scale * 1.4426950408889634f : scale;
    const float ul = FA2 ? 1.4426950408889634f : 1.0f;
    // Row statistics of this thread's two rows (0 past the sequence: those rows are not stored).
    float lse_r[2], del_r[2];
#pragma unroll
    for (int half = 0; half < 2; ++half) {
        const int row = row_lo + 8 * half;
        lse_r[half] = row < len ? lse[(start + row) * hq + h] * ul : 0.0f;
        del_r[half] = row < len ? delta[(start + row) * hq + h] : 0.0f;
    }

    const int nkt = (min(len, q0 + BQ) + BK - 1) / BK;
    float dqacc[T::NT][4];
    att_zero(dqacc);
    att_tile_load<DT, FA2>(Qs, qb, qs, q0, BQ, len, d, vec);
    att_tile_load<DT, FA2>(dOs, dob, qs, q0, BQ, len, d, vec);
    const AttKvStream<DT, FA2> kv{Ks, Vs, kb, vb, ks, len, d, vec};
    kv.start();
    for (int kt = 0; kt < nkt; ++kt) {
        const int k0 = kt * BK;
        kv.acquire(kt, nkt);
        const bf16* Kt = kv.k_tile(kt);
        const bf16* Vt = kv.v_tile(kt);

        float s[BK / 8][4], dp[BK / 8][4];
        att_zero(s);
        att_zero(dp);
        att_mma_abt<DT, BK>(s, Qs + warp * 16 * T::LD, Kt);
        att_mma_abt<DT, BK>(dp, dOs + warp * 16 * T::LD, Vt);
        const bool mask = !FA2 || k0 + BK - 1 > q0 + warp * 16;
#pragma unroll
        for (int j = 0; j < BK / 8; ++j)
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                const int half = i >> 1, row = row_lo + 8 * half, key = k0 + j * 8 + 2 * tq + (i & 1);
                float p = FA2 ? att_exp2(fmaf(s[j][i], sl, -lse_r[half])) : __expf(s[j][i] * sl - lse_r[half]);
                if (mask && key > row) p = 0.0f;
                s[j][i] = p * (dp[j][i] - del_r[half]);  // dS, reusing the S registers
            }
        att_mma_pb<DT, BK>(dqacc, s, Kt);
        kv.release();
    }
    bf16* Qw = Qs + warp * 16 * T::LD;  // the warp's Q rows are no longer read
    att_stage_rows<DT>(Qw, dqacc, scale, scale);
    att_rows_store<DT>(dq + start * qs + int64_t(h) * d, qs, Qw, q0 + warp * 16, len, d, vec);
}

// dK/dV pass: one CTA per (64-key tile, kv head, sequence); each warp owns 16 keys and computes
// the transposed products S^T = K Q^T and dP^T = V dO^T, so P^T and dS^T come out as C fragments
// with keys as rows and feed dV += P^T dO and dK += dS^T Q directly as A fragments. Loops over
// the group's query heads and the query tiles at or after the key tile, in a fixed order.
// Query tiles are QB = 32 rows at DT = 128 (registers: dK and dV take 128 per thread) and 64 at
// DT = 64. Dynamic shared memory: K, V [64][DT + 8], then Q, dO [stages][QB][DT + 8] (bf16),
// then lse, delta [stages][QB] (f32).
template <int DT>
struct AttDkdv {
    static constexpr int QB = DT == 128 ? 32 : 64;
};

template <int DT, bool FA2>
__device__ __forceinline__ void attn_bwd_dkdv_tc(bf16* __restrict__ dk, bf16* __restrict__ dv,
                                                        const bf16* __restrict__ dout, const bf16* __restrict__ q,
                                                        const bf16* __restrict__ k, const bf16* __restrict__ v,
                                                        const float* __restrict__ lse,
                                                        const float* __restrict__ delta, const int* __restrict__ seqs,
                                                        int hq, int hkv, int d, float scale) {
    using T = AttTile<DT>;
    constexpr int BK = ATT_TC_ROWS, QB = AttDkdv<DT>::QB, STAGES = FA2 ? 2 : 1;
    constexpr int QTILE = QB * T::LD;
    const AttBlock<FA2> blk(false);
    const int len = seqs[2 * blk.seq + 1];
    const int k0 = blk.tile * BK;
    if (k0 >= len) return;
    const int64_t start = seqs[2 * blk.seq];
    const int g = blk.head, group = hq / hkv;
    const int64_t qs = int64_t(hq) * d, ks = int64_t(hkv) * d;
    const bool vec = (d & 7) == 0;

    bf16* sm = att_smem();
    bf16* Ks = sm;
    bf16* Vs = Ks + T::TILE;
    bf16* Qs = Vs + T::TILE;
    bf16* dOs = Qs + STAGES * QTILE;
    float* lse_s = reinterpret_cast<float*>(dOs + STAGES * QTILE);
    float* del_s = lse_s + STAGES * QB;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int gr = lane >> 2, tq = lane & 3;
    const int key_lo = k0 + warp * 16 + gr;  // keys of this thread's C-fragment halves: key_lo, +8
    const float sl = FA2 ? scale * 1.4426950408889634f : scale;
    const float ul = FA2 ? 1.4426950408889634f : 1.0f;

    // Query tiles that can see a key of this tile start at the tile holding query k0 (QB | 64).
    const int nqt = (len - k0 + QB - 1) / QB;
    const int steps = group * nqt;
    // Stages step `it` (query head g * group + it / nqt, query tile k0 + (it % nqt) * QB).
    auto load_step = [&](int it, int stage) {
        const int h = g * group + it / nqt, q0 = k0 + (it % nqt) * QB;
        const int64_t off = start * qs + int64_t(h) * d;
        att_tile_load<DT, FA2>(Qs + stage * QTILE, q + off, qs, q0, QB, len, d, vec);
        att_tile_load<DT, FA2>(dOs + stage * QTILE, dout + off, qs, q0, QB, len, d, vec);
        for (int i = threadIdx.x; i < QB; i += ATT_THREADS) {
            const int row = q0 + i;
            const bool ok = row < len;
            lse_s[stage * QB + i] = ok ? lse[(start + row) * hq + h] * ul : 0.0f;
            del_s[stage * QB + i] = ok ? delta[(start + row) * hq + h] : 0.0f;
        }
    };

    float dkacc[T::NT][4], dvacc[T::NT][4];
    att_zero(dkacc);
    att_zero(dvacc);
    att_tile_load<DT, FA2>(Ks, k + start * ks + int64_t(g) * d, ks, k0, BK, len, d, vec);
    att_tile_load<DT, FA2>(Vs, v + start * ks + int64_t(g) * d, ks, k0, BK, len, d, vec);
    if (FA2) {
        load_step(0, 0);
        cp_async_commit();
    }
    for (int it = 0; it < steps; ++it) {
        const int q0 = k0 + (it % nqt) * QB;
        const int st = it % STAGES;
        if (FA2) {
            if (it + 1 < steps) {
                load_step(it + 1, (it + 1) % STAGES);
                cp_async_commit();
                cp_async_wait<1>();
            } else {
                cp_async_wait<0>();
            }
        } else {
            __syncthreads();
            load_step(it, 0);
        }
        __syncthreads();
        const bf16* Qt = Qs + st * QTILE;
        const bf16* dOt = dOs + st * QTILE;
        const float* lse_t = lse_s + st * QB;
        const float* del_t = del_s + st * QB;

        float s[QB / 8][4], dp[QB / 8][4];
        att_zero(s);
        att_zero(dp);
        att_mma_abt<DT, QB>(s, Ks + warp * 16 * T::LD, Qt);
        att_mma_abt<DT, QB>(dp, Vs + warp * 16 * T::LD, dOt);
        // Masking is needed where the tile crosses the diagonal or the sequence end.
        const bool mask = !FA2 || q0 < k0 + BK || q0 + QB > len;
#pragma unroll
        for (int j = 0; j < QB / 8; ++j)
#pragma unroll
            for (int c = 0; c < 2; ++c) {
                const int col = j * 8 + 2 * tq + c, query = q0 + col;
                const float ls = lse_t[col], de = del_t[col];
#pragma unroll
                for (int half = 0; half < 2; ++half) {
                    const int i = 2 * half + c, key = key_lo + 8 * half;
                    float p = FA2 ? att_exp2(fmaf(s[j][i], sl, -ls)) : __expf(s[j][i] * sl - ls);
                    if (mask && (key > query || query >= len)) p = 0.0f;
                    s[j][i] = p;
                    dp[j][i] = p * (dp[j][i] - de);  // dS^T
                }
            }
        att_mma_pb<DT, QB>(dvacc, s, dOt);
        att_mma_pb<DT, QB>(dkacc, dp, Qt);
        if (FA2) __syncthreads();
    }
    // Stage through the warp's own K and V rows (no other warp reads them).
    bf16* Kw = Ks + warp * 16 * T::LD;
    bf16* Vw = Vs + warp * 16 * T::LD;
    att_stage_rows<DT>(Kw, dkacc, scale, scale);
    att_stage_rows<DT>(Vw, dvacc, 1.0f, 1.0f);
    att_rows_store<DT>(dk + start * ks + int64_t(g) * d, ks, Kw, k0 + warp * 16, len, d, vec);
    att_rows_store<DT>(dv + start * ks + int64_t(g) * d, ks, Vw, k0 + warp * 16, len, d, vec);
}
