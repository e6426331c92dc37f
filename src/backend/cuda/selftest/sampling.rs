//! kernels/sampling.cu: device draws against `backend::cpu::sampling::sample_row` on the same
//! Philox uniforms, for several parameter sets, with and without tied logits, on each rung; the
//! per-row parameter kernel must draw exactly what the per-launch one draws for each row's
//! parameters, and rung 2 (radix select) exactly what rung 1 (bisection) draws.
//! Also driven directly by tests/kernels_sampling.rs.
use super::super::device::{download, filled, upload, KernelDevice};
use super::super::sampling::{
    sample_keys, sample_rows_on, sample_rows_params_on, SampleRung, SampledDev,
};
use super::{compare, CheckRow, Checks, ShapeSet};
use crate::backend::cpu::sampling::{sample_row, SamplingParams};
use crate::rng::{philox_uniform, SplitMix64};
use anyhow::Result;

pub fn run(c: &mut Checks) {
    for rung in SampleRung::ALL {
        let (kernel, params_kernel) = rung.kernels();
        if c.wants(params_kernel) {
            for (rows, vocab) in [(12, 7), (6, 301)] {
                let shape = format!("{rows}x{vocab} every parameter set");
                let seed = c.rng.next_u64();
                c.check(params_kernel, &shape, |dev, rng| {
                    check_params(dev, rng, rung, rows, vocab, seed, &shape)
                });
            }
        }
        if !c.wants(kernel) {
            continue;
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
                    c.check(kernel, &shape, |dev, rng| {
                        let a = sampling_agreement(dev, rng, rung, r, v, &p, ties, seed)?;
                        Ok(vec![agreement_row(kernel, &shape, &a)])
                    });
                }
            }
        }
    }
    if c.wants("sample_rows_radix_f32") {
        let shapes: Vec<(usize, usize)> = match c.set {
            ShapeSet::Small => vec![(40, 1), (40, 9), (24, 333), (8, 5000)],
            ShapeSet::Full => vec![(40, 1), (40, 9), (40, 333), (16, 5000), (8, 151_936)],
        };
        for (rows, vocab) in shapes {
            for kind in LogitKind::ALL {
                let shape = format!("{rows}x{vocab} {} vs rung 1", kind.name());
                let seed = c.rng.next_u64();
                c.check("sample_rows_radix_f32", &shape, |dev, rng| {
                    let p = rung_parity(dev, rng, rows, vocab, kind, seed)?;
                    Ok(vec![parity_row(&shape, &p)])
                });
            }
        }
    }
}

/// How the logits of a rung-parity check are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogitKind {
    /// Uniform in [-4, 4): distinct values.
    Spread,
    /// 4 values: every threshold falls inside a run of tied tokens.
    Ties,
    /// bf16-rounded values of a model-like spread (ties at every scale), one dominant token.
    Bf16,
    /// Spread, with a NaN, +Inf or -Inf in every third row.
    NonFinite,
}

impl LogitKind {
    pub const ALL: [LogitKind; 4] = [
        LogitKind::Spread,
        LogitKind::Ties,
        LogitKind::Bf16,
        LogitKind::NonFinite,
    ];

    pub fn name(self) -> &'static str {
        match self {
            LogitKind::Spread => "spread",
            LogitKind::Ties => "ties",
            LogitKind::Bf16 => "bf16",
            LogitKind::NonFinite => "nan/inf rows",
        }
    }

    pub fn draw(self, rng: &mut SplitMix64, rows: usize, vocab: usize) -> Vec<f32> {
        let mut x: Vec<f32> = (0..rows * vocab)
            .map(|_| match self {
                LogitKind::Ties => rng.below_unbiased(4) as f32 * 0.7 - 1.0,
                LogitKind::Bf16 => {
                    let u = rng.uniform_f32(-1.0, 1.0);
                    half::bf16::from_f32(6.0 * u * u * u).to_f32()
                }
                LogitKind::Spread | LogitKind::NonFinite => rng.uniform_f32(-4.0, 4.0),
            })
            .collect();
        for r in 0..rows {
            let at = r * vocab + rng.below_unbiased(vocab as u64) as usize;
            match self {
                LogitKind::Bf16 => x[at] = 12.0,
                LogitKind::NonFinite if r % 3 == 1 => {
                    x[at] = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY][(r / 3) % 3]
                }
                _ => {}
            }
        }
        x
    }
}

/// Parameter sets of the rung-parity checks: every filter alone and combined, several
/// temperatures, top-k from 1 to past the shared-memory candidate limit and past V.
pub fn parity_params(rng: &mut SplitMix64, vocab: usize) -> SamplingParams {
    let temperature = [0.3f32, 0.6, 1.0, 1.7][rng.below_unbiased(4) as usize];
    let top_k = match rng.below_unbiased(8) {
        0..=2 => 0,
        3 => 1,
        4 => 50,
        5 => 1 + rng.below_unbiased(vocab as u64) as usize,
        6 => 1500,
        _ => vocab + 3,
    };
    let top_p = [1.0f32, 0.95, 0.9, 0.5, 0.05][rng.below_unbiased(5) as usize];
    let min_p = [0.0f32, 0.0, 0.05, 0.3][rng.below_unbiased(4) as usize];
    SamplingParams {
        temperature,
        top_k,
        top_p,
        min_p,
        greedy: rng.below_unbiased(16) == 0,
    }
}

/// Outcome of rung 2 against rung 1 on the same rows.
#[derive(Debug, Default, Clone, Copy)]
pub struct RungParity {
    pub rows: usize,
    /// Rows whose token, log-prob or truncated log-prob differ in any bit (per-launch and
    /// per-row-parameter kernels together).
    pub differing: usize,
    /// Rows with a NaN/Inf logit (token -1 on both).
    pub non_finite: usize,
}

/// The raw outputs of one launch: token, logprob bits, truncated logprob bits per row.
fn raw_outputs(dev: &dyn KernelDevice, out: &SampledDev) -> Result<Vec<(i32, u32, u32)>> {
    let t = download(dev, &out.token)?;
    let a = download(dev, &out.logprob)?;
    let b = download(dev, &out.logprob_truncated)?;
    Ok(t.iter()
        .zip(&a)
        .zip(&b)
        .map(|((&t, &a), &b)| (t, a.to_bits(), b.to_bits()))
        .collect())
}

/// `rows` rows of `kind` logits, each with its own random parameters and seed, through both
/// rungs' per-row-parameter kernels, and row 0's parameters through both per-launch kernels: the
/// outputs must agree bit for bit.
pub fn rung_parity(
    dev: &dyn KernelDevice,
    rng: &mut SplitMix64,
    rows: usize,
    vocab: usize,
    kind: LogitKind,
    seed: u64,
) -> Result<RungParity> {
    let logits = kind.draw(rng, rows, vocab);
    let per_row: Vec<(u64, SamplingParams)> = (0..rows)
        .map(|r| (seed.wrapping_add(r as u64 % 3), parity_params(rng, vocab)))
        .collect();
    let streams: Vec<u64> = (0..rows as u64).map(|r| r * 11 + 3).collect();
    let steps: Vec<u64> = (0..rows as u64).map(|r| r * 2 + 1).collect();
    let ld = upload(dev, &logits)?;
    let keys = upload(dev, &sample_keys(&streams, &steps)?)?;
    let mut got = Vec::new();
    for rung in SampleRung::ALL {
        let out = SampledDev {
            token: filled(dev, rows, -7)?,
            logprob: filled(dev, rows, f32::NAN)?,
            logprob_truncated: filled(dev, rows, f32::NAN)?,
            whole: None,
        };
        sample_rows_params_on(rung, dev, &out, &ld, vocab, &keys, &per_row, 2)?;
        let mut rows_out = raw_outputs(dev, &out)?;
        sample_rows_on(rung, dev, &out, &ld, vocab, &keys, seed, 2, &per_row[0].1)?;
        rows_out.extend(raw_outputs(dev, &out)?);
        got.push(rows_out);
    }
    Ok(RungParity {
        rows: 2 * rows,
        differing: got[0].iter().zip(&got[1]).filter(|(a, b)| a != b).count(),
        non_finite: got[1].iter().filter(|o| o.0 < 0).count(),
    })
}

fn parity_row(shape: &str, p: &RungParity) -> CheckRow {
    CheckRow {
        kernel: "sample_rows_radix_f32".into(),
        shape: shape.into(),
        max_abs: p.differing as f32,
        max_rel: p.differing as f32 / p.rows.max(1) as f32,
        tol: 0.0,
        pass: p.differing == 0,
        note: format!(
            "{} rows ({} with NaN/Inf), {} differ from rung 1 in any bit",
            p.rows, p.non_finite, p.differing
        ),
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
    rung: SampleRung,
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
        whole: None,
    };
    let ld = upload(dev, &logits)?;
    let keys = upload(dev, &sample_keys(&streams, &steps)?)?;
    sample_rows_on(rung, dev, &out, &ld, vocab, &keys, seed, lane, params)?;
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

fn agreement_row(kernel: &str, shape: &str, a: &DrawAgreement) -> CheckRow {
    let tol = 1e-5;
    CheckRow {
        kernel: kernel.into(),
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
    rung: SampleRung,
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
    sample_rows_params_on(rung, dev, &out, &ld, vocab, &keys, &per_row, 0)?;
    let got = out.download(dev)?;
    let mut want = Vec::with_capacity(rows);
    for (r, (row_seed, p)) in per_row.iter().enumerate() {
        let one = upload(dev, &logits[r * vocab..(r + 1) * vocab])?;
        let key = upload(dev, &sample_keys(&streams[r..=r], &steps[r..=r])?)?;
        let o = SampledDev::alloc(dev, 1)?;
        sample_rows_on(rung, dev, &o, &one, vocab, &key, *row_seed, 0, p)?;
        want.extend(o.download(dev)?);
    }
    let cols = |v: &[crate::backend::cpu::sampling::Sampled]| -> Vec<f32> {
        v.iter()
            .flat_map(|x| [x.token as f32, x.logprob, x.logprob_truncated])
            .collect()
    };
    Ok(vec![compare(
        rung.kernels().1,
        shape,
        &cols(&got),
        &cols(&want),
        0.0,
    )])
}
