// Row softmax and log-softmax: bf16 logits in, f32 probabilities / log-probabilities out (design:
// softmax statistics in f32). One block per row; three passes over the row (max, sum of exp,
// write): reads 3 * 2C bytes and writes 4C per row, ~5C FLOPs + C exps. A single-pass online
// variant belongs to the fused log-prob kernel.
#include "common.cuh"

static __device__ __forceinline__ void softmax_row(float* out, const bf16* x, int cols, bool log_mode) {
    __shared__ float scratch[32];
    const int64_t row = blockIdx.x;
    const bf16* xr = x + row * cols;
    float* yr = out + row * cols;
    float m = -INFINITY;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) m = fmaxf(m, ld_bf16(xr + c));
    m = block_max(m, scratch);
    float s = 0.0f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) s += expf(ld_bf16(xr + c) - m);
    s = block_sum(s, scratch);
    const float log_s = logf(s), inv_s = 1.0f / s;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        const float z = ld_bf16(xr + c) - m;
        yr[c] = log_mode ? z - log_s : expf(z) * inv_s;
    }
}

RLVR_KERNEL_BOUNDED(softmax_fwd_bf16, 1024, float* __restrict__ out, const bf16* __restrict__ x, int cols) {
    softmax_row(out, x, cols, false);
}

RLVR_KERNEL_BOUNDED(log_softmax_fwd_bf16, 1024, float* __restrict__ out, const bf16* __restrict__ x, int cols) {
    softmax_row(out, x, cols, true);
}
