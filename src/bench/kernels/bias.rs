//! The q-projection bias of a Qwen2-style layer (kernels/bias.cu): its add in the forward and its
//! column-sum gradient, at each model's training shape, against the copy bandwidth, each rung of
//! their ladders in the same run.
use super::counts as c;
use super::record::Record;
use super::shapes::Plan;
use super::timing::Bencher;
use super::{bandwidth_ladder, random_bf16, vec_ladder, Ladder, Roofs};
use crate::backend::cuda::bias::{bias_add_rung, colsum_rung, COLSUM_BEST_RUNG};
use crate::backend::cuda::device::alloc;
use crate::backend::cuda::launch::vec_rung;
use anyhow::Result;

pub const BIAS_ADD_LADDER: Ladder = vec_ladder("bias_add");
pub const COLSUM_LADDER: Ladder = Ladder {
    best: COLSUM_BEST_RUNG,
    ..vec_ladder("colsum")
};

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
        let top = vec_rung(q, 8);
        bandwidth_ladder(
            b,
            roofs,
            out,
            ("bias", &BIAS_ADD_LADDER, top),
            spec,
            &mut |rung| bias_add_rung(&b.dev, rung, &x, &bias),
        )?;
        let spec = (
            "colsum_partial_bf16",
            shape,
            c::colsum_bytes(t, q),
            "with its rmsnorm_dw_reduce_f32 pass over the per-part sums",
        );
        bandwidth_ladder(
            b,
            roofs,
            out,
            ("bias", &COLSUM_LADDER, top),
            spec,
            &mut |rung| colsum_rung(&b.dev, rung, &db, &x, false),
        )?;
    }
    Ok(())
}
