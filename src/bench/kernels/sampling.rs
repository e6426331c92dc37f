//! Top-p sampling over the largest vocabulary at the rollout batch (V = 152064, batch 256 on a
//! GPU). Its baseline is a sort-based top-p (torch.sort + cumsum) on the same GPU: this
//! binary has no sort kernel, so that time comes from `scripts/topp_sort_baseline.py` through
//! `--topp-sort-baseline-ms`; without it the entry reports the bandwidth ratio only. The same
//! draw with per-row parameters (`sample_rows_params_f32`, the decode step's one launch for the
//! rows of every request) against the bandwidth.
use super::counts as c;
use super::record::Record;
use super::shapes::Plan;
use super::timing::Bencher;
use super::Roofs;
use crate::backend::cuda::device::upload;
use crate::backend::cuda::sampling::{sample_keys, sample_rows, sample_rows_params, SampledDev};
use crate::generate::sampling::SamplingParams;
use anyhow::Result;

/// Goal: at least 5× faster than the sort-based top-p.
pub const SORT_SPEEDUP_GOAL: f64 = 5.0;

pub fn run(b: &mut Bencher, plan: &Plan, roofs: &Roofs, out: &mut Vec<Record>) -> Result<()> {
    if b.wants("sample_rows_params_f32") {
        run_params(b, plan, roofs, out)?;
    }
    if !b.wants("sample_rows_f32") {
        return Ok(());
    }
    let m = plan.largest();
    let (rows, v) = (plan.sample_rows, m.vocab);
    // Logits spread like a trained model's: a few units of range (u in [0, 1) → [-6, 6)).
    let logits = b.random::<f32>(rows * v, |u| 12.0 * u as f32 - 6.0)?;
    let streams: Vec<u64> = (0..rows as u64).collect();
    let keys = upload(&b.dev, &sample_keys(&streams, &vec![7; rows])?)?;
    let res = SampledDev::alloc(&b.dev, rows)?;
    let p = SamplingParams {
        temperature: 1.0,
        top_p: 0.9,
        ..Default::default()
    };
    b.dev.take_launched();
    let t = b.time(&mut || sample_rows(&b.dev, &res, &logits, v, &keys, 1234, 0, &p))?;
    let mut r = Record::new(
        "sampling",
        "sample_rows_f32",
        format!("{} top-p 0.9 [{rows}, {v}]", m.short),
    )
    .timed(t.clone(), None, Some(c::sampling_bytes(rows, v)))
    .goal("≥ 5× faster than sort-based top-p");
    r.launches = b.dev.take_launched();
    match roofs.topp_sort_ms {
        Some(sort_ms) if b.is_gpu() => {
            r.baseline = Some(format!("torch.sort top-p {sort_ms:.3} ms"));
            r.ratio = Some(sort_ms / t.median_ms);
            r.met = Some(sort_ms / t.median_ms >= SORT_SPEEDUP_GOAL);
            r.note = "ratio = sort-based time / ours; bytes: one read of the logits".into();
        }
        _ => {
            r = roofs.vs_bandwidth(r, false);
            r.note = "no sort baseline in this binary (pass --topp-sort-baseline-ms); ratio here \
                      = GB/s (one read of the logits) / d2d bandwidth"
                .into();
        }
    }
    out.push(r);
    Ok(())
}

/// Top-p 0.9 with each row's parameters read from the device (the same draw as above).
fn run_params(b: &mut Bencher, plan: &Plan, roofs: &Roofs, out: &mut Vec<Record>) -> Result<()> {
    let m = plan.largest();
    let (rows, v) = (plan.sample_rows, m.vocab);
    let logits = b.random::<f32>(rows * v, |u| 12.0 * u as f32 - 6.0)?;
    let streams: Vec<u64> = (0..rows as u64).collect();
    let keys = upload(&b.dev, &sample_keys(&streams, &vec![7; rows])?)?;
    let res = SampledDev::alloc(&b.dev, rows)?;
    let p = SamplingParams {
        temperature: 1.0,
        top_p: 0.9,
        ..Default::default()
    };
    let per_row = vec![(1234u64, p); rows];
    b.dev.take_launched();
    let t = b.time(&mut || sample_rows_params(&b.dev, &res, &logits, v, &keys, &per_row, 0))?;
    let mut r = Record::new(
        "sampling",
        "sample_rows_params_f32",
        format!("{} top-p 0.9 [{rows}, {v}] per-row parameters", m.short),
    )
    .timed(t, None, Some(c::sampling_bytes(rows, v)))
    .goal("(no issue goal; one launch for the rows of every request)");
    r.launches = b.dev.take_launched();
    out.push(roofs.vs_bandwidth(r, false));
    Ok(())
}
