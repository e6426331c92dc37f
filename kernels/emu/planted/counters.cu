// Kernels whose efficiency counters are known by hand (compiled only into the emulator):
// tests/emu_counters.rs checks the emulator counts each of them exactly. The hand counts are in
// the test, next to the assertions.
#include "common.cuh"

// Coalesced 16-byte copy: one float4 per thread, a warp moves 512 contiguous bytes.
RLVR_KERNEL(count_copy16, float4* __restrict__ out, const float4* __restrict__ in) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    out[i] = in[i];
}

// Strided 2-byte gather: lane i reads in[i * stride], writes out[i] contiguously.
RLVR_KERNEL(count_gather_strided, bf16* __restrict__ out, const bf16* __restrict__ in, int stride) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    out[i] = in[int64_t(i) * stride];
}

// One warp: a 32-way bank conflict (column of a 32 x 32 f32 tile), then a conflict-free row
// and a broadcast.
RLVR_KERNEL(count_bank_conflict, float* __restrict__ out) {
    __shared__ float s[32 * 32];
    const int t = threadIdx.x;
    s[t * 32] = float(t);
    __syncwarp();
    const float column = s[t * 32];
    const float row = s[t];
    const float first = s[0];
    out[t] = column + row + first;
}

// One warp fills a 16 x 32 bf16 tile (element i holds i mod 256, exact in bf16) with row stride
// `ld` and loads the A fragments of an
// m16n8k16 mma from it with ldmatrix.x4 (lane L gives row L % 16, column 8 (L / 16)).
static __device__ void ldmatrix_tile(unsigned* out, bf16* tile, int ld) {
    const int lane = threadIdx.x;
    for (int i = lane; i < 16 * 32; i += 32) tile[(i / 32) * ld + i % 32] = __float2bfloat16(float(i & 255));
    __syncwarp();
    uint32_t r[4];
    ldmatrix_x4(r, &tile[(lane & 15) * ld + 8 * (lane >> 4)]);
    for (int j = 0; j < 4; ++j) out[j * 32 + lane] = r[j];
}

// Rows of 64 bytes: rows 0, 2, 4, 6 of each 8 x 8 matrix share banks (4-way conflict).
RLVR_KERNEL(count_ldmatrix_unpadded, unsigned* __restrict__ out) {
    __shared__ __align__(16) bf16 tile[16 * 32];
    ldmatrix_tile(out, tile, 32);
}

// Rows padded to 80 bytes: the eight rows of each matrix fall into eight distinct bank quads.
RLVR_KERNEL(count_ldmatrix_padded, unsigned* __restrict__ out) {
    __shared__ __align__(16) bf16 tile[16 * 40];
    ldmatrix_tile(out, tile, 40);
}

// SIMT GEMM tile: block (16, 16), C[16][16] = A[16][K] B[K][16] in f32 FMAs from global memory.
RLVR_KERNEL(count_simt_gemm, float* __restrict__ c, const float* __restrict__ a, const float* __restrict__ b,
            int K) {
    const int tx = threadIdx.x, ty = threadIdx.y;
    float acc = 0.0f;
    for (int k = 0; k < K; ++k) acc += a[ty * K + k] * b[k * 16 + tx];
    c[ty * 16 + tx] = acc;
}

// Tensor-core GEMM tile: one warp, C[16][8] = A[16][K] Bt[8][K]^T with one mma.sync m16n8k16 per
// 16 of K, fragments loaded straight from global memory (four 4-byte loads of A, two of Bt).
RLVR_KERNEL(count_mma_gemm, float* __restrict__ c, const bf16* __restrict__ a, const bf16* __restrict__ bt, int K) {
    const int lane = threadIdx.x, g = lane >> 2, t = lane & 3;
    float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int k0 = 0; k0 < K; k0 += 16) {
        uint32_t af[4], bfr[2];
#pragma unroll
        for (int r = 0; r < 4; ++r) af[r] = ld_bf16x2(a + (g + 8 * (r & 1)) * K + k0 + 2 * t + 8 * (r >> 1));
#pragma unroll
        for (int r = 0; r < 2; ++r) bfr[r] = ld_bf16x2(bt + g * K + k0 + 2 * t + 8 * r);
        mma_bf16_16816(acc, af, bfr, acc);
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) c[(g + 8 * (i >> 1)) * 8 + 2 * t + (i & 1)] = acc[i];
}
