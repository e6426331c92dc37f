//! The q-projection bias of a Qwen2-style layer (kernels/bias.cu): its add in the forward and its
//! column-sum gradient, at each model's training shape, against the copy bandwidth.
use super::counts as c;
use super::record::Record;
use super::shapes::Plan;
use super::timing::Bencher;
use super::{bandwidth_entry, random_bf16, Roofs};
use crate::backend::cuda::bias::{bias_add_bf16, colsum_bf16_f32};
use crate::backend::cuda::device::alloc;
use anyhow::Result;

pub fn run(b: &mut Bencher, plan: &Plan, roofs: &Roofs, out: &mut Vec<Record>) -> Result<()> {
    if !(b.wants("bias_add_bf16") || b.wants("colsum_partial_bf16")) {
        return Ok(());
    }
    let t = plan.tokens;
    for m in &plan.models {
        let (q, p) = (m.n_q_heads * m.head_dim, m.short);
        let x = random_bf16(b, t * q)?;
        let bias = random_bf16(b, q)?;
        let db = alloc::<f32>(&b.dev, q)?;
        let shape = format!("{p} q bias [{t}, {q}]");
        let spec = ("bias_add_bf16", shape.clone(), c::bias_add_bytes(t, q), "");
        bandwidth_entry(b, roofs, out, "bias", spec, &mut || {
            bias_add_bf16(&b.dev, &x, &bias)
        })?;
        let spec = (
            "colsum_partial_bf16",
            shape,
            c::colsum_bytes(t, q),
            "with its rmsnorm_dw_reduce_f32 pass over the per-part sums",
        );
        bandwidth_entry(b, roofs, out, "bias", spec, &mut || {
            colsum_bf16_f32(&b.dev, &db, &x, false)
        })?;
    }
    Ok(())
}
