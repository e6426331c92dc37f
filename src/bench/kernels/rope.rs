//! RoPE forward and backward (kernels/rope.cu) on the q projection of each model's training
//! shape, against the copy bandwidth; and the ladder on q and k together: rung 1 one launch per
//! tensor, rung 2 `rope_qk_*` (one launch, 16-byte accesses, sincos once per pair for several
//! heads).
use super::counts as c;
use super::record::Record;
use super::shapes::Plan;
use super::timing::Bencher;
use super::{bandwidth_entry, bandwidth_ladder, random_bf16, Ladder, Roofs};
use crate::backend::cuda::device::{alloc, upload};
use crate::backend::cuda::rope::{
    rope_bwd_bf16, rope_fwd_bf16, rope_qk_bwd_bf16, rope_qk_fits, rope_qk_fwd_bf16,
};
use anyhow::Result;
use half::bf16;

pub const LADDER: Ladder = Ladder {
    op: "rope",
    rungs: &[
        (1, "q and k one launch each, 2-byte accesses"),
        (
            2,
            "q and k in one launch, 16-byte accesses, sincos once per pair",
        ),
    ],
    best: 2,
};

pub fn run(b: &mut Bencher, plan: &Plan, roofs: &Roofs, out: &mut Vec<Record>) -> Result<()> {
    // The single-tensor entries are not on the ladder: `--kernel` leaves them out.
    let plain = !b.rungs.is_selective() && (b.wants("rope_fwd_bf16") || b.wants("rope_bwd_bf16"));
    let qk = b.wants("rope_qk_fwd_bf16") || b.wants("rope_qk_bwd_bf16");
    if !plain && !qk {
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
        if plain {
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
        let hkv = m.n_kv_heads;
        if !qk || !rope_qk_fits(hd) {
            continue;
        }
        let k = random_bf16(b, t * hkv * hd)?;
        let shape = format!("{p} q+k [{t}, {hq}+{hkv}, {hd}]");
        let bytes = c::rope_bytes(t, hq + hkv, hd);
        for (kernel, backward) in [("rope_qk_fwd_bf16", false), ("rope_qk_bwd_bf16", true)] {
            if !b.wants(kernel) {
                continue;
            }
            let note = "rung 1: q and k one launch each, 2-byte accesses";
            let spec = (kernel, shape.clone(), bytes, note);
            let ladder = ("rope", &LADDER, 2);
            bandwidth_ladder(
                b,
                roofs,
                out,
                ladder,
                spec,
                &mut |rung| match (rung, backward) {
                    (1, false) => {
                        rope_fwd_bf16(&b.dev, &y, &y, &pos, &inv, hq)?;
                        rope_fwd_bf16(&b.dev, &k, &k, &pos, &inv, hkv)
                    }
                    (1, true) => {
                        rope_bwd_bf16(&b.dev, &y, &y, &pos, &inv, hq)?;
                        rope_bwd_bf16(&b.dev, &k, &k, &pos, &inv, hkv)
                    }
                    (_, false) => rope_qk_fwd_bf16(&b.dev, &y, &k, &pos, &inv, hq, hkv),
                    (_, true) => rope_qk_bwd_bf16(&b.dev, &y, &k, &pos, &inv, hq, hkv),
                },
            )?;
        }
    }
    Ok(())
}
