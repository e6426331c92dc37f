//! Parity checks of the kernels added for the whole device model: kernels/bias.cu (bias add,
//! bias gradient), kernels/fill.cu and kernels/sum_parts.cu, against the f32 references.
use super::bias;
use super::device::{download, filled, upload, KernelDevice};
use super::fill::fill_f32;
use super::parity::{compare, guarded, CheckRow, ShapeSet, TOL_BF16, TOL_F32};
use super::reference as r;
use super::rng::Rng;
use super::sum_parts::sum_parts_f32;
use anyhow::Result;
use half::bf16;

/// (rows, cols): odd sizes, one row, and (Full) enough rows for several column-sum parts.
fn shapes(set: ShapeSet) -> Vec<(usize, usize)> {
    let mut v = vec![(1, 7), (3, 64), (37, 130), (301, 33)];
    if set == ShapeSet::Full {
        v.extend([(4096, 512), (32_768, 3584 / 7)]);
    }
    v
}

pub fn run_devmodel_kernel_checks(
    dev: &dyn KernelDevice,
    set: ShapeSet,
    rng: &mut Rng,
    want: &dyn Fn(&str) -> bool,
    rows: &mut Vec<CheckRow>,
) {
    if want("fill_f32") {
        for n in [1usize, 1000, 4099] {
            let shape = format!("n={n}");
            guarded(rows, "fill_f32", &shape, || check_fill(dev, rng, n, &shape));
        }
    }
    if want("sum_parts_f32") {
        // one part (a copy), the strides data parallelism uses, and a padded stride
        for (nparts, n, pad) in [
            (1usize, 5usize, 0usize),
            (2, 1000, 0),
            (3, 4099, 0),
            (8, 257, 3),
        ] {
            let shape = format!("{nparts} parts x {n} (stride +{pad})");
            guarded(rows, "sum_parts_f32", &shape, || {
                check_sum_parts(dev, rng, nparts, n, pad, &shape)
            });
        }
    }
    if !(want("bias_add") || want("colsum")) {
        return;
    }
    for (n, cols) in shapes(set) {
        let shape = format!("{n}x{cols}");
        guarded(rows, "bias_add_bf16", &shape, || {
            check_bias(dev, rng, n, cols, &shape)
        });
    }
}

fn bf16_rand(rng: &mut Rng, n: usize, lo: f32, hi: f32) -> (Vec<f32>, Vec<bf16>) {
    let h: Vec<bf16> = (0..n)
        .map(|_| bf16::from_f32(rng.uniform(lo, hi)))
        .collect();
    (h.iter().map(|v| v.to_f32()).collect(), h)
}

fn check_bias(
    dev: &dyn KernelDevice,
    rng: &mut Rng,
    rows: usize,
    cols: usize,
    shape: &str,
) -> Result<Vec<CheckRow>> {
    let (x, xh) = bf16_rand(rng, rows * cols, -2.0, 2.0);
    let (b, bh) = bf16_rand(rng, cols, -1.0, 1.0);
    let (dx, db) = (upload(dev, &xh)?, upload(dev, &bh)?);
    bias::bias_add_bf16(dev, &dx, &db)?;
    let got: Vec<f32> = download(dev, &dx)?.iter().map(|v| v.to_f32()).collect();
    let mut out = vec![compare(
        "bias_add_bf16",
        shape,
        &got,
        &r::bias_add(&x, &b),
        TOL_BF16,
    )];
    // gradient of the bias: column sums of the (original) x
    let dx = upload(dev, &xh)?;
    let sum = filled(dev, cols, f32::NAN)?;
    bias::colsum_bf16_f32(dev, &sum, &dx, false)?;
    let want = r::colsum(&x, cols);
    let fresh = download(dev, &sum)?;
    out.push(compare(
        "colsum_partial_bf16 (bias grad)",
        shape,
        &fresh,
        &want,
        TOL_F32,
    ));
    bias::colsum_bf16_f32(dev, &sum, &dx, true)?;
    let twice: Vec<f32> = fresh.iter().map(|v| v + v).collect();
    out.push(compare(
        "colsum_partial_bf16 accumulate",
        shape,
        &download(dev, &sum)?,
        &twice,
        0.0,
    ));
    Ok(out)
}

fn check_fill(
    dev: &dyn KernelDevice,
    rng: &mut Rng,
    n: usize,
    shape: &str,
) -> Result<Vec<CheckRow>> {
    let value = rng.uniform(-3.0, 3.0);
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

/// Exact (tolerance 0): the device must add in the host's order. Values of mixed magnitude make
/// any other order visible. Also checks the in-place form (out = part 0).
fn check_sum_parts(
    dev: &dyn KernelDevice,
    rng: &mut Rng,
    nparts: usize,
    n: usize,
    pad: usize,
    shape: &str,
) -> Result<Vec<CheckRow>> {
    let stride = n + pad;
    let parts: Vec<Vec<f32>> = (0..nparts)
        .map(|_| {
            (0..n)
                .map(|_| rng.uniform(-1.0, 1.0) * 10f32.powi(rng.uniform(-4.0, 8.0) as i32))
                .collect()
        })
        .collect();
    let mut flat = vec![f32::NAN; nparts * stride];
    for (k, p) in parts.iter().enumerate() {
        flat[k * stride..k * stride + n].copy_from_slice(p);
    }
    let want = r::sum_parts(&parts);
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
