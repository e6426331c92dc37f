//! kernels/cast.cu: the f32 ↔ bf16 casts (exact: round to nearest even) and the bf16 residual
//! add, also in place, against `backend::cpu::cast`.
use super::super::cast::{
    cast_bf16_to_f32, cast_bf16_to_f32_rung, cast_f32_to_bf16, cast_f32_to_bf16_rung,
    residual_add_bf16, residual_add_rung, CAST_WIDTH,
};
use super::super::device::{download, upload, KernelDevice};
use super::super::launch::vec_rung;
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
    let mut rows = vec![r1, r2];
    if vec_rung(n, CAST_WIDTH) == 2 {
        // Rung 2 (16-byte f32 accesses) against rung 1, both directions: the same bits.
        let shape = format!("{shape} = rung 1");
        let (b1, b2) = (nan_bf16(dev, n)?, nan_bf16(dev, n)?);
        cast_f32_to_bf16_rung(dev, 1, &b1, &dx)?;
        cast_f32_to_bf16_rung(dev, 2, &b2, &dx)?;
        let (want, got) = (download_bf16(dev, &b1)?, download_bf16(dev, &b2)?);
        rows.push(compare("cast_f32_to_bf16_x4", &shape, &got, &want, 0.0));
        let (f1, f2) = (nan_f32(dev, n)?, nan_f32(dev, n)?);
        cast_bf16_to_f32_rung(dev, 1, &f1, &db)?;
        cast_bf16_to_f32_rung(dev, 2, &f2, &db)?;
        let (want, got) = (download(dev, &f1)?, download(dev, &f2)?);
        rows.push(compare("cast_bf16_to_f32_x4", &shape, &got, &want, 0.0));
    }
    Ok(rows)
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
    let mut rows = vec![r1, r2];
    if vec_rung(n, 8) == 2 {
        // Rung 2 against rung 1, out of place and in place: the same bits.
        let da = upload(dev, &ah)?;
        let (o1, o2) = (nan_bf16(dev, n)?, nan_bf16(dev, n)?);
        residual_add_rung(dev, 1, &o1, &da, &db)?;
        residual_add_rung(dev, 2, &o2, &da, &db)?;
        let want = download_bf16(dev, &o1)?;
        let shape = format!("{shape} = rung 1");
        let got = download_bf16(dev, &o2)?;
        rows.push(compare("residual_add_x8_bf16", &shape, &got, &want, 0.0));
        residual_add_rung(dev, 2, &da, &da, &db)?;
        let got = download_bf16(dev, &da)?;
        let shape = format!("{shape}, in place");
        rows.push(compare("residual_add_x8_bf16", &shape, &got, &want, 0.0));
    }
    Ok(rows)
}
