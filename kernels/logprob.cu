// Row kernels of the fused LM-head log-prob (issue 4): the host loops over token chunks, a GEMM
// writes a chunk of f32 logits [rows, V], and these kernels turn it into per-token statistics
// (forward) or into dL/dz (backward, per-token coefficients folded in before the dW GEMM), so the
// full [T, V] logits never exist. One block per row; f32 throughout.
//
// With u = z * inv_temp, p = softmax(u):  logp = u_y - lse,  H = lse - sum_v p_v u_v, and
//   dL/dz_v = (g_lp (1[v=y] - p_v) - g_H p_v (log p_v + H)) * inv_temp.
// Forward cost per row: reads 4V bytes once (single pass, online max/sum), ~V exps.
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

// Merge over the block in a fixed order (deterministic); every thread gets the result.
static __device__ __forceinline__ RowStats block_stats(RowStats v) {
    __shared__ float sm[32], ss[32], st[32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) {
        RowStats o;
        o.m = __shfl_xor_sync(0xffffffffu, v.m, off);
        o.s = __shfl_xor_sync(0xffffffffu, v.s, off);
        o.t = __shfl_xor_sync(0xffffffffu, v.t, off);
        v = stats_merge(v, o);
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
        w = stats_merge(w, o);
    }
    __syncthreads();
    return w;
}

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
