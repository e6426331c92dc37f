//! kernels/softmax.cu: row softmax and log-softmax of bf16 logits against
//! `backend::cpu::softmax`.
use super::super::device::{download, upload, KernelDevice};
use super::super::softmax::{log_softmax_fwd_bf16, softmax_fwd_bf16};
use super::{bf16_inputs, compare, nan_f32, CheckRow, Checks, ShapeSet, TOL_F32};
use crate::backend::cpu::softmax::softmax;
use crate::rng::SplitMix64;
use anyhow::Result;

pub fn run(c: &mut Checks) {
    if !c.wants("softmax") {
        return;
    }
    let shapes: Vec<(usize, usize)> = match c.set {
        ShapeSet::Small => vec![(1, 1), (3, 33), (17, 1000), (2, 5003)],
        ShapeSet::Full => vec![(1, 1), (3, 33), (17, 1000), (64, 49_152), (8, 151_936)],
    };
    for (rows_, cols) in shapes {
        let shape = format!("{rows_}x{cols}");
        c.check("softmax", &shape, |dev, rng| {
            check_softmax(dev, rng, rows_, cols, &shape)
        });
    }
}

fn check_softmax(
    dev: &dyn KernelDevice,
    rng: &mut SplitMix64,
    rows: usize,
    cols: usize,
    shape: &str,
) -> Result<Vec<CheckRow>> {
    let (x, xh) = bf16_inputs(rng, rows * cols, -20.0, 20.0);
    let dx = upload(dev, &xh)?;
    let p = nan_f32(dev, rows * cols)?;
    softmax_fwd_bf16(dev, &p, &dx, cols)?;
    let lp = nan_f32(dev, rows * cols)?;
    log_softmax_fwd_bf16(dev, &lp, &dx, cols)?;
    Ok(vec![
        compare(
            "softmax_fwd_bf16",
            shape,
            &download(dev, &p)?,
            &softmax(&x, cols, false),
            TOL_F32,
        ),
        compare(
            "log_softmax_fwd_bf16",
            shape,
            &download(dev, &lp)?,
            &softmax(&x, cols, true),
            TOL_F32,
        ),
    ])
}
