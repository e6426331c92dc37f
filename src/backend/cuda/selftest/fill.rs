//! kernels/fill.cu: every element set to one random value (exact).
use super::super::device::{download, filled, KernelDevice};
use super::super::fill::fill_f32;
use super::{compare, CheckRow, Checks};
use crate::rng::SplitMix64;
use anyhow::Result;

pub fn run(c: &mut Checks) {
    if !c.wants("fill_f32") {
        return;
    }
    for n in [1usize, 1000, 4099] {
        let shape = format!("n={n}");
        c.check("fill_f32", &shape, |dev, rng| {
            check_fill(dev, rng, n, &shape)
        });
    }
}

fn check_fill(
    dev: &dyn KernelDevice,
    rng: &mut SplitMix64,
    n: usize,
    shape: &str,
) -> Result<Vec<CheckRow>> {
    let value = rng.uniform_f32(-3.0, 3.0);
    let b = filled(dev, n, f32::NAN)?;
    fill_f32(dev, &b, value)?;
    Ok(vec![compare(
        "fill_f32",
        shape,
        &download(dev, &b)?,
        &vec![value; n],
        0.0,
    )])
}
