// Fused AdamW step with f32 master weights and moments (torch.optim.AdamW semantics: decoupled
// weight decay, bias correction). Per parameter: reads 16 B (p, m, v, g), writes 12 B (+2 B bf16
// copy); ~15 FLOPs + one sqrt + one div. bias_c1 = 1 - beta1^t, bias_c2 = 1 - beta2^t (host).
#include "common.cuh"

RLVR_KERNEL(adamw_step_f32, float* __restrict__ param, float* __restrict__ m, float* __restrict__ v,
            bf16* __restrict__ param_bf16, const float* __restrict__ grad, const float* __restrict__ grad_scale,
            int64_t n, float lr, float beta1, float beta2, float eps, float weight_decay, float bias_c1,
            float bias_c2) {
    const float gs = grad_scale ? *grad_scale : 1.0f;
    const float step = lr / bias_c1;
    const float sqrt_c2 = sqrtf(bias_c2);
    RLVR_GRID_STRIDE(i, n) {
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
}
