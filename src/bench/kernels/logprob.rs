//! The fused log-prob forward + backward (kernels/logprob.cu) at T tokens of the largest model's LM head:
//! its time against the cuBLAS products it must contain (H·Wᵀ, dH = dZ·W, dW = dZᵀ·H, over
//! the same token chunks), and its peak extra device memory, measured at the device interface,
//! against the naive path's f32 logits and gradient.
use super::counts as c;
use super::cublas::CublasOut;
use super::record::{human_bytes, Record};
use super::shapes::Plan;
use super::timing::Bencher;
use super::Roofs;
use crate::backend::cuda::device::{alloc, upload, KernelDevice};
use crate::backend::cuda::gemm::{Gemm, GemmOffsets, Strides};
use crate::backend::cuda::logprob::{fused_chunk_rows, fused_logprob_bwd, fused_logprob_fwd};
use anyhow::Result;
use half::bf16;

/// Goals: at most 1.15× the time of the products it contains, at most 0.10× the naive memory.
pub const TIME_GOAL: f64 = 1.15;
pub const MEMORY_GOAL: f64 = 0.10;

pub fn run(b: &mut Bencher, plan: &Plan, roofs: &Roofs, out: &mut Vec<Record>) -> Result<()> {
    if !b.wants("fused_logprob") {
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
    let mut pass = || -> Result<()> {
        let fwd = fused_logprob_fwd(&b.dev, &hidden, &weight, d, &targets, inv_temp, budget)?;
        fused_logprob_bwd(
            &b.dev, &hidden, &weight, d, &targets, inv_temp, &fwd, &g_lp, &g_h, &dh, &dw, budget,
        )
    };

    // Peak extra memory: everything the fused pass allocates beyond its inputs and outputs.
    // This pass is also the warm-up of the timing below (one pass takes seconds on a GPU).
    b.dev.synchronize()?;
    b.dev.reset_peak();
    let base = b.dev.live_bytes();
    b.dev.take_launched();
    pass()?;
    b.dev.synchronize()?;
    let extra = b.dev.peak_bytes() - base;
    let naive = c::naive_logprob_bytes(t, v);
    let chunk = fused_chunk_rows(v, t, budget);
    let shape = format!("{} T={t} V={v} d={d}", m.short);

    let timing = b.time_warm(&mut pass)?;
    let mut r = Record::new("logprob", "fused_logprob fwd+bwd", shape.clone())
        .timed(timing.clone(), Some(c::fused_logprob_flops(t, v, d)), None)
        .goal("≤ 1.15 × cuBLAS H·Wᵀ+dH+dW time")
        .note(&format!(
            "{chunk}-row chunks; FLOPs count the recomputed logits"
        ));
    r.launches = b.dev.take_launched();

    if let Some(blas) = &roofs.cublas {
        // The same three products on cuBLAS over chunks of `cb` rows: Z = H·Wᵀ (bf16), dH = Z·W
        // (f32), dW += Zᵀ·H (f32); Z stands in for dZ (same shape and type).
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
                blas.gemm(CublasOut::Bf16(&z), &hidden, &weight, &logits, off)?;
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
                blas.gemm(CublasOut::F32(&dh), &z, &weight, &dh_g, off)?;
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
                blas.gemm(CublasOut::F32(&dw), &z, &hidden, &dw_g, off)?;
            }
            Ok(())
        });
        match base {
            Ok(base) => {
                let tf = c::tflops(c::logprob_gemm_flops(t, v, d), base.median_ms);
                r.baseline = Some(format!("cuBLAS {:.1} ms {tf:.0} TF/s", base.median_ms));
                let ratio = timing.median_ms / base.median_ms;
                r.ratio = Some(ratio);
                r.met = Some(ratio <= TIME_GOAL);
                r.note.push_str(&format!("; cuBLAS in {cb}-row chunks"));
            }
            Err(e) => r.note.push_str(&format!("; cuBLAS failed: {e:#}")),
        }
        b.dev.take_launched();
    }
    out.push(r);

    let mut mem = Record::new("logprob", "fused_logprob memory", shape)
        .goal("≤ 0.10 × naive f32 logits+grad")
        .note(&format!(
            "peak extra {} measured vs naive {} (T·V·8 B)",
            human_bytes(extra),
            human_bytes(naive)
        ));
    mem.bytes = Some(extra);
    mem.baseline = Some(format!("naive {}", human_bytes(naive)));
    mem.ratio = Some(extra as f64 / naive as f64);
    // The goal is stated at the training shape; tiny emulator shapes only exercise the count.
    if b.is_gpu() {
        mem.met = Some(extra as f64 <= MEMORY_GOAL * naive as f64);
    }
    out.push(mem);
    Ok(())
}
