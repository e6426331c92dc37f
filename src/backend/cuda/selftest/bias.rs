//! kernels/bias.cu: the bias add of a linear layer and its gradient (the column sum, fresh and
//! accumulated) against `backend::cpu::bias`.
use super::super::bias::{bias_add_bf16, bias_add_rung, colsum_bf16_f32, colsum_rung};
use super::super::device::{download, filled, upload, KernelDevice};
use super::super::launch::vec_rung;
use super::{bf16_inputs, compare, download_bf16, CheckRow, Checks, ShapeSet, TOL_BF16, TOL_F32};
use crate::backend::cpu::bias::{bias_add, colsum};
use crate::rng::SplitMix64;
use anyhow::Result;

/// (rows, cols): odd sizes, one row, and (Full) enough rows for several column-sum parts.
fn shapes(set: ShapeSet) -> Vec<(usize, usize)> {
    let mut v = vec![(1, 7), (3, 64), (37, 130), (301, 33)];
    if set == ShapeSet::Full {
        v.extend([(4096, 512), (32_768, 3584 / 7)]);
    }
    v
}

pub fn run(c: &mut Checks) {
    if !(c.wants("bias_add") || c.wants("colsum")) {
        return;
    }
    for (n, cols) in shapes(c.set) {
        let shape = format!("{n}x{cols}");
        c.check("bias_add_bf16", &shape, |dev, rng| {
            check_bias(dev, rng, n, cols, &shape)
        });
    }
}

fn check_bias(
    dev: &dyn KernelDevice,
    rng: &mut SplitMix64,
    rows: usize,
    cols: usize,
    shape: &str,
) -> Result<Vec<CheckRow>> {
    let (x, xh) = bf16_inputs(rng, rows * cols, -2.0, 2.0);
    let (b, bh) = bf16_inputs(rng, cols, -1.0, 1.0);
    let (dx, db) = (upload(dev, &xh)?, upload(dev, &bh)?);
    bias_add_bf16(dev, &dx, &db)?;
    let mut want = x.clone();
    bias_add(&mut want, &b);
    let mut out = vec![compare(
        "bias_add_bf16",
        shape,
        &download_bf16(dev, &dx)?,
        &want,
        TOL_BF16,
    )];
    // gradient of the bias: column sums of the (original) x
    let dx = upload(dev, &xh)?;
    let sum = filled(dev, cols, f32::NAN)?;
    colsum_bf16_f32(dev, &sum, &dx, false)?;
    let want = colsum(&x, cols);
    let fresh = download(dev, &sum)?;
    out.push(compare(
        "colsum_partial_bf16 (bias grad)",
        shape,
        &fresh,
        &want,
        TOL_F32,
    ));
    colsum_bf16_f32(dev, &sum, &dx, true)?;
    let twice: Vec<f32> = fresh.iter().map(|v| v + v).collect();
    out.push(compare(
        "colsum_partial_bf16 accumulate",
        shape,
        &download(dev, &sum)?,
        &twice,
        0.0,
    ));
    if vec_rung(cols, 8) == 2 {
        // Rung 2 (16-byte accesses) against rung 1, the add and the column sums: the same bits.
        let shape = format!("{shape} = rung 1");
        let (x1, x2) = (upload(dev, &xh)?, upload(dev, &xh)?);
        bias_add_rung(dev, 1, &x1, &db)?;
        bias_add_rung(dev, 2, &x2, &db)?;
        let (want, got) = (download_bf16(dev, &x1)?, download_bf16(dev, &x2)?);
        out.push(compare("bias_add_x8_bf16", &shape, &got, &want, 0.0));
        let (s1, s2) = (filled(dev, cols, f32::NAN)?, filled(dev, cols, f32::NAN)?);
        colsum_rung(dev, 1, &s1, &dx, false)?;
        colsum_rung(dev, 2, &s2, &dx, false)?;
        let (want, got) = (download(dev, &s1)?, download(dev, &s2)?);
        out.push(compare("colsum_partial_x8_bf16", &shape, &got, &want, 0.0));
    }
    Ok(out)
}
