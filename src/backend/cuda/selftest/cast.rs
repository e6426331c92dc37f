//! kernels/cast.cu: the f32 ↔ bf16 casts (exact: round to nearest even) and the bf16 residual
//! add, also in place, against `backend::cpu::cast`.
use super::super::cast::{cast_bf16_to_f32, cast_f32_to_bf16, residual_add_bf16};
use super::super::device::{download, upload, KernelDevice};
use super::{
    bf16_inputs, compare, download_bf16, elementwise_sizes, nan_bf16, nan_f32, CheckRow, Checks,
    TOL_BF16,
};
use crate::backend::cpu::cast::{residual_add, round_bf16};
use crate::rng::SplitMix64;
use anyhow::Result;

pub fn run(c: &mut Checks) {
    if c.wants("cast") {
        for n in elementwise_sizes(c.set) {
            let shape = format!("n={n}");
            c.check("cast", &shape, |dev, rng| check_cast(dev, rng, n, &shape));
        }
    }
    if c.wants("residual_add_bf16") {
        for n in elementwise_sizes(c.set) {
            let shape = format!("n={n}");
            c.check("residual_add_bf16", &shape, |dev, rng| {
                check_residual(dev, rng, n, &shape)
            });
        }
    }
}

fn check_cast(
    dev: &dyn KernelDevice,
    rng: &mut SplitMix64,
    n: usize,
    shape: &str,
) -> Result<Vec<CheckRow>> {
    let x = rng.uniform_f32_vec(n, -300.0, 300.0);
    let dx = upload(dev, &x)?;
    let db = nan_bf16(dev, n)?;
    cast_f32_to_bf16(dev, &db, &dx)?;
    let want: Vec<f32> = x.iter().map(|&v| round_bf16(v)).collect();
    let r1 = compare(
        "cast_f32_to_bf16",
        shape,
        &download_bf16(dev, &db)?,
        &want,
        0.0,
    );
    let back = nan_f32(dev, n)?;
    cast_bf16_to_f32(dev, &back, &db)?;
    let r2 = compare(
        "cast_bf16_to_f32",
        shape,
        &download(dev, &back)?,
        &want,
        0.0,
    );
    Ok(vec![r1, r2])
}

fn check_residual(
    dev: &dyn KernelDevice,
    rng: &mut SplitMix64,
    n: usize,
    shape: &str,
) -> Result<Vec<CheckRow>> {
    let (a, ah) = bf16_inputs(rng, n, -4.0, 4.0);
    let (b, bh) = bf16_inputs(rng, n, -4.0, 4.0);
    let (da, db) = (upload(dev, &ah)?, upload(dev, &bh)?);
    let out = nan_bf16(dev, n)?;
    residual_add_bf16(dev, &out, &da, &db)?;
    let want = residual_add(&a, &b);
    let r1 = compare(
        "residual_add_bf16",
        shape,
        &download_bf16(dev, &out)?,
        &want,
        TOL_BF16,
    );
    // in place: out == a
    residual_add_bf16(dev, &da, &da, &db)?;
    let r2 = compare(
        "residual_add_bf16",
        &format!("{shape} in-place"),
        &download_bf16(dev, &da)?,
        &want,
        TOL_BF16,
    );
    Ok(vec![r1, r2])
}
