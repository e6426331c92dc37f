//! RMSNorm forward and backward (kernels/norm.cu) on [tokens, hidden] at each model's training
//! shape, against the copy bandwidth, each rung of its ladder in the same run.
use super::counts as c;
use super::record::Record;
use super::shapes::Plan;
use super::timing::Bencher;
use super::{bandwidth_ladder, random_bf16, Ladder, Roofs, VEC_RUNGS};
use crate::backend::cuda::device::alloc;
use crate::backend::cuda::norm::{rmsnorm_bwd_rung, rmsnorm_fwd_rung, rmsnorm_rung};
use anyhow::Result;
use half::bf16;

pub const LADDER: Ladder = Ladder {
    op: "rmsnorm",
    rungs: &[
        VEC_RUNGS[0],
        (
            2,
            "eight columns per thread in registers, 16-byte accesses, x read once",
        ),
    ],
    best: 2,
};

pub fn run(b: &mut Bencher, plan: &Plan, roofs: &Roofs, out: &mut Vec<Record>) -> Result<()> {
    if !b.wants("rmsnorm") {
        return Ok(());
    }
    let t = plan.tokens;
    for m in &plan.models {
        let (h, p) = (m.hidden, m.short);
        let x = random_bf16(b, t * h)?;
        let w = random_bf16(b, h)?;
        let dy = random_bf16(b, t * h)?;
        let y = alloc::<bf16>(&b.dev, t * h)?;
        let dx = alloc::<bf16>(&b.dev, t * h)?;
        let rstd = alloc::<f32>(&b.dev, t)?;
        let dw = b.random::<f32>(h, |_| 0.0)?;
        let shape = format!("{p} [{t}, {h}]");
        let ladder = ("norm", &LADDER, rmsnorm_rung(h));
        let spec = (
            "rmsnorm_fwd_bf16",
            shape.clone(),
            c::rmsnorm_fwd_bytes(t, h),
            "",
        );
        bandwidth_ladder(b, roofs, out, ladder, spec, &mut |rung| {
            rmsnorm_fwd_rung(&b.dev, rung, &y, &rstd, &x, &w, 1e-6)
        })?;
        let spec = ("rmsnorm_bwd_bf16", shape, c::rmsnorm_bwd_bytes(t, h), "");
        bandwidth_ladder(b, roofs, out, ladder, spec, &mut |rung| {
            rmsnorm_bwd_rung(&b.dev, rung, &dx, &dw, &dy, &x, &w, &rstd, false)
        })?;
    }
    Ok(())
}
