//! kernels/optim.cu: one fused AdamW step (f32 master weights and moments, the bf16 copy, the
//! gradient scaled by a device scalar) against the CPU optimizer's `AdamW::update`.
use super::super::device::{download, upload, DevBuf, KernelDevice};
use super::super::optim::{
    adamw_multi_f32, adamw_step_f32, AdamW as AdamWStep, AdamwTable, AdamwTensor, ADAMW_CHUNK,
};
use super::{
    compare, download_bf16, elementwise_sizes, nan_bf16, CheckRow, Checks, TOL_BF16, TOL_F32,
};
use crate::backend::cpu::cast::round_bf16;
use crate::optim::{AdamW, AdamWConfig};
use crate::rng::SplitMix64;
use crate::tensor::Tensor;
use anyhow::Result;
use half::bf16;

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
    let mut sizes = vec![1, 3, ADAMW_CHUNK - 1, ADAMW_CHUNK, ADAMW_CHUNK + 1, 20_000];
    if c.set == super::ShapeSet::Full {
        sizes.push((1 << 20) + 5);
    }
    let shape = format!("{} tensors, n={sizes:?}", sizes.len());
    c.check("adamw_multi_f32", &shape, |dev, rng| {
        check_adamw_multi(dev, rng, &sizes, &shape)
    });
}

/// The one-launch step over several tensors (every other one with a bf16 copy) against one
/// `adamw_step_f32` launch per tensor: the same bits.
fn check_adamw_multi(
    dev: &dyn KernelDevice,
    rng: &mut SplitMix64,
    sizes: &[usize],
    shape: &str,
) -> Result<Vec<CheckRow>> {
    let h = AdamWStep {
        lr: 3e-4,
        beta1: 0.9,
        beta2: 0.95,
        eps: 1e-8,
        weight_decay: 0.1,
        step: 7,
    };
    let ds = upload(dev, &[f32::NAN, 0.25f32])?;
    type Bufs = (
        DevBuf<f32>,
        DevBuf<f32>,
        DevBuf<f32>,
        Option<DevBuf<bf16>>,
        DevBuf<f32>,
    );
    let mut sets: [Vec<Bufs>; 2] = [Vec::new(), Vec::new()];
    for (i, &n) in sizes.iter().enumerate() {
        let host = [
            rng.uniform_f32_vec(n, -1.0, 1.0),
            rng.uniform_f32_vec(n, -0.01, 0.01),
            rng.uniform_f32_vec(n, 0.0, 1e-4),
            rng.uniform_f32_vec(n, -0.05, 0.05),
        ];
        for set in sets.iter_mut() {
            let bf = if i % 2 == 0 {
                Some(nan_bf16(dev, n)?)
            } else {
                None
            };
            set.push((
                upload(dev, &host[0])?,
                upload(dev, &host[1])?,
                upload(dev, &host[2])?,
                bf,
                upload(dev, &host[3])?,
            ));
        }
    }
    for (p, m, v, bf, g) in &sets[0] {
        adamw_step_f32(dev, p, m, v, bf.as_ref(), g, Some((&ds, 1)), &h)?;
    }
    let parts: Vec<AdamwTensor<'_>> = sets[1]
        .iter()
        .map(|(p, m, v, bf, g)| AdamwTensor {
            param: p,
            m,
            v,
            param_bf16: bf.as_ref(),
            grad: g,
        })
        .collect();
    let table = AdamwTable::new(dev, &parts)?;
    anyhow::ensure!(
        table.matches(&parts),
        "the table does not describe its own buffers"
    );
    adamw_multi_f32(dev, &table, Some((&ds, 1)), &h)?;
    let mut got: [Vec<f32>; 4] = Default::default();
    let mut want: [Vec<f32>; 4] = Default::default();
    for (out, set) in [(&mut want, &sets[0]), (&mut got, &sets[1])] {
        for (p, m, v, bf, _) in set {
            out[0].extend(download(dev, p)?);
            out[1].extend(download(dev, m)?);
            out[2].extend(download(dev, v)?);
            if let Some(b) = bf {
                out[3].extend(download_bf16(dev, b)?);
            }
        }
    }
    Ok(["param", "m", "v", "param_bf16"]
        .iter()
        .zip(got.iter().zip(&want))
        .map(|(what, (g, w))| {
            compare(
                &format!("adamw_multi_f32 {what} = per-tensor"),
                shape,
                g,
                w,
                0.0,
            )
        })
        .collect())
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
