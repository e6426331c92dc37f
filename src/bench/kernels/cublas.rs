//! The GEMM baseline: cuBLAS `cublasGemmEx` through cudarc, bf16 operands, f32 accumulation
//! (CUBLAS_COMPUTE_32F), the output in bf16 or f32 as our kernel writes it. Only for benches.
use crate::backend::cuda::device::DevBuf;
use crate::backend::cuda::gemm::{Gemm, GemmOffsets, Strides};
use crate::backend::cuda::gpu::Gpu;
use anyhow::{anyhow, bail, Result};
use cudarc::cublas::{result, sys, CudaBlas};
use half::bf16;
use std::ffi::c_void;

/// A cuBLAS operand transpose flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    N,
    T,
}

/// One column-major cuBLAS call computing our row-major C[m, n] = A · Bᵀ.
///
/// Row-major C[m, n] is column-major Cᵀ [n, m] with ldc = n, and Cᵀ = B · Aᵀ, so cuBLAS gets
/// B as its first operand and A as its second, with m' = n, n' = m.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ColMajorGemm {
    pub transa: Op,
    pub transb: Op,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub lda: usize,
    pub ldb: usize,
    pub ldc: usize,
}

/// How an operand indexed [outer, k] looks to cuBLAS: (op such that op(X) is [outer, k] for the
/// first operand, ld). Only the two dense layouts (`Strides::rows`, `Strides::cols`) exist.
fn layout(s: &Strides, outer: usize, k: usize) -> Result<(bool, usize)> {
    if s.k == 1 && s.outer >= k.max(1) {
        Ok((true, s.outer)) // row-major [outer, k]: column-major [k, outer]
    } else if s.outer == 1 && s.k >= outer.max(1) {
        Ok((false, s.k)) // row-major [k, outer]: column-major [outer, k]
    } else {
        bail!("cuBLAS baseline: operand strides {s:?} are neither row- nor column-dense")
    }
}

/// The cuBLAS call for a single (batch 1) problem of ours.
pub fn col_major(g: &Gemm) -> Result<ColMajorGemm> {
    if g.batch != 1 {
        bail!("cuBLAS baseline: only batch 1 is wired up");
    }
    // First cuBLAS operand: our B [n, k]; cuBLAS wants op(B') = [n, k] column-major.
    let (b_rows, ldb) = layout(&g.b, g.n, g.k)?;
    // Second: our A [m, k]; cuBLAS wants op(A') = Aᵀ = [k, m] column-major.
    let (a_rows, lda) = layout(&g.a, g.m, g.k)?;
    Ok(ColMajorGemm {
        transa: if b_rows { Op::T } else { Op::N },
        transb: if a_rows { Op::N } else { Op::T },
        m: g.n,
        n: g.m,
        k: g.k,
        lda: ldb,
        ldb: lda,
        ldc: g.n,
    })
}

/// Where the baseline writes C.
pub enum CublasOut<'a> {
    F32(&'a DevBuf<f32>),
    Bf16(&'a DevBuf<bf16>),
}

pub struct Cublas {
    blas: CudaBlas,
}

impl Cublas {
    /// A cuBLAS handle on the GPU's stream, or why there is none (e.g. libcublas not found).
    pub fn new(gpu: &Gpu) -> Result<Self> {
        // SAFETY: only tries to dlopen libcublas under its usual names.
        if !unsafe { sys::is_culib_present() } {
            bail!("libcublas not found on the loader path (set LD_LIBRARY_PATH to CUDA's lib dir)");
        }
        let blas = CudaBlas::new(gpu.stream().clone())
            .map_err(|e| anyhow!("creating the cuBLAS handle: {e:?}"))?;
        Ok(Cublas { blas })
    }

    /// C = alpha · A · Bᵀ + beta · C with our operand conventions (see `launch::gemm_bf16_at`).
    pub fn gemm(
        &self,
        c: CublasOut<'_>,
        a: &DevBuf<bf16>,
        b: &DevBuf<bf16>,
        g: &Gemm,
        off: GemmOffsets,
    ) -> Result<()> {
        let p = col_major(g)?;
        let (c_ptr, c_type, c_len, beta) = match c {
            CublasOut::F32(c) => (
                c.raw().device_ptr() + 4 * off.c as u64,
                sys::cudaDataType::CUDA_R_32F,
                c.len(),
                g.beta,
            ),
            CublasOut::Bf16(c) => (
                c.raw().device_ptr() + 2 * off.c as u64,
                sys::cudaDataType::CUDA_R_16BF,
                c.len(),
                0.0,
            ),
        };
        if off.c + g.m * g.n > c_len || off.a > a.len() || off.b > b.len() {
            bail!("cuBLAS baseline: offsets {off:?} reach past a buffer for {g:?}");
        }
        let dim = |x: usize| i32::try_from(x).map_err(|_| anyhow!("cuBLAS: {x} exceeds int"));
        let op = |o: Op| match o {
            Op::N => sys::cublasOperation_t::CUBLAS_OP_N,
            Op::T => sys::cublasOperation_t::CUBLAS_OP_T,
        };
        let alpha = g.alpha;
        // SAFETY: the pointers address live device buffers large enough for the problem (checked
        // by our launcher's rules above); alpha/beta are host f32 as CUBLAS_COMPUTE_32F expects.
        unsafe {
            result::gemm_ex(
                *self.blas.handle(),
                op(p.transa),
                op(p.transb),
                dim(p.m)?,
                dim(p.n)?,
                dim(p.k)?,
                &alpha as *const f32 as *const c_void,
                (b.raw().device_ptr() + 2 * off.b as u64) as *const c_void,
                sys::cudaDataType::CUDA_R_16BF,
                dim(p.lda)?,
                (a.raw().device_ptr() + 2 * off.a as u64) as *const c_void,
                sys::cudaDataType::CUDA_R_16BF,
                dim(p.ldb)?,
                &beta as *const f32 as *const c_void,
                c_ptr as *mut c_void,
                c_type,
                dim(p.ldc)?,
                sys::cublasComputeType_t::CUBLAS_COMPUTE_32F,
                sys::cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
            )
        }
        .map_err(|e| anyhow!("cublasGemmEx {g:?}: {e:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// cuBLAS semantics on the host: column-major C[m, n] = op(A) · op(B).
    fn cublas_ref(p: &ColMajorGemm, a: &[f32], b: &[f32]) -> Vec<f32> {
        let at = |i: usize, l: usize| match p.transa {
            Op::N => a[i + l * p.lda],
            Op::T => a[l + i * p.lda],
        };
        let bt = |l: usize, j: usize| match p.transb {
            Op::N => b[l + j * p.ldb],
            Op::T => b[j + l * p.ldb],
        };
        let mut c = vec![0.0; p.ldc * p.n];
        for j in 0..p.n {
            for i in 0..p.m {
                c[i + j * p.ldc] = (0..p.k).map(|l| at(i, l) * bt(l, j)).sum();
            }
        }
        c
    }

    #[test]
    fn the_column_major_call_computes_our_row_major_product_for_every_layout() {
        let (m, n, k) = (3, 5, 4);
        let a_val = |i: usize, l: usize| (i * 7 + l * 3) as f32 % 5.0 - 2.0;
        let b_val = |j: usize, l: usize| (j * 2 + l * 5) as f32 % 7.0 - 3.0;
        for (a_s, b_s) in [
            (Strides::rows(m, k), Strides::rows(n, k)),
            (Strides::rows(m, k), Strides::cols(n, k)),
            (Strides::cols(m, k), Strides::rows(n, k)),
            (Strides::cols(m, k), Strides::cols(n, k)),
        ] {
            let mut a = vec![0.0; m * k];
            let mut b = vec![0.0; n * k];
            for i in 0..m {
                for l in 0..k {
                    a[i * a_s.outer + l * a_s.k] = a_val(i, l);
                }
            }
            for j in 0..n {
                for l in 0..k {
                    b[j * b_s.outer + l * b_s.k] = b_val(j, l);
                }
            }
            let g = Gemm {
                batch: 1,
                m,
                n,
                k,
                a: a_s,
                b: b_s,
                alpha: 1.0,
                beta: 0.0,
            };
            let p = col_major(&g).unwrap();
            // cuBLAS's first operand is our B, its second our A.
            let c = cublas_ref(&p, &b, &a);
            for i in 0..m {
                for j in 0..n {
                    let want: f32 = (0..k).map(|l| a_val(i, l) * b_val(j, l)).sum();
                    assert_eq!(c[i * n + j], want, "{a_s:?} {b_s:?} at ({i}, {j})");
                }
            }
        }
    }

    #[test]
    fn strided_batches_are_refused() {
        let g = Gemm {
            batch: 2,
            m: 2,
            n: 2,
            k: 2,
            a: Strides::rows(2, 2),
            b: Strides::rows(2, 2),
            alpha: 1.0,
            beta: 0.0,
        };
        assert!(col_major(&g).is_err());
    }
}
