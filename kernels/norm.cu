// RMSNorm forward and backward (Llama/Qwen: y = x / sqrt(mean(x^2) + eps) * w).
// Forward, per row of H: reads 2H (x) + 2H (w, L2-resident) bytes, writes 2H + 4; ~4H FLOPs.
// Backward, per row: reads 2H dy + 2H x + 2H w + 4, writes 2H dx; ~8H FLOPs; plus H f32 partials
// per block. The weight gradient is deterministic: each block sums its own rows into a per-block
// partial (one thread owns each column), then rmsnorm_dw_reduce adds the partials in block order.
#include "common.cuh"
#include "vec16.cuh"

RLVR_KERNEL_BOUNDED(rmsnorm_fwd_bf16, 1024, bf16* __restrict__ y, float* __restrict__ rstd_out,
                    const bf16* __restrict__ x, const bf16* __restrict__ w, int hidden, float eps) {
    __shared__ float scratch[32];
    const int64_t row = blockIdx.x;
    const bf16* xr = x + row * hidden;
    bf16* yr = y + row * hidden;
    float ss = 0.0f;
    for (int c = threadIdx.x; c < hidden; c += blockDim.x) {
        float v = ld_bf16(xr + c);
        ss += v * v;
    }
    ss = block_sum(ss, scratch);
    const float rstd = rsqrtf(ss / float(hidden) + eps);
    if (threadIdx.x == 0 && rstd_out) rstd_out[row] = rstd;
    for (int c = threadIdx.x; c < hidden; c += blockDim.x) st_bf16(yr + c, ld_bf16(xr + c) * rstd * ld_bf16(w + c));
}

// dx = rstd * (g - xhat * mean(g * xhat)), g = dy * w, xhat = x * rstd.
// Block b handles rows [b * rows_per_block, min(rows, (b + 1) * rows_per_block)) and writes
// dw_partial[b, :] = sum over its rows of dy * xhat. Dynamic shared memory: hidden floats.
RLVR_KERNEL_BOUNDED(rmsnorm_bwd_bf16, 1024, bf16* __restrict__ dx, float* __restrict__ dw_partial,
                    const bf16* __restrict__ dy, const bf16* __restrict__ x, const bf16* __restrict__ w,
                    const float* __restrict__ rstd, int rows, int hidden, int rows_per_block) {
    __shared__ float scratch[32];
    RLVR_DYNAMIC_SMEM(float, acc);
    for (int c = threadIdx.x; c < hidden; c += blockDim.x) acc[c] = 0.0f;
    const int r0 = blockIdx.x * rows_per_block;
    const int r1 = min(rows, r0 + rows_per_block);
    for (int r = r0; r < r1; ++r) {
        const int64_t off = int64_t(r) * hidden;
        const float rs = rstd[r];
        float dot = 0.0f;
        for (int c = threadIdx.x; c < hidden; c += blockDim.x)
            dot += ld_bf16(dy + off + c) * ld_bf16(w + c) * ld_bf16(x + off + c);
        const float mean = block_sum(dot, scratch) * rs / float(hidden);
        for (int c = threadIdx.x; c < hidden; c += blockDim.x) {
            const float g = ld_bf16(dy + off + c) * ld_bf16(w + c);
            const float xhat = ld_bf16(x + off + c) * rs;
            st_bf16(dx + off + c, rs * (g - xhat * mean));
            acc[c] += ld_bf16(dy + off + c) * xhat;
        }
    }
    for (int c = threadIdx.x; c < hidden; c += blockDim.x) dw_partial[int64_t(blockIdx.x) * hidden + c] = acc[c];
}

// dw[c] (+)= sum over p of partial[p, c], in order p = 0, 1, ... (deterministic).
RLVR_KERNEL(rmsnorm_dw_reduce_f32, float* __restrict__ dw, const float* __restrict__ partial, int nparts, int hidden,
            int accumulate) {
    RLVR_GRID_STRIDE(c, hidden) {
        float s = 0.0f;
        for (int p = 0; p < nparts; ++p) s += partial[int64_t(p) * hidden + c];
        dw[c] = accumulate ? dw[c] + s : s;
    }
}

// Rung 2 of the forward and backward: thread t owns the eight columns [8t, 8t + 8) of every row
// (hidden a multiple of 8 and at most 8 * 1024; the block is hidden / 8 threads rounded up to
// whole warps), held in registers, so every access is 16 bytes and each input is read once. The
// sum of squares and the backward's dot product are added in another order than rung 1's; the
// per-element formulas and the weight gradient's row order are rung 1's (dw has rung 1's bits).
RLVR_KERNEL_BOUNDED(rmsnorm_fwd_x8_bf16, 1024, bf16* __restrict__ y, float* __restrict__ rstd_out,
                    const bf16* __restrict__ x, const bf16* __restrict__ w, int hidden, float eps) {
    __shared__ float scratch[32];
    const int64_t row = blockIdx.x;
    const int c = 8 * threadIdx.x;
    const bool mine = c < hidden;
    float v[8] = {};
    if (mine) unpack8(ld_u32x4(x + row * hidden + c), v);
    float ss = 0.0f;
#pragma unroll
    for (int j = 0; j < 8; ++j) ss += v[j] * v[j];
    ss = block_sum(ss, scratch);
    const float rstd = rsqrtf(ss / float(hidden) + eps);
    if (threadIdx.x == 0 && rstd_out) rstd_out[row] = rstd;
    if (!mine) return;
    float wv[8];
    unpack8(ldg16(w + c), wv);
#pragma unroll
    for (int j = 0; j < 8; ++j) v[j] = v[j] * rstd * wv[j];
    st_bf16_run<8>(y + row * hidden + c, v);
}

// Rows split over blocks as in rung 1 (the same dw_partial rows); w stays in registers across
// the block's rows, and the dw sums too (no shared-memory accumulator).
RLVR_KERNEL_BOUNDED(rmsnorm_bwd_x8_bf16, 1024, bf16* __restrict__ dx, float* __restrict__ dw_partial,
                    const bf16* __restrict__ dy, const bf16* __restrict__ x, const bf16* __restrict__ w,
                    const float* __restrict__ rstd, int rows, int hidden, int rows_per_block) {
    __shared__ float scratch[32];
    const int c = 8 * threadIdx.x;
    const bool mine = c < hidden;
    float wv[8] = {}, acc[8] = {};
    if (mine) unpack8(ldg16(w + c), wv);
    const int r0 = blockIdx.x * rows_per_block;
    const int r1 = min(rows, r0 + rows_per_block);
    for (int r = r0; r < r1; ++r) {
        const int64_t off = int64_t(r) * hidden + c;
        const float rs = rstd[r];
        float d[8] = {}, xv[8] = {};
        if (mine) {
            unpack8(ld_u32x4(dy + off), d);
            unpack8(ld_u32x4(x + off), xv);
        }
        float dot = 0.0f;
#pragma unroll
        for (int j = 0; j < 8; ++j) dot += d[j] * wv[j] * xv[j];
        const float mean = block_sum(dot, scratch) * rs / float(hidden);
        if (!mine) continue;
        float o[8];
#pragma unroll
        for (int j = 0; j < 8; ++j) {
            const float g = d[j] * wv[j];
            const float xhat = xv[j] * rs;
            o[j] = rs * (g - xhat * mean);
            acc[j] += d[j] * xhat;
        }
        st_bf16_run<8>(dx + off, o);
    }
    if (!mine) return;
    float* p = dw_partial + int64_t(blockIdx.x) * hidden + c;
    st_f32x4(p, make_float4(acc[0], acc[1], acc[2], acc[3]));
    st_f32x4(p + 4, make_float4(acc[4], acc[5], acc[6], acc[7]));
}
