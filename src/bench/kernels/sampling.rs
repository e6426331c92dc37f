//! Top-p sampling over the largest vocabulary at the rollout batch (V = 152064, batch 256 on a
//! GPU), on every selected rung of the sampler's ladder (`--kernel sampling:1,2`). The top-p 0.9
//! entry's baseline is a sort-based top-p (torch.sort + cumsum) on the same GPU: this binary has
//! no sort kernel, so that time comes from `scripts/topp_sort_baseline.py` through
//! `--topp-sort-baseline-ms`; without it the entry reports the bandwidth ratio only. Top-p 0.95
//! and top-k 50 + top-p 0.95 against the bandwidth, and the same draw with per-row parameters
//! (the decode step's one launch for the rows of every request). Counted on the emulator, each
//! note gives the global traffic in units of the logits' bytes (passes over the row).
use super::counts as c;
use super::record::Record;
use super::shapes::Plan;
use super::timing::{Bencher, Timing};
use super::{against_rung1, Ladder, Roofs};
use crate::backend::cuda::device::{upload, DevBuf};
use crate::backend::cuda::sampling::{
    sample_keys, sample_rows_on, sample_rows_params_on, SampleRung, SampledDev,
};
use crate::generate::sampling::SamplingParams;
use anyhow::Result;

/// Goal: at least 5× faster than the sort-based top-p.
pub const SORT_SPEEDUP_GOAL: f64 = 5.0;

pub const LADDER: Ladder = Ladder {
    op: "sampling",
    rungs: &[
        (1, SampleRung::Bisection.idea()),
        (2, SampleRung::Radix.idea()),
    ],
    best: SampleRung::BEST.number(),
};

/// The entries' filters: (label, parameters).
fn entries() -> [(&'static str, SamplingParams); 3] {
    let d = SamplingParams::default();
    [
        ("top-p 0.9", SamplingParams { top_p: 0.9, ..d }),
        ("top-p 0.95", SamplingParams { top_p: 0.95, ..d }),
        (
            "top-k 50 top-p 0.95",
            SamplingParams {
                top_k: 50,
                top_p: 0.95,
                ..d
            },
        ),
    ]
}

/// Global traffic of the counted call in units of the logits' bytes, and its launches.
pub fn traffic_note(t: &Timing, logits_bytes: u64) -> Option<String> {
    let counts = t.counts.as_ref().filter(|c| !c.launches.is_empty())?;
    let sectors: f64 = counts
        .launches
        .iter()
        .map(|l| l.counters.global_sectors())
        .sum();
    Some(format!(
        "global traffic {:.2}x the logits' bytes ({} launch{})",
        sectors * 32.0 / logits_bytes as f64,
        counts.launches.len(),
        if counts.launches.len() == 1 { "" } else { "es" }
    ))
}

fn with_traffic(r: Record, t: &Timing, logits_bytes: u64) -> Record {
    match traffic_note(t, logits_bytes) {
        Some(n) if r.note.is_empty() => r.note(&n),
        Some(n) => {
            let note = format!("{}; {n}", r.note);
            r.note(&note)
        }
        None => r,
    }
}

pub fn run(b: &mut Bencher, plan: &Plan, roofs: &Roofs, out: &mut Vec<Record>) -> Result<()> {
    let rungs = b.rungs.rungs(&LADDER);
    let m = plan.largest();
    let (rows, v) = (plan.sample_rows, m.vocab);
    let logits_bytes = (rows * v * 4) as u64;
    // Logits spread like a trained model's: a few units of range (u in [0, 1) → [-6, 6)).
    let logits = b.random::<f32>(rows * v, |u| 12.0 * u as f32 - 6.0)?;
    let streams: Vec<u64> = (0..rows as u64).collect();
    let keys = upload(&b.dev, &sample_keys(&streams, &vec![7; rows])?)?;
    let res = SampledDev::alloc(&b.dev, rows)?;
    for (label, p) in entries() {
        let mut rung1_ms = None;
        for &n in &rungs {
            let rung = SampleRung::from_number(n).expect("the filter only passes ladder rungs");
            let kernel = rung.kernels().0;
            if !b.wants(kernel) {
                continue;
            }
            b.dev.take_launched();
            let t =
                b.time(&mut || sample_rows_on(rung, &b.dev, &res, &logits, v, &keys, 1234, 0, &p))?;
            let mut r = Record::new(
                "sampling",
                kernel,
                format!("{} {label} [{rows}, {v}]", m.short),
            )
            .timed(t.clone(), None, Some(c::sampling_bytes(rows, v)));
            r.launches = b.dev.take_launched();
            r = if label == "top-p 0.9" {
                vs_sort(r.goal("≥ 5× faster than sort-based top-p"), b, roofs, &t)
            } else {
                roofs
                    .vs_bandwidth(r, false)
                    .goal("(bandwidth; ≤ 8 passes over the logits)")
            };
            r = with_traffic(r, &t, logits_bytes);
            if n == 1 {
                rung1_ms = Some(t.median_ms);
            }
            out.push(against_rung1(r, n, rung1_ms));
        }
    }
    for &n in &rungs {
        let rung = SampleRung::from_number(n).expect("the filter only passes ladder rungs");
        if b.wants(rung.kernels().1) {
            run_params(b, plan, roofs, out, rung, &logits)?;
        }
    }
    Ok(())
}

/// The top-p 0.9 record against the sort-based time when there is one, else the bandwidth.
fn vs_sort(mut r: Record, b: &Bencher, roofs: &Roofs, t: &Timing) -> Record {
    match roofs.topp_sort_ms {
        Some(sort_ms) if b.is_gpu() => {
            r.baseline = Some(format!("torch.sort top-p {sort_ms:.3} ms"));
            r.ratio = Some(sort_ms / t.median_ms);
            r.met = Some(sort_ms / t.median_ms >= SORT_SPEEDUP_GOAL);
            r.note = "ratio = sort-based time / ours; bytes: one read of the logits".into();
            r
        }
        _ => {
            let mut r = roofs.vs_bandwidth(r, false);
            r.note = "no sort baseline in this binary (pass --topp-sort-baseline-ms); ratio here \
                      = GB/s (one read of the logits) / d2d bandwidth"
                .into();
            r
        }
    }
}

/// Top-p 0.9 with each row's parameters read from the device (the same draw as above).
fn run_params(
    b: &mut Bencher,
    plan: &Plan,
    roofs: &Roofs,
    out: &mut Vec<Record>,
    rung: SampleRung,
    logits: &DevBuf<f32>,
) -> Result<()> {
    let m = plan.largest();
    let (rows, v) = (plan.sample_rows, m.vocab);
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
    let t =
        b.time(&mut || sample_rows_params_on(rung, &b.dev, &res, logits, v, &keys, &per_row, 0))?;
    let mut r = Record::new(
        "sampling",
        rung.kernels().1,
        format!("{} top-p 0.9 [{rows}, {v}] per-row parameters", m.short),
    )
    .timed(t.clone(), None, Some(c::sampling_bytes(rows, v)))
    .goal("(no issue goal; one launch for the rows of every request)");
    r.launches = b.dev.take_launched();
    r.rung = Some(rung.number());
    out.push(with_traffic(
        roofs.vs_bandwidth(r, false),
        &t,
        (rows * v * 4) as u64,
    ));
    Ok(())
}
