//! RoPE forward and backward (kernels/rope.cu) on the q projection of each model's training
//! shape, against the copy bandwidth.
use super::counts as c;
use super::record::Record;
use super::shapes::Plan;
use super::timing::Bencher;
use super::{bandwidth_entry, random_bf16, Roofs};
use crate::backend::cuda::device::{alloc, upload};
use crate::backend::cuda::rope::{rope_bwd_bf16, rope_fwd_bf16};
use anyhow::Result;
use half::bf16;

pub fn run(b: &mut Bencher, plan: &Plan, roofs: &Roofs, out: &mut Vec<Record>) -> Result<()> {
    if !b.wants("rope") {
        return Ok(());
    }
    let t = plan.tokens;
    for m in &plan.models {
        let (hq, hd, p) = (m.n_q_heads, m.head_dim, m.short);
        let x = random_bf16(b, t * hq * hd)?;
        let y = alloc::<bf16>(&b.dev, t * hq * hd)?;
        let pos: Vec<i32> = (0..t).map(|i| (i % 4096) as i32).collect();
        let pos = upload(&b.dev, &pos)?;
        let inv: Vec<f32> = (0..hd / 2)
            .map(|i| 1e6f32.powf(-2.0 * i as f32 / hd as f32))
            .collect();
        let inv = upload(&b.dev, &inv)?;
        let shape = format!("{p} q [{t}, {hq}, {hd}]");
        let bytes = c::rope_bytes(t, hq, hd);
        let spec = ("rope_fwd_bf16", shape.clone(), bytes, "");
        bandwidth_entry(b, roofs, out, "rope", spec, &mut || {
            rope_fwd_bf16(&b.dev, &y, &x, &pos, &inv, hq)
        })?;
        let spec = ("rope_bwd_bf16", shape, bytes, "");
        bandwidth_entry(b, roofs, out, "rope", spec, &mut || {
            rope_bwd_bf16(&b.dev, &y, &x, &pos, &inv, hq)
        })?;
    }
    Ok(())
}
