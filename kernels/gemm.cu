// GEMM on tensor cores with mma.sync m16n8k16 (bf16 x bf16 -> f32). Any layout through strides:
//   C[z][m][n] = alpha * sum_k A(z, m, k) * B(z, n, k) + beta * C_f32[z][m][n]
//   A(z, m, k) = a[z * batch_a + m * sam + k * sak],  B(z, n, k) = b[z * batch_b + n * sbn + k * sbk]
// so y = x W^T (W [N, K] row-major) is sam = K, sak = 1, sbn = K, sbk = 1. Writes c_f32 and/or
// c_bf16 (either may be null; beta is used only with c_f32). 2*M*N*K FLOPs per batch entry.
//
// The kernels form a ladder (each rung adds one idea; the launcher picks the rung):
//   rung 1  gemm_bf16_mma (any strides, 2-byte loads) and gemm_bf16_mma_kc (k-contiguous operands
//           only: 64x64x32 tiles, 2-stage cp.async, ldmatrix);
//   rung 2  gemm_bf16_ldsm_{kk,kn,mk,mn}: the cp.async + ldmatrix pipeline for both layouts of each
//           operand (an operand contiguous along its outer index is staged as [k][outer] and read
//           with ldmatrix.trans), so dX = dY W and dW = dY^T X leave the strided kernel;
//   rung 3  gemm_bf16_t128_{kk,kn,mk,mn}: 128x128x32 tiles (4 warps of 64x64), 4 stages, XOR-swizzled
//           shared memory (no padding, no bank conflicts), grouped tile order (a band of 8 M-tiles
//           walks N together, so a vocabulary-sized B tile is read from DRAM once per band), and an
//           epilogue staged through shared memory: 16-byte loads and stores, bias and residual fused;
//   rung 4  rung 3 split along K where the tile grid cannot fill the GPU: each split writes f32
//           partials and gemm_bf16_splitk_sum adds them in split order (deterministic) and applies
//           the epilogue;
//   rung 6  gemm_bf16_rows_kk / rows4_kk: products of at most 64 rows (decode) on a warp per 8 (or
//           32) columns, so the grid has N / 8 blocks instead of N / 128, with rung 3's bits;
//           gemm_bf16_rows_swiglu_kk / rows2_swiglu_kk: the decode step's gate and up products
//           and SwiGLU in one launch, the unfused path's bits.
//   rung 7  gemm_bf16_t64_kk: rung 6, and for more rows rung 3's pipeline on 64x64 tiles where the
//           128x128 grid would leave most SMs idle (a decode step's narrow products at batch
//           65-256: every CTA then reads half the panel bytes, and four times as many share the
//           work), with rung 3's bits.
//   rung 8  gemm_bf16_t128x256_{kk,kn,mk,mn}: rung 7, and 128x256 tiles (8 warps of rung 3's
//           64x64 warp tile) for the products whose grid still fills the GPU with them: a K step
//           moves (128 + 256) x 32 operand elements for 2 x 128 x 256 x 32 FLOPs, a third more
//           FLOPs per byte of L2 traffic than 128x128, with rung 3's bits (no split, the same
//           mma sequence per element).
//   rung 9  gemm_bf16_rows2_kk: rung 8, and the few-row kernel's columns per warp (8, 16 or 32)
//           chosen for the least operand traffic per round of blocks: every warp reads all of
//           A's rows, so at 64 rows and 8 columns A's re-reads are eight times the weights' bytes;
//           16 columns halve them and keep a block per SM on a 1536-wide product. Rung 3's bits.
//   rung 10 gemm_bf16_t64x32_kk / t128x64_kk: rung 9, and for 65-256 token rows the tile of least
//           rounds x (BM + BN) among 64x32, 64x64, 128x64 and 128x128 (a 7B decode step's 3584-wide
//           products at batch 256 have 56 blocks of 128x128, 224 of 64x64 and 112 of 128x64).
// (Rung 5, wgmma/TMA for sm_90a, is kernels/gemm_sm90.cu.)
// Layout suffixes name the contiguous index of A then B: k (A = x [M, K], B = W [N, K]) or m / n
// (A stored [K, M], B stored [K, N]); x W^T is kk, dY W is kn, dY^T X is mn.
#include "common.cuh"
#include "gemm_epilogue.cuh"
#include "swiglu.cuh"

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

// ---------------------------------------------------------------------------------------------
// Rungs 2-4: one cp.async + ldmatrix pipeline, templated on tile shape, stage count, operand
// layouts, shared-memory layout, epilogue and tile order.

#define GEMM_TILE_K 32

// A BR x BC bf16 tile in shared memory (BC a multiple of 8), addressed by 16-byte chunk. Padded:
// rows of BC + 8 elements. Swizzled: rows of BC elements, chunk c of row r stored at chunk
// c ^ f(r), f chosen so that the 8 rows one ldmatrix phase reads (and the 16-byte chunks one
// cp.async phase writes) fall on the 8 different 16-byte positions of a 128-byte line.
template <int BR, int BC, bool SWZ>
struct SmemTile {
    static constexpr int CPR = BC / 8;             // chunks per row
    static constexpr int LD = SWZ ? BC : BC + 8;   // elements per row
    static constexpr int ELEMS = BR * LD;
    static constexpr int LINE = CPR < 8 ? CPR : 8;  // chunks of a row within one 128-byte line
    static constexpr int RPL = 8 / LINE;            // rows sharing one 128-byte line
    // Element offset of the chunk holding (r, c), c a multiple of 8.
    static __device__ __forceinline__ int at(int r, int c) {
        int ch = c >> 3;
        if (SWZ) ch ^= (r / RPL) & (LINE - 1);
        return r * LD + ch * 8;
    }
};

// Shared tile of one operand: K-major operands (element (o, k) at p[o * ld + k]) are staged
// [outer][k]; outer-major ones (at p[k * ld + o]) are staged [k][outer].
template <int BR, bool KMAJ, bool SWZ>
using OperandTile = SmemTile<KMAJ ? BR : GEMM_TILE_K, KMAJ ? GEMM_TILE_K : BR, SWZ>;

// Issues the cp.async copies of the BR x GEMM_TILE_K tile at (outer0, k0); chunks past OUTER or K
// are zero-filled (a partial chunk keeps its valid prefix).
template <int BR, bool KMAJ, bool SWZ, int THREADS>
static __device__ __forceinline__ void stage_operand(bf16* s, const bf16* p, int64_t ld, int outer0, int k0,
                                                     int OUTER, int K, int tid) {
    using T = OperandTile<BR, KMAJ, SWZ>;
    constexpr int CHUNKS = BR * GEMM_TILE_K / 8;
    static_assert(CHUNKS % THREADS == 0, "every thread copies the same number of chunks");
#pragma unroll
    for (int i = 0; i < CHUNKS / THREADS; ++i) {
        const int q = tid + i * THREADS;
        const int r = q / T::CPR, c = (q % T::CPR) * 8;
        int o, k, bytes;
        if (KMAJ) {
            o = outer0 + r;
            k = k0 + c;
            bytes = (o < OUTER && k < K) ? min(8, K - k) * 2 : 0;
        } else {
            k = k0 + r;
            o = outer0 + c;
            bytes = (k < K && o < OUTER) ? min(8, OUTER - o) * 2 : 0;
        }
        const int64_t off = KMAJ ? int64_t(o) * ld + k : int64_t(k) * ld + o;
        cp_async16(s + T::at(r, c), bytes ? p + off : p, bytes);
    }
}

// The A fragment of mma m16n8k16 for rows row0..row0+15 of the tile and k ks..ks+15.
template <int BM, bool KMAJ, bool SWZ>
static __device__ __forceinline__ void frag_a(uint32_t r[4], const bf16* s, int row0, int ks, int lane) {
    using T = OperandTile<BM, KMAJ, SWZ>;
    if (KMAJ) {
        ldmatrix_x4(r, s + T::at(row0 + (lane & 15), ks + 8 * (lane >> 4)));
    } else {
        const int j = lane >> 3;  // matrix j: rows (m) 8 (j & 1).., k 8 (j >> 1)..
        ldmatrix_x4_trans(r, s + T::at(ks + 8 * (j >> 1) + (lane & 7), row0 + 8 * (j & 1)));
    }
}

// The B fragments of two n8 blocks (columns n0..n0+15 of the tile) for k ks..ks+15.
template <int BN, bool KMAJ, bool SWZ>
static __device__ __forceinline__ void frag_b(uint32_t b0[2], uint32_t b1[2], const bf16* s, int n0, int ks,
                                              int lane) {
    using T = OperandTile<BN, KMAJ, SWZ>;
    const int j = lane >> 3;  // matrix j: n block j >> 1, k half j & 1
    uint32_t r[4];
    if (KMAJ) {
        ldmatrix_x4(r, s + T::at(n0 + 8 * (j >> 1) + (lane & 7), ks + 8 * (j & 1)));
    } else {
        ldmatrix_x4_trans(r, s + T::at(ks + 8 * (j & 1) + (lane & 7), n0 + 8 * (j >> 1)));
    }
    b0[0] = r[0];
    b0[1] = r[1];
    b1[0] = r[2];
    b1[1] = r[3];
}

// One block computes the BM x BN tile of C chosen by the tile order, for K tiles of its split.
//   splits > 1: blockIdx.z = z * splits + split, and C is the [batch * splits][M][N] partials.
//   GROUP: bands of GROUP M-tiles walk N together (1: row-major tile order).
//   STAGED: the accumulators go through shared memory for a vectorised epilogue.
template <int BM, int BN, int WARPS_M, int WARPS_N, int STAGES, bool A_K, bool B_K, bool SWZ, bool STAGED,
          int GROUP>
static __device__ __forceinline__ void gemm_pipeline(float* c_f32, bf16* c_bf16, const bf16* __restrict__ a,
                                                     const bf16* __restrict__ b, const bf16* bias,
                                                     const bf16* residual, int M, int N, int K, int64_t lda,
                                                     int64_t ldb, int64_t batch_a, int64_t batch_b,
                                                     int64_t batch_c, float alpha, float beta, int splits) {
    constexpr int THREADS = 32 * WARPS_M * WARPS_N;
    constexpr int WM = BM / WARPS_M, WN = BN / WARPS_N, MI = WM / 16, NJ = WN / 8;
    static_assert(MI >= 1 && NJ % 2 == 0, "warp tiles are multiples of 16 x 16");
    using TA = OperandTile<BM, A_K, SWZ>;
    using TB = OperandTile<BN, B_K, SWZ>;
    RLVR_DYNAMIC_SMEM(bf16, smem);
    bf16* As = smem;                       // [STAGES][TA::ELEMS]
    bf16* Bs = smem + STAGES * TA::ELEMS;  // [STAGES][TB::ELEMS]

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int g = lane >> 2, t = lane & 3;
    const int warp_m = warp / WARPS_N, warp_n = warp % WARPS_N;
    const int tiles_m = (M + BM - 1) / BM, tiles_n = (N + BN - 1) / BN;
    const int pid = blockIdx.x, band = GROUP * tiles_n;
    const int first_m = (pid / band) * GROUP;
    const int band_rows = min(tiles_m - first_m, GROUP);
    const int block_m = (first_m + (pid % band) % band_rows) * BM;
    const int block_n = ((pid % band) / band_rows) * BN;
    const int64_t z = blockIdx.z / splits;
    const int split = blockIdx.z % splits;
    a += z * batch_a;
    b += z * batch_b;

    const int ktiles = (K + GEMM_TILE_K - 1) / GEMM_TILE_K;
    const int per_split = (ktiles + splits - 1) / splits;
    const int kt0 = split * per_split;
    const int nk = max(0, min(ktiles, kt0 + per_split) - kt0);

    float acc[MI][NJ][4];
#pragma unroll
    for (int i = 0; i < MI; ++i)
#pragma unroll
        for (int j = 0; j < NJ; ++j)
#pragma unroll
            for (int r = 0; r < 4; ++r) acc[i][j][r] = 0.0f;

    auto stage = [&](int s, int kt) {
        const int k0 = kt * GEMM_TILE_K;
        stage_operand<BM, A_K, SWZ, THREADS>(As + s * TA::ELEMS, a, lda, block_m, k0, M, K, tid);
        stage_operand<BN, B_K, SWZ, THREADS>(Bs + s * TB::ELEMS, b, ldb, block_n, k0, N, K, tid);
    };
    // Prologue: STAGES - 1 tiles in flight (one commit group each, empty past the end).
#pragma unroll
    for (int s = 0; s < STAGES - 1; ++s) {
        if (s < nk) stage(s, kt0 + s);
        cp_async_commit();
    }
    for (int i = 0; i < nk; ++i) {
        cp_async_wait<STAGES - 2>();  // tile i has landed (for this thread) ...
        __syncthreads();              // ... for every thread, and every warp is done with tile i - 1
        if (i + STAGES - 1 < nk) stage((i + STAGES - 1) % STAGES, kt0 + i + STAGES - 1);
        cp_async_commit();
        const bf16* as = As + (i % STAGES) * TA::ELEMS;
        const bf16* bs = Bs + (i % STAGES) * TB::ELEMS;
#pragma unroll
        for (int ks = 0; ks < GEMM_TILE_K; ks += 16) {
            uint32_t af[MI][4], bfr[NJ][2];
#pragma unroll
            for (int mi = 0; mi < MI; ++mi) frag_a<BM, A_K, SWZ>(af[mi], as, warp_m * WM + mi * 16, ks, lane);
#pragma unroll
            for (int nj = 0; nj < NJ; nj += 2) frag_b<BN, B_K, SWZ>(bfr[nj], bfr[nj + 1], bs, warp_n * WN + nj * 8, ks, lane);
#pragma unroll
            for (int mi = 0; mi < MI; ++mi)
#pragma unroll
                for (int nj = 0; nj < NJ; ++nj) mma_bf16_16816(acc[mi][nj], af[mi], bfr[nj], acc[mi][nj]);
        }
    }
    cp_async_wait<0>();

    const Epilogue e{c_f32, c_bf16, bias, residual, alpha, beta};
    const int64_t c0 = int64_t(blockIdx.z) * batch_c;
    if (!STAGED) {
#pragma unroll
        for (int mi = 0; mi < MI; ++mi)
#pragma unroll
            for (int nj = 0; nj < NJ; ++nj)
#pragma unroll
                for (int r = 0; r < 4; ++r) {
                    const int m = block_m + warp_m * WM + mi * 16 + g + 8 * (r >> 1);
                    const int n = block_n + warp_n * WN + nj * 8 + 2 * t + (r & 1);
                    if (m < M && n < N) epilogue_one(e, c0 + int64_t(m) * N + n, n, acc[mi][nj][r]);
                }
        return;
    }
    // Staged: fragments -> shared f32 tile (rows padded by 8 floats: the half-warp phases of the
    // 8-byte stores hit 32 different banks), then each thread writes runs of consecutive columns.
    constexpr int CLD = BN + 8;
    float* cs = reinterpret_cast<float*>(smem);
    __syncthreads();  // every warp is done reading the operand stages
#pragma unroll
    for (int mi = 0; mi < MI; ++mi)
#pragma unroll
        for (int nj = 0; nj < NJ; ++nj)
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                const int r = warp_m * WM + mi * 16 + g + 8 * h, c = warp_n * WN + nj * 8 + 2 * t;
                st_f32x2(cs + r * CLD + c, acc[mi][nj][2 * h], acc[mi][nj][2 * h + 1]);
            }
    __syncthreads();
    const bool vec = epilogue_vectors(e, N);
    if (c_f32) {
        // runs of 4: one row is 32 consecutive 16-byte f32 stores of a warp
        constexpr int RUNS = BN / 4;
        for (int q = tid; q < BM * RUNS; q += THREADS) {
            const int r = q / RUNS, c = (q % RUNS) * 4, m = block_m + r;
            if (m >= M) continue;
            const float4 x = ld_f32x4(cs + r * CLD + c);
            float v[4] = {x.x, x.y, x.z, x.w};
            epilogue_run<4>(e, c0 + int64_t(m) * N + block_n + c, block_n + c, N, v, vec);
        }
    } else {
        // runs of 8: 16-byte bf16 stores; the two halves are read in an order that keeps each
        // 8-thread phase of the 16-byte shared loads on distinct banks
        constexpr int RUNS = BN / 8;
        const int h = (tid >> 2) & 1;
        for (int q = tid; q < BM * RUNS; q += THREADS) {
            const int r = q / RUNS, c = (q % RUNS) * 8, m = block_m + r;
            if (m >= M) continue;
            const float4 x = ld_f32x4(cs + r * CLD + c + 4 * h);
            const float4 y = ld_f32x4(cs + r * CLD + c + 4 * (1 - h));
            const float4 lo = h ? y : x, hi = h ? x : y;
            float v[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
            epilogue_run<8>(e, c0 + int64_t(m) * N + block_n + c, block_n + c, N, v, vec);
        }
    }
}

#define GEMM_PIPE_PARAMS                                                                                      \
    float *c_f32, bf16 *c_bf16, const bf16 *__restrict__ a, const bf16 *__restrict__ b, const bf16 *bias,     \
        const bf16 *residual, int M, int N, int K, int64_t lda, int64_t ldb, int64_t batch_a, int64_t batch_b, \
        int64_t batch_c, float alpha, float beta, int splits
#define GEMM_PIPE_ARGS \
    c_f32, c_bf16, a, b, bias, residual, M, N, K, lda, ldb, batch_a, batch_b, batch_c, alpha, beta, splits

// Rung 2: 64 x 64 tiles, 4 warps of 32 x 32, 2 stages, padded shared memory, row-major tile order,
// the epilogue straight from the fragments.
#define GEMM_RUNG2(AK, BK) gemm_pipeline<64, 64, 2, 2, 2, AK, BK, false, false, 1>(GEMM_PIPE_ARGS)
RLVR_KERNEL_BOUNDED(gemm_bf16_ldsm_kk, 128, GEMM_PIPE_PARAMS) { GEMM_RUNG2(true, true); }
RLVR_KERNEL_BOUNDED(gemm_bf16_ldsm_kn, 128, GEMM_PIPE_PARAMS) { GEMM_RUNG2(true, false); }
RLVR_KERNEL_BOUNDED(gemm_bf16_ldsm_mk, 128, GEMM_PIPE_PARAMS) { GEMM_RUNG2(false, true); }
RLVR_KERNEL_BOUNDED(gemm_bf16_ldsm_mn, 128, GEMM_PIPE_PARAMS) { GEMM_RUNG2(false, false); }

// Rungs 3 and 4: 128 x 128 tiles, 4 warps of 64 x 64, 4 stages, swizzled, bands of 8 M-tiles,
// staged vectorised epilogue.
#define GEMM_RUNG3(AK, BK) gemm_pipeline<128, 128, 2, 2, 4, AK, BK, true, true, 8>(GEMM_PIPE_ARGS)
RLVR_KERNEL_BOUNDED(gemm_bf16_t128_kk, 128, GEMM_PIPE_PARAMS) { GEMM_RUNG3(true, true); }
RLVR_KERNEL_BOUNDED(gemm_bf16_t128_kn, 128, GEMM_PIPE_PARAMS) { GEMM_RUNG3(true, false); }
RLVR_KERNEL_BOUNDED(gemm_bf16_t128_mk, 128, GEMM_PIPE_PARAMS) { GEMM_RUNG3(false, true); }
RLVR_KERNEL_BOUNDED(gemm_bf16_t128_mn, 128, GEMM_PIPE_PARAMS) { GEMM_RUNG3(false, false); }

// Rung 7's tile: 64 x 64, 4 warps of 32 x 32, rung 3's stages, swizzle, tile order and staged
// epilogue. Every element of C runs rung 3's mma sequence (K tiles of 32 in order from zero), so
// the bits are rung 3's whichever tile the launcher picks.
RLVR_KERNEL_BOUNDED(gemm_bf16_t64_kk, 128, GEMM_PIPE_PARAMS) {
    gemm_pipeline<64, 64, 2, 2, 4, true, true, true, true, 8>(GEMM_PIPE_ARGS);
}

// Rung 10's tiles for 65-256 token rows, where neither 128x128 nor 64x64 fills the GPU: 64 x 32
// (4 warps of 32 x 16) and 128 x 64 (4 warps of 64 x 32), rung 3's stages, swizzle, tile order
// and staged epilogue, so rung 3's bits.
RLVR_KERNEL_BOUNDED(gemm_bf16_t64x32_kk, 128, GEMM_PIPE_PARAMS) {
    gemm_pipeline<64, 32, 2, 2, 4, true, true, true, true, 8>(GEMM_PIPE_ARGS);
}
RLVR_KERNEL_BOUNDED(gemm_bf16_t128x64_kk, 128, GEMM_PIPE_PARAMS) {
    gemm_pipeline<128, 64, 2, 2, 4, true, true, true, true, 8>(GEMM_PIPE_ARGS);
}

// Rung 8's tile: 128 x 256, 8 warps (2 x 4) of rung 3's 64 x 64 warp tile, rung 3's stages,
// swizzle, tile order and staged epilogue (the f32 tile, 132 KiB, is the shared-memory peak).
// Per warp the ldmatrix : mma ratio is rung 3's; per block each operand byte feeds twice the
// columns (A) or as many rows (B), so the L2 traffic per FLOP falls by a quarter.
#define GEMM_RUNG8(AK, BK) gemm_pipeline<128, 256, 2, 4, 4, AK, BK, true, true, 8>(GEMM_PIPE_ARGS)
RLVR_KERNEL_BOUNDED(gemm_bf16_t128x256_kk, 256, GEMM_PIPE_PARAMS) { GEMM_RUNG8(true, true); }
RLVR_KERNEL_BOUNDED(gemm_bf16_t128x256_kn, 256, GEMM_PIPE_PARAMS) { GEMM_RUNG8(true, false); }
RLVR_KERNEL_BOUNDED(gemm_bf16_t128x256_mk, 256, GEMM_PIPE_PARAMS) { GEMM_RUNG8(false, true); }
RLVR_KERNEL_BOUNDED(gemm_bf16_t128x256_mn, 256, GEMM_PIPE_PARAMS) { GEMM_RUNG8(false, false); }

// Rung 6 (A = x [M, K], B = W [N, K], both k-contiguous; M <= 64, splits = 1): one warp per n8
// tile (or four) of C and every row (up to GEMM_ROWS_MT m16 tiles), the whole K in order, the operands
// straight from global memory into the mma fragments. Every element of C runs the mma.sync
// sequence rung 3 runs for it (k16 steps in order from zero, up to the 32-wide K tiles' zero
// padding) and the same epilogue, so C is rung 3's bit for bit whatever M is: a decode step's
// products keep the training forward's bits without splitting K. Each quad reads one row's k16
// step, 8 bytes per lane (whole 32-byte sectors), and four quad shuffles move the pairs into the
// fragment layout (rows_frag). Grid (ceil(N / (8 NT)), 1, batch), 32 threads.
#define GEMM_ROWS_MT 4

// Elements k and k + 1 of a k-contiguous row as an mma fragment register (0 past K).
static __device__ __forceinline__ uint32_t rows_pair(const bf16* row, int k, int K) {
    if (k + 1 < K) return *reinterpret_cast<const uint32_t*>(row + k);
    if (k >= K) return 0u;
    uint16_t lo;
    memcpy(&lo, row + k, 2);
    return lo;
}

// Elements k .. k + 3 of a k-contiguous row (k a multiple of 4, the row 8-byte aligned) as two
// fragment registers (0 past K).
static __device__ __forceinline__ uint2 rows_quad(const bf16* row, int k, int K) {
    if (k + 3 < K) {
        const uint64_t v = *reinterpret_cast<const uint64_t*>(row + k);  // one 8-byte access
        return make_uint2(uint32_t(v), uint32_t(v >> 32));
    }
    return make_uint2(rows_pair(row, k, K), rows_pair(row, k + 2, K));
}

// The fragment registers of k16 step ks of the quad's row (lane t of the quad gets elements
// 2t, 2t + 1 in lo and 2t + 8, 2t + 9 in hi; 0 for an invalid row): lane t loads elements
// 4t .. 4t + 3, so pair p sits in lane p / 2, register p % 2. Every lane of the warp calls it.
static __device__ __forceinline__ void rows_frag(uint32_t& lo, uint32_t& hi, const bf16* row, bool valid, int ks,
                                                 int K) {
    const int lane = threadIdx.x & 31, t = lane & 3;
    const uint2 q = valid ? rows_quad(row, ks * 16 + 4 * t, K) : make_uint2(0u, 0u);
    const int src = (lane & ~3) + (t >> 1);
    const uint32_t x0 = __shfl_sync(0xffffffffu, q.x, src), x1 = __shfl_sync(0xffffffffu, q.y, src);
    const uint32_t y0 = __shfl_sync(0xffffffffu, q.x, src + 2), y1 = __shfl_sync(0xffffffffu, q.y, src + 2);
    lo = (t & 1) ? x1 : x0;
    hi = (t & 1) ? y1 : y0;
}

// The A fragment of m16 tile i at k16 step ks: rows 16 i + g and 16 i + g + 8 of A (zero past M).
static __device__ __forceinline__ void rows_a_frag(uint32_t (&af)[4], const bf16* a, int64_t lda, int M, int i,
                                                   int ks, int K) {
    const int m0 = i * 16 + ((threadIdx.x & 31) >> 2), m1 = m0 + 8;
    rows_frag(af[0], af[2], a + int64_t(min(m0, M - 1)) * lda, m0 < M, ks, K);
    rows_frag(af[1], af[3], a + int64_t(min(m1, M - 1)) * lda, m1 < M, ks, K);
}

// NT n8 tiles per warp: 1 keeps the grid at N / 8 blocks for narrow products; 2 and 4 read each
// A fragment once for 16 or 32 columns, where the A re-reads they save outweigh the blocks they
// take from the grid (the launcher picks, rung 9; rung 6 knows only 1 and 4).
template <int NT>
static __device__ __forceinline__ void gemm_rows(GEMM_PIPE_PARAMS) {
    const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    const int n0 = blockIdx.x * 8 * NT;  // first column of C (row of B) of this warp
    const int64_t z = blockIdx.z;
    a += z * batch_a;
    b += z * batch_b;
    const int mt = min((M + 15) / 16, GEMM_ROWS_MT);
    float acc[GEMM_ROWS_MT][NT][4];
#pragma unroll
    for (int i = 0; i < GEMM_ROWS_MT; ++i)
#pragma unroll
        for (int j = 0; j < NT; ++j)
#pragma unroll
            for (int r = 0; r < 4; ++r) acc[i][j][r] = 0.0f;
    const int ksteps = 2 * ((K + GEMM_TILE_K - 1) / GEMM_TILE_K);
#pragma unroll 2
    for (int ks = 0; ks < ksteps; ++ks) {
        uint32_t bfr[NT][2];
#pragma unroll
        for (int j = 0; j < NT; ++j) {
            const int n = n0 + 8 * j + g;  // this quad's row of B
            rows_frag(bfr[j][0], bfr[j][1], b + int64_t(min(n, N - 1)) * ldb, n < N, ks, K);
        }
#pragma unroll
        for (int i = 0; i < GEMM_ROWS_MT; ++i) {
            if (i >= mt) break;
            uint32_t af[4];
            rows_a_frag(af, a, lda, M, i, ks, K);
#pragma unroll
            for (int j = 0; j < NT; ++j) mma_bf16_16816(acc[i][j], af, bfr[j], acc[i][j]);
        }
    }
    const Epilogue e{c_f32, c_bf16, bias, residual, alpha, beta};
    const int64_t c0 = z * batch_c;
#pragma unroll
    for (int i = 0; i < GEMM_ROWS_MT; ++i) {
        if (i >= mt) break;
#pragma unroll
        for (int j = 0; j < NT; ++j)
#pragma unroll
            for (int r = 0; r < 4; ++r) {
                const int m = i * 16 + g + 8 * (r >> 1), c = n0 + 8 * j + 2 * t + (r & 1);
                if (m < M && c < N) epilogue_one(e, c0 + int64_t(m) * N + c, c, acc[i][j][r]);
            }
    }
}

RLVR_KERNEL_BOUNDED(gemm_bf16_rows_kk, 32, GEMM_PIPE_PARAMS) { gemm_rows<1>(GEMM_PIPE_ARGS); }
RLVR_KERNEL_BOUNDED(gemm_bf16_rows4_kk, 32, GEMM_PIPE_PARAMS) { gemm_rows<4>(GEMM_PIPE_ARGS); }
RLVR_KERNEL_BOUNDED(gemm_bf16_rows2_kk, 32, GEMM_PIPE_PARAMS) { gemm_rows<2>(GEMM_PIPE_ARGS); }

// Rung 6 with SwiGLU fused (the decode step's MLP input): gate = A Bᵀ and up = A (B + batch_b)ᵀ
// (the two halves of a packed [2, N, K] weight), out [M, N] = silu(gate) * up. Each gate and up
// element runs rows_kk's mma sequence (rung 3's bits) and is rounded to bf16 as its own product's
// epilogue stores it (alpha, no bias or residual), then swiglu_value: the separate products plus
// swiglu_fwd_bf16 bit for bit, in one launch instead of two, and each A fragment read once for
// both products. NT n8 tiles of each product per warp (2 keeps rows4_kk's 64 accumulators).
// Grid (ceil(N / (8 NT)), 1, 1), 32 threads.
template <int NT>
static __device__ __forceinline__ void gemm_rows_swiglu(GEMM_PIPE_PARAMS) {
    const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    const int n0 = blockIdx.x * 8 * NT;
    const int mt = min((M + 15) / 16, GEMM_ROWS_MT);
    const bf16* w[2] = {b, b + batch_b};
    float acc[GEMM_ROWS_MT][2][NT][4];
#pragma unroll
    for (int i = 0; i < GEMM_ROWS_MT; ++i)
#pragma unroll
        for (int p = 0; p < 2; ++p)
#pragma unroll
            for (int j = 0; j < NT; ++j)
#pragma unroll
                for (int r = 0; r < 4; ++r) acc[i][p][j][r] = 0.0f;
    const int ksteps = 2 * ((K + GEMM_TILE_K - 1) / GEMM_TILE_K);
#pragma unroll 2
    for (int ks = 0; ks < ksteps; ++ks) {
        uint32_t bfr[2][NT][2];
#pragma unroll
        for (int p = 0; p < 2; ++p)
#pragma unroll
            for (int j = 0; j < NT; ++j) {
                const int n = n0 + 8 * j + g;
                rows_frag(bfr[p][j][0], bfr[p][j][1], w[p] + int64_t(min(n, N - 1)) * ldb, n < N, ks, K);
            }
#pragma unroll
        for (int i = 0; i < GEMM_ROWS_MT; ++i) {
            if (i >= mt) break;
            uint32_t af[4];
            rows_a_frag(af, a, lda, M, i, ks, K);
#pragma unroll
            for (int p = 0; p < 2; ++p)
#pragma unroll
                for (int j = 0; j < NT; ++j) mma_bf16_16816(acc[i][p][j], af, bfr[p][j], acc[i][p][j]);
        }
    }
#pragma unroll
    for (int i = 0; i < GEMM_ROWS_MT; ++i) {
        if (i >= mt) break;
#pragma unroll
        for (int j = 0; j < NT; ++j)
#pragma unroll
            for (int r = 0; r < 4; ++r) {
                const int m = i * 16 + g + 8 * (r >> 1), c = n0 + 8 * j + 2 * t + (r & 1);
                if (m < M && c < N) {
                    const float gate = __bfloat162float(__float2bfloat16(acc[i][0][j][r] * alpha));
                    const float up = __bfloat162float(__float2bfloat16(acc[i][1][j][r] * alpha));
                    c_bf16[int64_t(m) * N + c] = __float2bfloat16(swiglu_value(gate, up));
                }
            }
    }
}

RLVR_KERNEL_BOUNDED(gemm_bf16_rows_swiglu_kk, 32, GEMM_PIPE_PARAMS) { gemm_rows_swiglu<1>(GEMM_PIPE_ARGS); }
RLVR_KERNEL_BOUNDED(gemm_bf16_rows2_swiglu_kk, 32, GEMM_PIPE_PARAMS) { gemm_rows_swiglu<2>(GEMM_PIPE_ARGS); }

// Rung 4's reduction: C[z] = epilogue(sum over s = 0, 1, .. of parts[z * splits + s]), in that
// order. parts is [batch * splits][M][N] f32, C dense [batch][M][N]; 4 columns per thread.
RLVR_KERNEL_BOUNDED(gemm_bf16_splitk_sum, 256, float* c_f32, bf16* c_bf16, const float* __restrict__ parts,
                    const bf16* bias, const bf16* residual, int M, int N, int splits, int batch, float alpha,
                    float beta) {
    const Epilogue e{c_f32, c_bf16, bias, residual, alpha, beta};
    const int runs = (N + 3) / 4;
    const int64_t mn = int64_t(M) * N, total = int64_t(batch) * M * runs;
    const bool vec = epilogue_vectors(e, N);
    RLVR_GRID_STRIDE(q, total) {
        const int64_t row = q / runs;  // z * M + m
        const int n = int(q % runs) * 4;
        const int64_t z = row / M, idx = row * N + n;
        float v[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        for (int s = 0; s < splits; ++s) {
            const float* p = parts + (z * splits + s) * mn + (idx - z * mn);
            if (vec) {
                const float4 x = ld_f32x4(p);
                v[0] += x.x;
                v[1] += x.y;
                v[2] += x.z;
                v[3] += x.w;
            } else {
                for (int i = 0; i < 4; ++i)
                    if (n + i < N) v[i] += p[i];
            }
        }
        epilogue_run<4>(e, idx, n, N, v, vec);
    }
}
