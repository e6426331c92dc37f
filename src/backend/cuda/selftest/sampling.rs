//! kernels/sampling.cu: device draws against `backend::cpu::sampling::sample_row` on the same
//! Philox uniforms, for several parameter sets, with and without tied logits; the per-row
//! parameter kernel must draw exactly what the per-launch one draws for each row's parameters.
//! Also driven directly by tests/kernels_sampling.rs.
use super::super::device::{filled, upload, KernelDevice};
use super::super::sampling::{sample_keys, sample_rows, sample_rows_params, SampledDev};
use super::{compare, CheckRow, Checks, ShapeSet};
use crate::backend::cpu::sampling::{sample_row, SamplingParams};
use crate::rng::{philox_uniform, SplitMix64};
use anyhow::Result;

pub fn run(c: &mut Checks) {
    if c.wants("sample_rows_params_f32") {
        for (rows, vocab) in [(12, 7), (6, 301)] {
            let shape = format!("{rows}x{vocab} every parameter set");
            let seed = c.rng.next_u64();
            c.check("sample_rows_params_f32", &shape, |dev, rng| {
                check_params(dev, rng, rows, vocab, seed, &shape)
            });
        }
    }
    if !c.wants("sample_rows_f32") {
        return;
    }
    let shapes: Vec<(usize, usize)> = match c.set {
        ShapeSet::Small => vec![(16, 1), (16, 7), (8, 301)],
        ShapeSet::Full => vec![(16, 1), (64, 7), (64, 301), (32, 151_936)],
    };
    for (name, p) in sampling_params() {
        for &(r, v) in &shapes {
            for ties in [false, true] {
                let shape = format!("{r}x{v} {name}{}", if ties { " ties" } else { "" });
                let seed = c.rng.next_u64();
                c.check("sample_rows_f32", &shape, |dev, rng| {
                    let a = sampling_agreement(dev, rng, r, v, &p, ties, seed)?;
                    Ok(vec![agreement_row(&shape, &a)])
                });
            }
        }
    }
}

/// Named parameter sets of the sampling checks.
pub fn sampling_params() -> Vec<(&'static str, SamplingParams)> {
    let d = SamplingParams::default();
    vec![
        (
            "temp0.8",
            SamplingParams {
                temperature: 0.8,
                ..d
            },
        ),
        ("topk5", SamplingParams { top_k: 5, ..d }),
        ("topp0.9", SamplingParams { top_p: 0.9, ..d }),
        ("minp0.1", SamplingParams { min_p: 0.1, ..d }),
        (
            "k20p0.8m0.05t1.3",
            SamplingParams {
                temperature: 1.3,
                top_k: 20,
                top_p: 0.8,
                min_p: 0.05,
                greedy: false,
            },
        ),
        ("greedy", SamplingParams::greedy()),
    ]
}

/// Outcome of comparing device draws with the CPU `sample_row` on the same uniforms.
#[derive(Debug, Default, Clone, Copy)]
pub struct DrawAgreement {
    pub rows: usize,
    /// Different token, but the CPU picks the device's token when the uniform moves by ≤ 1e-6:
    /// the uniform sat on a cumulative boundary.
    pub boundary: usize,
    /// Different token otherwise (a bug).
    pub hard: usize,
    /// Largest |logprob| / |logprob_truncated| difference on agreeing rows.
    pub max_lp_err: f32,
}

/// `rows` random rows of `vocab` logits; `ties` draws logits from 4 values so that top-k and
/// top-p boundaries fall inside runs of tied tokens.
#[allow(clippy::too_many_arguments)]
pub fn sampling_agreement(
    dev: &dyn KernelDevice,
    rng: &mut SplitMix64,
    rows: usize,
    vocab: usize,
    params: &SamplingParams,
    ties: bool,
    seed: u64,
) -> Result<DrawAgreement> {
    let logits: Vec<f32> = (0..rows * vocab)
        .map(|_| {
            if ties {
                rng.below_unbiased(4) as f32 * 0.7 - 1.0
            } else {
                rng.uniform_f32(-4.0, 4.0)
            }
        })
        .collect();
    let streams: Vec<u64> = (0..rows as u64).map(|r| r * 7 + (1u64 << 33)).collect();
    let steps: Vec<u64> = (0..rows as u64).map(|r| r * 3 + 5).collect();
    let lane = 1;
    let out = SampledDev {
        token: filled(dev, rows, -7)?,
        logprob: filled(dev, rows, f32::NAN)?,
        logprob_truncated: filled(dev, rows, f32::NAN)?,
    };
    let ld = upload(dev, &logits)?;
    let keys = upload(dev, &sample_keys(&streams, &steps)?)?;
    sample_rows(dev, &out, &ld, vocab, &keys, seed, lane, params)?;
    let got = out.download(dev)?;
    let mut a = DrawAgreement {
        rows,
        ..Default::default()
    };
    for (r, g) in got.iter().enumerate() {
        let row = &logits[r * vocab..(r + 1) * vocab];
        let u = philox_uniform(seed, streams[r], steps[r], lane);
        let c = sample_row(row, params, u, r)?;
        if c.token == g.token {
            a.max_lp_err = a
                .max_lp_err
                .max((c.logprob - g.logprob).abs())
                .max((c.logprob_truncated - g.logprob_truncated).abs());
            continue;
        }
        let near = [u - 1e-6, u + 1e-6]
            .iter()
            .filter(|&&x| x > 0.0 && x < 1.0)
            .any(|&x| sample_row(row, params, x, r).is_ok_and(|s| s.token == g.token));
        if near {
            a.boundary += 1;
        } else {
            a.hard += 1;
        }
    }
    Ok(a)
}

fn agreement_row(shape: &str, a: &DrawAgreement) -> CheckRow {
    let tol = 1e-5;
    CheckRow {
        kernel: "sample_rows_f32".into(),
        shape: shape.into(),
        max_abs: a.max_lp_err,
        max_rel: (a.hard + a.boundary) as f32 / a.rows.max(1) as f32,
        tol,
        pass: a.hard == 0 && a.max_lp_err <= tol,
        note: format!(
            "{} rows, {} token mismatches, {} at a cumulative boundary",
            a.rows,
            a.hard + a.boundary,
            a.boundary
        ),
    }
}

/// Rows cycling through every parameter set (and two seeds) in one `sample_rows_params` launch
/// against one `sample_rows` launch per row with that row's seed and parameters: the same token
/// and log-probabilities, bit for bit.
pub fn check_params(
    dev: &dyn KernelDevice,
    rng: &mut SplitMix64,
    rows: usize,
    vocab: usize,
    seed: u64,
    shape: &str,
) -> Result<Vec<CheckRow>> {
    let sets = sampling_params();
    let logits: Vec<f32> = (0..rows * vocab)
        .map(|_| rng.uniform_f32(-4.0, 4.0))
        .collect();
    let streams: Vec<u64> = (0..rows as u64).map(|r| r * 5 + 1).collect();
    let steps: Vec<u64> = (0..rows as u64).map(|r| r + 2).collect();
    let per_row: Vec<(u64, SamplingParams)> = (0..rows)
        .map(|r| (seed.wrapping_add((r % 2) as u64), sets[r % sets.len()].1))
        .collect();
    let ld = upload(dev, &logits)?;
    let keys = upload(dev, &sample_keys(&streams, &steps)?)?;
    let out = SampledDev::alloc(dev, rows)?;
    sample_rows_params(dev, &out, &ld, vocab, &keys, &per_row, 0)?;
    let got = out.download(dev)?;
    let mut want = Vec::with_capacity(rows);
    for (r, (row_seed, p)) in per_row.iter().enumerate() {
        let one = upload(dev, &logits[r * vocab..(r + 1) * vocab])?;
        let key = upload(dev, &sample_keys(&streams[r..=r], &steps[r..=r])?)?;
        let o = SampledDev::alloc(dev, 1)?;
        sample_rows(dev, &o, &one, vocab, &key, *row_seed, 0, p)?;
        want.extend(o.download(dev)?);
    }
    let cols = |v: &[crate::backend::cpu::sampling::Sampled]| -> Vec<f32> {
        v.iter()
            .flat_map(|x| [x.token as f32, x.logprob, x.logprob_truncated])
            .collect()
    };
    Ok(vec![compare(
        "sample_rows_params_f32",
        shape,
        &cols(&got),
        &cols(&want),
        0.0,
    )])
}
