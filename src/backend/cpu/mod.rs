//! The CPU backend: every op in f32 on host slices. It is the reference every CUDA kernel is
//! checked against and the embedded default, so it favours exactness (f64 accumulation where a
//! sum runs over a whole row) and determinism (fixed reduction order, no racing accumulations).

pub mod attention;
pub mod attention_blocks;
pub mod attention_cached;
pub mod bias;
pub mod cast;
pub mod embedding;
pub mod exp;
pub mod gemm;
pub mod gemm_kernel;
pub mod gemm_pack;
pub mod logprob;
pub mod mlp;
pub mod norm;
pub mod rope;
pub mod sampling;
pub mod simd;
pub mod softmax;

/// Rows per rayon task for row-wise kernels: large enough to amortise scheduling, fixed so that
/// partial sums (e.g. RMSNorm's weight gradient) are combined in the same order on every run.
pub(crate) const ROW_BLOCK: usize = 32;
