// Decode attention: one new query token per sequence against its bf16 KV cache.
//
// Layout (as backend::cpu::attention): q, o [B, Hq, D] bf16; k_cache, v_cache [N, Hkv, D] bf16
// (the rows of every cache slot end to end); seqs [B][2] int32 = (first cache row, length
// including the new token), so query b sits at position len - 1 and sees every cached key; lse
// [B, Hq] f32 (natural log). Query head h reads kv head h / (Hq / Hkv). Any D <= 128.
//
// Two rungs:
// 1. attn_decode_bf16: one CTA of 128 threads per (query head, sequence); each warp runs an online
//    softmax over keys warp, warp + 4, ... with 2-byte loads (lanes split D), then the 4 warp
//    states are merged in shared memory. K/V are read once per query head; B·Hq CTAs.
// 2. Flash-decoding (D a multiple of 8): attn_decode_split_bf16 cuts each cache into chunks of
//    ADEC_CHUNK keys; one CTA per (chunk, kv head [× slice of its query heads], sequence) reads
//    the chunk's K and V once for all of the GQA group's query heads, with 16-byte loads and
//    ADEC_KB keys per lane group in flight, and writes each head's unnormalised partial state
//    (running max m, sum l, accumulator) in f32; attn_decode_merge_bf16 combines a sequence's
//    chunks by log-sum-exp. The chunk size is fixed, so a sequence's result depends only on its
//    own cache, never on the other sequences of the batch.
//    Bytes: K/V once per kv head + (D + 2) f32 per (query head, chunk) written and read back.
// 3. The training forward's arithmetic (D <= 128): attn_decode_tiles_d{64,128}_bf16 computes each
//    64-key tile's softmax state exactly as attention rung 5 (attn_fwd_fa2merge) does for a query
//    row — the same mma tiles, the group's query heads as the rows — and attn_decode_fold_bf16
//    folds the tiles in key order with the forward's att_fold, so decode gives the training
//    forward's output and the sampler's log-probs are the trainer's bit for bit. One CTA per
//    (tile, kv head [× slice of 64 query heads], sequence); K and V once per kv head.
//    Bytes: K/V once + (D + 2) f32 per (query head, tile) written and read back.
// 4. Rung 3 in one launch: attn_decode_tiles_fold_d{64,128}_bf16 runs rung 3's tile CTAs, and the
//    last of a (kv head slice, sequence)'s CTAs to finish (an atomic count, reset by that CTA for
//    the next launch) folds the slice's query heads with rung 3's fold code, so rung 3's bits
//    with one launch fewer per layer. Which CTA folds varies; what it reads and the order it
//    folds in do not.
// attn_decode_append_bf16 writes the step's new K/V rows into the cache, one launch for the batch;
// attn_decode_rope_append_bf16 also applies RoPE to the step's q and k first (the same rounding as
// rope_fwd_bf16 then the append), so the step's q/k/v reach the attention in one launch.
#include "rope.cuh"
#include "vec16.cuh"

#define ADEC_THREADS 128
#define ADEC_WARPS (ADEC_THREADS / 32)
#define ADEC_MAX_D 128
#define ADEC_PER_LANE (ADEC_MAX_D / 32)
// Rung 2: keys per chunk, query heads per CTA, keys per lane group per step.
#define ADEC_CHUNK 128
#define ADEC_GMAX 8
#define ADEC_KB 4
#define ADEC_LOG2E 1.4426950408889634f
#define ADEC_LN2 0.6931471805599453f
// Rung 3 shares the training forward's tile functions; ATT_THREADS is the CTA size they assume.
#define ATT_THREADS ADEC_THREADS
#include "attention_mma.cuh"

RLVR_KERNEL_BOUNDED(attn_decode_bf16, ADEC_THREADS, bf16* __restrict__ o, float* __restrict__ lse,
                    const bf16* __restrict__ q, const bf16* __restrict__ k_cache,
                    const bf16* __restrict__ v_cache, const int* __restrict__ seqs, int hq, int hkv, int d,
                    float scale) {
    __shared__ float part_m[ADEC_WARPS], part_l[ADEC_WARPS];
    __shared__ float part_o[ADEC_WARPS][ADEC_MAX_D];
    const int b = blockIdx.y, h = blockIdx.x, g = h / (hq / hkv);
    const int64_t start = seqs[2 * b];
    const int len = seqs[2 * b + 1];
    const int64_t ks = int64_t(hkv) * d;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const bf16* qr = q + (int64_t(b) * hq + h) * d;
    float qv[ADEC_PER_LANE], acc[ADEC_PER_LANE];
#pragma unroll
    for (int r = 0; r < ADEC_PER_LANE; ++r) {
        const int c = lane + 32 * r;
        qv[r] = c < d ? ld_bf16(qr + c) * scale : 0.0f;
        acc[r] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    for (int j = warp; j < len; j += ADEC_WARPS) {
        const bf16* kr = k_cache + (start + j) * ks + int64_t(g) * d;
        const bf16* vr = v_cache + (start + j) * ks + int64_t(g) * d;
        float s = 0.0f;
#pragma unroll
        for (int r = 0; r < ADEC_PER_LANE; ++r) {
            const int c = lane + 32 * r;
            if (c < d) s = fmaf(qv[r], ld_bf16(kr + c), s);
        }
        s = warp_sum(s);
        const float m_new = fmaxf(m, s);
        const float alpha = __expf(m - m_new), p = __expf(s - m_new);
        l = l * alpha + p;
#pragma unroll
        for (int r = 0; r < ADEC_PER_LANE; ++r) {
            const int c = lane + 32 * r;
            acc[r] = acc[r] * alpha + (c < d ? p * ld_bf16(vr + c) : 0.0f);
        }
        m = m_new;
    }
    if (lane == 0) {
        part_m[warp] = m;
        part_l[warp] = l;
    }
#pragma unroll
    for (int r = 0; r < ADEC_PER_LANE; ++r) part_o[warp][lane + 32 * r] = acc[r];
    __syncthreads();
    // Merge the warps' states (a warp with no key has m = -inf and weight 0; len >= 1 so one has).
    float mt = -INFINITY;
    for (int w = 0; w < ADEC_WARPS; ++w) mt = fmaxf(mt, part_m[w]);
    float lt = 0.0f;
    for (int w = 0; w < ADEC_WARPS; ++w) lt += part_m[w] == -INFINITY ? 0.0f : part_l[w] * __expf(part_m[w] - mt);
    for (int c = threadIdx.x; c < d; c += blockDim.x) {
        float s = 0.0f;
        for (int w = 0; w < ADEC_WARPS; ++w)
            if (part_m[w] != -INFINITY) s += part_o[w][c] * __expf(part_m[w] - mt);
        st_bf16(o + (int64_t(b) * hq + h) * d + c, s / lt);
    }
    if (threadIdx.x == 0) lse[int64_t(b) * hq + h] = mt + logf(lt);
}

// exp2 of a difference of running maxima, 0 for an empty state (m = -inf).
static __device__ __forceinline__ float adec_weight(float m, float mt) {
    return m == -INFINITY ? 0.0f : exp2f(m - mt);
}

// Grid (chunks, Hkv · slices, B) with slices = ceil((Hq / Hkv) / heads_per_cta); 128 threads.
// Lanes are grouped by key: lk = the power of two >= D / 8 lanes hold one key row (8 dims each),
// so a warp follows 32 / lk key streams; stream s of the CTA takes keys c0 + s, c0 + s + S, ...
// (S streams), ADEC_KB of them per step. Scores are in the log2 domain (q scaled by log2 e).
// part_acc [B, Hq, chunks, D] and part_ml [B, Hq, chunks, 2] get every chunk that holds a key.
RLVR_KERNEL_BOUNDED(attn_decode_split_bf16, ADEC_THREADS, float* __restrict__ part_acc,
                    float* __restrict__ part_ml, const bf16* __restrict__ q, const bf16* __restrict__ k_cache,
                    const bf16* __restrict__ v_cache, const int* __restrict__ seqs, int hq, int hkv, int d,
                    int heads_per_cta, int chunks, float scale) {
    __shared__ float sm_ml[ADEC_WARPS][ADEC_GMAX][2];
    __shared__ float sm_acc[ADEC_WARPS][ADEC_GMAX][ADEC_MAX_D];
    const int b = blockIdx.z, chunk = blockIdx.x;
    const int group = hq / hkv;
    const int slices = (group + heads_per_cta - 1) / heads_per_cta;
    const int g = blockIdx.y / slices;
    const int h0 = g * group + (blockIdx.y % slices) * heads_per_cta;
    const int nh = min(heads_per_cta, (g + 1) * group - h0);
    const int64_t start = seqs[2 * b];
    const int len = seqs[2 * b + 1];
    const int c0 = chunk * ADEC_CHUNK;
    if (c0 >= len) return;  // whole CTA: this chunk lies past the sequence
    const int c1 = min(len, c0 + ADEC_CHUNK);
    int lk = 1;
    while (lk * 8 < d) lk <<= 1;
    const int kpw = 32 / lk, nstreams = ADEC_WARPS * kpw;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int dg = lane & (lk - 1), sub = lane / lk;
    const bool dim_ok = dg * 8 < d;
    const int64_t row = int64_t(hkv) * d;
    const bf16* kb = k_cache + start * row + int64_t(g) * d + dg * 8;
    const bf16* vb = v_cache + start * row + int64_t(g) * d + dg * 8;

    float qf[ADEC_GMAX][8], acc[ADEC_GMAX][8], m[ADEC_GMAX], l[ADEC_GMAX];
    const float qscale = scale * ADEC_LOG2E;
#pragma unroll
    for (int h = 0; h < ADEC_GMAX; ++h) {
        float f[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        if (h < nh && dim_ok) unpack8(ldg16(q + (int64_t(b) * hq + h0 + h) * d + dg * 8), f);
#pragma unroll
        for (int e = 0; e < 8; ++e) {
            qf[h][e] = f[e] * qscale;
            acc[h][e] = 0.0f;
        }
        m[h] = -INFINITY;
        l[h] = 0.0f;
    }

    // The loop bound is uniform over the warp (its first stream), so every lane shuffles.
    for (int base = c0 + warp * kpw; base < c1; base += nstreams * ADEC_KB) {
        uint4 kr[ADEC_KB], vr[ADEC_KB];
        bool ok[ADEC_KB];
#pragma unroll
        for (int k = 0; k < ADEC_KB; ++k) {
            const int j = base + sub + k * nstreams;
            ok[k] = j < c1;
            const bool load = ok[k] && dim_ok;
            kr[k] = load ? ldg16(kb + int64_t(j) * row) : make_uint4(0, 0, 0, 0);
            vr[k] = load ? ldg16(vb + int64_t(j) * row) : make_uint4(0, 0, 0, 0);
        }
#pragma unroll
        for (int h = 0; h < ADEC_GMAX; ++h) {
            if (h >= nh) break;
            float s[ADEC_KB];
            float mx = m[h];
#pragma unroll
            for (int k = 0; k < ADEC_KB; ++k) {
                float kf[8];
                unpack8(kr[k], kf);
                float t = 0.0f;
#pragma unroll
                for (int e = 0; e < 8; ++e) t = fmaf(qf[h][e], kf[e], t);
                for (int off = lk >> 1; off > 0; off >>= 1) t += __shfl_xor_sync(0xffffffffu, t, off);
                s[k] = ok[k] ? t : -INFINITY;
                mx = fmaxf(mx, s[k]);
            }
            if (mx == -INFINITY) continue;  // no key yet for this lane group
            const float alpha = adec_weight(m[h], mx);
            float p[ADEC_KB], psum = 0.0f;
#pragma unroll
            for (int k = 0; k < ADEC_KB; ++k) {
                p[k] = adec_weight(s[k], mx);
                psum += p[k];
            }
            l[h] = l[h] * alpha + psum;
#pragma unroll
            for (int e = 0; e < 8; ++e) acc[h][e] *= alpha;
#pragma unroll
            for (int k = 0; k < ADEC_KB; ++k) {
                float vf[8];
                unpack8(vr[k], vf);
#pragma unroll
                for (int e = 0; e < 8; ++e) acc[h][e] = fmaf(p[k], vf[e], acc[h][e]);
            }
            m[h] = mx;
        }
    }

    // Merge the key streams of the warp (butterfly over the lane groups), then the warps.
    for (int off = lk; off < 32; off <<= 1) {
#pragma unroll
        for (int h = 0; h < ADEC_GMAX; ++h) {
            if (h >= nh) break;
            const float mo = __shfl_xor_sync(0xffffffffu, m[h], off);
            const float lo = __shfl_xor_sync(0xffffffffu, l[h], off);
            const float mt = fmaxf(m[h], mo);
            const float a = adec_weight(m[h], mt), c = adec_weight(mo, mt);
#pragma unroll
            for (int e = 0; e < 8; ++e) {
                const float ao = __shfl_xor_sync(0xffffffffu, acc[h][e], off);
                acc[h][e] = acc[h][e] * a + ao * c;
            }
            l[h] = l[h] * a + lo * c;
            m[h] = mt;
        }
    }
    if (sub == 0) {
#pragma unroll
        for (int h = 0; h < ADEC_GMAX; ++h) {
            if (h >= nh) break;
            if (dim_ok) {
#pragma unroll
                for (int e = 0; e < 8; ++e) sm_acc[warp][h][dg * 8 + e] = acc[h][e];
            }
            if (dg == 0) {
                sm_ml[warp][h][0] = m[h];
                sm_ml[warp][h][1] = l[h];
            }
        }
    }
    __syncthreads();
    for (int i = threadIdx.x; i < nh * d; i += ADEC_THREADS) {
        const int h = i / d, e = i - (i / d) * d;
        float mt = -INFINITY;
        for (int w = 0; w < ADEC_WARPS; ++w) mt = fmaxf(mt, sm_ml[w][h][0]);
        float a = 0.0f;
        for (int w = 0; w < ADEC_WARPS; ++w) {
            const float wt = adec_weight(sm_ml[w][h][0], mt);
            if (wt != 0.0f) a += sm_acc[w][h][e] * wt;
        }
        const int64_t slot = (int64_t(b) * hq + h0 + h) * chunks + chunk;
        part_acc[slot * d + e] = a;
        if (e == 0) {
            float lt = 0.0f;
            for (int w = 0; w < ADEC_WARPS; ++w) lt += sm_ml[w][h][1] * adec_weight(sm_ml[w][h][0], mt);
            part_ml[2 * slot] = mt;
            part_ml[2 * slot + 1] = lt;
        }
    }
}

// Grid (Hq, B), 128 threads over D: o = sum_c 2^(m_c - M) acc_c / L, L = sum_c 2^(m_c - M) l_c,
// over the chunks that hold keys of the sequence, in chunk order.
RLVR_KERNEL_BOUNDED(attn_decode_merge_bf16, ADEC_THREADS, bf16* __restrict__ o, float* __restrict__ lse,
                    const float* __restrict__ part_acc, const float* __restrict__ part_ml,
                    const int* __restrict__ seqs, int hq, int d, int chunks) {
    const int h = blockIdx.x, b = blockIdx.y;
    const int len = seqs[2 * b + 1];
    const int nc = min(chunks, (len + ADEC_CHUNK - 1) / ADEC_CHUNK);
    const int64_t base = (int64_t(b) * hq + h) * chunks;
    float mt = -INFINITY;
    for (int c = 0; c < nc; ++c) mt = fmaxf(mt, part_ml[2 * (base + c)]);
    float lt = 0.0f;
    for (int c = 0; c < nc; ++c) lt += part_ml[2 * (base + c) + 1] * adec_weight(part_ml[2 * (base + c)], mt);
    for (int e = threadIdx.x; e < d; e += blockDim.x) {
        float a = 0.0f;
        for (int c = 0; c < nc; ++c) a += part_acc[(base + c) * d + e] * adec_weight(part_ml[2 * (base + c)], mt);
        st_bf16(o + (int64_t(b) * hq + h) * d + e, a / lt);
    }
    if (threadIdx.x == 0) lse[int64_t(b) * hq + h] = (mt + log2f(lt)) * ADEC_LN2;
}

// One warp's 16 query rows of rung 3's tile (heads h0 + 16 warp ..), from the staged Qs, Ks, Vs:
// scores, the tile's softmax as the forward computes it, P V, and the tile's state written out.
template <int DT>
__device__ __forceinline__ void attn_decode_tile_rows(float* __restrict__ part_acc, float* __restrict__ part_ml,
                                                      const bf16* Qs, const bf16* Ks, const bf16* Vs, int warp,
                                                      int lane, int b, int h0, int nh, int hq, int d, int tiles,
                                                      int tile, int k0, int len, float scale) {
    using T = AttTile<DT>;
    constexpr int BK = ATT_TC_ROWS;
    const int gr = lane >> 2, tq = lane & 3;

    float s[BK / 8][4];
    att_zero(s);
    att_mma_abt<DT, BK>(s, Qs + warp * 16 * T::LD, Ks);
    const int rows[2] = {len - 1, len - 1};
    float mt[2], lt[2];
    att_tile_softmax<BK>(s, k0, rows, true, scale * ADEC_LOG2E, mt, lt);
    // This thread's C-fragment rows are heads hr[0], hr[1] (valid below h0 + nh).
    const int hr[2] = {warp * 16 + gr, warp * 16 + gr + 8};
    int64_t slot[2];
#pragma unroll
    for (int half = 0; half < 2; ++half) slot[half] = (int64_t(b) * hq + h0 + hr[half]) * tiles + tile;
    att_pv_parts<DT, BK>(s, Vs, [&](int n, const float(&part)[2][4]) {
#pragma unroll
        for (int i = 0; i < 2; ++i)
#pragma unroll
            for (int r = 0; r < 4; ++r) {
                const int half = r >> 1, col = (n + i) * 8 + 2 * tq + (r & 1);
                if (hr[half] < nh && col < d) part_acc[slot[half] * d + col] = part[i][r];
            }
    });
    if (tq == 0) {
#pragma unroll
        for (int half = 0; half < 2; ++half)
            if (hr[half] < nh) {
                part_ml[2 * slot[half]] = mt[half];
                part_ml[2 * slot[half] + 1] = lt[half];
            }
    }
}

// The kv head g and query heads [h0, h0 + nh) of rung 3's CTA row blockIdx.y: a GQA group's heads
// in slices of at most 64.
static __device__ __forceinline__ void attn_decode_slice(int hq, int hkv, int& g, int& h0, int& nh) {
    const int group = hq / hkv;
    const int slices = (group + ATT_TC_ROWS - 1) / ATT_TC_ROWS;
    g = blockIdx.y / slices;
    h0 = g * group + (blockIdx.y % slices) * ATT_TC_ROWS;
    nh = min(ATT_TC_ROWS, (g + 1) * group - h0);
}

// Rung 3. Grid (tiles, Hkv · slices, B), slices = ceil((Hq / Hkv) / 64), 128 threads; dynamic
// shared memory: the query rows, K and V tiles, each [64][DT + 8] bf16. Warp w computes query
// heads h0 + 16w .. + 15 (rows past the group are zero and not stored) against keys
// [64 t, 64 t + 64) of the sequence, masked past its last position len - 1 as the forward masks a
// row at that position; writes the tile's state (max in the log2 domain, sum, P V) into
// part_ml / part_acc as rung 2 does for a chunk.
template <int DT>
__device__ __forceinline__ bool attn_decode_tiles(float* __restrict__ part_acc, float* __restrict__ part_ml,
                                                  const bf16* __restrict__ q, const bf16* __restrict__ k_cache,
                                                  const bf16* __restrict__ v_cache, const int* __restrict__ seqs,
                                                  int hq, int hkv, int d, int tiles, float scale) {
    using T = AttTile<DT>;
    constexpr int BK = ATT_TC_ROWS;
    const int b = blockIdx.z, tile = blockIdx.x;
    int g, h0, nh;
    attn_decode_slice(hq, hkv, g, h0, nh);
    const int64_t start = seqs[2 * b];
    const int len = seqs[2 * b + 1];
    const int k0 = tile * BK;
    if (k0 >= len) return false;  // whole CTA: this tile lies past the sequence
    const int64_t ks = int64_t(hkv) * d;
    const bool vec = (d & 7) == 0;

    bf16* Qs = att_smem();
    bf16* Ks = Qs + T::TILE;
    bf16* Vs = Ks + T::TILE;
    att_tile_load<DT, true>(Qs, q + (int64_t(b) * hq + h0) * d, d, 0, ATT_TC_ROWS, nh, d, vec);
    att_tile_load<DT, true>(Ks, k_cache + start * ks + int64_t(g) * d, ks, k0, BK, len, d, vec);
    att_tile_load<DT, true>(Vs, v_cache + start * ks + int64_t(g) * d, ks, k0, BK, len, d, vec);
    cp_async_commit();
    cp_async_wait<0>();
    __syncthreads();
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (warp * 16 < nh) attn_decode_tile_rows<DT>(part_acc, part_ml, Qs, Ks, Vs, warp, lane, b, h0, nh, hq, d,
                                                   tiles, tile, k0, len, scale);
    return true;
}
RLVR_KERNEL_BOUNDED(attn_decode_tiles_d64_bf16, ADEC_THREADS, float* __restrict__ part_acc,
                    float* __restrict__ part_ml, const bf16* __restrict__ q, const bf16* __restrict__ k_cache,
                    const bf16* __restrict__ v_cache, const int* __restrict__ seqs, int hq, int hkv, int d,
                    int tiles, float scale) {
    attn_decode_tiles<64>(part_acc, part_ml, q, k_cache, v_cache, seqs, hq, hkv, d, tiles, scale);
}
RLVR_KERNEL_BOUNDED(attn_decode_tiles_d128_bf16, ADEC_THREADS, float* __restrict__ part_acc,
                    float* __restrict__ part_ml, const bf16* __restrict__ q, const bf16* __restrict__ k_cache,
                    const bf16* __restrict__ v_cache, const int* __restrict__ seqs, int hq, int hkv, int d,
                    int tiles, float scale) {
    attn_decode_tiles<128>(part_acc, part_ml, q, k_cache, v_cache, seqs, hq, hkv, d, tiles, scale);
}

// Rung 3's fold of one output element: column e of query head slot `base` ((b · Hq + h) · tiles)
// folds its first nt tile states in key order with att_fold, starting from the empty state as the
// forward does, then o = acc * (1 / l) and (e = 0) lse as the forward writes them. With L2, the
// states are read through L2 (other CTAs of the same launch wrote them).
template <bool L2>
static __device__ __forceinline__ void attn_decode_fold_column(bf16* __restrict__ o, float* __restrict__ lse,
                                                               const float* __restrict__ part_acc,
                                                               const float* __restrict__ part_ml, int64_t base,
                                                               int nt, int d, int e) {
    auto ld = [](const float* p) { return L2 ? ld_cg_f32(p) : *p; };
    float m = -INFINITY, l = 0.0f, acc = 0.0f;
    for (int t = 0; t < nt; ++t) {
        float m_new, alpha, beta;
        att_fold_weights(m, ld(part_ml + 2 * (base + t)), m_new, alpha, beta);
        acc = att_fold(acc, alpha, ld(part_acc + (base + t) * d + e), beta);
        l = att_fold(l, alpha, ld(part_ml + 2 * (base + t) + 1), beta);
        m = m_new;
    }
    st_bf16(o + e, acc * (1.0f / l));
    if (e == 0) *lse = att_lse(m, l);
}

// Rung 3's fold. Grid (Hq, B), 128 threads over D.
RLVR_KERNEL_BOUNDED(attn_decode_fold_bf16, ADEC_THREADS, bf16* __restrict__ o, float* __restrict__ lse,
                    const float* __restrict__ part_acc, const float* __restrict__ part_ml,
                    const int* __restrict__ seqs, int hq, int d, int tiles) {
    const int h = blockIdx.x, b = blockIdx.y;
    const int len = seqs[2 * b + 1];
    const int nt = min(tiles, (len + ATT_TC_ROWS - 1) / ATT_TC_ROWS);
    const int64_t head = int64_t(b) * hq + h;
    for (int e = threadIdx.x; e < d; e += blockDim.x)
        attn_decode_fold_column<false>(o + head * d, lse + head, part_acc, part_ml, head * tiles, nt, d, e);
}

// Rung 4: rung 3's grid and tile CTAs; counters [B · gridDim.y] int, zero before the launch and
// after it. Each active CTA publishes its states (__threadfence) and counts itself; the CTA that
// counts last for its (slice, sequence) folds the slice's nh query heads, every (head, column)
// with rung 3's fold code, and resets the count.
template <int DT>
__device__ __forceinline__ void attn_decode_tiles_fold(bf16* __restrict__ o, float* __restrict__ lse,
                                                       float* __restrict__ part_acc, float* __restrict__ part_ml,
                                                       int* __restrict__ counters, const bf16* __restrict__ q,
                                                       const bf16* __restrict__ k_cache,
                                                       const bf16* __restrict__ v_cache, const int* __restrict__ seqs,
                                                       int hq, int hkv, int d, int tiles, float scale) {
    if (!attn_decode_tiles<DT>(part_acc, part_ml, q, k_cache, v_cache, seqs, hq, hkv, d, tiles, scale)) return;
    __shared__ int last;
    const int b = blockIdx.z;
    const int nt = min(tiles, (seqs[2 * b + 1] + ATT_TC_ROWS - 1) / ATT_TC_ROWS);
    int* count = counters + int64_t(b) * gridDim.y + blockIdx.y;
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) last = atomicAdd(count, 1) == nt - 1;
    __syncthreads();
    if (!last) return;
    __threadfence();
    int g, h0, nh;
    attn_decode_slice(hq, hkv, g, h0, nh);
    for (int i = threadIdx.x; i < nh * d; i += blockDim.x) {
        const int64_t head = int64_t(b) * hq + h0 + i / d;
        attn_decode_fold_column<true>(o + head * d, lse + head, part_acc, part_ml, head * tiles, nt, d, i % d);
    }
    if (threadIdx.x == 0) *count = 0;
}

RLVR_KERNEL_BOUNDED(attn_decode_tiles_fold_d64_bf16, ADEC_THREADS, bf16* __restrict__ o, float* __restrict__ lse,
                    float* __restrict__ part_acc, float* __restrict__ part_ml, int* __restrict__ counters,
                    const bf16* __restrict__ q, const bf16* __restrict__ k_cache, const bf16* __restrict__ v_cache,
                    const int* __restrict__ seqs, int hq, int hkv, int d, int tiles, float scale) {
    attn_decode_tiles_fold<64>(o, lse, part_acc, part_ml, counters, q, k_cache, v_cache, seqs, hq, hkv, d, tiles,
                               scale);
}
RLVR_KERNEL_BOUNDED(attn_decode_tiles_fold_d128_bf16, ADEC_THREADS, bf16* __restrict__ o, float* __restrict__ lse,
                    float* __restrict__ part_acc, float* __restrict__ part_ml, int* __restrict__ counters,
                    const bf16* __restrict__ q, const bf16* __restrict__ k_cache, const bf16* __restrict__ v_cache,
                    const int* __restrict__ seqs, int hq, int hkv, int d, int tiles, float scale) {
    attn_decode_tiles_fold<128>(o, lse, part_acc, part_ml, counters, q, k_cache, v_cache, seqs, hq, hkv, d, tiles,
                                scale);
}

// The decode step's KV append, every row in one launch: row b's new K and V (k_new, v_new
// [B, width] bf16, width = Hkv · D) go to cache row seqs[2b] + seqs[2b + 1] - 1, the position of
// the token being decoded, so the attention launch that follows sees it. Grid (B), 128 threads;
// 16-byte copies when width is a multiple of 8 (the launcher passes whole, 256-byte aligned
// buffers, so every row then starts on a 16-byte boundary).
RLVR_KERNEL_BOUNDED(attn_decode_append_bf16, ADEC_THREADS, bf16* __restrict__ k_cache,
                    bf16* __restrict__ v_cache, const bf16* __restrict__ k_new,
                    const bf16* __restrict__ v_new, const int* __restrict__ seqs, int width) {
    const int b = blockIdx.x;
    const int64_t dst = (int64_t(seqs[2 * b]) + seqs[2 * b + 1] - 1) * width;
    const int64_t src = int64_t(b) * width;
    if ((width & 7) == 0) {
        for (int i = threadIdx.x * 8; i < width; i += ADEC_THREADS * 8) {
            st_u32x4(k_cache + dst + i, ldg16(k_new + src + i));
            st_u32x4(v_cache + dst + i, ldg16(v_new + src + i));
        }
    } else {
        for (int i = threadIdx.x; i < width; i += ADEC_THREADS) {
            k_cache[dst + i] = k_new[src + i];
            v_cache[dst + i] = v_new[src + i];
        }
    }
}

// The decode step's RoPE and KV append in one launch for every row (the bias is already in the
// q/k/v GEMM epilogue): row b at position p = seqs[2b + 1] - 1 has its q heads (q_in row b, row
// stride q_stride) rotated into q_out [B, hq, D] (q_out may be q_in), its k heads (k_in row b,
// row stride kv_stride) rotated straight into cache row seqs[2b] + p, and its v row copied to that
// row of v_cache. q/k/v may be three buffers or the column blocks of one [B, (hq + 2 hkv) D]
// GEMM output. The same pair rotation as rope_fwd_bf16 (rope.cuh), so q and the cache hold the
// same bits as rope_fwd_bf16 on q and k followed by attn_decode_append_bf16. Grid (B), 128
// threads; per row 2 B read + 2 B written per element of q, k and v.
RLVR_KERNEL_BOUNDED(attn_decode_rope_append_bf16, ADEC_THREADS, bf16* q_out, const bf16* q_in, int q_stride,
                    const bf16* __restrict__ k_in, const bf16* __restrict__ v_in, int kv_stride,
                    bf16* __restrict__ k_cache, bf16* __restrict__ v_cache, const int* __restrict__ seqs,
                    const float* __restrict__ inv_freq, int hq, int hkv, int d) {
    const int b = blockIdx.x;
    const int pos = seqs[2 * b + 1] - 1;
    const float p = float(pos);
    const int half = d / 2, width = hkv * d;
    const int64_t dst = (int64_t(seqs[2 * b]) + pos) * width;
    const bf16* qi = q_in + int64_t(b) * q_stride;
    bf16* qo = q_out + int64_t(b) * hq * d;
    for (int k = threadIdx.x; k < hq * half; k += ADEC_THREADS) {
        const int h = k / half, i = k - h * half;
        const int c = h * d + i;
        rope_pair(qo + c, qo + c + half, ld_bf16(qi + c), ld_bf16(qi + c + half), p, inv_freq[i], 1.0f);
    }
    const bf16* ki = k_in + int64_t(b) * kv_stride;
    const bf16* vi = v_in + int64_t(b) * kv_stride;
    for (int k = threadIdx.x; k < hkv * half; k += ADEC_THREADS) {
        const int h = k / half, i = k - h * half;
        const int c = h * d + i;
        bf16* y = k_cache + dst + c;
        rope_pair(y, y + half, ld_bf16(ki + c), ld_bf16(ki + c + half), p, inv_freq[i], 1.0f);
    }
    for (int i = threadIdx.x; i < width; i += ADEC_THREADS) v_cache[dst + i] = vi[i];
}
