//! Linear layers y = x·Wᵀ (+ b) over the tensor-core GEMM (its best rung), with W in Hugging
//! Face layout [out, in]: the forward (bias and a residual added in the GEMM's epilogue), the
//! input gradient and the weight/bias gradients (which may split K: their rows and columns are
//! model dimensions, so the split never depends on the token count).
use super::super::bias::colsum_bf16_f32;
use super::super::device::{DevBuf, KernelDevice};
use super::super::gemm::{gemm_bf16, gemm_bf16_with, Gemm, GemmOpts, Strides};
use anyhow::{bail, Result};
use half::bf16;

/// Shape of one linear map applied to `rows` tokens.
#[derive(Clone, Copy, Debug)]
pub struct Lin {
    pub rows: usize,
    pub inp: usize,
    pub out: usize,
}

/// y [rows, out] = x [rows, in] · Wᵀ (+ bias), rounded once to bf16.
pub fn forward(
    dev: &dyn KernelDevice,
    y: &DevBuf<bf16>,
    x: &DevBuf<bf16>,
    w: &DevBuf<bf16>,
    bias: Option<&DevBuf<bf16>>,
    s: Lin,
) -> Result<()> {
    forward_with(dev, y, x, w, bias, None, s)
}

/// y [rows, out] = residual + x · Wᵀ (+ bias), rounded once to bf16 (a projection back into
/// the residual stream); `residual` [rows, out] may be `y` itself.
pub fn forward_residual(
    dev: &dyn KernelDevice,
    y: &DevBuf<bf16>,
    x: &DevBuf<bf16>,
    w: &DevBuf<bf16>,
    bias: Option<&DevBuf<bf16>>,
    residual: &DevBuf<bf16>,
    s: Lin,
) -> Result<()> {
    forward_with(dev, y, x, w, bias, Some(residual), s)
}

fn forward_with(
    dev: &dyn KernelDevice,
    y: &DevBuf<bf16>,
    x: &DevBuf<bf16>,
    w: &DevBuf<bf16>,
    bias: Option<&DevBuf<bf16>>,
    residual: Option<&DevBuf<bf16>>,
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
    if y.len() != g.m * g.n {
        bail!(
            "linear forward: y has {} elements for {} x {}",
            y.len(),
            g.m,
            g.n
        );
    }
    let opts = GemmOpts {
        bias,
        residual,
        ..GemmOpts::default()
    };
    gemm_bf16_with(dev, None, Some(y), x, w, &g, &opts)
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
    if dw.len() != g.m * g.n {
        bail!(
            "linear weight gradient: dw has {} elements for {} x {}",
            dw.len(),
            g.m,
            g.n
        );
    }
    let opts = GemmOpts {
        split_k: true,
        ..GemmOpts::default()
    };
    gemm_bf16_with(dev, Some(dw), None, dy, x, &g, &opts)?;
    match db {
        Some(db) => colsum_bf16_f32(dev, db, dy, accumulate),
        None => Ok(()),
    }
}
