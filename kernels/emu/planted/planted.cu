// Planted-bug kernels. Compiled only into the emulator library, never by nvcc;
// tests/emu_planted.rs shows each bug is caught by the emulated parity check or a guard page.
#include "common.cuh"

// Bug: block reduction without the barrier between writing the per-warp partials and reading
// them, so warp 0 can read partials other warps have not written yet. Same signature and launch
// as rmsnorm_fwd_bf16.
static __device__ float block_sum_missing_sync(float v, float* scratch) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    v = warp_sum(v);
    if (lane == 0) scratch[warp] = v;
    // BUG: __syncthreads() missing here
    float t = lane < nwarps ? scratch[lane] : 0.0f;
    t = warp_sum(t);
    __syncthreads();
    return t;
}

RLVR_KERNEL(planted_rmsnorm_missing_sync, bf16* __restrict__ y, float* __restrict__ rstd_out,
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
    ss = block_sum_missing_sync(ss, scratch);
    const float rstd = rsqrtf(ss / float(hidden) + eps);
    if (threadIdx.x == 0 && rstd_out) rstd_out[row] = rstd;
    for (int c = threadIdx.x; c < hidden; c += blockDim.x) st_bf16(yr + c, ld_bf16(xr + c) * rstd * ld_bf16(w + c));
}

// Bug: the tile count rounds down, so the last partial tile is never processed. Same signature
// and launch as cast_f32_to_bf16 (tiles of blockDim.x elements staged through shared memory).
RLVR_KERNEL(planted_cast_tile_off_by_one, bf16* __restrict__ out, const float* __restrict__ in, int64_t n) {
    __shared__ float tile[1024];
    const int64_t ntiles = n / blockDim.x;  // BUG: should be (n + blockDim.x - 1) / blockDim.x
    for (int64_t t = blockIdx.x; t < ntiles; t += gridDim.x) {
        const int64_t i = t * blockDim.x + threadIdx.x;
        tile[threadIdx.x] = i < n ? in[i] : 0.0f;
        __syncthreads();
        if (i < n) out[i] = __float2bfloat16(tile[threadIdx.x]);
        __syncthreads();
    }
}

// Row sums with one warp per row (block = 32 threads, grid = rows): the correct version and one
// whose butterfly starts at offset 8 instead of 16, so it only sums half of the warp.
RLVR_KERNEL(planted_row_sum_ok, float* __restrict__ out, const float* __restrict__ x, int cols) {
    const int64_t row = blockIdx.x;
    float s = 0.0f;
    for (int c = threadIdx.x; c < cols; c += 32) s += x[row * cols + c];
    s = warp_sum(s);
    if (threadIdx.x == 0) out[row] = s;
}

RLVR_KERNEL(planted_row_sum_wrong_shuffle, float* __restrict__ out, const float* __restrict__ x, int cols) {
    const int64_t row = blockIdx.x;
    float s = 0.0f;
    for (int c = threadIdx.x; c < cols; c += 32) s += x[row * cols + c];
    for (int off = 8; off > 0; off >>= 1) s += __shfl_xor_sync(0xffffffffu, s, off);  // BUG: starts at 8
    if (threadIdx.x == 0) out[row] = s;
}

// Bug: stores one element past the end (index i + 1). Same signature and launch as residual_add_bf16.
RLVR_KERNEL(planted_residual_add_oob_store, bf16* out, const bf16* a, const bf16* b, int64_t n) {
    RLVR_GRID_STRIDE(i, n) { out[i + 1] = __float2bfloat16(__bfloat162float(a[i]) + __bfloat162float(b[i])); }
}

// Bug: half of the warp exits before a full-mask shuffle (undefined behaviour on hardware).
RLVR_KERNEL(planted_shuffle_after_exit, float* __restrict__ out, const float* __restrict__ x) {
    const int lane = threadIdx.x & 31;
    if (lane >= 16) return;
    out[lane] = __shfl_xor_sync(0xffffffffu, x[lane], 1);
}

// Bug: __syncthreads in divergent code: even and odd warps wait at different barriers.
RLVR_KERNEL(planted_divergent_barrier, float* __restrict__ out) {
    __shared__ float s[64];
    const int warp = threadIdx.x >> 5;
    if (warp & 1) {
        s[threadIdx.x] = 1.0f;
        __syncthreads();
    } else {
        s[threadIdx.x] = 2.0f;
        __syncthreads();
    }
    out[threadIdx.x] = s[threadIdx.x ^ 32];
}

// cp.async staging of 8 bf16 per thread (block = 32 threads, 256 elements), then every thread
// reads a neighbour's chunk. The planted version forgets cp.async.wait_group before the barrier.
// (A plain function with a flag, not a template: g++ drops the section attribute of a bf16
// __shared__ array inside a function template, see docs/gpu-log.md.)
static __device__ void stage_and_read(float* out, const bf16* in, bool wait) {
    __shared__ __align__(16) bf16 buf[256];
    const int tid = threadIdx.x;
    cp_async16(&buf[tid * 8], in + tid * 8, 16);
    cp_async_commit();
    if (wait) cp_async_wait<0>();  // BUG when wait is false: the copy may not have landed yet
    __syncthreads();
    const int src = (tid + 1) % 32;
    for (int i = 0; i < 8; ++i) out[tid * 8 + i] = ld_bf16(&buf[src * 8 + i]);
}

RLVR_KERNEL(planted_cp_async_ok, float* __restrict__ out, const bf16* __restrict__ in) {
    stage_and_read(out, in, true);
}

RLVR_KERNEL(planted_cp_async_missing_wait, float* __restrict__ out, const bf16* __restrict__ in) {
    stage_and_read(out, in, false);
}
