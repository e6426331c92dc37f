//! RMSNorm forward and backward (kernels/norm.cu) on [tokens, hidden] at each model's training
//! shape, against the copy bandwidth.
use super::counts as c;
use super::record::Record;
use super::shapes::Plan;
use super::timing::Bencher;
use super::{bandwidth_entry, random_bf16, Roofs};
use crate::backend::cuda::device::alloc;
use crate::backend::cuda::norm::{rmsnorm_bwd_bf16, rmsnorm_fwd_bf16};
use anyhow::Result;
use half::bf16;

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
        let spec = (
            "rmsnorm_fwd_bf16",
            shape.clone(),
            c::rmsnorm_fwd_bytes(t, h),
            "",
        );
        bandwidth_entry(b, roofs, out, "norm", spec, &mut || {
            rmsnorm_fwd_bf16(&b.dev, &y, &rstd, &x, &w, 1e-6)
        })?;
        let spec = ("rmsnorm_bwd_bf16", shape, c::rmsnorm_bwd_bytes(t, h), "");
        bandwidth_entry(b, roofs, out, "norm", spec, &mut || {
            rmsnorm_bwd_bf16(&b.dev, &dx, &dw, &dy, &x, &w, &rstd, false)
        })?;
    }
    Ok(())
}
