// Row kernels of the fused LM-head log-prob: the host loops over token chunks, a GEMM
// writes a chunk of f32 logits [rows, V], and these kernels turn it into per-token statistics
// (forward) or into dL/dz (backward, per-token coefficients folded in before the dW GEMM), so the
// full [T, V] logits never exist. One block per row; f32 throughout.
//
// With u = z * inv_temp, p = softmax(u):  logp = u_y - lse,  H = lse - sum_v p_v u_v, and
//   dL/dz_v = (g_lp (1[v=y] - p_v) - g_H p_v (log p_v + H)) * inv_temp.
// Forward cost per row: reads 4V bytes once (single pass, online max/sum), ~V exps.
//
// Ladder (the launcher's rungs): logprob_{fwd,bwd}_rows_f32 are the first kernels (rungs 1-2),
// logprob_{fwd,bwd}_rows_vec their 16-byte, base-2 versions (rung 3), and logprob_fwd_bwd_rows
// (rung 4) turns one logits chunk into the statistics and dL/dz at once, for the three-GEMM
// forward + backward.
#include "common.cuh"

// Running statistics of a set of u values, relative to its max m:
//   s = sum e^{u-m},  t = sum e^{u-m} (u-m);  then lse = m + log s and H = log s - t / s
// (t relative to m avoids the cancellation of lse - E[u] when |u| is large).
struct RowStats {
    float m, s, t;
};

static __device__ __forceinline__ void stats_add(RowStats& a, float u) {
    if (a.m == -INFINITY) {
        a.m = u;
        a.s = 1.0f;
        a.t = 0.0f;
    } else if (u > a.m) {
        const float d = a.m - u, e = expf(d);
        a.t = e * (a.t + a.s * d);
        a.s = a.s * e + 1.0f;
        a.m = u;
    } else {
        const float d = u - a.m, e = expf(d);
        a.s += e;
        a.t += e * d;
    }
}

static __device__ __forceinline__ RowStats stats_merge(RowStats a, RowStats b) {
    if (b.m == -INFINITY) return a;
    if (a.m == -INFINITY) return b;
    const float m = fmaxf(a.m, b.m);
    const float da = a.m - m, db = b.m - m;
    const float ea = expf(da), eb = expf(db);
    RowStats r;
    r.m = m;
    r.s = ea * a.s + eb * b.s;
    r.t = ea * (a.t + a.s * da) + eb * (b.t + b.s * db);
    return r;
}

// Merge over the block with MERGE in a fixed order (deterministic); every thread gets the result.
template <RowStats (*MERGE)(RowStats, RowStats)>
static __device__ __forceinline__ RowStats block_merge(RowStats v) {
    __shared__ float sm[32], ss[32], st[32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) {
        RowStats o;
        o.m = __shfl_xor_sync(0xffffffffu, v.m, off);
        o.s = __shfl_xor_sync(0xffffffffu, v.s, off);
        o.t = __shfl_xor_sync(0xffffffffu, v.t, off);
        v = MERGE(v, o);
    }
    if (lane == 0) {
        sm[warp] = v.m;
        ss[warp] = v.s;
        st[warp] = v.t;
    }
    __syncthreads();
    RowStats w;
    w.m = lane < nwarps ? sm[lane] : -INFINITY;
    w.s = lane < nwarps ? ss[lane] : 0.0f;
    w.t = lane < nwarps ? st[lane] : 0.0f;
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) {
        RowStats o;
        o.m = __shfl_xor_sync(0xffffffffu, w.m, off);
        o.s = __shfl_xor_sync(0xffffffffu, w.s, off);
        o.t = __shfl_xor_sync(0xffffffffu, w.t, off);
        w = MERGE(w, o);
    }
    __syncthreads();
    return w;
}

static __device__ __forceinline__ RowStats block_stats(RowStats v) { return block_merge<stats_merge>(v); }

// logp[r], entropy[r], lse[r] for row r = blockIdx.x of z [rows, V]. A target outside [0, V)
// gives logp = NaN (the launcher cannot see device-side targets).
RLVR_KERNEL_BOUNDED(logprob_fwd_rows_f32, 1024, float* __restrict__ logp, float* __restrict__ entropy,
                    float* __restrict__ lse, const float* __restrict__ z, const int* __restrict__ targets, int V,
                    float inv_temp) {
    const int64_t row = blockIdx.x;
    const float* zr = z + row * V;
    RowStats st = {-INFINITY, 0.0f, 0.0f};
    for (int v = threadIdx.x; v < V; v += blockDim.x) stats_add(st, zr[v] * inv_temp);
    st = block_stats(st);
    if (threadIdx.x == 0) {
        const float log_s = logf(st.s);
        const float l = st.m + log_s;
        const int y = targets[row];
        logp[row] = (y >= 0 && y < V) ? zr[y] * inv_temp - l : NAN;
        entropy[row] = log_s - st.t / st.s;
        lse[row] = l;
    }
}

// dL/dz of row r = blockIdx.x into dz_f32 (may be z itself: each element is read, then written,
// by the same thread) and/or dz_bf16 (the GEMM operand). Either output may be null.
RLVR_KERNEL_BOUNDED(logprob_bwd_rows_f32, 1024, float* dz_f32, bf16* __restrict__ dz_bf16, const float* z,
                    const int* __restrict__ targets, const float* __restrict__ lse,
                    const float* __restrict__ entropy, const float* __restrict__ g_lp,
                    const float* __restrict__ g_h, int V, float inv_temp) {
    const int64_t row = blockIdx.x;
    const float l = lse[row], h = entropy[row], glp = g_lp[row], gh = g_h[row];
    const int y = targets[row];
    for (int v = threadIdx.x; v < V; v += blockDim.x) {
        const int64_t i = row * V + v;
        const float logp_v = z[i] * inv_temp - l;
        const float p = expf(logp_v);
        float g = -glp * p - gh * p * (logp_v + h);
        if (v == y) g += glp;
        g *= inv_temp;
        if (dz_f32) dz_f32[i] = g;
        if (dz_bf16) dz_bf16[i] = __float2bfloat16(g);
    }
}

// ---------------------------------------------------------------------------------------------
// Vectorised row kernels (the log-prob ladder's rungs 3 and 4): 16-byte loads of 4 logits, the
// statistics kept in base 2 so every exponential is one exp2 with the temperature and log2(e)
// folded into one scale: with w = z * inv_temp * log2(e) and m = max w,
//   s = sum 2^(w-m),  t = sum 2^(w-m) (w-m);  lse = ln2 (m + log2 s),  H = ln2 (log2 s - t / s).

#define LP_LN2 0.6931471805599453f
#define LP_LOG2E 1.4426950408889634f

static __device__ __forceinline__ void stats2_rescale(RowStats& a, float m) {
    if (a.s == 0.0f) {  // empty so far: nothing to rescale
        a.m = m;
        return;
    }
    const float d = a.m - m, e = exp2f(d);
    a.t = e * (a.t + a.s * d);
    a.s *= e;
    a.m = m;
}

static __device__ __forceinline__ void stats2_add(RowStats& a, float w) {
    if (w > a.m) stats2_rescale(a, w);
    const float d = w - a.m, e = exp2f(d);
    a.s += e;
    a.t += e * d;
}

// Four values with one rescale at most.
static __device__ __forceinline__ void stats2_add4(RowStats& a, float4 w) {
    const float m4 = fmaxf(fmaxf(w.x, w.y), fmaxf(w.z, w.w));
    if (m4 > a.m) stats2_rescale(a, m4);
    const float d0 = w.x - a.m, d1 = w.y - a.m, d2 = w.z - a.m, d3 = w.w - a.m;
    const float e0 = exp2f(d0), e1 = exp2f(d1), e2 = exp2f(d2), e3 = exp2f(d3);
    a.s += (e0 + e1) + (e2 + e3);
    a.t += (e0 * d0 + e1 * d1) + (e2 * d2 + e3 * d3);
}

static __device__ __forceinline__ RowStats stats2_merge(RowStats a, RowStats b) {
    if (b.s == 0.0f) return a;
    if (a.s == 0.0f) return b;
    const float m = fmaxf(a.m, b.m);
    const float da = a.m - m, db = b.m - m;
    const float ea = exp2f(da), eb = exp2f(db);
    RowStats r;
    r.m = m;
    r.s = ea * a.s + eb * b.s;
    r.t = ea * (a.t + a.s * da) + eb * (b.t + b.s * db);
    return r;
}

static __device__ __forceinline__ RowStats block_stats2(RowStats v) { return block_merge<stats2_merge>(v); }

// Whether a row of V f32 at zr can be read 4 at a time.
static __device__ __forceinline__ bool rows_by_4(const float* zr, int V) {
    return (V & 3) == 0 && (reinterpret_cast<uintptr_t>(zr) & 15) == 0;
}

// Base-2 statistics of one row (every thread of the block gets them).
static __device__ __forceinline__ RowStats row_stats2(const float* zr, int V, float scale2) {
    RowStats st = {-INFINITY, 0.0f, 0.0f};
    if (rows_by_4(zr, V)) {
        for (int v = threadIdx.x * 4; v < V; v += blockDim.x * 4) {
            float4 w = ld_f32x4(zr + v);
            w.x *= scale2, w.y *= scale2, w.z *= scale2, w.w *= scale2;
            stats2_add4(st, w);
        }
    } else {
        for (int v = threadIdx.x; v < V; v += blockDim.x) stats2_add(st, zr[v] * scale2);
    }
    return block_stats2(st);
}

// Thread 0 writes logp / entropy / lse of `row` from its base-2 statistics; returns (lse, H).
static __device__ __forceinline__ float2 row_outputs(const RowStats& st, const float* zr, int y, int V,
                                                    float inv_temp, int64_t row, float* logp, float* entropy,
                                                    float* lse) {
    const float log2_s = log2f(st.s);
    const float l = LP_LN2 * (st.m + log2_s);
    const float h = LP_LN2 * (log2_s - st.t / st.s);
    if (threadIdx.x == 0) {
        logp[row] = (y >= 0 && y < V) ? zr[y] * inv_temp - l : NAN;
        entropy[row] = h;
        lse[row] = l;
    }
    return make_float2(l, h);
}

// dL/dz of 4 logits at v.. of a row: (g_lp (1[v=y] - p) - g_h p (log p + H)) * inv_temp.
static __device__ __forceinline__ void grad4(float g[4], float4 z, int v, int y, float scale2, float lse2,
                                             float glp, float gh, float h, float inv_temp) {
    const float zz[4] = {z.x, z.y, z.z, z.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const float d2 = zz[i] * scale2 - lse2;  // log2 p
        const float p = exp2f(d2);
        float gi = -glp * p - gh * p * (d2 * LP_LN2 + h);
        if (v + i == y) gi += glp;
        g[i] = gi * inv_temp;
    }
}

// The gradient of a whole row into dz_f32 (may be z itself) and/or dz_bf16: 8 logits per thread
// and step (two 16-byte loads, one 16-byte bf16 store) when V % 8 == 0 and the rows are aligned.
static __device__ __forceinline__ void row_grad(float* dz_f32, bf16* dz_bf16, const float* zr, int V, int y,
                                                float scale2, float lse, float glp, float gh, float h,
                                                float inv_temp) {
    const float lse2 = lse * LP_LOG2E;
    const bool by8 = (V & 7) == 0 && rows_by_4(zr, V) && (reinterpret_cast<uintptr_t>(dz_bf16) & 15) == 0 &&
                     (reinterpret_cast<uintptr_t>(dz_f32) & 15) == 0;
    if (by8) {
        // Four consecutive elements per thread and step, so a warp's loads and stores each cover
        // one contiguous run (whole sectors); every element's arithmetic is its own.
#pragma unroll 2
        for (int v = threadIdx.x * 4; v < V; v += blockDim.x * 4) {
            float g[4];
            grad4(g, ld_f32x4(zr + v), v, y, scale2, lse2, glp, gh, h, inv_temp);
            if (dz_f32) st_f32x4(dz_f32 + v, make_float4(g[0], g[1], g[2], g[3]));
            if (dz_bf16) st_bf16_run<4>(dz_bf16 + v, g);
        }
        return;
    }
    for (int v = threadIdx.x; v < V; v += blockDim.x) {
        const float d2 = zr[v] * scale2 - lse2;
        const float p = exp2f(d2);
        float g = -glp * p - gh * p * (d2 * LP_LN2 + h);
        if (v == y) g += glp;
        g *= inv_temp;
        if (dz_f32) dz_f32[v] = g;
        if (dz_bf16) dz_bf16[v] = __float2bfloat16(g);
    }
}

// Rung 3's forward: logp[r], entropy[r], lse[r] for row r = blockIdx.x of z [rows, V].
RLVR_KERNEL_BOUNDED(logprob_fwd_rows_vec, 1024, float* __restrict__ logp, float* __restrict__ entropy,
                    float* __restrict__ lse, const float* __restrict__ z, const int* __restrict__ targets, int V,
                    float inv_temp) {
    const int64_t row = blockIdx.x;
    const float* zr = z + row * V;
    const RowStats st = row_stats2(zr, V, inv_temp * LP_LOG2E);
    row_outputs(st, zr, targets[row], V, inv_temp, row, logp, entropy, lse);
}

// Rung 3's backward: as logprob_bwd_rows_f32, vectorised.
RLVR_KERNEL_BOUNDED(logprob_bwd_rows_vec, 1024, float* dz_f32, bf16* __restrict__ dz_bf16, const float* z,
                    const int* __restrict__ targets, const float* __restrict__ lse,
                    const float* __restrict__ entropy, const float* __restrict__ g_lp,
                    const float* __restrict__ g_h, int V, float inv_temp) {
    const int64_t row = blockIdx.x;
    row_grad(dz_f32 ? dz_f32 + row * V : nullptr, dz_bf16 ? dz_bf16 + row * V : nullptr, z + row * V, V,
             targets[row], inv_temp * LP_LOG2E, lse[row], g_lp[row], g_h[row], entropy[row], inv_temp);
}

// Rung 4, when the per-token coefficients are known before the forward: one block per row of the
// logits chunk computes the statistics (written like logprob_fwd_rows_vec) and then the row's
// dL/dz as bf16 into row `row` of dz (leading dimension ld_dz), the A operand of the dH and dW
// products. Every per-token pointer starts at the chunk's first token.
RLVR_KERNEL_BOUNDED(logprob_fwd_bwd_rows, 1024, float* __restrict__ logp, float* __restrict__ entropy,
                    float* __restrict__ lse, bf16* __restrict__ dz, int64_t ld_dz, const float* __restrict__ z,
                    const int* __restrict__ targets, const float* __restrict__ g_lp,
                    const float* __restrict__ g_h, int V, float inv_temp) {
    const int64_t row = blockIdx.x;
    const float* zr = z + row * V;
    const float scale2 = inv_temp * LP_LOG2E;
    const int y = targets[row];
    const RowStats st = row_stats2(zr, V, scale2);
    const float2 lh = row_outputs(st, zr, y, V, inv_temp, row, logp, entropy, lse);
    row_grad(nullptr, dz + row * ld_dz, zr, V, y, scale2, lh.x, g_lp[row], g_h[row], lh.y, inv_temp);
}
