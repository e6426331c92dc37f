// Fused AdamW step with f32 master weights and moments (torch.optim.AdamW semantics: decoupled
// weight decay, bias correction). Per parameter: reads 16 B (p, m, v, g), writes 12 B (+2 B bf16
// copy); ~15 FLOPs + one sqrt + one div. bias_c1 = 1 - beta1^t, bias_c2 = 1 - beta2^t (host).
//
//   adamw_step_f32   one tensor per launch
//   adamw_multi_f32  every tensor of a model in one launch (the same arithmetic per element, so
//                    the same bits), from a table of device addresses built once per model
#include "common.cuh"

static __device__ __forceinline__ void adamw_element(float* __restrict__ param, float* __restrict__ m,
                                                     float* __restrict__ v, bf16* __restrict__ param_bf16,
                                                     const float* __restrict__ grad, int64_t i, float gs,
                                                     float lr, float beta1, float beta2, float eps,
                                                     float weight_decay, float step, float sqrt_c2) {
    const float g = grad[i] * gs;
    float p = param[i] * (1.0f - lr * weight_decay);
    const float mi = beta1 * m[i] + (1.0f - beta1) * g;
    const float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
    p -= step * mi / (sqrtf(vi) / sqrt_c2 + eps);
    m[i] = mi;
    v[i] = vi;
    param[i] = p;
    if (param_bf16) param_bf16[i] = __float2bfloat16(p);
}

RLVR_KERNEL(adamw_step_f32, float* __restrict__ param, float* __restrict__ m, float* __restrict__ v,
            bf16* __restrict__ param_bf16, const float* __restrict__ grad, const float* __restrict__ grad_scale,
            int64_t n, float lr, float beta1, float beta2, float eps, float weight_decay, float bias_c1,
            float bias_c2) {
    const float gs = grad_scale ? *grad_scale : 1.0f;
    const float step = lr / bias_c1;
    const float sqrt_c2 = sqrtf(bias_c2);
    RLVR_GRID_STRIDE(i, n) {
        adamw_element(param, m, v, param_bf16, grad, i, gs, lr, beta1, beta2, eps, weight_decay, step, sqrt_c2);
    }
}

// Elements per block of adamw_multi_f32 (a multiple of the 256 threads).
#define ADAMW_CHUNK 8192

// `tensors`: 6 words per tensor — param, m, v, bf16 copy (0: none), grad (device addresses) and
// the element count. Block b updates elements [first, first + ADAMW_CHUNK) of tensor
// chunks[2b], first = chunks[2b + 1]: a model's few hundred tensors in one launch instead of
// one launch each, every block the same size whatever the tensor.
RLVR_KERNEL(adamw_multi_f32, const uint64_t* __restrict__ tensors, const uint64_t* __restrict__ chunks,
            const float* __restrict__ grad_scale, float lr, float beta1, float beta2, float eps,
            float weight_decay, float bias_c1, float bias_c2) {
    const uint64_t* t = tensors + 6 * chunks[2 * blockIdx.x];
    const int64_t first = int64_t(chunks[2 * blockIdx.x + 1]);
    const int64_t end = min(first + int64_t(ADAMW_CHUNK), int64_t(t[5]));
    float* param = reinterpret_cast<float*>(t[0]);
    float* m = reinterpret_cast<float*>(t[1]);
    float* v = reinterpret_cast<float*>(t[2]);
    bf16* param_bf16 = reinterpret_cast<bf16*>(t[3]);
    const float* grad = reinterpret_cast<const float*>(t[4]);
    const float gs = grad_scale ? *grad_scale : 1.0f;
    const float step = lr / bias_c1;
    const float sqrt_c2 = sqrtf(bias_c2);
    for (int64_t i = first + threadIdx.x; i < end; i += blockDim.x) {
        adamw_element(param, m, v, param_bf16, grad, i, gs, lr, beta1, beta2, eps, weight_decay, step, sqrt_c2);
    }
}
