//! The embedding lookup and its backward (kernels/embedding.cu) for the training tokens of each
//! model, against the copy bandwidth, each rung of the ladder in the same run.
use super::counts as c;
use super::record::Record;
use super::shapes::Plan;
use super::timing::Bencher;
use super::{bandwidth_ladder, random_bf16, vec_ladder, Ladder, Roofs};
use crate::backend::cuda::device::{alloc, upload};
use crate::backend::cuda::embedding::{embedding_bwd_rung, embedding_fwd_rung, EmbeddingGradIndex};
use crate::backend::cuda::launch::vec_rung;
use anyhow::Result;
use half::bf16;

pub const LADDER: Ladder = vec_ladder("embedding");

pub fn run(b: &mut Bencher, plan: &Plan, roofs: &Roofs, out: &mut Vec<Record>) -> Result<()> {
    if !b.wants("embedding") {
        return Ok(());
    }
    let t = plan.tokens;
    for m in &plan.models {
        let (h, v, p) = (m.hidden, m.vocab, m.short);
        let table = random_bf16(b, v * h)?;
        let mut rng = crate::rng::SplitMix64::new(b.next_seed());
        let ids: Vec<i32> = (0..t).map(|_| rng.below(v as u64) as i32).collect();
        let distinct = EmbeddingGradIndex::build(&ids, v)?.rows.len();
        let ids_dev = upload(&b.dev, &ids)?;
        let o = alloc::<bf16>(&b.dev, t * h)?;
        let dout = random_bf16(b, t * h)?;
        let dtable = b.random::<f32>(v * h, |_| 0.0)?;
        let shape = format!("{p} {t} ids of {v} x {h}");
        let spec = (
            "embedding_fwd_bf16",
            shape.clone(),
            c::embedding_fwd_bytes(t, h),
            "",
        );
        let ladder = ("embedding", &LADDER, vec_rung(h, 8));
        bandwidth_ladder(b, roofs, out, ladder, spec, &mut |rung| {
            embedding_fwd_rung(&b.dev, rung, &o, &table, &ids_dev, h)
        })?;
        let spec = (
            "embedding_bwd_f32",
            shape,
            c::embedding_bwd_bytes(t, distinct, h),
            "includes the host-side id grouping and its upload, as the launcher does per call",
        );
        let ladder = ("embedding", &LADDER, vec_rung(h, 4));
        bandwidth_ladder(b, roofs, out, ladder, spec, &mut |rung| {
            embedding_bwd_rung(&b.dev, rung, &dtable, &dout, &ids, h)
        })?;
    }
    Ok(())
}
