// Shared pieces of the token samplers (kernels/sampling.cu): the Philox uniform, the order key
// and the block reductions and scans, each in a fixed order so every rung sums alike.
#pragma once
#include "common.cuh"

#define SAMPLE_INT_MAX 0x7fffffff
#define SAMPLE_INT_MIN (-SAMPLE_INT_MAX - 1)

static __device__ __forceinline__ void philox4x32_10(uint32_t c[4], uint32_t k0, uint32_t k1) {
#pragma unroll
    for (int r = 0; r < 10; ++r) {
        const uint64_t p0 = uint64_t(0xD2511F53u) * c[0];
        const uint64_t p1 = uint64_t(0xCD9E8D57u) * c[2];
        const uint32_t n0 = uint32_t(p1 >> 32) ^ c[1] ^ k0;
        const uint32_t n1 = uint32_t(p1);
        const uint32_t n2 = uint32_t(p0 >> 32) ^ c[3] ^ k1;
        const uint32_t n3 = uint32_t(p0);
        c[0] = n0;
        c[1] = n1;
        c[2] = n2;
        c[3] = n3;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
}

// rng::philox_uniform(seed, stream, step, lane): counter (step, stream), key seed; 53 bits of the
// output pair `lane % 2`, centred: a uniform in (0, 1).
static __device__ __forceinline__ double philox_uniform(uint64_t seed, uint64_t stream, uint64_t step,
                                                        uint32_t lane) {
    uint32_t c[4] = {uint32_t(step), uint32_t(step >> 32), uint32_t(stream), uint32_t(stream >> 32)};
    philox4x32_10(c, uint32_t(seed), uint32_t(seed >> 32));
    const int j = int(lane % 2) * 2;
    const uint64_t bits = ((uint64_t(c[j]) << 32) | c[j + 1]) >> 11;
    return (double(bits) + 0.5) / 9007199254740992.0;  // 2^53
}

// Order-preserving key of a finite float (-0 and +0 map to the same key: they are tied).
static __device__ __forceinline__ uint32_t order_key(float x) {
    if (x == 0.0f) x = 0.0f;
    const uint32_t b = __float_as_uint(x);
    return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

static __device__ __forceinline__ double block_sum_f64(double v, double* scratch) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    double t = lane < nwarps ? scratch[lane] : 0.0;
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) t += __shfl_xor_sync(0xffffffffu, t, off);
    __syncthreads();
    return t;
}

static __device__ __forceinline__ int block_sum_int(int v, int* scratch) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    int t = lane < nwarps ? scratch[lane] : 0;
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) t += __shfl_xor_sync(0xffffffffu, t, off);
    __syncthreads();
    return t;
}

// Minimum (max_mode = false) or maximum over the block.
static __device__ __forceinline__ int block_minmax_int(int v, int* scratch, bool max_mode) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) {
        const int o = __shfl_xor_sync(0xffffffffu, v, off);
        v = max_mode ? max(v, o) : min(v, o);
    }
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    const int neutral = max_mode ? SAMPLE_INT_MIN : SAMPLE_INT_MAX;
    int t = lane < nwarps ? scratch[lane] : neutral;
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) {
        const int o = __shfl_xor_sync(0xffffffffu, t, off);
        t = max_mode ? max(t, o) : min(t, o);
    }
    __syncthreads();
    return t;
}

// Inclusive prefix sum over the block in thread order; *total gets the block's sum.
static __device__ __forceinline__ double block_scan_f64(double v, double* scratch, double* total) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
#pragma unroll
    for (int off = 1; off < 32; off <<= 1) {
        const double o = __shfl_up_sync(0xffffffffu, v, off);
        if (lane >= off) v += o;
    }
    if (lane == 31) scratch[warp] = v;
    __syncthreads();
    double prefix = 0.0, tot = 0.0;
    for (int w = 0; w < nwarps; ++w) {
        const double s = scratch[w];
        if (w < warp) prefix += s;
        tot += s;
    }
    __syncthreads();
    *total = tot;
    return prefix + v;
}

// f(v, x[v]) for v = threadIdx.x, + blockDim.x, ... in that order (the per-thread order of every
// f64 sum, which the rungs share), with four loads in flight per thread.
template <typename F>
static __device__ __forceinline__ void for_each_logit(const float* __restrict__ x, int V, F&& f) {
    const int n = blockDim.x;
    int v = threadIdx.x;
    for (; v < V - 3 * n; v += 4 * n) {
        const float a = x[v], b = x[v + n], c = x[v + 2 * n], d = x[v + 3 * n];
        f(v, a);
        f(v + n, b);
        f(v + 2 * n, c);
        f(v + 3 * n, d);
    }
    for (; v < V; v += n) f(v, x[v]);
}

static __device__ __forceinline__ unsigned long long block_sum_u64(unsigned long long v, unsigned long long* scratch) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    unsigned long long t = 0;
    for (int w = 0; w < nwarps; ++w) t += scratch[w];
    __syncthreads();
    return t;
}

// Inclusive suffix sum over the block in thread order: the sum over threads >= this one.
static __device__ __forceinline__ unsigned long long block_suffix_u64(unsigned long long v,
                                                                      unsigned long long* scratch) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
#pragma unroll
    for (int off = 1; off < 32; off <<= 1) {
        const unsigned long long o = __shfl_down_sync(0xffffffffu, v, off);
        if (lane + off < 32) v += o;
    }
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    for (int w = warp + 1; w < nwarps; ++w) v += scratch[w];
    __syncthreads();
    return v;
}

// Inclusive prefix count of `flag` over the block in thread order; *total gets the block's count.
static __device__ __forceinline__ int block_count_scan(bool flag, int* scratch, int* total) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    const unsigned ballot = __ballot_sync(0xffffffffu, flag);
    const unsigned upto = lane == 31 ? 0xffffffffu : (2u << lane) - 1u;
    if (lane == 0) scratch[warp] = __popc(ballot);
    __syncthreads();
    int prefix = 0, tot = 0;
    for (int w = 0; w < nwarps; ++w) {
        const int s = scratch[w];
        if (w < warp) prefix += s;
        tot += s;
    }
    __syncthreads();
    *total = tot;
    return prefix + __popc(ballot & upto);
}
