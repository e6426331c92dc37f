//! SwiGLU forward and backward (kernels/mlp.cu) on [tokens, ffn] at each model's training
//! shape, against the copy bandwidth.
use super::counts as c;
use super::record::Record;
use super::shapes::Plan;
use super::timing::Bencher;
use super::{bandwidth_entry, random_bf16, Roofs};
use crate::backend::cuda::device::alloc;
use crate::backend::cuda::mlp::{swiglu_bwd_bf16, swiglu_fwd_bf16};
use anyhow::Result;
use half::bf16;

pub fn run(b: &mut Bencher, plan: &Plan, roofs: &Roofs, out: &mut Vec<Record>) -> Result<()> {
    if !b.wants("swiglu") {
        return Ok(());
    }
    let t = plan.tokens;
    for m in &plan.models {
        let (f, p) = (m.ffn, m.short);
        let n = t * f;
        let gate = random_bf16(b, n)?;
        let up = random_bf16(b, n)?;
        let dout = random_bf16(b, n)?;
        let o = alloc::<bf16>(&b.dev, n)?;
        let dg = alloc::<bf16>(&b.dev, n)?;
        let shape = format!("{p} [{t}, {f}]");
        let spec = ("swiglu_fwd_bf16", shape.clone(), c::swiglu_fwd_bytes(n), "");
        bandwidth_entry(b, roofs, out, "mlp", spec, &mut || {
            swiglu_fwd_bf16(&b.dev, &o, &gate, &up)
        })?;
        let spec = ("swiglu_bwd_bf16", shape, c::swiglu_bwd_bytes(n), "");
        bandwidth_entry(b, roofs, out, "mlp", spec, &mut || {
            swiglu_bwd_bf16(&b.dev, &dg, &o, &dout, &gate, &up)
        })?;
    }
    Ok(())
}
