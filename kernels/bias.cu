// Linear-layer biases (Qwen2 q/k/v, Llama attention_bias / mlp_bias): the forward add and the
// gradient, a column sum over tokens.
// Forward: 4 B read + 2 B written per element (bias L2-resident), 1 FLOP.
// Gradient, deterministic without atomics: part p of the rows writes partial[p, c] = the sum of
// its rows in order (one thread per column, neighbouring threads read neighbouring columns), then
// rmsnorm_dw_reduce_f32 (norm.cu) adds the partials in part order. 2 B read per element.
#include "common.cuh"
#include "vec16.cuh"

// x[r, c] += bias[c] in place on a [rows, cols] bf16 matrix; f32 math, one rounding.
RLVR_KERNEL(bias_add_bf16, bf16* __restrict__ x, const bf16* __restrict__ bias, int64_t n, int cols) {
    RLVR_GRID_STRIDE(i, n) { st_bf16(x + i, ld_bf16(x + i) + ld_bf16(bias + i % cols)); }
}

// Grid (ceil(cols / blockDim.x), nparts): partial[blockIdx.y, c] = sum of x[r, c] over rows
// [blockIdx.y * rows_per_part, min(rows, (blockIdx.y + 1) * rows_per_part)), in row order.
RLVR_KERNEL(colsum_partial_bf16, float* __restrict__ partial, const bf16* __restrict__ x, int rows, int cols,
            int rows_per_part) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= cols) return;
    const int r0 = blockIdx.y * rows_per_part;
    const int r1 = min(rows, r0 + rows_per_part);
    float s = 0.0f;
    for (int r = r0; r < r1; ++r) s += ld_bf16(x + int64_t(r) * cols + c);
    partial[int64_t(blockIdx.y) * cols + c] = s;
}

// Rung 2 of both: eight columns per thread, every access 16 bytes (cols a multiple of 8, so a
// run never crosses a row); the same sums in the same order, so the same bits. n8 = n / 8.
RLVR_KERNEL(bias_add_x8_bf16, bf16* __restrict__ x, const bf16* __restrict__ bias, int64_t n8, int cols8) {
    RLVR_GRID_STRIDE(i, n8) {
        float v[8];
        unpack8(ld_u32x4(x + 8 * i), v);
        add_bf16_run<8>(v, bias + 8 * (i % cols8));
        st_bf16_run<8>(x + 8 * i, v);
    }
}

// Grid (ceil(cols / 8 / blockDim.x), nparts); thread c8 owns columns [8 c8, 8 c8 + 8).
RLVR_KERNEL(colsum_partial_x8_bf16, float* __restrict__ partial, const bf16* __restrict__ x, int rows, int cols,
            int rows_per_part) {
    const int c = 8 * (blockIdx.x * blockDim.x + threadIdx.x);
    if (c >= cols) return;
    const int r0 = blockIdx.y * rows_per_part;
    const int r1 = min(rows, r0 + rows_per_part);
    float s[8] = {};
    for (int r = r0; r < r1; ++r) add_bf16_run<8>(s, x + int64_t(r) * cols + c);
    float* p = partial + int64_t(blockIdx.y) * cols + c;
    st_f32x4(p, make_float4(s[0], s[1], s[2], s[3]));
    st_f32x4(p + 4, make_float4(s[4], s[5], s[6], s[7]));
}
