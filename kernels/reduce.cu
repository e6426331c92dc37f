// Global gradient norm and clipping, deterministic (fixed grid, fixed reduction tree, no atomics).
// Stage 1 reads 4 B per element (1 FMA); stage 2 is one block over the partials; the scale pass
// reads and writes 4 B per element. The clip coefficient stays on the device (no host sync).
#include "common.cuh"

// partial[blockIdx.x] = sum of x[i]^2 over this block's grid-stride share.
RLVR_KERNEL_BOUNDED(sumsq_partial_f32, 1024, float* __restrict__ partial, const float* __restrict__ x, int64_t n) {
    __shared__ float scratch[32];
    float s = 0.0f;
    RLVR_GRID_STRIDE(i, n) s += x[i] * x[i];
    s = block_sum(s, scratch);
    if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

// Stage 1 of every tensor in one launch. `tensors`: (device address, element count) per tensor;
// block g is block b of nb of tensor t, (t, b, nb) = blocks[3g..3g+3], and writes partial[g]
// exactly what block b of a sumsq_partial_f32 launch of nb blocks on that tensor writes.
RLVR_KERNEL_BOUNDED(sumsq_multi_f32, 1024, float* __restrict__ partial, const uint64_t* __restrict__ tensors,
                    const uint64_t* __restrict__ blocks) {
    __shared__ float scratch[32];
    const uint64_t* e = blocks + 3 * blockIdx.x;
    const uint64_t* t = tensors + 2 * e[0];
    const float* x = reinterpret_cast<const float*>(t[0]);
    const int64_t n = int64_t(t[1]), b = int64_t(e[1]), nb = int64_t(e[2]);
    float s = 0.0f;
    for (int64_t i = b * blockDim.x + threadIdx.x; i < n; i += nb * blockDim.x) s += x[i] * x[i];
    s = block_sum(s, scratch);
    if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

// One block: out[0] = sqrt(sum(partial)), out[1] = min(1, max_norm / (norm + 1e-6)) (1 when
// max_norm <= 0), as torch.nn.utils.clip_grad_norm_.
RLVR_KERNEL_BOUNDED(grad_norm_finalize_f32, 1024, float* __restrict__ out, const float* __restrict__ partial,
                    int nparts, float max_norm) {
    __shared__ float scratch[32];
    float s = 0.0f;
    for (int i = threadIdx.x; i < nparts; i += blockDim.x) s += partial[i];
    s = block_sum(s, scratch);
    if (threadIdx.x == 0) {
        const float norm = sqrtf(s);
        out[0] = norm;
        out[1] = max_norm > 0.0f ? fminf(1.0f, max_norm / (norm + 1e-6f)) : 1.0f;
    }
}

// x *= coef[0] (coef is a device scalar, e.g. the clip coefficient).
RLVR_KERNEL(scale_by_f32, float* __restrict__ x, const float* __restrict__ coef, int64_t n) {
    const float k = *coef;
    RLVR_GRID_STRIDE(i, n) x[i] *= k;
}
