// GEMM on tensor cores with mma.sync m16n8k16 (bf16 x bf16 -> f32), the simple verified version
// (issue 3 step 1; the wgmma/TMA path comes later). Any layout through strides:
//   C[z][m][n] = alpha * sum_k A(z, m, k) * B(z, n, k) + beta * C_f32[z][m][n]
//   A(z, m, k) = a[z * batch_a + m * sam + k * sak],  B(z, n, k) = b[z * batch_b + n * sbn + k * sbk]
// so y = x W^T (W [N, K] row-major) is sam = K, sak = 1, sbn = K, sbk = 1. Writes c_f32 and/or
// c_bf16 (either may be null; beta is used only with c_f32). 2*M*N*K FLOPs per batch entry.
// Tiles: 64 x 64 per block of 4 warps (2 x 2, 32 x 32 each), K in steps of 32 staged through
// shared memory with zero fill at the edges, so M, N, K need no particular alignment.
#include "common.cuh"

#define GEMM_BM 64
#define GEMM_BN 64
#define GEMM_BK 32
#define GEMM_PAD 8  // keeps rows 16-byte aligned and spreads shared-memory banks

RLVR_KERNEL_BOUNDED(gemm_bf16_mma, 128, float* __restrict__ c_f32, bf16* __restrict__ c_bf16,
                    const bf16* __restrict__ a, const bf16* __restrict__ b, int M, int N, int K, int64_t sam,
                    int64_t sak, int64_t sbn, int64_t sbk, int64_t ldc, int64_t batch_a, int64_t batch_b,
                    int64_t batch_c, float alpha, float beta) {
    __shared__ __align__(16) bf16 As[GEMM_BM][GEMM_BK + GEMM_PAD];
    __shared__ __align__(16) bf16 Bs[GEMM_BN][GEMM_BK + GEMM_PAD];
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int g = lane >> 2, t = lane & 3;
    const int warp_m = warp >> 1, warp_n = warp & 1;
    const int block_m = blockIdx.y * GEMM_BM, block_n = blockIdx.x * GEMM_BN;
    const int64_t z = blockIdx.z;
    a += z * batch_a;
    b += z * batch_b;

    float acc[2][4][4];
#pragma unroll
    for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j)
#pragma unroll
            for (int r = 0; r < 4; ++r) acc[i][j][r] = 0.0f;

    const bf16 zero = __float2bfloat16(0.0f);
    for (int k0 = 0; k0 < K; k0 += GEMM_BK) {
        for (int e = tid; e < GEMM_BM * GEMM_BK; e += blockDim.x) {
            const int r = e / GEMM_BK, c = e % GEMM_BK;
            const int m = block_m + r, k = k0 + c;
            As[r][c] = (m < M && k < K) ? a[m * sam + k * sak] : zero;
            const int n = block_n + r;
            Bs[r][c] = (n < N && k < K) ? b[n * sbn + k * sbk] : zero;
        }
        __syncthreads();
#pragma unroll
        for (int ks = 0; ks < GEMM_BK; ks += 16) {
            uint32_t af[2][4], bfr[4][2];
#pragma unroll
            for (int i = 0; i < 2; ++i) {
                const int row = warp_m * 32 + i * 16 + g;
#pragma unroll
                for (int r = 0; r < 4; ++r) af[i][r] = ld_bf16x2(&As[row + 8 * (r & 1)][ks + 2 * t + 8 * (r >> 1)]);
            }
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                const int col = warp_n * 32 + j * 8 + g;
#pragma unroll
                for (int r = 0; r < 2; ++r) bfr[j][r] = ld_bf16x2(&Bs[col][ks + 2 * t + 8 * r]);
            }
#pragma unroll
            for (int i = 0; i < 2; ++i)
#pragma unroll
                for (int j = 0; j < 4; ++j) mma_bf16_16816(acc[i][j], af[i], bfr[j], acc[i][j]);
        }
        __syncthreads();
    }

#pragma unroll
    for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j)
#pragma unroll
            for (int r = 0; r < 4; ++r) {
                const int m = block_m + warp_m * 32 + i * 16 + g + 8 * (r >> 1);
                const int n = block_n + warp_n * 32 + j * 8 + 2 * t + (r & 1);
                if (m >= M || n >= N) continue;
                const int64_t idx = z * batch_c + int64_t(m) * ldc + n;
                float v = alpha * acc[i][j][r];
                if (c_f32) {
                    if (beta != 0.0f) v += beta * c_f32[idx];
                    c_f32[idx] = v;
                }
                if (c_bf16) c_bf16[idx] = __float2bfloat16(v);
            }
}

// Fast path for k-contiguous operands (sak = sbk = 1; K, lda, ldb multiples of 8; 16-byte aligned
// bases): same problem and tiles as gemm_bf16_mma, but tiles arrive by cp.async into a two-stage
// shared-memory pipeline and fragments are loaded with ldmatrix.
RLVR_KERNEL_BOUNDED(gemm_bf16_mma_kc, 128, float* __restrict__ c_f32, bf16* __restrict__ c_bf16,
                    const bf16* __restrict__ a, const bf16* __restrict__ b, int M, int N, int K, int64_t lda,
                    int64_t ldb, int64_t ldc, int64_t batch_a, int64_t batch_b, int64_t batch_c, float alpha,
                    float beta) {
    __shared__ __align__(16) bf16 As[2][GEMM_BM][GEMM_BK + GEMM_PAD];
    __shared__ __align__(16) bf16 Bs[2][GEMM_BN][GEMM_BK + GEMM_PAD];
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int g = lane >> 2, t = lane & 3;
    const int warp_m = warp >> 1, warp_n = warp & 1;
    const int block_m = blockIdx.y * GEMM_BM, block_n = blockIdx.x * GEMM_BN;
    const int64_t z = blockIdx.z;
    a += z * batch_a;
    b += z * batch_b;

    // One tile = 64 rows x 32 k = 256 chunks of 8 bf16 per operand; 2 chunks per thread each.
    auto load_tile = [&](int stage, int k0) {
#pragma unroll
        for (int i = 0; i < 2; ++i) {
            const int chunk = tid + i * 128;
            const int r = chunk >> 2, c = (chunk & 3) * 8;
            const int k = k0 + c;
            const int kbytes = k < K ? min(8, K - k) * 2 : 0;
            const int m = block_m + r, n = block_n + r;
            cp_async16(&As[stage][r][c], m < M && kbytes ? a + m * lda + k : a, m < M ? kbytes : 0);
            cp_async16(&Bs[stage][r][c], n < N && kbytes ? b + n * ldb + k : b, n < N ? kbytes : 0);
        }
    };

    float acc[2][4][4];
#pragma unroll
    for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j)
#pragma unroll
            for (int r = 0; r < 4; ++r) acc[i][j][r] = 0.0f;

    const int ntiles = (K + GEMM_BK - 1) / GEMM_BK;
    load_tile(0, 0);
    cp_async_commit();
    for (int kt = 0; kt < ntiles; ++kt) {
        if (kt + 1 < ntiles) {
            load_tile((kt + 1) & 1, (kt + 1) * GEMM_BK);
            cp_async_commit();
            cp_async_wait<1>();
        } else {
            cp_async_wait<0>();
        }
        __syncthreads();
        const int s = kt & 1;
#pragma unroll
        for (int ks = 0; ks < GEMM_BK; ks += 16) {
            uint32_t af[2][4], bfr[4][2];
#pragma unroll
            for (int i = 0; i < 2; ++i) {
                const int row = warp_m * 32 + i * 16 + (lane & 7) + 8 * ((lane >> 3) & 1);
                ldmatrix_x4(af[i], &As[s][row][ks + 8 * (lane >> 4)]);
            }
#pragma unroll
            for (int j = 0; j < 4; j += 2) {
                const int mi = lane >> 3;
                const int n = warp_n * 32 + (j + (mi >> 1)) * 8 + (lane & 7);
                uint32_t r[4];
                ldmatrix_x4(r, &Bs[s][n][ks + 8 * (mi & 1)]);
                bfr[j][0] = r[0];
                bfr[j][1] = r[1];
                bfr[j + 1][0] = r[2];
                bfr[j + 1][1] = r[3];
            }
#pragma unroll
            for (int i = 0; i < 2; ++i)
#pragma unroll
                for (int j = 0; j < 4; ++j) mma_bf16_16816(acc[i][j], af[i], bfr[j], acc[i][j]);
        }
        __syncthreads();
    }

#pragma unroll
    for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j)
#pragma unroll
            for (int r = 0; r < 4; ++r) {
                const int m = block_m + warp_m * 32 + i * 16 + g + 8 * (r >> 1);
                const int n = block_n + warp_n * 32 + j * 8 + 2 * t + (r & 1);
                if (m >= M || n >= N) continue;
                const int64_t idx = z * batch_c + int64_t(m) * ldc + n;
                float v = alpha * acc[i][j][r];
                if (c_f32) {
                    if (beta != 0.0f) v += beta * c_f32[idx];
                    c_f32[idx] = v;
                }
                if (c_bf16) c_bf16[idx] = __float2bfloat16(v);
            }
}
