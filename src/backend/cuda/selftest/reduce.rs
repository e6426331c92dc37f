//! kernels/reduce.cu: the global gradient norm with its clip coefficient, and the scale by that
//! device scalar, against the CPU optimizer's `global_norm` and `clip_coefficient`.
use super::super::device::{download, upload, DevBuf, KernelDevice};
use super::super::reduce::{grad_norm_f32, grad_norm_per_tensor_f32, scale_by_f32};
use super::{compare, CheckRow, Checks, ShapeSet, TOL_F32};
use crate::optim::{clip_coefficient, global_norm};
use crate::rng::SplitMix64;
use crate::tensor::Tensor;
use anyhow::Result;

pub fn run(c: &mut Checks) {
    if !(c.wants("grad_norm") || c.wants("scale_by") || c.wants("sumsq")) {
        return;
    }
    let sets: Vec<Vec<usize>> = match c.set {
        ShapeSet::Small => vec![vec![1], vec![37, 4099], vec![3, 100_003, 64]],
        ShapeSet::Full => vec![
            vec![1],
            vec![37, 4099],
            vec![3, 100_003, 64],
            vec![3584 * 3584, 151_936 * 8 + 3],
        ],
    };
    for sizes in sets {
        let shape = format!("{sizes:?}");
        c.check("grad_norm", &shape, |dev, rng| {
            check_grad_norm(dev, rng, &sizes, &shape)
        });
    }
}

fn check_grad_norm(
    dev: &dyn KernelDevice,
    rng: &mut SplitMix64,
    sizes: &[usize],
    shape: &str,
) -> Result<Vec<CheckRow>> {
    let host: Vec<Vec<f32>> = sizes
        .iter()
        .map(|&n| rng.uniform_f32_vec(n, -0.1, 0.1))
        .collect();
    let bufs: Vec<DevBuf<f32>> = host.iter().map(|h| upload(dev, h)).collect::<Result<_>>()?;
    let squares = host
        .iter()
        .map(|h| Ok(Tensor::from_vec(h.clone(), &[h.len()])?.sq_norm()))
        .collect::<Result<Vec<f64>>>()?;
    let norm = global_norm(&squares);
    // a limit the norm exceeds, so the coefficient is below 1
    let max_norm = norm / 3.0;
    let coef = clip_coefficient(norm, max_norm).unwrap_or(1.0);
    let brefs: Vec<&DevBuf<f32>> = bufs.iter().collect();
    let out = grad_norm_f32(dev, &brefs, max_norm)?;
    let got = download(dev, &out)?;
    let per_tensor = download(dev, &grad_norm_per_tensor_f32(dev, &brefs, max_norm)?)?;
    let mut rows = vec![
        compare(
            "grad_norm_finalize_f32 [norm, coef]",
            shape,
            &got,
            &[norm, coef],
            TOL_F32,
        ),
        // The one-launch first stage writes the per-tensor launches' partials: the same bits.
        compare(
            "sumsq_multi_f32 = sumsq_partial_f32 per tensor",
            shape,
            &got,
            &per_tensor,
            0.0,
        ),
    ];
    let last = bufs.last().expect("at least one tensor");
    scale_by_f32(dev, last, &out, 1)?;
    let want: Vec<f32> = host
        .last()
        .expect("tensor")
        .iter()
        .map(|v| v * coef)
        .collect();
    rows.push(compare(
        "scale_by_f32",
        shape,
        &download(dev, last)?,
        &want,
        TOL_F32,
    ));
    Ok(rows)
}
