//! kernels/norm.cu: RMSNorm forward (y and the per-row rstd) and backward (dx, and the weight
//! gradient, fresh and accumulated) against `backend::cpu::norm`.
use super::super::device::{download, upload, KernelDevice};
use super::super::norm::{rmsnorm_bwd_bf16, rmsnorm_fwd_bf16};
use super::{
    bf16_inputs, compare, download_bf16, nan_bf16, nan_f32, row_shapes, CheckRow, Checks, TOL_BF16,
    TOL_F32,
};
use crate::backend::cpu::norm::{rmsnorm_bwd, rmsnorm_fwd};
use crate::rng::SplitMix64;
use anyhow::Result;

pub fn run(c: &mut Checks) {
    if !c.wants("rmsnorm") {
        return;
    }
    for (rows_, hidden) in row_shapes(c.set) {
        let shape = format!("{rows_}x{hidden}");
        c.check("rmsnorm", &shape, |dev, rng| {
            check_rmsnorm(dev, rng, rows_, hidden, &shape)
        });
    }
}

fn check_rmsnorm(
    dev: &dyn KernelDevice,
    rng: &mut SplitMix64,
    rows: usize,
    hidden: usize,
    shape: &str,
) -> Result<Vec<CheckRow>> {
    let n = rows * hidden;
    let (x, xh) = bf16_inputs(rng, n, -2.0, 2.0);
    let (w, wh) = bf16_inputs(rng, hidden, 0.5, 1.5);
    let (dy, dyh) = bf16_inputs(rng, n, -1.0, 1.0);
    let eps = 1e-6;
    let (dx_, dw_) = (upload(dev, &xh)?, upload(dev, &wh)?);
    let (y, rstd) = (nan_bf16(dev, n)?, nan_f32(dev, rows)?);
    rmsnorm_fwd_bf16(dev, &y, &rstd, &dx_, &dw_, eps)?;
    let (y_ref, rstd_ref) = rmsnorm_fwd(&x, &w, eps);
    let mut out = vec![
        compare(
            "rmsnorm_fwd_bf16 y",
            shape,
            &download_bf16(dev, &y)?,
            &y_ref,
            TOL_BF16,
        ),
        compare(
            "rmsnorm_fwd_bf16 rstd",
            shape,
            &download(dev, &rstd)?,
            &rstd_ref,
            TOL_F32,
        ),
    ];
    // backward from the reference rstd, so dx/dw are compared on identical inputs
    let rstd_in = upload(dev, &rstd_ref)?;
    let ddy = upload(dev, &dyh)?;
    let (gx, gw) = (nan_bf16(dev, n)?, nan_f32(dev, hidden)?);
    rmsnorm_bwd_bf16(dev, &gx, &gw, &ddy, &dx_, &dw_, &rstd_in, false)?;
    let (dx_ref, dw_ref) = rmsnorm_bwd(&dy, &x, &w, &rstd_ref);
    out.push(compare(
        "rmsnorm_bwd_bf16 dx",
        shape,
        &download_bf16(dev, &gx)?,
        &dx_ref,
        TOL_BF16,
    ));
    let gw1 = download(dev, &gw)?;
    out.push(compare(
        "rmsnorm_bwd_bf16 dw",
        shape,
        &gw1,
        &dw_ref,
        TOL_F32,
    ));
    // accumulate = true adds onto the existing dw, bit-for-bit twice the deterministic result
    rmsnorm_bwd_bf16(dev, &gx, &gw, &ddy, &dx_, &dw_, &rstd_in, true)?;
    let twice: Vec<f32> = gw1.iter().map(|v| v + v).collect();
    out.push(compare(
        "rmsnorm_bwd_bf16 dw accumulate",
        shape,
        &download(dev, &gw)?,
        &twice,
        0.0,
    ));
    Ok(out)
}
