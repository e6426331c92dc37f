//! SwiGLU forward and backward (kernels/mlp.cu) on [tokens, ffn] at each model's training
//! shape, against the copy bandwidth; and a decode step's gate/up product with SwiGLU fused
//! (`gemm_bf16_rows_swiglu_kk`, kernels/gemm.cu) against the two launches it replaces, timed in
//! the same run.
use super::counts as c;
use super::record::Record;
use super::shapes::Plan;
use super::timing::Bencher;
use super::{bandwidth_ladder, random_bf16, vec_ladder, Ladder, Roofs};
use crate::backend::cuda::device::alloc;
use crate::backend::cuda::gemm::{
    gate_up_gemm, gemm_bf16_rows_swiglu, gemm_bf16_with, gemm_plan, GemmOpts,
};
use crate::backend::cuda::mlp::{swiglu_bwd_rung, swiglu_fwd_bf16, swiglu_fwd_rung, swiglu_rung};
use anyhow::{bail, Result};
use half::bf16;

pub const LADDER: Ladder = vec_ladder("swiglu");

pub fn run(b: &mut Bencher, plan: &Plan, roofs: &Roofs, out: &mut Vec<Record>) -> Result<()> {
    rows_swiglu(b, plan, out)?;
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
        // Rung 1 (2-byte accesses), then rung 2 (16-byte) where the length allows it.
        let ladder = ("mlp", &LADDER, swiglu_rung(n));
        let note = "rung 1: one element per thread, 2-byte accesses";
        let spec = (
            "swiglu_fwd_bf16",
            shape.clone(),
            c::swiglu_fwd_bytes(n),
            note,
        );
        bandwidth_ladder(b, roofs, out, ladder, spec, &mut |rung| {
            swiglu_fwd_rung(&b.dev, rung, &o, &gate, &up)
        })?;
        let spec = ("swiglu_bwd_bf16", shape, c::swiglu_bwd_bytes(n), note);
        bandwidth_ladder(b, roofs, out, ladder, spec, &mut |rung| {
            swiglu_bwd_rung(&b.dev, rung, &dg, &o, &dout, &gate, &up)
        })?;
    }
    Ok(())
}

/// The decode step's gate/up + SwiGLU at 1 and 64 rows per model: the fused launch, with the
/// batched product followed by `swiglu_fwd_bf16` (what it replaces) as the baseline.
fn rows_swiglu(b: &mut Bencher, plan: &Plan, out: &mut Vec<Record>) -> Result<()> {
    const KERNEL: &str = "gemm_bf16_rows_swiglu";
    // Not on a ladder: `--kernel` leaves it out.
    if !b.wants(KERNEL) || b.rungs.is_selective() {
        return Ok(());
    }
    // Each model's decode at 1 and 64 rows, and a wide few-row shape that takes the 16-column
    // kernel at any plan (as the GEMM's "few rows, wide" case).
    let mut cases: Vec<(String, usize, usize, usize)> = Vec::new();
    for m in &plan.models {
        for rows in [1, 64] {
            let (d, f) = (m.hidden, m.ffn);
            cases.push((
                format!("{} decode gate|up {rows}x{f}x{d}", m.short),
                rows,
                f,
                d,
            ));
        }
    }
    cases.push(("16x4224x32 gate|up (few rows, wide)".into(), 16, 4224, 32));
    for (shape, rows, f, d) in cases {
        let x = random_bf16(b, rows * d)?;
        let w = random_bf16(b, 2 * f * d)?;
        let (act, gate_up) = (
            alloc::<bf16>(&b.dev, rows * f)?,
            alloc(&b.dev, 2 * rows * f)?,
        );
        let opts = GemmOpts::default();
        let g = gate_up_gemm(rows, f, d);
        let base = b.time(&mut || {
            gemm_bf16_with(&b.dev, None, Some(&gate_up), &x, &w, &g, &opts)?;
            let (gate, up) = (
                gate_up.view(0, rows * f)?,
                gate_up.view(rows * f, rows * f)?,
            );
            swiglu_fwd_bf16(&b.dev, &act, &gate, &up)
        })?;
        b.dev.take_launched();
        let t = b.time(&mut || {
            if !gemm_bf16_rows_swiglu(&b.dev, &act, &x, &w, rows, f, d, opts.rung)? {
                bail!("{KERNEL}: the product is not a few-row one");
            }
            Ok(())
        })?;
        let launches = b.dev.take_launched();
        let kernel = gemm_plan(&b.dev, &g, &x, &w, opts.rung, false).kernel;
        // Weights, activations in, SwiGLU out: what the fused launch must move.
        let bytes = 2 * (2 * f * d + rows * d + rows * f) as u64;
        let mut r = Record::new("gemm", KERNEL, shape)
            .timed(t.clone(), Some(2 * c::gemm_flops(rows, f, d)), Some(bytes))
            .goal("(one launch instead of two; same bits as the unfused path)")
            .note(&format!("replaces {kernel} (batch 2) + swiglu_fwd_bf16"));
        r.launches = launches;
        // A ratio of emulator wall times says nothing about a GPU: baselines only there.
        if b.is_gpu() && base.repeats > 0 && t.repeats > 0 {
            r.baseline = Some(format!("unfused {:.3} ms", base.median_ms));
            r.ratio = Some(base.median_ms / t.median_ms);
        }
        out.push(r);
    }
    Ok(())
}
