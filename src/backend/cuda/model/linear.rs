//! Linear layers y = x·Wᵀ (+ b) over the tensor-core GEMM, with W in Hugging Face layout
//! [out, in]: the forward, the input gradient and the weight/bias gradients.
use super::super::bias::{bias_add_bf16, colsum_bf16_f32};
use super::super::device::{DevBuf, KernelDevice};
use super::super::gemm::{gemm_bf16, Gemm, Strides};
use anyhow::Result;
use half::bf16;

/// Shape of one linear map applied to `rows` tokens.
#[derive(Clone, Copy, Debug)]
pub struct Lin {
    pub rows: usize,
    pub inp: usize,
    pub out: usize,
}

/// y [rows, out] = x [rows, in] · Wᵀ (+ bias), rounded once to bf16 (twice with a bias).
pub fn forward(
    dev: &dyn KernelDevice,
    y: &DevBuf<bf16>,
    x: &DevBuf<bf16>,
    w: &DevBuf<bf16>,
    bias: Option<&DevBuf<bf16>>,
    s: Lin,
) -> Result<()> {
    let g = Gemm {
        batch: 1,
        m: s.rows,
        n: s.out,
        k: s.inp,
        a: Strides::rows(s.rows, s.inp),
        b: Strides::rows(s.out, s.inp),
        alpha: 1.0,
        beta: 0.0,
    };
    gemm_bf16(dev, None, Some(y), x, w, &g)?;
    match bias {
        Some(b) => bias_add_bf16(dev, y, b),
        None => Ok(()),
    }
}

/// dx [rows, in] (f32) = dy · W, plus `beta` times its previous contents (to sum the input
/// gradients of several maps reading the same x).
pub fn input_grad_f32(
    dev: &dyn KernelDevice,
    dx: &DevBuf<f32>,
    dy: &DevBuf<bf16>,
    w: &DevBuf<bf16>,
    s: Lin,
    beta: f32,
) -> Result<()> {
    gemm_bf16(dev, Some(dx), None, dy, w, &input_grad_gemm(s, beta))
}

/// dx [rows, in] (bf16) = dy · W.
pub fn input_grad_bf16(
    dev: &dyn KernelDevice,
    dx: &DevBuf<bf16>,
    dy: &DevBuf<bf16>,
    w: &DevBuf<bf16>,
    s: Lin,
) -> Result<()> {
    gemm_bf16(dev, None, Some(dx), dy, w, &input_grad_gemm(s, 0.0))
}

fn input_grad_gemm(s: Lin, beta: f32) -> Gemm {
    Gemm {
        batch: 1,
        m: s.rows,
        n: s.inp,
        k: s.out,
        a: Strides::rows(s.rows, s.out),
        b: Strides::cols(s.inp, s.out),
        alpha: 1.0,
        beta,
    }
}

/// dW [out, in] (+)= dyᵀ · x and db [out] (+)= Σ_rows dy (f32; added when `accumulate`).
#[allow(clippy::too_many_arguments)]
pub fn param_grads(
    dev: &dyn KernelDevice,
    dw: &DevBuf<f32>,
    db: Option<&DevBuf<f32>>,
    dy: &DevBuf<bf16>,
    x: &DevBuf<bf16>,
    s: Lin,
    accumulate: bool,
) -> Result<()> {
    let g = Gemm {
        batch: 1,
        m: s.out,
        n: s.inp,
        k: s.rows,
        a: Strides::cols(s.out, s.rows),
        b: Strides::cols(s.inp, s.rows),
        alpha: 1.0,
        beta: if accumulate { 1.0 } else { 0.0 },
    };
    gemm_bf16(dev, Some(dw), None, dy, x, &g)?;
    match db {
        Some(db) => colsum_bf16_f32(dev, db, dy, accumulate),
        None => Ok(()),
    }
}
