// Rotary position embedding, HF rotate_half layout: for i < D/2, with angle = pos[t] * inv_freq[i],
//   out[i]       = x[i] * cos - x[i + D/2] * sin
//   out[i + D/2] = x[i + D/2] * cos + x[i] * sin
// x, out: [tokens, heads, D] bf16 (out may alias x); pos: [tokens] int32; inv_freq: [D/2] f32,
// precomputed on the host (llama3 / linear / default scaling all live there). The backward pass
// is the inverse rotation (sin negated). Per element: 4 B moved, ~6 FLOPs + one sincos per pair.
#include "rope.cuh"
#include "vec16.cuh"

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

// Rung 2: q and k of a token together, in place, one launch for both. A thread takes eight
// consecutive pairs (i..i+8 < D/2) of every `slices`-th head of the token: the eight sincos are
// computed once for all the heads it visits (rung 1: once per pair and head), and both halves
// move as 16-byte loads and stores (rung 1: 2 bytes). head_dim must be a multiple of 16; a block
// holds blockDim.x / (head_dim / 16 * slices) tokens.
static __device__ __forceinline__ void rope_qk_rotate(bf16* q, bf16* k, const int* pos, const float* inv_freq,
                                                      int tokens, int hq, int hkv, int head_dim, int slices,
                                                      float dir) {
    const int half = head_dim / 2, groups = half / 8, lanes = groups * slices;
    const int64_t t = int64_t(blockIdx.x) * (blockDim.x / lanes) + threadIdx.x / lanes;
    const int r = threadIdx.x % lanes, g = r % groups;
    if (t >= tokens || threadIdx.x >= (blockDim.x / lanes) * lanes) return;
    const float p = float(pos[t]);
    // The eight frequencies as two 16-byte loads (eight 4-byte loads 32 bytes apart across the
    // warp would fetch a sector each).
    const float4 f0 = ld_f32x4(inv_freq + g * 8), f1 = ld_f32x4(inv_freq + g * 8 + 4);
    const float f[8] = {f0.x, f0.y, f0.z, f0.w, f1.x, f1.y, f1.z, f1.w};
    float s[8], c[8];
#pragma unroll
    for (int j = 0; j < 8; ++j) rope_angle(p, f[j], dir, s[j], c[j]);
    for (int h = r / groups; h < hq + hkv; h += slices) {
        bf16* x = h < hq ? q + (t * hq + h) * head_dim : k + (t * hkv + (h - hq)) * head_dim;
        float a[8], b[8], lo[8], hi[8];
        unpack8(ld_u32x4(x + g * 8), a);
        unpack8(ld_u32x4(x + half + g * 8), b);
#pragma unroll
        for (int j = 0; j < 8; ++j) rope_mix(a[j], b[j], c[j], s[j], lo[j], hi[j]);
        st_bf16_run<8>(x + g * 8, lo);
        st_bf16_run<8>(x + half + g * 8, hi);
    }
}

RLVR_KERNEL(rope_qk_fwd_bf16, bf16* q, bf16* k, const int* __restrict__ pos, const float* __restrict__ inv_freq,
            int tokens, int hq, int hkv, int head_dim, int slices) {
    rope_qk_rotate(q, k, pos, inv_freq, tokens, hq, hkv, head_dim, slices, 1.0f);
}

RLVR_KERNEL(rope_qk_bwd_bf16, bf16* dq, bf16* dk, const int* __restrict__ pos, const float* __restrict__ inv_freq,
            int tokens, int hq, int hkv, int head_dim, int slices) {
    rope_qk_rotate(dq, dk, pos, inv_freq, tokens, hq, hkv, head_dim, slices, -1.0f);
}
