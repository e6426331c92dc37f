//! kernels/norm.cu: RMSNorm forward (y and the per-row rstd) and backward (dx, and the weight
//! gradient, fresh and accumulated) against `backend::cpu::norm`.
use super::super::device::{download, upload, KernelDevice};
use super::super::norm::{rmsnorm_bwd_rung, rmsnorm_fwd_rung, rmsnorm_rung};
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
    // A row that is not a multiple of 8 takes rung 1 on the plain launchers.
    for (rows_, hidden) in row_shapes(c.set).into_iter().chain([(5, 100)]) {
        let shape = format!("{rows_}x{hidden}");
        c.check("rmsnorm", &shape, |dev, rng| {
            check_rmsnorm(dev, rng, rows_, hidden, &shape)
        });
    }
}

/// Every rung that runs at `hidden`, each against the CPU reference; the weight gradient of
/// rung 2 also against rung 1's bits (the same per-column row order).
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
    let (y_ref, rstd_ref) = rmsnorm_fwd(&x, &w, eps);
    let (dx_ref, dw_ref) = rmsnorm_bwd(&dy, &x, &w, &rstd_ref);
    // backward from the reference rstd, so dx/dw are compared on identical inputs
    let rstd_in = upload(dev, &rstd_ref)?;
    let ddy = upload(dev, &dyh)?;
    let mut out = Vec::new();
    let mut dw_rung1 = Vec::new();
    for rung in 1..=rmsnorm_rung(hidden) {
        let (fwd, bwd) = if rung == 1 {
            ("rmsnorm_fwd_bf16", "rmsnorm_bwd_bf16")
        } else {
            ("rmsnorm_fwd_x8_bf16", "rmsnorm_bwd_x8_bf16")
        };
        let (y, rstd) = (nan_bf16(dev, n)?, nan_f32(dev, rows)?);
        rmsnorm_fwd_rung(dev, rung, &y, &rstd, &dx_, &dw_, eps)?;
        let y = download_bf16(dev, &y)?;
        out.push(compare(&format!("{fwd} y"), shape, &y, &y_ref, TOL_BF16));
        let rstd = download(dev, &rstd)?;
        out.push(compare(
            &format!("{fwd} rstd"),
            shape,
            &rstd,
            &rstd_ref,
            TOL_F32,
        ));
        let (gx, gw) = (nan_bf16(dev, n)?, nan_f32(dev, hidden)?);
        rmsnorm_bwd_rung(dev, rung, &gx, &gw, &ddy, &dx_, &dw_, &rstd_in, false)?;
        let gx = download_bf16(dev, &gx)?;
        out.push(compare(&format!("{bwd} dx"), shape, &gx, &dx_ref, TOL_BF16));
        let gw1 = download(dev, &gw)?;
        out.push(compare(&format!("{bwd} dw"), shape, &gw1, &dw_ref, TOL_F32));
        // accumulate = true adds onto the existing dw, bit-for-bit twice the deterministic result
        rmsnorm_bwd_rung(
            dev,
            rung,
            &nan_bf16(dev, n)?,
            &gw,
            &ddy,
            &dx_,
            &dw_,
            &rstd_in,
            true,
        )?;
        let twice: Vec<f32> = gw1.iter().map(|v| v + v).collect();
        let got = download(dev, &gw)?;
        out.push(compare(
            &format!("{bwd} dw accumulate"),
            shape,
            &got,
            &twice,
            0.0,
        ));
        if rung == 1 {
            dw_rung1 = gw1;
        } else {
            let shape = format!("{shape} = rung 1");
            out.push(compare(&format!("{bwd} dw"), &shape, &gw1, &dw_rung1, 0.0));
        }
    }
    Ok(out)
}
