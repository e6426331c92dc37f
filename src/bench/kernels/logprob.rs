//! The fused log-prob forward + backward (kernels/logprob.cu) at T tokens of the largest model's
//! LM head, on every selected rung of its ladder: its time against the cuBLAS products it must
//! contain (H·Wᵀ, dH = dZ·W, dW = dZᵀ·H, over the same token chunks), and its peak extra device
//! memory, measured at the device interface, against the naive path's f32 logits and gradient.
use super::counts as c;
use super::cublas::CublasOut;
use super::record::{human_bytes, Record};
use super::shapes::Plan;
use super::timing::{Bencher, Timing};
use super::{against_rung1, Ladder, Roofs};
use crate::backend::cuda::device::{alloc, upload, DevBuf, KernelDevice};
use crate::backend::cuda::gemm::{Gemm, GemmOffsets, Strides};
use crate::backend::cuda::logprob::{
    fused_chunk_rows, fused_logprob_bwd_on, fused_logprob_fwd_bwd, fused_logprob_fwd_on,
    FusedInputs, FusedPlan, LogprobRung,
};
use anyhow::Result;
use half::bf16;

/// Goals: at most 1.3× the time of the products it contains, at most 0.10× the naive memory.
pub const TIME_GOAL: f64 = 1.3;
pub const MEMORY_GOAL: f64 = 0.10;

pub const LADDER: Ladder = Ladder {
    op: "logprob",
    rungs: &[
        (1, LogprobRung::First.idea()),
        (2, LogprobRung::BestGemm.idea()),
        (3, LogprobRung::VectorRows.idea()),
        (4, LogprobRung::FusedBackward.idea()),
    ],
    best: LogprobRung::FusedBackward.number(),
};

pub fn run(b: &mut Bencher, plan: &Plan, roofs: &Roofs, out: &mut Vec<Record>) -> Result<()> {
    let rungs = b.rungs.rungs(&LADDER);
    if !b.wants("fused_logprob") || rungs.is_empty() {
        return Ok(());
    }
    let m = plan.largest();
    let (t, v, d) = (plan.logprob_tokens, m.vocab, m.hidden);
    let budget = plan.logprob_budget_floats;
    let hidden = b.random::<bf16>(t * d, |u| bf16::from_f64(2.0 * u - 1.0))?;
    let weight = b.random::<bf16>(v * d, |u| bf16::from_f64(0.05 * (u - 0.5)))?;
    let mut rng = crate::rng::SplitMix64::new(b.next_seed());
    let targets: Vec<i32> = (0..t).map(|_| rng.below(v as u64) as i32).collect();
    let targets = upload(&b.dev, &targets)?;
    // PSR/NSR-style coefficients: ±1 per token, a small entropy bonus.
    let g_lp = b.random::<f32>(t, |u| if u < 0.5 { -1.0 } else { 1.0 })?;
    let g_h = b.random::<f32>(t, |_| 1e-3)?;
    let dh = alloc::<f32>(&b.dev, t * d)?;
    let dw = b.random::<f32>(v * d, |_| 0.0)?;
    let inv_temp = 1.0;
    let x = FusedInputs {
        hidden: &hidden,
        weight: &weight,
        d,
        targets: &targets,
        inv_temp,
    };
    let shape = format!("{} T={t} V={v} d={d}", m.short);
    let naive = c::naive_logprob_bytes(t, v);
    let baseline = cublas_baseline(b, plan, roofs, &x, &dh, &dw)?;
    let mut rung1_ms = None;
    for &n in &rungs {
        let rung = LogprobRung::from_number(n).expect("the filter only passes ladder rungs");
        let mut pass = || -> Result<()> {
            if rung == LogprobRung::FusedBackward {
                fused_logprob_fwd_bwd(&b.dev, &x, (&g_lp, &g_h), (&dh, &dw), true, budget)?;
            } else {
                let fwd = fused_logprob_fwd_on(
                    &b.dev, &hidden, &weight, d, &targets, inv_temp, budget, rung,
                )?;
                fused_logprob_bwd_on(&b.dev, &x, &fwd, (&g_lp, &g_h), (&dh, &dw), budget, rung)?;
            }
            Ok(())
        };
        // Peak extra memory: everything the pass allocates beyond its inputs and outputs. This
        // pass is also the warm-up of the timing below (one pass takes seconds on a GPU).
        b.dev.synchronize()?;
        b.dev.reset_peak();
        let base = b.dev.live_bytes();
        b.dev.take_launched();
        pass()?;
        b.dev.synchronize()?;
        let extra = b.dev.peak_bytes() - base;
        let timing = b.time_warm(&mut pass)?;
        let (flops, layout) = if rung == LogprobRung::FusedBackward {
            let p = FusedPlan::new(v, t, budget);
            (
                c::logprob_gemm_flops(t, v, d),
                format!(
                    "{}-row logits chunks, {}-row dz groups; 3 products",
                    p.chunk, p.group
                ),
            )
        } else {
            (
                c::fused_logprob_flops(t, v, d),
                format!(
                    "{}-row chunks; FLOPs count the recomputed logits",
                    fused_chunk_rows(v, t, budget)
                ),
            )
        };
        let best = n == LADDER.best;
        let mut r = Record::new("logprob", "fused_logprob fwd+bwd", shape.clone())
            .timed(timing.clone(), Some(flops), None)
            .goal(if best {
                "≤ 1.3 × cuBLAS H·Wᵀ+dH+dW time"
            } else {
                "(ladder; goal on rung 4)"
            })
            .note(&layout);
        r.launches = b.dev.take_launched();
        vs_baseline(&mut r, &baseline, timing.clone(), best, (t, v, d));
        if n == 1 {
            rung1_ms = Some(timing.median_ms);
        }
        out.push(against_rung1(r, n, rung1_ms));

        let mut mem = Record::new("logprob", "fused_logprob memory", shape.clone())
            .goal("≤ 0.10 × naive f32 logits+grad")
            .note(&format!(
                "peak extra {} measured vs naive {} (T·V·8 B)",
                human_bytes(extra),
                human_bytes(naive)
            ));
        mem.rung = Some(n);
        mem.bytes = Some(extra);
        mem.baseline = Some(format!("naive {}", human_bytes(naive)));
        mem.ratio = Some(extra as f64 / naive as f64);
        // The goal is stated at the training shape; tiny emulator shapes only exercise the count.
        if b.is_gpu() {
            mem.met = Some(extra as f64 <= MEMORY_GOAL * naive as f64);
        }
        out.push(mem);
    }
    Ok(())
}

/// The ratio to the cuBLAS products (or why there is none) on a timed record.
fn vs_baseline(
    r: &mut Record,
    baseline: &Option<Result<(Timing, usize), String>>,
    timing: Timing,
    best: bool,
    (t, v, d): (usize, usize, usize),
) {
    match baseline {
        Some(Ok((base, cb))) => {
            let tf = c::tflops(c::logprob_gemm_flops(t, v, d), base.median_ms);
            r.baseline = Some(format!("cuBLAS {:.1} ms {tf:.0} TF/s", base.median_ms));
            let ratio = timing.median_ms / base.median_ms;
            r.ratio = Some(ratio);
            if best {
                r.met = Some(ratio <= TIME_GOAL);
            }
            r.note.push_str(&format!("; cuBLAS in {cb}-row chunks"));
        }
        Some(Err(e)) => r.note.push_str(&format!("; cuBLAS failed: {e}")),
        None => {}
    }
}

/// The same three products on cuBLAS over chunks of the plan's baseline rows: Z = H·Wᵀ (bf16),
/// dH = Z·W (f32), dW += Zᵀ·H (f32); Z stands in for dZ (same shape and type). None without
/// cuBLAS; the error text when it failed.
fn cublas_baseline(
    b: &Bencher,
    plan: &Plan,
    roofs: &Roofs,
    x: &FusedInputs<'_>,
    dh: &DevBuf<f32>,
    dw: &DevBuf<f32>,
) -> Result<Option<Result<(Timing, usize), String>>> {
    let Some(blas) = &roofs.cublas else {
        return Ok(None);
    };
    let (t, d) = (x.targets.len(), x.d);
    let v = x.weight.len() / d;
    let (hidden, weight) = (x.hidden, x.weight);
    let cb = plan.logprob_baseline_chunk.min(t);
    let z = alloc::<bf16>(&b.dev, cb * v)?;
    let base = b.time(&mut || {
        for start in (0..t).step_by(cb) {
            let n = cb.min(t - start);
            let logits = Gemm {
                batch: 1,
                m: n,
                n: v,
                k: d,
                a: Strides::rows(n, d),
                b: Strides::rows(v, d),
                alpha: 1.0,
                beta: 0.0,
            };
            let off = GemmOffsets {
                a: start * d,
                b: 0,
                c: 0,
            };
            blas.gemm(CublasOut::Bf16(&z), hidden, weight, &logits, off)?;
            let dh_g = Gemm {
                m: n,
                n: d,
                k: v,
                a: Strides::rows(n, v),
                b: Strides::cols(d, v),
                ..logits
            };
            let off = GemmOffsets {
                a: 0,
                b: 0,
                c: start * d,
            };
            blas.gemm(CublasOut::F32(dh), &z, weight, &dh_g, off)?;
            let dw_g = Gemm {
                m: v,
                n: d,
                k: n,
                a: Strides::cols(v, n),
                b: Strides::cols(d, n),
                beta: 1.0,
                ..logits
            };
            let off = GemmOffsets {
                a: 0,
                b: start * d,
                c: 0,
            };
            blas.gemm(CublasOut::F32(dw), &z, hidden, &dw_g, off)?;
        }
        Ok(())
    });
    b.dev.take_launched();
    Ok(Some(base.map(|t| (t, cb)).map_err(|e| format!("{e:#}"))))
}
