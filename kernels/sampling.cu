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
#include "sampling.cuh"

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

// ---------------------------------------------------------------------------------------------
// Rung 2: the same thresholds by radix select over the order key. Three histogram passes (11, 11
// and 10 bits, most significant first) narrow to the key of the k-th token (counts) or of the
// top-p cut (mass); each pass keeps only the bucket where the running amount from the top reaches
// the target. Histograms use integer shared-memory atomics (counts, and mass as 2^s-scaled fixed
// point of exp(x/T - max/T)): the sums do not depend on the order of the adds.
//
// The result must be rung 1's bit for bit, and rung 1 decides the cut with f64 sums in its own
// order. So every f64 quantity here (normaliser, kept mass, running sum of the draw) is summed
// with rung 1's thread-to-token map and reductions, and the fixed-point cut is confirmed by one
// pass of those exact sums at the cut and one key above it; when rounding separates the two (the
// fixed-point mass within ~1e-13 of the f64 target), rung 1's bisection finishes from there.
// With top-k <= RADIX_CAP the top-k tokens move to shared memory after the count select, and
// top-p, min-p and the draw run there, on the same sums in the same order.
//
// Passes over the row (4V bytes each): top-p only: max, normaliser + level-0 mass histogram, 2
// histogram levels, confirmation, draw (<= 1) = at most 6; top-k <= RADIX_CAP (+ top-p, min-p):
// max, normaliser + level-0 counts, 2 count levels, gather = 5 (+ <= 1 when tied tokens straddle
// the k-th place); no filters: max, normaliser, total, draw (<= 1) as rung 1.
#define RADIX_CAP 1024
#define RADIX_HIST_WORDS 2048

static __device__ __forceinline__ int radix_shift(int level) { return level == 0 ? 21 : (level == 1 ? 10 : 0); }
static __device__ __forceinline__ int radix_bits(int level) { return level == 2 ? 10 : 11; }

// The block's shared scratch for rung 2.
struct RadixScratch {
    unsigned long long* hist;  // [RADIX_HIST_WORDS]: one level's histogram, later the candidates
    float* fscr;
    double* dscr;
    int* iscr;
    unsigned long long* uscr;
    unsigned long long* pick;  // [3]: digit, amount above the bucket, amount in it
    int* count;
};

// The selection so far: the key bits picked (the high bits of the key, right-aligned).
struct RadixPrefix {
    uint32_t bits;
    int level;  // levels picked
    unsigned long long above, at;  // amount above the picked prefix, amount inside it
};

static __device__ __forceinline__ bool radix_in_prefix(uint32_t key, const RadixPrefix& p) {
    return p.level == 0 || (key >> radix_shift(p.level - 1)) == p.bits;
}

// Fills the histogram of level p.level over the keys in the prefix; amount(v, f, key) is a token's
// contribution (0: none).
template <typename A>
static __device__ __forceinline__ void radix_hist(const float* __restrict__ x, int V, const RadixPrefix& p,
                                                  unsigned long long* hist, A&& amount) {
    const int nb = 1 << radix_bits(p.level), shift = radix_shift(p.level);
    for (int i = threadIdx.x; i < nb; i += blockDim.x) hist[i] = 0;
    __syncthreads();
    for_each_logit(x, V, [&](int v, float f) {
        const uint32_t k = order_key(f);
        if (!radix_in_prefix(k, p)) return;
        const unsigned long long a = amount(v, f, k);
        if (a) atomicAdd(&hist[(k >> shift) & uint32_t(nb - 1)], a);
    });
    __syncthreads();
}

// Picks the bucket of level p.level where the amount counted from the top key down first
// reaches `need` (p.above < need <= p.above + the level's total) and appends its digit.
static __device__ void radix_pick(const unsigned long long* hist, unsigned long long need, RadixPrefix& p,
                                  RadixScratch& s) {
    const int nb = 1 << radix_bits(p.level), n = blockDim.x, tid = threadIdx.x;
    const int per = (nb + n - 1) / n;
    const int lo = min(nb, tid * per), hi = min(nb, lo + per);
    unsigned long long mine = 0;
    for (int d = lo; d < hi; ++d) mine += hist[d];
    if (tid == 0) {  // unreachable fallback: the lowest bucket
        s.pick[0] = 0;
        s.pick[1] = p.above;
        s.pick[2] = hist[0];
    }
    const unsigned long long incl = block_suffix_u64(mine, s.uscr);
    const unsigned long long excl = incl - mine;
    if (p.above + excl < need && p.above + incl >= need) {
        unsigned long long acc = p.above + excl;
        for (int d = hi - 1; d >= lo; --d) {
            if (acc + hist[d] >= need) {
                s.pick[0] = uint64_t(d);
                s.pick[1] = acc;
                s.pick[2] = hist[d];
                break;
            }
            acc += hist[d];
        }
    }
    __syncthreads();
    p.bits = (p.bits << radix_bits(p.level)) | uint32_t(s.pick[0]);
    p.above = s.pick[1];
    p.at = s.pick[2];
    p.level += 1;
    __syncthreads();
}

// Finishes the select whose level-0 histogram is in s.hist: the remaining levels' passes, then
// the full key.
template <typename A>
static __device__ __forceinline__ RadixPrefix radix_select(const float* __restrict__ x, int V, unsigned long long need,
                                                           RadixScratch& s, A&& amount) {
    RadixPrefix p = {0u, 0, 0ull, 0ull};
    radix_pick(s.hist, need, p, s);
    while (p.level < 3) {
        radix_hist(x, V, p, s.hist, amount);
        radix_pick(s.hist, need, p, s);
    }
    return p;
}

// Total of the level-0 histogram.
static __device__ __forceinline__ unsigned long long radix_total(RadixScratch& s) {
    unsigned long long mine = 0;
    for (int i = threadIdx.x; i < (1 << radix_bits(0)); i += blockDim.x) mine += s.hist[i];
    return block_sum_u64(mine, s.uscr);
}

// The top-k tokens gathered in shared memory, sorted by (id % blockDim, id / blockDim): thread t's
// tokens (those of rung 1's thread t) are [lo, hi), in id order.
struct RadixCands {
    uint32_t* ck;  // (id % n) * q + id / n
    float* cx;     // the logit
    double* cp;    // its probability, exp(x/T - lse)
    int count, lo, hi;
    uint32_t q;
};

static __device__ __forceinline__ int lower_bound_u32(const uint32_t* a, int n, uint32_t key) {
    int lo = 0, hi = n;
    while (lo < hi) {
        const int mid = (lo + hi) / 2;
        if (a[mid] < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

template <typename InK>
static __device__ RadixCands radix_gather(const float* __restrict__ x, int V, double t, double lse, RadixScratch& s,
                                          InK&& in_k) {
    const int n = blockDim.x, tid = threadIdx.x;
    RadixCands c;
    c.ck = reinterpret_cast<uint32_t*>(s.hist);
    c.cx = reinterpret_cast<float*>(c.ck + RADIX_CAP);
    c.cp = reinterpret_cast<double*>(c.cx + RADIX_CAP);
    c.q = uint32_t((V + n - 1) / n);
    if (tid == 0) *s.count = 0;
    __syncthreads();
    for_each_logit(x, V, [&](int v, float f) {
        if (!in_k(v, order_key(f))) return;
        const int slot = atomicAdd(s.count, 1);
        if (slot < RADIX_CAP) {
            c.ck[slot] = uint32_t(v % n) * c.q + uint32_t(v / n);
            c.cx[slot] = f;
        }
    });
    __syncthreads();
    c.count = min(*s.count, RADIX_CAP);
    int size = 1;
    while (size < c.count) size <<= 1;
    for (int i = c.count + tid; i < size; i += n) c.ck[i] = 0xffffffffu;
    // Bitonic sort by ck (distinct per token): the slots' order above depended on the atomics.
    for (int span = 2; span <= size; span <<= 1) {
        for (int stride = span >> 1; stride > 0; stride >>= 1) {
            __syncthreads();
            for (int i = tid; i < size / 2; i += n) {
                const int a = 2 * i - (i & (stride - 1)), b = a + stride;
                const bool up = (a & span) == 0;
                if ((c.ck[a] > c.ck[b]) == up) {
                    const uint32_t k = c.ck[a];
                    c.ck[a] = c.ck[b];
                    c.ck[b] = k;
                    const float f = c.cx[a];
                    c.cx[a] = c.cx[b];
                    c.cx[b] = f;
                }
            }
        }
    }
    __syncthreads();
    for (int i = tid; i < c.count; i += n) c.cp[i] = exp(double(c.cx[i]) / t - lse);
    c.lo = lower_bound_u32(c.ck, c.count, uint32_t(tid) * c.q);
    c.hi = lower_bound_u32(c.ck, c.count, uint32_t(tid + 1) * c.q);
    __syncthreads();
    return c;
}

// The token id of candidate i of this thread.
static __device__ __forceinline__ int radix_cand_id(const RadixCands& c, int i) {
    return int(c.ck[i] - uint32_t(threadIdx.x) * c.q) * int(blockDim.x) + int(threadIdx.x);
}

static __device__ __forceinline__ void write_sample(int* __restrict__ token, float* __restrict__ logprob,
                                                    float* __restrict__ logprob_truncated, const float* __restrict__ x,
                                                    int64_t row, int chosen, double t, double lse, double total) {
    if (threadIdx.x == 0) {
        token[row] = chosen;
        logprob[row] = float(double(x[chosen]) / t - lse);
        logprob_truncated[row] = float(log(exp(double(x[chosen]) / t - lse) / total));
    }
}

// Top-p, min-p and the draw over the gathered top-k tokens: rung 1's bisection, total and scan,
// on the same per-thread sums (the tokens outside top-k added nothing to them).
static __device__ int radix_draw_cands(const RadixCands& c, double t, double m, double lse, float top_p, float min_p,
                                       double u, RadixScratch& s, double* total_out) {
    const int n = blockDim.x, tid = threadIdx.x;
    uint64_t theta = 0;
    if (top_p < 1.0f) {
        auto mass_ge = [&](uint64_t th) {
            double acc = 0.0;
            for (int i = c.lo; i < c.hi; ++i)
                if (uint64_t(order_key(c.cx[i])) >= th) acc += c.cp[i];
            return block_sum_f64(acc, s.dscr);
        };
        const double need = double(top_p) * mass_ge(0);
        uint64_t lo = 0, hi = 1ull << 32;
        while (hi - lo > 1) {
            const uint64_t mid = (lo + hi) / 2;
            if (mass_ge(mid) >= need)
                lo = mid;
            else
                hi = mid;
        }
        theta = lo;
    }
    const double min_p_mass = double(min_p) * exp(m - lse);
    auto kept = [&](int i) {
        if (uint64_t(order_key(c.cx[i])) < theta) return false;
        return !(min_p > 0.0f) || c.cp[i] >= min_p_mass;
    };
    double total = 0.0;
    for (int i = c.lo; i < c.hi; ++i)
        if (kept(i)) total += c.cp[i];
    total = block_sum_f64(total, s.dscr);
    *total_out = total;
    const double target = u * total;

    // Rung 1's tile scan, visiting only the tiles (blockDim consecutive ids) that hold a kept
    // token: every other tile adds exactly 0 to the running sum.
    int j = c.lo;
    while (j < c.hi && !kept(j)) ++j;
    double carry = 0.0;
    int chosen = SAMPLE_INT_MAX;
    for (;;) {
        const int mine = j < c.hi ? int(c.ck[j] - uint32_t(tid) * c.q) : SAMPLE_INT_MAX;
        const int tile = block_minmax_int(mine, s.iscr, false);
        if (tile == SAMPLE_INT_MAX) break;
        const bool k = mine == tile;
        double tile_total;
        const double incl = block_scan_f64(k ? c.cp[j] : 0.0, s.dscr, &tile_total);
        chosen = block_minmax_int(k && target < carry + incl ? tile * n + tid : SAMPLE_INT_MAX, s.iscr, false);
        if (chosen != SAMPLE_INT_MAX) break;
        carry += tile_total;
        if (k) {
            ++j;
            while (j < c.hi && !kept(j)) ++j;
        }
    }
    if (chosen == SAMPLE_INT_MAX) {  // rounding left target >= the running sum: the last kept token
        int last = -1;
        for (int i = c.lo; i < c.hi; ++i)
            if (kept(i)) last = radix_cand_id(c, i);
        chosen = block_minmax_int(last, s.iscr, true);
    }
    return chosen;
}

static __device__ __forceinline__ void sample_row_radix_f32(int* __restrict__ token, float* __restrict__ logprob,
                                                            float* __restrict__ logprob_truncated,
                                                            const float* __restrict__ logits,
                                                            const uint32_t* __restrict__ keys, int V, int64_t seed,
                                                            uint32_t lane, float temperature, int top_k, float top_p,
                                                            float min_p, int greedy, RadixScratch& s) {
    const int64_t row = blockIdx.x;
    const float* x = logits + row * V;
    const int tid = threadIdx.x, nthreads = blockDim.x;

    float mx = -INFINITY;
    int bad = 0;
    for_each_logit(x, V, [&](int, float f) {
        if (!(fabsf(f) <= 3.402823466e38f)) bad = 1;  // NaN or Inf
        mx = fmaxf(mx, f);
    });
    bad = block_minmax_int(bad, s.iscr, true);
    if (bad) {
        if (tid == 0) {
            token[row] = -1;
            logprob[row] = NAN;
            logprob_truncated[row] = NAN;
        }
        return;
    }
    mx = block_max(mx, s.fscr);
    const double t = greedy ? 1.0 : double(temperature);
    const double m = double(mx) / t;
    const bool use_k = !greedy && top_k > 0 && top_k < V;
    const bool use_p = !greedy && top_p < 1.0f;
    // Mass as fixed point: exp(x/T - max/T) <= 1 scaled by 2^s with V * 2^s < 2^63.
    const double scale = ldexp(1.0, 62 - (31 - __clz(V)));
    const int level0 = use_k ? 1 : (use_p ? 2 : 0);  // level-0 histogram of counts / mass / none

    // The normaliser (rung 1's sum) and, in the same pass, the first radix level.
    if (level0) {
        for (int i = tid; i < (1 << radix_bits(0)); i += nthreads) s.hist[i] = 0;
        __syncthreads();
    }
    double zs = 0.0;
    for_each_logit(x, V, [&](int, float f) {
        const double e = exp(double(f) / t - m);
        zs += e;
        if (level0 == 1)
            atomicAdd(&s.hist[order_key(f) >> radix_shift(0)], 1ull);
        else if (level0 == 2)
            atomicAdd(&s.hist[order_key(f) >> radix_shift(0)], (unsigned long long)(e * scale));
    });
    zs = block_sum_f64(zs, s.dscr);
    const double lse = m + log(zs);

    if (greedy) {
        int first = SAMPLE_INT_MAX;
        for_each_logit(x, V, [&](int v, float f) {
            if (f == mx) first = min(first, v);
        });
        first = block_minmax_int(first, s.iscr, false);
        if (tid == 0) {
            token[row] = first;
            logprob[row] = float(double(x[first]) / t - lse);
            logprob_truncated[row] = 0.0f;
        }
        return;
    }
    const double u = philox_uniform(uint64_t(seed), uint64_t(keys[4 * row]) | (uint64_t(keys[4 * row + 1]) << 32),
                                    uint64_t(keys[4 * row + 2]) | (uint64_t(keys[4 * row + 3]) << 32), lane);

    // top-k: kappa = the k-th largest key; keep key > kappa and the first `need` tokens (by id)
    // with key == kappa.
    uint32_t kappa = 0;
    int cut = V;
    if (use_k) {
        __syncthreads();
        const RadixPrefix p = radix_select(x, V, (unsigned long long)top_k, s,
                                           [&](int, float, uint32_t) { return 1ull; });
        kappa = p.bits;
        const int need = top_k - int(p.above), eq = int(p.at);
        if (need < eq) {  // the id after the need-th tied token
            int carry = 0;
            for (int base = 0; base < V; base += nthreads) {
                const int v = base + tid;
                const bool tie = v < V && order_key(x[v]) == kappa;
                int tile_total;
                const int incl = block_count_scan(tie, s.iscr, &tile_total);
                const int hit = block_minmax_int(tie && carry + incl == need ? v + 1 : SAMPLE_INT_MAX, s.iscr, false);
                if (hit != SAMPLE_INT_MAX) {
                    cut = hit;
                    break;
                }
                carry += tile_total;
            }
        }
    }
    auto in_k = [&](int v, uint32_t k) { return !use_k || k > kappa || (k == kappa && v < cut); };

    if (use_k && top_k <= RADIX_CAP) {
        const RadixCands c = radix_gather(x, V, t, lse, s, in_k);
        double total;
        const int chosen = radix_draw_cands(c, t, m, lse, top_p, min_p, u, s, &total);
        write_sample(token, logprob, logprob_truncated, x, row, chosen, t, lse, total);
        return;
    }

    // top-p on the whole row: the fixed-point select, confirmed (or finished) with rung 1's sums.
    const double min_p_mass = double(min_p) * exp(m - lse);
    uint64_t theta = 0;
    double total = 0.0;
    bool have_total = false;
    if (use_p) {
        auto mass_q = [&](int v, float f, uint32_t k) {
            return in_k(v, k) ? (unsigned long long)(exp(double(f) / t - m) * scale) : 0ull;
        };
        if (use_k) radix_hist(x, V, RadixPrefix{0u, 0, 0ull, 0ull}, s.hist, mass_q);
        const unsigned long long mass0 = radix_total(s);
        const unsigned long long need_q = max(1ull, (unsigned long long)(double(top_p) * double(mass0)));
        const uint32_t kt = radix_select(x, V, need_q, s, mass_q).bits;

        double m0 = 0.0, m1 = 0.0, m2 = 0.0, kept1 = 0.0;
        for_each_logit(x, V, [&](int v, float f) {
            const uint32_t k = order_key(f);
            if (!in_k(v, k)) return;
            const double pr = exp(double(f) / t - lse);
            m0 += pr;
            if (k >= kt) {
                m1 += pr;
                if (pr >= min_p_mass) kept1 += pr;
            }
            if (k > kt) m2 += pr;
        });
        m0 = block_sum_f64(m0, s.dscr);
        m1 = block_sum_f64(m1, s.dscr);
        m2 = block_sum_f64(m2, s.dscr);
        kept1 = block_sum_f64(kept1, s.dscr);
        const double need = double(top_p) * m0;
        uint64_t lo = 0, hi = 1ull << 32;  // mass_ge(lo) >= need > mass_ge(hi)
        if (m1 >= need) {
            lo = kt;
            if (m2 >= need)
                lo = uint64_t(kt) + 1;
            else
                hi = uint64_t(kt) + 1;
        } else {
            hi = kt;
        }
        if (hi - lo == 1 && lo == kt) {
            total = min_p > 0.0f ? kept1 : m1;
            have_total = true;
        }
        auto mass_ge = [&](uint64_t th) {
            double acc = 0.0;
            for_each_logit(x, V, [&](int v, float f) {
                const uint32_t k = order_key(f);
                if (in_k(v, k) && uint64_t(k) >= th) acc += exp(double(f) / t - lse);
            });
            return block_sum_f64(acc, s.dscr);
        };
        while (hi - lo > 1) {
            const uint64_t mid = (lo + hi) / 2;
            if (mass_ge(mid) >= need)
                lo = mid;
            else
                hi = mid;
        }
        theta = lo;
    }

    auto kept = [&](int v, float f, double pr) {
        const uint32_t k = order_key(f);
        if (!in_k(v, k) || uint64_t(k) < theta) return false;
        return !(min_p > 0.0f) || pr >= min_p_mass;
    };
    if (!have_total) {
        double acc = 0.0;
        for_each_logit(x, V, [&](int v, float f) {
            const double pr = exp(double(f) / t - lse);
            if (kept(v, f, pr)) acc += pr;
        });
        total = block_sum_f64(acc, s.dscr);
    }
    const double target = u * total;

    double carry = 0.0;
    int chosen = SAMPLE_INT_MAX;
    for (int base = 0; base < V; base += nthreads) {
        const int v = base + tid;
        double w = 0.0;
        bool k = false;
        if (v < V) {
            const float f = x[v];
            const double pr = exp(double(f) / t - lse);
            k = kept(v, f, pr);
            w = k ? pr : 0.0;
        }
        double tile_total;
        const double incl = block_scan_f64(w, s.dscr, &tile_total);
        chosen = block_minmax_int(k && target < carry + incl ? v : SAMPLE_INT_MAX, s.iscr, false);
        if (chosen != SAMPLE_INT_MAX) break;
        carry += tile_total;
    }
    if (chosen == SAMPLE_INT_MAX) {
        int last = -1;
        for_each_logit(x, V, [&](int v, float f) {
            if (kept(v, f, exp(double(f) / t - lse))) last = v;
        });
        chosen = block_minmax_int(last, s.iscr, true);
    }
    write_sample(token, logprob, logprob_truncated, x, row, chosen, t, lse, total);
}

#define RADIX_SCRATCH                                                 \
    __shared__ __align__(16) unsigned long long hist[RADIX_HIST_WORDS]; \
    __shared__ float fscr[32];                                        \
    __shared__ double dscr[32];                                       \
    __shared__ int iscr[32];                                          \
    __shared__ unsigned long long uscr[32];                           \
    __shared__ unsigned long long pick[3];                            \
    __shared__ int count;                                             \
    RadixScratch s = {hist, fscr, dscr, iscr, uscr, pick, &count}

// Rung 2 of sample_rows_f32: the same outputs, bit for bit. No launch bound (the launcher uses at
// most 256 threads): with one, ptxas holds the kernel to 64 registers and it spills.
RLVR_KERNEL(sample_rows_radix_f32, int* __restrict__ token, float* __restrict__ logprob,
                    float* __restrict__ logprob_truncated, const float* __restrict__ logits,
                    const uint32_t* __restrict__ keys, int V, int64_t seed, uint32_t lane, float temperature,
                    int top_k, float top_p, float min_p, int greedy) {
    RADIX_SCRATCH;
    sample_row_radix_f32(token, logprob, logprob_truncated, logits, keys, V, seed, lane, temperature, top_k, top_p,
                         min_p, greedy, s);
}

// Rung 2 of sample_rows_params_f32 (same params layout).
RLVR_KERNEL(sample_rows_params_radix_f32, int* __restrict__ token, float* __restrict__ logprob,
                    float* __restrict__ logprob_truncated, const float* __restrict__ logits,
                    const uint32_t* __restrict__ keys, int V, const uint32_t* __restrict__ params,
                    uint32_t lane) {
    RADIX_SCRATCH;
    const uint32_t* pr = params + 8 * int64_t(blockIdx.x);
    const int64_t seed = int64_t(uint64_t(pr[0]) | (uint64_t(pr[1]) << 32));
    sample_row_radix_f32(token, logprob, logprob_truncated, logits, keys, V, seed, lane, __uint_as_float(pr[2]),
                         int(pr[3]), __uint_as_float(pr[4]), __uint_as_float(pr[5]), int(pr[6]), s);
}
