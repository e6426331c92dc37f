//! Parity checks of the issue-4 kernels (fused log-prob, sampling) against the CPU code they
//! replace: `backend::cpu::logprob` and `generate::sampling::sample_row`. Registered in
//! `parity::run_all`; also driven directly by tests/kernels_logprob.rs and tests/kernels_sampling.rs.
use super::device::{download, filled, upload, KernelDevice};
use super::logprob::{fused_logprob_bwd, fused_logprob_fwd, logprob_bwd_rows, logprob_fwd_rows};
use super::parity::{compare, CheckRow, ShapeSet, TOL_BF16, TOL_GEMM};
use super::rng::Rng;
use super::sampling::{sample_keys, sample_rows, SampledDev};
use crate::backend::cpu::logprob as cpu;
use crate::generate::sampling::{sample_row, SamplingParams};
use crate::rng::philox_uniform;
use anyhow::Result;
use half::bf16;

fn bf16_rounded(rng: &mut Rng, n: usize, lo: f32, hi: f32) -> (Vec<f32>, Vec<bf16>) {
    let h: Vec<bf16> = (0..n)
        .map(|_| bf16::from_f32(rng.uniform(lo, hi)))
        .collect();
    (h.iter().map(|v| v.to_f32()).collect(), h)
}

/// (rows, d, vocab) of the fused checks: odd shapes, several chunks each.
pub fn fused_shapes(set: ShapeSet) -> Vec<(usize, usize, usize)> {
    let mut v = vec![(1, 24, 50), (7, 64, 301), (33, 24, 1000), (7, 24, 50)];
    if set == ShapeSet::Full {
        v.extend([(33, 64, 1000), (257, 576, 49_152), (64, 3584, 151_936)]);
    }
    v
}

/// The fused forward and backward against the CPU fused path on the same bf16-rounded inputs;
/// the logits budget is 3 rows so every shape with rows > 3 runs several chunks. dW starts from
/// a non-zero value to check that it is accumulated.
pub fn check_fused_logprob(
    dev: &dyn KernelDevice,
    rng: &mut Rng,
    (rows, d, vocab): (usize, usize, usize),
    shape: &str,
) -> Result<Vec<CheckRow>> {
    let (hf, hb) = bf16_rounded(rng, rows * d, -1.0, 1.0);
    let (wf, wb) = bf16_rounded(rng, vocab * d, -1.0, 1.0);
    let targets: Vec<u32> = (0..rows).map(|_| rng.below(vocab as u32)).collect();
    let g_lp = rng.vec(rows, -1.0, 1.0);
    let g_h = rng.vec(rows, -1.0, 1.0);
    let dw0 = rng.vec(vocab * d, -0.5, 0.5);
    let inv_temp = 1.0 / 0.7;
    let budget = 3 * vocab;

    let want = cpu::fused_logprob_fwd(&hf, &wf, d, &targets, inv_temp, budget);
    let (dh_want, dw_fresh) =
        cpu::fused_logprob_bwd(&hf, &wf, d, &targets, inv_temp, &want, &g_lp, &g_h, budget);
    let dw_want: Vec<f32> = dw_fresh.iter().zip(&dw0).map(|(a, b)| a + b).collect();

    let h = upload(dev, &hb)?;
    let w = upload(dev, &wb)?;
    let t: Vec<i32> = targets.iter().map(|&y| y as i32).collect();
    let t = upload(dev, &t)?;
    let fwd = fused_logprob_fwd(dev, &h, &w, d, &t, inv_temp, budget)?;
    let glp = upload(dev, &g_lp)?;
    let gh = upload(dev, &g_h)?;
    let dh = filled(dev, rows * d, f32::NAN)?;
    let dw = upload(dev, &dw0)?;
    fused_logprob_bwd(
        dev, &h, &w, d, &t, inv_temp, &fwd, &glp, &gh, &dh, &dw, budget,
    )?;
    let k = "logprob_fwd_rows_f32";
    let kb = "logprob_bwd_rows_f32";
    Ok(vec![
        compare(
            &format!("{k} fused logp"),
            shape,
            &download(dev, &fwd.logp)?,
            &want.logp,
            TOL_GEMM,
        ),
        compare(
            &format!("{k} fused entropy"),
            shape,
            &download(dev, &fwd.entropy)?,
            &want.entropy,
            TOL_GEMM,
        ),
        compare(
            &format!("{k} fused lse"),
            shape,
            &download(dev, &fwd.lse)?,
            &want.lse,
            TOL_GEMM,
        ),
        compare(
            &format!("{kb} fused dH"),
            shape,
            &download(dev, &dh)?,
            &dh_want,
            TOL_BF16,
        ),
        compare(
            &format!("{kb} fused dW+="),
            shape,
            &download(dev, &dw)?,
            &dw_want,
            TOL_BF16,
        ),
    ])
}

/// The row kernels alone on f32 logits (backward in place, f32 output) against `row_stats` /
/// `row_grad_in_place`; for V ≥ 50 logits are spread wide so some probabilities underflow.
pub fn check_logprob_rows(
    dev: &dyn KernelDevice,
    rng: &mut Rng,
    rows: usize,
    vocab: usize,
    shape: &str,
) -> Result<Vec<CheckRow>> {
    // Degenerate rows (one p ≈ 1) make every output ~1e-8 and the relative comparison
    // meaningless, so the wide spread is only used where a row has many tokens.
    let spread = if vocab >= 50 { 30.0 } else { 3.0 };
    let z = rng.vec(rows * vocab, -spread, spread);
    let targets: Vec<u32> = (0..rows).map(|_| rng.below(vocab as u32)).collect();
    let g_lp = rng.vec(rows, -1.0, 1.0);
    let g_h = rng.vec(rows, -1.0, 1.0);
    let inv_temp = 1.3;
    let want = cpu::logprob_from_logits(&z, vocab, &targets, inv_temp);
    let dz_want = cpu::logprob_from_logits_bwd(&z, vocab, &targets, inv_temp, &want, &g_lp, &g_h);

    let zd = upload(dev, &z)?;
    let t: Vec<i32> = targets.iter().map(|&y| y as i32).collect();
    let t = upload(dev, &t)?;
    let out = super::logprob::LogprobDev {
        logp: filled(dev, rows, f32::NAN)?,
        entropy: filled(dev, rows, f32::NAN)?,
        lse: filled(dev, rows, f32::NAN)?,
    };
    logprob_fwd_rows(dev, &out, &zd, rows, vocab, &t, 0, inv_temp)?;
    let glp = upload(dev, &g_lp)?;
    let gh = upload(dev, &g_h)?;
    let dzb = filled(dev, rows * vocab, bf16::NAN)?;
    logprob_bwd_rows(
        dev,
        Some(&zd),
        Some(&dzb),
        &zd,
        rows,
        vocab,
        &t,
        &out,
        &glp,
        &gh,
        0,
        inv_temp,
    )?;
    let dz_bf16: Vec<f32> = download(dev, &dzb)?.iter().map(|v| v.to_f32()).collect();
    let k = "logprob_fwd_rows_f32";
    let kb = "logprob_bwd_rows_f32";
    Ok(vec![
        compare(
            &format!("{k} logp"),
            shape,
            &download(dev, &out.logp)?,
            &want.logp,
            TOL_GEMM,
        ),
        compare(
            &format!("{k} entropy"),
            shape,
            &download(dev, &out.entropy)?,
            &want.entropy,
            TOL_GEMM,
        ),
        compare(
            &format!("{kb} dz in place"),
            shape,
            &download(dev, &zd)?,
            &dz_want,
            TOL_GEMM,
        ),
        compare(
            &format!("{kb} dz bf16"),
            shape,
            &dz_bf16,
            &dz_want,
            TOL_BF16,
        ),
    ])
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
    rng: &mut Rng,
    rows: usize,
    vocab: usize,
    params: &SamplingParams,
    ties: bool,
    seed: u64,
) -> Result<DrawAgreement> {
    let logits: Vec<f32> = (0..rows * vocab)
        .map(|_| {
            if ties {
                rng.below(4) as f32 * 0.7 - 1.0
            } else {
                rng.uniform(-4.0, 4.0)
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

/// Every issue-4 check whose kernel name passes `want`, appended to `rows`.
pub fn run_lmhead_checks(
    dev: &dyn KernelDevice,
    set: ShapeSet,
    rng: &mut Rng,
    want: &dyn Fn(&str) -> bool,
    rows: &mut Vec<CheckRow>,
) {
    if want("logprob_fwd_rows_f32") || want("logprob_bwd_rows_f32") {
        for (r, v) in [(1usize, 2usize), (3, 50), (5, 1000)] {
            let shape = format!("{r}x{v}");
            super::parity::guarded(rows, "logprob_fwd_rows_f32", &shape, || {
                check_logprob_rows(dev, rng, r, v, &shape)
            });
        }
        for s in fused_shapes(set) {
            let shape = format!("t{} d{} v{}", s.0, s.1, s.2);
            super::parity::guarded(rows, "logprob_fwd_rows_f32 fused", &shape, || {
                check_fused_logprob(dev, rng, s, &shape)
            });
        }
    }
    if want("sample_rows_f32") {
        let shapes: Vec<(usize, usize)> = match set {
            ShapeSet::Small => vec![(16, 1), (16, 7), (8, 301)],
            ShapeSet::Full => vec![(16, 1), (64, 7), (64, 301), (32, 151_936)],
        };
        for (name, p) in sampling_params() {
            for &(r, v) in &shapes {
                for ties in [false, true] {
                    let shape = format!("{r}x{v} {name}{}", if ties { " ties" } else { "" });
                    let seed = rng.next_u64();
                    super::parity::guarded(rows, "sample_rows_f32", &shape, || {
                        let a = sampling_agreement(dev, rng, r, v, &p, ties, seed)?;
                        Ok(vec![agreement_row(&shape, &a)])
                    });
                }
            }
        }
    }
}
