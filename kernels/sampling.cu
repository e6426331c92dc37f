// Token sampling, one block per row of f32 logits: temperature, top-k, top-p (nucleus,
// relative to the mass left by top-k), min-p, greedy — the semantics of the CPU `sample_row`
// (src/backend/cpu/sampling.rs), with the same Philox4x32-10 uniform as `rng::philox_uniform`.
//
// No sort of the vocabulary: every filter is a threshold on an order-preserving integer key of the
// logit (probabilities are monotone in the logit, and equal logits are exactly the tied
// probabilities), found by bisection on the key with one counting (top-k) or mass (top-p) pass
// per step; the draw is a block prefix scan over the kept tokens in token-id order. Probabilities
// and sums are f64, as on the CPU, so the two pick the same token except when the uniform falls
// within rounding (~1e-15) of a cumulative boundary. All reductions have a fixed order: the result
// is deterministic.
//
// Cost per row: 2 passes (max, normaliser) + up to 32 count passes (top-k) + up to 32 mass passes
// (top-p) + 1-2 passes (total, scan); each pass reads 4V bytes, mass passes do V f64 exps.
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

// keys: [rows, 4] u32 = (stream lo, stream hi, step lo, step hi) of each row's draw.
// Outputs per row: token (-1 when the row has a NaN/Inf logit), log p(token) under the full
// temperature softmax, and under the truncated renormalised distribution (0 for greedy).
// The draw of row blockIdx.x with the given parameters; fscr/dscr/iscr: the block's 32-entry
// shared scratch for the reductions.
static __device__ __forceinline__ void sample_row_f32(int* __restrict__ token, float* __restrict__ logprob,
                                                      float* __restrict__ logprob_truncated,
                                                      const float* __restrict__ logits,
                                                      const uint32_t* __restrict__ keys, int V, int64_t seed,
                                                      uint32_t lane, float temperature, int top_k, float top_p,
                                                      float min_p, int greedy, float* fscr, double* dscr,
                                                      int* iscr) {
    const int64_t row = blockIdx.x;
    const float* x = logits + row * V;
    const int tid = threadIdx.x, nthreads = blockDim.x;

    float mx = -INFINITY;
    int bad = 0;
    for (int v = tid; v < V; v += nthreads) {
        const float f = x[v];
        if (!(fabsf(f) <= 3.402823466e38f)) bad = 1;  // NaN or Inf
        mx = fmaxf(mx, f);
    }
    bad = block_minmax_int(bad, iscr, true);
    if (bad) {
        if (tid == 0) {
            token[row] = -1;
            logprob[row] = NAN;
            logprob_truncated[row] = NAN;
        }
        return;
    }
    mx = block_max(mx, fscr);
    const double t = greedy ? 1.0 : double(temperature);
    const double m = double(mx) / t;
    double zs = 0.0;
    for (int v = tid; v < V; v += nthreads) zs += exp(double(x[v]) / t - m);
    zs = block_sum_f64(zs, dscr);
    const double lse = m + log(zs);

    if (greedy) {
        int first = SAMPLE_INT_MAX;
        for (int v = tid; v < V; v += nthreads)
            if (x[v] == mx) first = min(first, v);
        first = block_minmax_int(first, iscr, false);
        if (tid == 0) {
            token[row] = first;
            logprob[row] = float(double(x[first]) / t - lse);
            logprob_truncated[row] = 0.0f;
        }
        return;
    }

    auto prob = [&](int v) { return exp(double(x[v]) / t - lse); };

    // top-k: keep key > kappa, and the first `need` tokens (by id) with key == kappa.
    const bool use_k = top_k > 0 && top_k < V;
    uint32_t kappa = 0;
    int cut = V;
    if (use_k) {
        auto count_ge = [&](uint64_t th) {
            int c = 0;
            for (int v = tid; v < V; v += nthreads) c += uint64_t(order_key(x[v])) >= th;
            return block_sum_int(c, iscr);
        };
        uint64_t lo = 0, hi = 1ull << 32;  // count_ge(lo) >= k, count_ge(hi) < k
        while (hi - lo > 1) {
            const uint64_t mid = (lo + hi) / 2;
            if (count_ge(mid) >= top_k)
                lo = mid;
            else
                hi = mid;
        }
        kappa = uint32_t(lo);
        const int gt = count_ge(lo + 1);
        const int eq = count_ge(lo) - gt;
        const int need = top_k - gt;
        if (need < eq) {
            auto ties_below = [&](int c_id) {
                int c = 0;
                for (int v = tid; v < c_id; v += nthreads) c += order_key(x[v]) == kappa;
                return block_sum_int(c, iscr);
            };
            int clo = 0, chi = V;  // ties_below(clo) < need <= ties_below(chi)
            while (chi - clo > 1) {
                const int mid = clo + (chi - clo) / 2;
                if (ties_below(mid) >= need)
                    chi = mid;
                else
                    clo = mid;
            }
            cut = chi;
        }
    }
    auto in_k = [&](int v) {
        if (!use_k) return true;
        const uint32_t k = order_key(x[v]);
        return k > kappa || (k == kappa && v < cut);
    };

    // top-p: the largest theta whose kept mass {in_k, key >= theta} reaches top_p * mass(in_k).
    uint64_t theta = 0;
    if (top_p < 1.0f) {
        auto mass_ge = [&](uint64_t th) {
            double s = 0.0;
            for (int v = tid; v < V; v += nthreads)
                if (in_k(v) && uint64_t(order_key(x[v])) >= th) s += prob(v);
            return block_sum_f64(s, dscr);
        };
        const double need = double(top_p) * mass_ge(0);
        uint64_t lo = 0, hi = 1ull << 32;  // mass_ge(lo) >= need > mass_ge(hi)
        while (hi - lo > 1) {
            const uint64_t mid = (lo + hi) / 2;
            if (mass_ge(mid) >= need)
                lo = mid;
            else
                hi = mid;
        }
        theta = lo;
    }

    // min-p, relative to the most probable token (always kept by top-k and top-p).
    const double min_p_mass = double(min_p) * exp(m - lse);
    auto kept = [&](int v) {
        if (!in_k(v) || uint64_t(order_key(x[v])) < theta) return false;
        return !(min_p > 0.0f) || prob(v) >= min_p_mass;
    };

    double total = 0.0;
    for (int v = tid; v < V; v += nthreads)
        if (kept(v)) total += prob(v);
    total = block_sum_f64(total, dscr);
    const double target = philox_uniform(uint64_t(seed), uint64_t(keys[4 * row]) | (uint64_t(keys[4 * row + 1]) << 32),
                                         uint64_t(keys[4 * row + 2]) | (uint64_t(keys[4 * row + 3]) << 32), lane) *
                          total;

    // First kept token (id order) whose cumulative mass exceeds target.
    double carry = 0.0;
    int chosen = SAMPLE_INT_MAX;
    for (int base = 0; base < V; base += nthreads) {
        const int v = base + tid;
        const bool k = v < V && kept(v);
        const double w = k ? prob(v) : 0.0;
        double tile_total;
        const double incl = block_scan_f64(w, dscr, &tile_total);
        chosen = block_minmax_int(k && target < carry + incl ? v : SAMPLE_INT_MAX, iscr, false);
        if (chosen != SAMPLE_INT_MAX) break;
        carry += tile_total;
    }
    if (chosen == SAMPLE_INT_MAX) {  // rounding left target >= the running sum: the last kept token
        int last = -1;
        for (int v = tid; v < V; v += nthreads)
            if (kept(v)) last = v;
        chosen = block_minmax_int(last, iscr, true);
    }
    if (tid == 0) {
        token[row] = chosen;
        logprob[row] = float(double(x[chosen]) / t - lse);
        logprob_truncated[row] = float(log(prob(chosen) / total));
    }
}

RLVR_KERNEL_BOUNDED(sample_rows_f32, 1024, int* __restrict__ token, float* __restrict__ logprob,
                    float* __restrict__ logprob_truncated, const float* __restrict__ logits,
                    const uint32_t* __restrict__ keys, int V, int64_t seed, uint32_t lane, float temperature,
                    int top_k, float top_p, float min_p, int greedy) {
    __shared__ float fscr[32];
    __shared__ double dscr[32];
    __shared__ int iscr[32];
    sample_row_f32(token, logprob, logprob_truncated, logits, keys, V, seed, lane, temperature, top_k, top_p, min_p,
                   greedy, fscr, dscr, iscr);
}

// sample_rows_f32 with each row's own parameters, so the rows of several requests take one
// launch: params [rows, 8] u32 = (seed lo, seed hi, temperature bits, top_k, top_p bits, min_p
// bits, greedy, unused). The same draw per row as sample_rows_f32 with those scalars.
RLVR_KERNEL_BOUNDED(sample_rows_params_f32, 1024, int* __restrict__ token, float* __restrict__ logprob,
                    float* __restrict__ logprob_truncated, const float* __restrict__ logits,
                    const uint32_t* __restrict__ keys, int V, const uint32_t* __restrict__ params,
                    uint32_t lane) {
    __shared__ float fscr[32];
    __shared__ double dscr[32];
    __shared__ int iscr[32];
    const uint32_t* pr = params + 8 * int64_t(blockIdx.x);
    const int64_t seed = int64_t(uint64_t(pr[0]) | (uint64_t(pr[1]) << 32));
    sample_row_f32(token, logprob, logprob_truncated, logits, keys, V, seed, lane, __uint_as_float(pr[2]),
                   int(pr[3]), __uint_as_float(pr[4]), __uint_as_float(pr[5]), int(pr[6]), fscr, dscr, iscr);
}
