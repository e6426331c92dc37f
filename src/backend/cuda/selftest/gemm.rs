//! kernels/gemm.cu: the batched GEMM in the three operand layouts the model uses (x·Wᵀ, dY·W,
//! dYᵀ·x), with an f32 output accumulated onto a prior value (beta = 1) and a bf16 output,
//! against `backend::cpu::gemm` (f32) on the same bf16-rounded operands.
use super::super::device::{download, upload, KernelDevice};
use super::super::gemm::{gemm_bf16, gemm_kernel_for, Gemm, Strides};
use super::{
    bf16_inputs, compare, download_bf16, nan_bf16, CheckRow, Checks, ShapeSet, TOL_BF16, TOL_GEMM,
};
use crate::backend::cpu::cast::round_bf16;
use crate::backend::cpu::gemm::gemm;
use crate::rng::SplitMix64;
use anyhow::Result;

pub fn run(c: &mut Checks) {
    if !c.wants("gemm") {
        return;
    }
    let shapes: Vec<(usize, usize, usize, usize)> = match c.set {
        ShapeSet::Small => vec![
            (1, 1, 8, 16),
            (1, 17, 24, 40),
            (1, 64, 64, 64),
            (2, 65, 33, 48),
            (1, 3, 130, 96),
        ],
        ShapeSet::Full => vec![
            (1, 1, 8, 16),
            (1, 17, 24, 40),
            (2, 65, 33, 48),
            (1, 129, 1536, 576),
            (1, 256, 3584, 512),
            (4, 128, 128, 128),
        ],
    };
    for (batch, m, n, k) in shapes {
        for layout in ["nt", "nn", "tn"] {
            let shape = format!("{layout} b{batch} {m}x{n}x{k}");
            c.check("gemm_bf16_mma", &shape, |dev, rng| {
                check_gemm(dev, rng, (batch, m, n, k), layout, &shape)
            });
        }
    }
}

fn check_gemm(
    dev: &dyn KernelDevice,
    rng: &mut SplitMix64,
    (batch, m, n, k): (usize, usize, usize, usize),
    layout: &str,
    shape: &str,
) -> Result<Vec<CheckRow>> {
    // A is x [m, k] or stored transposed as [k, m]; B is W [n, k] (x·Wᵀ) or [k, n].
    let (a_t, b_t) = match layout {
        "nt" => (false, true),
        "nn" => (false, false),
        _ => (true, true),
    };
    let a_s = if a_t {
        Strides::cols(m, k)
    } else {
        Strides::rows(m, k)
    };
    let b_s = if b_t {
        Strides::rows(n, k)
    } else {
        Strides::cols(n, k)
    };
    let (a, ah) = bf16_inputs(rng, batch * m * k, -1.0, 1.0);
    let (b, bh) = bf16_inputs(rng, batch * n * k, -1.0, 1.0);
    let prior = rng.uniform_f32_vec(batch * m * n, -1.0, 1.0);
    let (da, db) = (upload(dev, &ah)?, upload(dev, &bh)?);
    let g = Gemm {
        batch,
        m,
        n,
        k,
        a: a_s,
        b: b_s,
        alpha: 0.5,
        beta: 1.0,
    };
    let c = upload(dev, &prior)?;
    let cb = nan_bf16(dev, batch * m * n)?;
    gemm_bf16(dev, Some(&c), Some(&cb), &da, &db, &g)?;
    let mut want = prior.clone();
    for z in 0..batch {
        gemm(
            m,
            n,
            k,
            0.5,
            &a[z * m * k..],
            a_t,
            &b[z * n * k..],
            b_t,
            1.0,
            &mut want[z * m * n..],
        );
    }
    let want_bf: Vec<f32> = want.iter().map(|&v| round_bf16(v)).collect();
    let kernel = gemm_kernel_for(&g, &da, &db);
    Ok(vec![
        compare(
            &format!("{kernel} f32 (beta=1)"),
            shape,
            &download(dev, &c)?,
            &want,
            TOL_GEMM,
        ),
        compare(
            &format!("{kernel} bf16"),
            shape,
            &download_bf16(dev, &cb)?,
            &want_bf,
            TOL_BF16,
        ),
    ])
}
