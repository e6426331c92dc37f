//! kernels/optim.cu: one fused AdamW step (f32 master weights and moments, the bf16 copy, the
//! gradient scaled by a device scalar) against the CPU optimizer's `AdamW::update`.
use super::super::device::{download, upload, KernelDevice};
use super::super::optim::{adamw_step_f32, AdamW as AdamWStep};
use super::{
    compare, download_bf16, elementwise_sizes, nan_bf16, CheckRow, Checks, TOL_BF16, TOL_F32,
};
use crate::backend::cpu::cast::round_bf16;
use crate::optim::{AdamW, AdamWConfig};
use crate::rng::SplitMix64;
use crate::tensor::Tensor;
use anyhow::Result;

pub fn run(c: &mut Checks) {
    if !c.wants("adamw") {
        return;
    }
    for n in elementwise_sizes(c.set) {
        let shape = format!("n={n}");
        c.check("adamw_step_f32", &shape, |dev, rng| {
            check_adamw(dev, rng, n, &shape)
        });
    }
}

fn check_adamw(
    dev: &dyn KernelDevice,
    rng: &mut SplitMix64,
    n: usize,
    shape: &str,
) -> Result<Vec<CheckRow>> {
    let h = AdamWStep {
        lr: 1e-3,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.01,
        step: 3,
    };
    let p = rng.uniform_f32_vec(n, -1.0, 1.0);
    let m = rng.uniform_f32_vec(n, -0.01, 0.01);
    let v = rng.uniform_f32_vec(n, 0.0, 1e-4);
    let g = rng.uniform_f32_vec(n, -0.05, 0.05);
    let scale = 0.5f32;
    let (dp, dm, dv, dg) = (
        upload(dev, &p)?,
        upload(dev, &m)?,
        upload(dev, &v)?,
        upload(dev, &g)?,
    );
    let ds = upload(dev, &[f32::NAN, scale])?;
    let pb = nan_bf16(dev, n)?;
    adamw_step_f32(dev, &dp, &dm, &dv, Some(&pb), &dg, Some((&ds, 1)), &h)?;

    // The CPU optimizer after two steps, given these moments, takes the third.
    let mut opt = AdamW {
        cfg: AdamWConfig {
            lr: h.lr,
            beta1: h.beta1,
            beta2: h.beta2,
            eps: h.eps,
            weight_decay: h.weight_decay,
        },
        step: h.step as u64 - 1,
        m: vec![m],
        v: vec![v],
    };
    let mut params = [Tensor::from_vec(p, &[n])?];
    let scaled: Vec<f32> = g.iter().map(|x| x * scale).collect();
    opt.update(&mut params, &[Tensor::from_vec(scaled, &[n])?], h.lr);
    let p = params[0].data();
    let pbf: Vec<f32> = p.iter().map(|&x| round_bf16(x)).collect();
    Ok(vec![
        compare(
            "adamw_step_f32 param",
            shape,
            &download(dev, &dp)?,
            p,
            TOL_F32,
        ),
        compare(
            "adamw_step_f32 m",
            shape,
            &download(dev, &dm)?,
            &opt.m[0],
            TOL_F32,
        ),
        compare(
            "adamw_step_f32 v",
            shape,
            &download(dev, &dv)?,
            &opt.v[0],
            TOL_F32,
        ),
        compare(
            "adamw_step_f32 param_bf16",
            shape,
            &download_bf16(dev, &pb)?,
            &pbf,
            TOL_BF16,
        ),
    ])
}
