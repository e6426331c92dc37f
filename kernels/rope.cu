// Rotary position embedding, HF rotate_half layout: for i < D/2, with angle = pos[t] * inv_freq[i],
//   out[i]       = x[i] * cos - x[i + D/2] * sin
//   out[i + D/2] = x[i + D/2] * cos + x[i] * sin
// x, out: [tokens, heads, D] bf16 (out may alias x); pos: [tokens] int32; inv_freq: [D/2] f32,
// precomputed on the host (llama3 / linear / default scaling all live there). The backward pass
// is the inverse rotation (sin negated). Per element: 4 B moved, ~6 FLOPs + one sincos per pair.
#include "rope.cuh"

static __device__ __forceinline__ void rope_rotate(bf16* out, const bf16* x, const int* pos, const float* inv_freq,
                                                   int heads, int head_dim, float dir) {
    const int half = head_dim / 2;
    const int64_t t = blockIdx.x;
    const float p = float(pos[t]);
    for (int k = threadIdx.x; k < heads * half; k += blockDim.x) {
        const int h = k / half, i = k - h * half;
        const int64_t base = (t * heads + h) * head_dim;
        const float a = ld_bf16(x + base + i), b = ld_bf16(x + base + i + half);
        rope_pair(out + base + i, out + base + i + half, a, b, p, inv_freq[i], dir);
    }
}

RLVR_KERNEL(rope_fwd_bf16, bf16* out, const bf16* x, const int* __restrict__ pos, const float* __restrict__ inv_freq,
            int heads, int head_dim) {
    rope_rotate(out, x, pos, inv_freq, heads, head_dim, 1.0f);
}

RLVR_KERNEL(rope_bwd_bf16, bf16* dx, const bf16* dy, const int* __restrict__ pos, const float* __restrict__ inv_freq,
            int heads, int head_dim) {
    rope_rotate(dx, dy, pos, inv_freq, heads, head_dim, -1.0f);
}
