//! kernels/mlp.cu: the SwiGLU activation and its backward against `backend::cpu::mlp`.
use super::super::device::{upload, KernelDevice};
use super::super::mlp::{
    swiglu_bwd_bf16, swiglu_bwd_rung, swiglu_fwd_bf16, swiglu_fwd_rung, swiglu_rung,
};
use super::{
    bf16_inputs, compare, download_bf16, elementwise_sizes, nan_bf16, CheckRow, Checks, TOL_BF16,
};
use crate::backend::cpu::mlp::{swiglu_bwd, swiglu_fwd};
use crate::rng::SplitMix64;
use anyhow::Result;

pub fn run(c: &mut Checks) {
    if !c.wants("swiglu") {
        return;
    }
    for n in elementwise_sizes(c.set) {
        let shape = format!("n={n}");
        c.check("swiglu", &shape, |dev, rng| {
            check_swiglu(dev, rng, n, &shape)
        });
    }
}

fn check_swiglu(
    dev: &dyn KernelDevice,
    rng: &mut SplitMix64,
    n: usize,
    shape: &str,
) -> Result<Vec<CheckRow>> {
    let (g, gh) = bf16_inputs(rng, n, -6.0, 6.0);
    let (u, uh) = bf16_inputs(rng, n, -2.0, 2.0);
    let (d, dh) = bf16_inputs(rng, n, -1.0, 1.0);
    let (dg, du, dd) = (upload(dev, &gh)?, upload(dev, &uh)?, upload(dev, &dh)?);
    let out = nan_bf16(dev, n)?;
    swiglu_fwd_bf16(dev, &out, &dg, &du)?;
    let r1 = compare(
        "swiglu_fwd_bf16",
        shape,
        &download_bf16(dev, &out)?,
        &swiglu_fwd(&g, &u),
        TOL_BF16,
    );
    let (gg, gu) = (nan_bf16(dev, n)?, nan_bf16(dev, n)?);
    swiglu_bwd_bf16(dev, &gg, &gu, &dd, &dg, &du)?;
    let (rg, ru) = swiglu_bwd(&d, &g, &u);
    let r2 = compare(
        "swiglu_bwd_bf16 dgate",
        shape,
        &download_bf16(dev, &gg)?,
        &rg,
        TOL_BF16,
    );
    let r3 = compare(
        "swiglu_bwd_bf16 dup",
        shape,
        &download_bf16(dev, &gu)?,
        &ru,
        TOL_BF16,
    );
    let mut rows = vec![r1, r2, r3];
    if swiglu_rung(n) == 2 {
        // Rung 2 (16-byte accesses) against rung 1, both directions: the same bits.
        let shape = format!("{shape} = rung 1");
        let (o1, o2) = (nan_bf16(dev, n)?, nan_bf16(dev, n)?);
        swiglu_fwd_rung(dev, 1, &o1, &dg, &du)?;
        swiglu_fwd_rung(dev, 2, &o2, &dg, &du)?;
        let (want, got) = (download_bf16(dev, &o1)?, download_bf16(dev, &o2)?);
        rows.push(compare("swiglu_fwd_x8_bf16", &shape, &got, &want, 0.0));
        let (g1, u1) = (nan_bf16(dev, n)?, nan_bf16(dev, n)?);
        let (g2, u2) = (nan_bf16(dev, n)?, nan_bf16(dev, n)?);
        swiglu_bwd_rung(dev, 1, &g1, &u1, &dd, &dg, &du)?;
        swiglu_bwd_rung(dev, 2, &g2, &u2, &dd, &dg, &du)?;
        let want = [download_bf16(dev, &g1)?, download_bf16(dev, &u1)?].concat();
        let got = [download_bf16(dev, &g2)?, download_bf16(dev, &u2)?].concat();
        rows.push(compare("swiglu_bwd_x8_bf16", &shape, &got, &want, 0.0));
    }
    Ok(rows)
}
