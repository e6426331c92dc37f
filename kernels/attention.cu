// Causal grouped-query attention over packed variable-length sequences, FlashAttention-2 style:
// tiles of queries and keys staged through shared memory, online softmax in f32, nothing T x T in
// global memory. Five rungs of the same op, each a step of the ladder `rlvr bench kernels` shows:
//   rung 1: attn_fwd_bf16, attn_bwd_{dkdv,dq}_bf16 below — plain FMAs (SIMT) out of f32 shared
//           memory, 16-row tiles; written for correctness first.
//   rung 2: attn_*_mma_d{64,128}_bf16 — tensor cores (attention_mma.cuh).
//   rung 3: attn_*_fa2_d{64,128}_bf16 — + cp.async pipelining, exp2, diagonal-only masking,
//           longest tiles first (attention_mma.cuh); the device model's backward.
//   rung 4: attn_fwd_fa2split_d{64,128}_bf16 — forward only: rung 3 with P split into three
//           bf16 terms for P V (2x the forward's tensor FLOPs), which hold P exactly, as rung 1
//           and decode keep it in f32.
//   rung 5: attn_fwd_fa2merge_d{64,128}_bf16 — forward only: rung 3 with each 64-key tile's
//           softmax folded into the row state in key order, the arithmetic decode attention
//           rung 3 reproduces bit for bit; the device model's forward.
//   rung 6: attn_fwd_wgmma_d{64,128}_bf16 — forward only, sm_90a: rung 5's arithmetic (its bits)
//           with TMA, mbarriers, producer / consumer warpgroups and wgmma (attention_sm90.cuh);
//           the device model's forward only when RLVR_ATTN_WGMMA=1 on an sm_90 device.
// attn_bwd_delta_bf16 (the backward's row statistic) serves every rung; attn_bwd_delta_x8_bf16 is
// its second rung (16-byte loads) where the head dim allows.
//
// Layout (as backend::cpu::attention): q, o, dq [N, Hq, D]; k, v, dk, dv [N, Hkv, D] bf16, rows are
// the tokens of all sequences laid end to end; seqs [nseq][2] int32 = (first row, length); lse and
// the backward's delta [N, Hq] f32. Query head h reads kv head h / (Hq / Hkv). Any D <= 128.
//
// Cost for one sequence of T tokens and H query heads (causal, so half of T^2):
//   forward  4 * T^2 * D * H / 2 FLOPs (rung 4 executes 8 * T^2 * D * H / 2: P V three times);
//            reads Q once and K, V once per query tile.
//   backward 2.5x the forward FLOPs (plus a recomputation of QK^T and dO V^T in the dQ kernel,
//            which buys determinism without float atomics); reads Q, dO once per key tile.
#include "common.cuh"
#include "vec16.cuh"

#define ATT_THREADS 128
#define ATT_MAX_D 128
// Forward: 16 queries per CTA, keys in tiles of 32 (one key per lane in the softmax step).
#define ATT_FWD_BQ 16
#define ATT_FWD_BK 32
// Backward: 16 x 16 tiles keep Q, dO, K, V (padded f32) under 48 KiB for D = 128.
#define ATT_BWD_BQ 16
#define ATT_BWD_BK 16
// Per-thread accumulators: tile rows x D / threads, at most 16 x 128 / 128.
#define ATT_ACC (ATT_FWD_BQ * ATT_MAX_D / ATT_THREADS)

// Position (row i, column c) of element tid + 128 r of a [rows][d] tile, stepped without a
// division per step (a runtime integer division in the hot loops costs registers and a call).
struct TileIdx {
    int i, c;
    __device__ __forceinline__ TileIdx(int e, int d) : i(e / d), c(e - (e / d) * d) {}
    __device__ __forceinline__ void step(int by, int d) {
        c += by;
        while (c >= d) {
            c -= d;
            ++i;
        }
    }
};

// Copies rows [row0, row0 + rows) of one head of a [N, heads, D] bf16 matrix into a padded f32
// tile (row stride ld); rows at or past `valid` are zero.
static __device__ __forceinline__ void load_tile(float* dst, int ld, const bf16* src, int64_t row_stride, int row0,
                                                 int rows, int valid, int d) {
    for (TileIdx t(threadIdx.x, d); t.i < rows; t.step(ATT_THREADS, d)) {
        const int r = t.i, c = t.c;
        dst[r * ld + c] = (row0 + r < valid) ? ld_bf16(src + int64_t(row0 + r) * row_stride + c) : 0.0f;
    }
}

// Forward. Grid (ceil(max_len / 16), Hq, nseq), 128 threads; dynamic shared memory:
// Q [16][D], K [32][D + 1], V [32][D], P [16][32], row stats 3 x 16 (floats).
RLVR_KERNEL_BOUNDED(attn_fwd_bf16, ATT_THREADS, bf16* __restrict__ o, float* __restrict__ lse,
                    const bf16* __restrict__ q, const bf16* __restrict__ k, const bf16* __restrict__ v,
                    const int* __restrict__ seqs, int hq, int hkv, int d, float scale) {
    const int len = seqs[2 * blockIdx.z + 1];
    const int q0 = blockIdx.x * ATT_FWD_BQ;
    if (q0 >= len) return;  // whole CTA: the tile lies past this sequence
    const int64_t start = seqs[2 * blockIdx.z];
    const int h = blockIdx.y, g = h / (hq / hkv);
    const int64_t qs = int64_t(hq) * d, ks = int64_t(hkv) * d;
    const bf16* qb = q + start * qs + int64_t(h) * d;
    const bf16* kb = k + start * ks + int64_t(g) * d;
    const bf16* vb = v + start * ks + int64_t(g) * d;

    RLVR_DYNAMIC_SMEM(float, sm);
    const int ldk = d + 1;
    float* Qs = sm;
    float* Ks = Qs + ATT_FWD_BQ * d;
    float* Vs = Ks + ATT_FWD_BK * ldk;
    float* Ps = Vs + ATT_FWD_BK * d;
    float* m_s = Ps + ATT_FWD_BQ * ATT_FWD_BK;
    float* l_s = m_s + ATT_FWD_BQ;
    float* a_s = l_s + ATT_FWD_BQ;

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int n_acc = ATT_FWD_BQ * d;
    float acc[ATT_ACC];
#pragma unroll
    for (int r = 0; r < ATT_ACC; ++r) acc[r] = 0.0f;
    load_tile(Qs, d, qb, qs, q0, ATT_FWD_BQ, len, d);
    if (tid < ATT_FWD_BQ) {
        m_s[tid] = -INFINITY;
        l_s[tid] = 0.0f;
    }
    // Keys past the last query of the tile are masked for every row of it.
    const int k_end = min(len, q0 + ATT_FWD_BQ);
    for (int k0 = 0; k0 < k_end; k0 += ATT_FWD_BK) {
        __syncthreads();  // previous tile's K, V, P are consumed
        load_tile(Ks, ldk, kb, ks, k0, ATT_FWD_BK, len, d);
        load_tile(Vs, d, vb, ks, k0, ATT_FWD_BK, len, d);
        __syncthreads();
        // S = scale * Q K^T for the 16 x 32 tile, 4 entries per thread (lanes vary the key).
        for (int e = tid; e < ATT_FWD_BQ * ATT_FWD_BK; e += ATT_THREADS) {
            const int i = e / ATT_FWD_BK, j = e - i * ATT_FWD_BK;
            const float* qr = Qs + i * d;
            const float* kr = Ks + j * ldk;
            float s = 0.0f;
            for (int c = 0; c < d; ++c) s = fmaf(qr[c], kr[c], s);
            const bool visible = k0 + j <= q0 + i && k0 + j < len;
            Ps[e] = visible ? s * scale : -INFINITY;
        }
        __syncthreads();
        // Online softmax: each warp owns 4 rows, one key per lane.
        for (int i = warp; i < ATT_FWD_BQ; i += ATT_THREADS / 32) {
            const float s = Ps[i * ATT_FWD_BK + lane];
            const float m_old = m_s[i];
            const float m_new = fmaxf(m_old, warp_max(s));
            // A row with nothing visible yet keeps m = -inf; use 0 so exp() gives 0, not NaN.
            const float m_ref = m_new == -INFINITY ? 0.0f : m_new;
            const float p = __expf(s - m_ref);
            const float row = warp_sum(p);
            Ps[i * ATT_FWD_BK + lane] = p;
            __syncwarp();
            if (lane == 0) {
                const float alpha = __expf(m_old - m_ref);
                a_s[i] = alpha;
                l_s[i] = l_s[i] * alpha + row;
                m_s[i] = m_new;
            }
        }
        __syncthreads();
        // O = alpha * O + P V; thread owns elements tid + 128 r of the 16 x D tile.
        TileIdx t(tid, d);
#pragma unroll
        for (int r = 0; r < ATT_ACC; ++r, t.step(ATT_THREADS, d)) {
            const int e = tid + r * ATT_THREADS;
            if (e < n_acc) {
                const int i = t.i, c = t.c;
                const float* pr = Ps + i * ATT_FWD_BK;
                float sum = 0.0f;
                for (int j = 0; j < ATT_FWD_BK; ++j) sum = fmaf(pr[j], Vs[j * d + c], sum);
                acc[r] = acc[r] * a_s[i] + sum;
            }
        }
    }
    // Every valid row saw at least its own key, so l > 0.
    TileIdx t(tid, d);
#pragma unroll
    for (int r = 0; r < ATT_ACC; ++r, t.step(ATT_THREADS, d)) {
        const int e = tid + r * ATT_THREADS;
        if (e < n_acc) {
            const int i = t.i, c = t.c;
            if (q0 + i < len) st_bf16(o + (start + q0 + i) * qs + int64_t(h) * d + c, acc[r] / l_s[i]);
        }
    }
    if (tid < ATT_FWD_BQ && q0 + tid < len) lse[(start + q0 + tid) * hq + h] = m_s[tid] + logf(l_s[tid]);
}

// Backward preprocessing: delta[t, h] = sum_c dO[t, h, c] * O[t, h, c] (f32), one warp per row.
// Reads 4 D bytes and does 2 D FLOPs per row. Grid-stride over rows = N * Hq, 128 threads.
RLVR_KERNEL_BOUNDED(attn_bwd_delta_bf16, ATT_THREADS, float* __restrict__ delta, const bf16* __restrict__ dout,
                    const bf16* __restrict__ out, int64_t rows, int d) {
    const int lane = threadIdx.x & 31;
    const int64_t warps = int64_t(gridDim.x) * (blockDim.x >> 5);
    for (int64_t row = int64_t(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5); row < rows; row += warps) {
        float s = 0.0f;
        for (int c = lane; c < d; c += 32) s = fmaf(ld_bf16(dout + row * d + c), ld_bf16(out + row * d + c), s);
        s = warp_sum(s);
        if (lane == 0) delta[row] = s;
    }
}

// Rung 2 of the row statistic, for D = 8, 16, .., 256 (D / 8 lanes per row, a power of two): each
// lane reads 8 consecutive columns of dO and O as one 16-byte load each, a warp takes 256 / D rows
// at once (lanes [r D / 8, (r + 1) D / 8) row r), and a butterfly within those lanes sums them.
// The sum runs in another order than rung 1's (lane chains of 8, then the butterfly).
RLVR_KERNEL_BOUNDED(attn_bwd_delta_x8_bf16, ATT_THREADS, float* __restrict__ delta, const bf16* __restrict__ dout,
                    const bf16* __restrict__ out, int64_t rows, int d) {
    const int lane = threadIdx.x & 31;
    const int per_row = d >> 3;
    const int rows_per_warp = 32 / per_row;
    const int64_t sub = lane / per_row;
    const int col = (lane % per_row) * 8;
    const int64_t step = int64_t(gridDim.x) * (blockDim.x >> 5) * rows_per_warp;
    // r0 is the same for the whole warp, so every lane takes every shuffle.
    for (int64_t r0 = (int64_t(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5)) * rows_per_warp; r0 < rows;
         r0 += step) {
        const int64_t row = r0 + sub;
        float s = 0.0f;
        if (row < rows) {
            float a[8], b[8];
            unpack8(ld_u32x4(dout + row * d + col), a);
            unpack8(ld_u32x4(out + row * d + col), b);
#pragma unroll
            for (int j = 0; j < 8; ++j) s = fmaf(a[j], b[j], s);
        }
        for (int off = per_row >> 1; off > 0; off >>= 1) s += __shfl_xor_sync(0xffffffffu, s, off);
        if (col == 0 && row < rows) delta[row] = s;
    }
}

// Shared body of both backward kernels for one (query tile, key tile) pair: recompute
// P = exp(scale * Q K^T - lse) under the causal mask and dS = P * (dO V^T - delta), into Ps, dSs.
static __device__ __forceinline__ void bwd_scores(float* Ps, float* dSs, const float* Qs, const float* dOs,
                                                  const float* Ks, const float* Vs, const float* lse_s,
                                                  const float* del_s, int ld, int d, int q0, int k0, int len,
                                                  float scale) {
    for (int e = threadIdx.x; e < ATT_BWD_BQ * ATT_BWD_BK; e += ATT_THREADS) {
        const int i = e / ATT_BWD_BK, j = e - i * ATT_BWD_BK;
        const float* qr = Qs + i * ld;
        const float* dor = dOs + i * ld;
        const float* kr = Ks + j * ld;
        const float* vr = Vs + j * ld;
        float s = 0.0f, dp = 0.0f;
        for (int c = 0; c < d; ++c) {
            s = fmaf(qr[c], kr[c], s);
            dp = fmaf(dor[c], vr[c], dp);
        }
        const bool visible = k0 + j <= q0 + i && q0 + i < len && k0 + j < len;
        const float p = visible ? __expf(s * scale - lse_s[i]) : 0.0f;
        Ps[e] = p;
        dSs[e] = p * (dp - del_s[i]);
    }
}

// Loads lse and delta of query rows [q0, q0 + 16) of head h (0 past the sequence).
static __device__ __forceinline__ void load_row_stats(float* lse_s, float* del_s, const float* lse,
                                                      const float* delta, int64_t start, int q0, int len, int hq,
                                                      int h) {
    const int i = threadIdx.x;
    if (i < ATT_BWD_BQ) {
        const bool ok = q0 + i < len;
        lse_s[i] = ok ? lse[(start + q0 + i) * hq + h] : 0.0f;
        del_s[i] = ok ? delta[(start + q0 + i) * hq + h] : 0.0f;
    }
}

// dK, dV for one (key tile of 16, kv head, sequence): loops over the query heads of the group and
// the query tiles at or after the key tile, always in the same order, so the sums are
// deterministic. Grid (ceil(max_len / 16), Hkv, nseq), 128 threads; dynamic shared memory:
// K, V, Q, dO [16][D + 1], P, dS [16][16], lse, delta [16] (floats).
RLVR_KERNEL_BOUNDED(attn_bwd_dkdv_bf16, ATT_THREADS, bf16* __restrict__ dk, bf16* __restrict__ dv,
                    const bf16* __restrict__ dout, const bf16* __restrict__ q, const bf16* __restrict__ k,
                    const bf16* __restrict__ v, const float* __restrict__ lse, const float* __restrict__ delta,
                    const int* __restrict__ seqs, int hq, int hkv, int d, float scale) {
    const int len = seqs[2 * blockIdx.z + 1];
    const int k0 = blockIdx.x * ATT_BWD_BK;
    if (k0 >= len) return;
    const int64_t start = seqs[2 * blockIdx.z];
    const int g = blockIdx.y, group = hq / hkv;
    const int64_t qs = int64_t(hq) * d, ks = int64_t(hkv) * d;

    RLVR_DYNAMIC_SMEM(float, sm);
    const int ld = d + 1;
    float* Ks = sm;
    float* Vs = Ks + ATT_BWD_BK * ld;
    float* Qs = Vs + ATT_BWD_BK * ld;
    float* dOs = Qs + ATT_BWD_BQ * ld;
    float* Ps = dOs + ATT_BWD_BQ * ld;
    float* dSs = Ps + ATT_BWD_BQ * ATT_BWD_BK;
    float* lse_s = dSs + ATT_BWD_BQ * ATT_BWD_BK;
    float* del_s = lse_s + ATT_BWD_BQ;

    const int tid = threadIdx.x;
    const int n_acc = ATT_BWD_BK * d;
    float dk_acc[ATT_ACC], dv_acc[ATT_ACC];
#pragma unroll
    for (int r = 0; r < ATT_ACC; ++r) dk_acc[r] = dv_acc[r] = 0.0f;
    load_tile(Ks, ld, k + start * ks + int64_t(g) * d, ks, k0, ATT_BWD_BK, len, d);
    load_tile(Vs, ld, v + start * ks + int64_t(g) * d, ks, k0, ATT_BWD_BK, len, d);
    // Query tiles that can see a key of this tile start at the tile holding query k0.
    const int qt0 = (k0 / ATT_BWD_BQ) * ATT_BWD_BQ;
    for (int h = g * group; h < (g + 1) * group; ++h) {
        for (int q0 = qt0; q0 < len; q0 += ATT_BWD_BQ) {
            __syncthreads();  // previous Q, dO, P, dS consumed
            load_tile(Qs, ld, q + start * qs + int64_t(h) * d, qs, q0, ATT_BWD_BQ, len, d);
            load_tile(dOs, ld, dout + start * qs + int64_t(h) * d, qs, q0, ATT_BWD_BQ, len, d);
            load_row_stats(lse_s, del_s, lse, delta, start, q0, len, hq, h);
            __syncthreads();
            bwd_scores(Ps, dSs, Qs, dOs, Ks, Vs, lse_s, del_s, ld, d, q0, k0, len, scale);
            __syncthreads();
            // dV[j][c] += sum_i P[i][j] dO[i][c];  dK[j][c] += sum_i dS[i][j] Q[i][c]
            TileIdx t(tid, d);
#pragma unroll
            for (int r = 0; r < ATT_ACC; ++r, t.step(ATT_THREADS, d)) {
                const int e = tid + r * ATT_THREADS;
                if (e < n_acc) {
                    const int j = t.i, c = t.c;
                    float sv = 0.0f, sk = 0.0f;
                    for (int i = 0; i < ATT_BWD_BQ; ++i) {
                        sv = fmaf(Ps[i * ATT_BWD_BK + j], dOs[i * ld + c], sv);
                        sk = fmaf(dSs[i * ATT_BWD_BK + j], Qs[i * ld + c], sk);
                    }
                    dv_acc[r] += sv;
                    dk_acc[r] += sk;
                }
            }
        }
    }
    TileIdx t(tid, d);
#pragma unroll
    for (int r = 0; r < ATT_ACC; ++r, t.step(ATT_THREADS, d)) {
        const int e = tid + r * ATT_THREADS;
        if (e < n_acc) {
            const int j = t.i, c = t.c;
            if (k0 + j < len) {
                const int64_t off = (start + k0 + j) * ks + int64_t(g) * d + c;
                st_bf16(dk + off, dk_acc[r] * scale);
                st_bf16(dv + off, dv_acc[r]);
            }
        }
    }
}

// dQ for one (query tile of 16, query head, sequence): dQ = scale * sum over key tiles of dS K,
// in key order (deterministic, no atomics; recomputes P and dS a second time instead).
// Grid (ceil(max_len / 16), Hq, nseq), 128 threads; same shared-memory layout as dK/dV.
RLVR_KERNEL_BOUNDED(attn_bwd_dq_bf16, ATT_THREADS, bf16* __restrict__ dq, const bf16* __restrict__ dout,
                    const bf16* __restrict__ q, const bf16* __restrict__ k, const bf16* __restrict__ v,
                    const float* __restrict__ lse, const float* __restrict__ delta, const int* __restrict__ seqs,
                    int hq, int hkv, int d, float scale) {
    const int len = seqs[2 * blockIdx.z + 1];
    const int q0 = blockIdx.x * ATT_BWD_BQ;
    if (q0 >= len) return;
    const int64_t start = seqs[2 * blockIdx.z];
    const int h = blockIdx.y, g = h / (hq / hkv);
    const int64_t qs = int64_t(hq) * d, ks = int64_t(hkv) * d;

    RLVR_DYNAMIC_SMEM(float, sm);
    const int ld = d + 1;
    float* Ks = sm;
    float* Vs = Ks + ATT_BWD_BK * ld;
    float* Qs = Vs + ATT_BWD_BK * ld;
    float* dOs = Qs + ATT_BWD_BQ * ld;
    float* Ps = dOs + ATT_BWD_BQ * ld;
    float* dSs = Ps + ATT_BWD_BQ * ATT_BWD_BK;
    float* lse_s = dSs + ATT_BWD_BQ * ATT_BWD_BK;
    float* del_s = lse_s + ATT_BWD_BQ;

    const int tid = threadIdx.x;
    const int n_acc = ATT_BWD_BQ * d;
    float acc[ATT_ACC];
#pragma unroll
    for (int r = 0; r < ATT_ACC; ++r) acc[r] = 0.0f;
    load_tile(Qs, ld, q + start * qs + int64_t(h) * d, qs, q0, ATT_BWD_BQ, len, d);
    load_tile(dOs, ld, dout + start * qs + int64_t(h) * d, qs, q0, ATT_BWD_BQ, len, d);
    load_row_stats(lse_s, del_s, lse, delta, start, q0, len, hq, h);
    const int k_end = min(len, q0 + ATT_BWD_BQ);
    for (int k0 = 0; k0 < k_end; k0 += ATT_BWD_BK) {
        __syncthreads();
        load_tile(Ks, ld, k + start * ks + int64_t(g) * d, ks, k0, ATT_BWD_BK, len, d);
        load_tile(Vs, ld, v + start * ks + int64_t(g) * d, ks, k0, ATT_BWD_BK, len, d);
        __syncthreads();
        bwd_scores(Ps, dSs, Qs, dOs, Ks, Vs, lse_s, del_s, ld, d, q0, k0, len, scale);
        __syncthreads();
        TileIdx t(tid, d);
#pragma unroll
        for (int r = 0; r < ATT_ACC; ++r, t.step(ATT_THREADS, d)) {
            const int e = tid + r * ATT_THREADS;
            if (e < n_acc) {
                const int i = t.i, c = t.c;
                float s = 0.0f;
                for (int j = 0; j < ATT_BWD_BK; ++j) s = fmaf(dSs[i * ATT_BWD_BK + j], Ks[j * ld + c], s);
                acc[r] += s;
            }
        }
    }
    TileIdx t(tid, d);
#pragma unroll
    for (int r = 0; r < ATT_ACC; ++r, t.step(ATT_THREADS, d)) {
        const int e = tid + r * ATT_THREADS;
        if (e < n_acc) {
            const int i = t.i, c = t.c;
            if (q0 + i < len) st_bf16(dq + (start + q0 + i) * qs + int64_t(h) * d + c, acc[r] * scale);
        }
    }
}

// Rungs 2 to 6 (bodies in attention_mma.cuh and attention_sm90.cuh). Grid and dynamic shared memory: see the
// launchers in src/backend/cuda/attention.rs.
#include "attention_mma.cuh"
#include "attention_sm90.cuh"

#define ATT_FWD_PARAMS                                                                                \
    bf16 *__restrict__ o, float *__restrict__ lse, const bf16 *__restrict__ q, const bf16 *__restrict__ k, \
        const bf16 *__restrict__ v, const int *__restrict__ seqs, int hq, int hkv, int d, float scale
#define ATT_FWD_ARGS o, lse, q, k, v, seqs, hq, hkv, d, scale
#define ATT_DQ_PARAMS                                                                                      \
    bf16 *__restrict__ dq, const bf16 *__restrict__ dout, const bf16 *__restrict__ q, const bf16 *__restrict__ k, \
        const bf16 *__restrict__ v, const float *__restrict__ lse, const float *__restrict__ delta,              \
        const int *__restrict__ seqs, int hq, int hkv, int d, float scale
#define ATT_DQ_ARGS dq, dout, q, k, v, lse, delta, seqs, hq, hkv, d, scale
#define ATT_DKDV_PARAMS                                                                                       \
    bf16 *__restrict__ dk, bf16 *__restrict__ dv, const bf16 *__restrict__ dout, const bf16 *__restrict__ q,     \
        const bf16 *__restrict__ k, const bf16 *__restrict__ v, const float *__restrict__ lse,                   \
        const float *__restrict__ delta, const int *__restrict__ seqs, int hq, int hkv, int d, float scale
#define ATT_DKDV_ARGS dk, dv, dout, q, k, v, lse, delta, seqs, hq, hkv, d, scale

RLVR_KERNEL_BOUNDED(attn_fwd_mma_d64_bf16, ATT_THREADS, ATT_FWD_PARAMS) { attn_fwd_tc<64, false>(ATT_FWD_ARGS); }
RLVR_KERNEL_BOUNDED(attn_fwd_mma_d128_bf16, ATT_THREADS, ATT_FWD_PARAMS) { attn_fwd_tc<128, false>(ATT_FWD_ARGS); }
RLVR_KERNEL_BOUNDED(attn_fwd_fa2_d64_bf16, ATT_THREADS, ATT_FWD_PARAMS) { attn_fwd_tc<64, true>(ATT_FWD_ARGS); }
RLVR_KERNEL_BOUNDED(attn_fwd_fa2_d128_bf16, ATT_THREADS, ATT_FWD_PARAMS) { attn_fwd_tc<128, true>(ATT_FWD_ARGS); }
RLVR_KERNEL_BOUNDED(attn_fwd_fa2split_d64_bf16, ATT_THREADS, ATT_FWD_PARAMS) {
    attn_fwd_tc<64, true, 3>(ATT_FWD_ARGS);
}
RLVR_KERNEL_BOUNDED(attn_fwd_fa2split_d128_bf16, ATT_THREADS, ATT_FWD_PARAMS) {
    attn_fwd_tc<128, true, 3>(ATT_FWD_ARGS);
}
RLVR_KERNEL_BOUNDED(attn_fwd_fa2merge_d64_bf16, ATT_THREADS, ATT_FWD_PARAMS) {
    attn_fwd_tc<64, true, 1, true>(ATT_FWD_ARGS);
}
RLVR_KERNEL_BOUNDED(attn_fwd_fa2merge_d128_bf16, ATT_THREADS, ATT_FWD_PARAMS) {
    attn_fwd_tc<128, true, 1, true>(ATT_FWD_ARGS);
}
RLVR_KERNEL_BOUNDED(attn_fwd_wgmma_d64_bf16, ATT_WG_BOUNDS, ATT_WG_PARAMS) {
    attn_fwd_wgmma<64, AttWgBug::kNone>(ATT_WG_ARGS);
}
RLVR_KERNEL_BOUNDED(attn_fwd_wgmma_d128_bf16, ATT_WG_BOUNDS, ATT_WG_PARAMS) {
    attn_fwd_wgmma<128, AttWgBug::kNone>(ATT_WG_ARGS);
}
RLVR_KERNEL_BOUNDED(attn_bwd_dq_mma_d64_bf16, ATT_THREADS, ATT_DQ_PARAMS) { attn_bwd_dq_tc<64, false>(ATT_DQ_ARGS); }
RLVR_KERNEL_BOUNDED(attn_bwd_dq_mma_d128_bf16, ATT_THREADS, ATT_DQ_PARAMS) { attn_bwd_dq_tc<128, false>(ATT_DQ_ARGS); }
RLVR_KERNEL_BOUNDED(attn_bwd_dq_fa2_d64_bf16, ATT_THREADS, ATT_DQ_PARAMS) { attn_bwd_dq_tc<64, true>(ATT_DQ_ARGS); }
RLVR_KERNEL_BOUNDED(attn_bwd_dq_fa2_d128_bf16, ATT_THREADS, ATT_DQ_PARAMS) { attn_bwd_dq_tc<128, true>(ATT_DQ_ARGS); }
RLVR_KERNEL_BOUNDED(attn_bwd_dkdv_mma_d64_bf16, ATT_THREADS, ATT_DKDV_PARAMS) {
    attn_bwd_dkdv_tc<64, false>(ATT_DKDV_ARGS);
}
RLVR_KERNEL_BOUNDED(attn_bwd_dkdv_mma_d128_bf16, ATT_THREADS, ATT_DKDV_PARAMS) {
    attn_bwd_dkdv_tc<128, false>(ATT_DKDV_ARGS);
}
RLVR_KERNEL_BOUNDED(attn_bwd_dkdv_fa2_d64_bf16, ATT_THREADS, ATT_DKDV_PARAMS) {
    attn_bwd_dkdv_tc<64, true>(ATT_DKDV_ARGS);
}
RLVR_KERNEL_BOUNDED(attn_bwd_dkdv_fa2_d128_bf16, ATT_THREADS, ATT_DKDV_PARAMS) {
    attn_bwd_dkdv_tc<128, true>(ATT_DKDV_ARGS);
}
