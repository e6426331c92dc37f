//! kernels/sum_parts.cu: the ordered sum of gradient shards against the host's ordered
//! reduce-scatter (`dist::reduce`), bit for bit, also in place.
use super::super::device::{download, filled, upload, KernelDevice};
use super::super::sum_parts::sum_parts_f32;
use super::{compare, CheckRow, Checks};
use crate::dist::{reduce_scatter_sum_f32, Single};
use crate::rng::SplitMix64;
use anyhow::Result;

pub fn run(c: &mut Checks) {
    if !c.wants("sum_parts_f32") {
        return;
    }
    // one part (a copy), the strides data parallelism uses, and a padded stride
    for (nparts, n, pad) in [
        (1usize, 5usize, 0usize),
        (2, 1000, 0),
        (3, 4099, 0),
        (8, 257, 3),
    ] {
        let shape = format!("{nparts} parts x {n} (stride +{pad})");
        c.check("sum_parts_f32", &shape, |dev, rng| {
            check_sum_parts(dev, rng, nparts, n, pad, &shape)
        });
    }
}

/// Exact (tolerance 0): the device must add in the host's order. Values of mixed magnitude make
/// any other order visible. Also checks the in-place form (out = part 0).
fn check_sum_parts(
    dev: &dyn KernelDevice,
    rng: &mut SplitMix64,
    nparts: usize,
    n: usize,
    pad: usize,
    shape: &str,
) -> Result<Vec<CheckRow>> {
    let stride = n + pad;
    let parts: Vec<Vec<f32>> = (0..nparts)
        .map(|_| {
            (0..n)
                .map(|_| rng.uniform_f32(-1.0, 1.0) * 10f32.powi(rng.uniform_f32(-4.0, 8.0) as i32))
                .collect()
        })
        .collect();
    let mut flat = vec![f32::NAN; nparts * stride];
    for (k, p) in parts.iter().enumerate() {
        flat[k * stride..k * stride + n].copy_from_slice(p);
    }
    let whole = 0..n;
    let want = reduce_scatter_sum_f32(&Single, &parts, &[whole])?;
    let src = upload(dev, &flat)?;
    let out = filled(dev, n, f32::NAN)?;
    sum_parts_f32(dev, &out, &src, nparts, stride)?;
    let mut rows = vec![compare(
        "sum_parts_f32",
        shape,
        &download(dev, &out)?,
        &want,
        0.0,
    )];
    let first = src.view(0, n)?;
    sum_parts_f32(dev, &first, &src, nparts, stride)?;
    rows.push(compare(
        "sum_parts_f32 in place",
        shape,
        &download(dev, &first)?,
        &want,
        0.0,
    ));
    Ok(rows)
}
