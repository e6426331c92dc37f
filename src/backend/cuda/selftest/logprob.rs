//! kernels/logprob.cu: the log-prob row kernels on f32 logits (first and vectorised), and every
//! rung of the fused LM-head log-prob (chunked logits; separate forward and backward, or both at
//! once with known coefficients) against `backend::cpu::logprob`. Also driven directly by
//! tests/kernels_logprob.rs.
use super::super::device::{download, filled, upload, KernelDevice};
use super::super::logprob::{
    fused_logprob_bwd_on, fused_logprob_fwd_bwd, fused_logprob_fwd_on, logprob_bwd_rows,
    logprob_fwd_rows, FusedInputs, LogprobDev, LogprobRung,
};
use super::{bf16_inputs, compare, CheckRow, Checks, ShapeSet, TOL_BF16, TOL_GEMM};
use crate::backend::cpu::logprob as cpu;
use crate::rng::SplitMix64;
use anyhow::Result;
use half::bf16;

pub fn run(c: &mut Checks) {
    if !c.wants("logprob") {
        return;
    }
    for vector in [false, true] {
        for (r, v) in [(1usize, 2usize), (3, 50), (5, 1000), (2, 1003)] {
            let shape = format!("{r}x{v}");
            c.check(row_kernels(vector).0, &shape, |dev, rng| {
                check_logprob_rows(dev, rng, (r, v), vector, &shape)
            });
        }
    }
    for rung in LogprobRung::ALL {
        for s in fused_shapes(c.set) {
            let shape = format!("r{} t{} d{} v{}", rung.number(), s.0, s.1, s.2);
            c.check("logprob fused", &shape, |dev, rng| {
                check_fused_logprob(dev, rng, s, rung, &shape)
            });
        }
    }
}

/// (forward, backward) row kernels.
fn row_kernels(vector: bool) -> (&'static str, &'static str) {
    if vector {
        ("logprob_fwd_rows_vec", "logprob_bwd_rows_vec")
    } else {
        ("logprob_fwd_rows_f32", "logprob_bwd_rows_f32")
    }
}

/// (rows, d, vocab) of the fused checks: odd shapes, several chunks each.
pub fn fused_shapes(set: ShapeSet) -> Vec<(usize, usize, usize)> {
    let mut v = vec![(1, 24, 50), (7, 64, 301), (33, 24, 1000), (7, 24, 50)];
    if set == ShapeSet::Full {
        v.extend([(33, 64, 1000), (257, 576, 49_152), (64, 3584, 151_936)]);
    }
    v
}

/// The fused forward and backward on `rung` against the CPU fused path on the same bf16-rounded
/// inputs; the logits budget is 3 rows so every shape with rows > 3 runs several chunks (rung 4:
/// chunks of one row, ∂z groups of 7). dW starts from a non-zero value to check that it is
/// accumulated, dH from NaN.
/// A fresh dW is a sum over rows of bf16-rounded ∂z (relative error 2^-9 each) times h, with
/// cancellation: measured against its own small rms (not diluted by an existing gradient, as the
/// accumulated check is), a few such roundings add up to ~2% at 33 rows.
const TOL_FRESH_DW: f32 = 3e-2;

pub fn check_fused_logprob(
    dev: &dyn KernelDevice,
    rng: &mut SplitMix64,
    (rows, d, vocab): (usize, usize, usize),
    rung: LogprobRung,
    shape: &str,
) -> Result<Vec<CheckRow>> {
    let (hf, hb) = bf16_inputs(rng, rows * d, -1.0, 1.0);
    let (wf, wb) = bf16_inputs(rng, vocab * d, -1.0, 1.0);
    let targets: Vec<u32> = (0..rows)
        .map(|_| rng.below_unbiased(vocab as u64) as u32)
        .collect();
    let g_lp = rng.uniform_f32_vec(rows, -1.0, 1.0);
    let g_h = rng.uniform_f32_vec(rows, -1.0, 1.0);
    let dw0 = rng.uniform_f32_vec(vocab * d, -0.5, 0.5);
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
    let glp = upload(dev, &g_lp)?;
    let gh = upload(dev, &g_h)?;
    let dh = filled(dev, rows * d, f32::NAN)?;
    let dw = upload(dev, &dw0)?;
    let x = FusedInputs {
        hidden: &h,
        weight: &w,
        d,
        targets: &t,
        inv_temp,
    };
    let fwd = if rung == LogprobRung::FusedBackward {
        fused_logprob_fwd_bwd(dev, &x, (&glp, &gh), (&dh, &dw), true, budget)?
    } else {
        let fwd = fused_logprob_fwd_on(dev, &h, &w, d, &t, inv_temp, budget, rung)?;
        fused_logprob_bwd_on(dev, &x, &fwd, (&glp, &gh), (&dh, &dw), budget, rung)?;
        fwd
    };
    let k = format!("r{} logprob", rung.number());
    let kb = &k;
    let mut rows_out = Vec::new();
    if rung == LogprobRung::FusedBackward {
        // A fresh gradient: the first group writes dW (NaN-filled here), it never reads it.
        let dw_new = filled(dev, vocab * d, f32::NAN)?;
        let dh_new = filled(dev, rows * d, f32::NAN)?;
        fused_logprob_fwd_bwd(dev, &x, (&glp, &gh), (&dh_new, &dw_new), false, budget)?;
        rows_out.push(compare(
            &format!("{k} fused dW (fresh, NaN-filled)"),
            shape,
            &download(dev, &dw_new)?,
            &dw_fresh,
            TOL_FRESH_DW,
        ));
    }
    let mut all = vec![
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
    ];
    all.append(&mut rows_out);
    Ok(all)
}

/// The row kernels alone (the first ones, or the vectorised ones when `vector`) on f32 logits
/// (backward in place, f32 output) against `row_stats` / `row_grad_in_place`; for V ≥ 50 logits
/// are spread wide so some probabilities underflow.
pub fn check_logprob_rows(
    dev: &dyn KernelDevice,
    rng: &mut SplitMix64,
    (rows, vocab): (usize, usize),
    vector: bool,
    shape: &str,
) -> Result<Vec<CheckRow>> {
    // Degenerate rows (one p ≈ 1) make every output ~1e-8 and the relative comparison
    // meaningless, so the wide spread is only used where a row has many tokens.
    let spread = if vocab >= 50 { 30.0 } else { 3.0 };
    let z = rng.uniform_f32_vec(rows * vocab, -spread, spread);
    let targets: Vec<u32> = (0..rows)
        .map(|_| rng.below_unbiased(vocab as u64) as u32)
        .collect();
    let g_lp = rng.uniform_f32_vec(rows, -1.0, 1.0);
    let g_h = rng.uniform_f32_vec(rows, -1.0, 1.0);
    let inv_temp = 1.3;
    let want = cpu::logprob_from_logits(&z, vocab, &targets, inv_temp);
    let dz_want = cpu::logprob_from_logits_bwd(&z, vocab, &targets, inv_temp, &want, &g_lp, &g_h);

    let zd = upload(dev, &z)?;
    let t: Vec<i32> = targets.iter().map(|&y| y as i32).collect();
    let t = upload(dev, &t)?;
    let out = LogprobDev {
        logp: filled(dev, rows, f32::NAN)?,
        entropy: filled(dev, rows, f32::NAN)?,
        lse: filled(dev, rows, f32::NAN)?,
    };
    logprob_fwd_rows(dev, &out, &zd, rows, vocab, &t, 0, inv_temp, vector)?;
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
        vector,
    )?;
    let dz_bf16: Vec<f32> = download(dev, &dzb)?.iter().map(|v| v.to_f32()).collect();
    let (k, kb) = row_kernels(vector);
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
