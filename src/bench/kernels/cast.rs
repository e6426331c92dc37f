//! kernels/cast.cu: the residual add on [tokens, hidden], and the f32 ↔ bf16 casts of one MLP
//! weight (the master copy), at each model's training shape, against the copy bandwidth, each
//! rung of their ladders in the same run.
use super::counts as c;
use super::record::Record;
use super::shapes::Plan;
use super::timing::Bencher;
use super::{bandwidth_ladder, random_bf16, vec_ladder, Ladder, Roofs};
use crate::backend::cuda::cast::{
    cast_bf16_to_f32_rung, cast_f32_to_bf16_rung, residual_add_rung, CAST_WIDTH,
};
use crate::backend::cuda::device::alloc;
use crate::backend::cuda::launch::vec_rung;
use anyhow::Result;
use half::bf16;

pub const CAST_LADDER: Ladder = vec_ladder("cast");
pub const RESIDUAL_LADDER: Ladder = vec_ladder("residual_add");

pub fn run(b: &mut Bencher, plan: &Plan, roofs: &Roofs, out: &mut Vec<Record>) -> Result<()> {
    let t = plan.tokens;
    for m in &plan.models {
        let (h, f, p) = (m.hidden, m.ffn, m.short);
        if b.wants("residual_add_bf16") {
            let n = t * h;
            let x = random_bf16(b, n)?;
            let y = random_bf16(b, n)?;
            let o = alloc::<bf16>(&b.dev, n)?;
            let spec = (
                "residual_add_bf16",
                format!("{p} [{t}, {h}]"),
                c::residual_bytes(n),
                "",
            );
            let ladder = ("cast", &RESIDUAL_LADDER, vec_rung(n, 8));
            bandwidth_ladder(b, roofs, out, ladder, spec, &mut |rung| {
                residual_add_rung(&b.dev, rung, &o, &x, &y)
            })?;
        }
        if b.wants("cast") {
            // One MLP weight: the f32 master copy to bf16 and back.
            let n = f * h;
            let x32 = b.random::<f32>(n, |u| (u - 0.5) as f32)?;
            let x16 = alloc::<bf16>(&b.dev, n)?;
            let shape = format!("{p} W_up [{f}, {h}]");
            let ladder = ("cast", &CAST_LADDER, vec_rung(n, CAST_WIDTH));
            let spec = ("cast_f32_to_bf16", shape.clone(), c::cast_bytes(n), "");
            bandwidth_ladder(b, roofs, out, ladder, spec, &mut |rung| {
                cast_f32_to_bf16_rung(&b.dev, rung, &x16, &x32)
            })?;
            let spec = ("cast_bf16_to_f32", shape, c::cast_bytes(n), "");
            bandwidth_ladder(b, roofs, out, ladder, spec, &mut |rung| {
                cast_bf16_to_f32_rung(&b.dev, rung, &x32, &x16)
            })?;
        }
    }
    Ok(())
}
