//! Paired statistics for two models evaluated on the same problems with the same per-problem
//! sample seeds: per-problem unbiased Pass@k, a paired bootstrap interval of ΔPass@k (problems
//! are resampled, each keeping both models' results, so the problem-to-problem spread cancels),
//! coverage lost and gained, and the verdict of a directional claim at 95%. Several training
//! seeds of one recipe are compared with a two-level bootstrap (problems and seeds).
use super::passk::pass_at_k;
use crate::rng::SplitMix64;
use anyhow::{bail, Result};
use std::fmt;

/// Bootstrap resamples of every interval: enough for stable 2.5% / 97.5% percentiles.
pub const RESAMPLES: usize = 2000;

/// Unbiased Pass@k of every problem (`correct[i]` of `n` samples right).
pub fn per_problem_passk(correct: &[usize], n: usize, k: usize) -> Result<Vec<f64>> {
    if k == 0 || k > n {
        bail!("Pass@{k} needs 1 ≤ k ≤ n = {n}");
    }
    correct
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            if c > n {
                bail!("problem {i}: {c} correct of {n} samples");
            }
            Ok(pass_at_k(n, c, k))
        })
        .collect()
}

/// A point estimate with its 95% interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interval {
    pub estimate: f64,
    pub lo: f64,
    pub hi: f64,
}

impl fmt::Display for Interval {
    /// In points (×100): `+3.1 [+1.2, +5.0]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:+.1} [{:+.1}, {:+.1}]",
            100.0 * self.estimate,
            100.0 * self.lo,
            100.0 * self.hi
        )
    }
}

/// The mean of per-problem differences `deltas` with a percentile bootstrap 95% interval:
/// `resamples` draws of as many problems with replacement, deterministic given `seed`.
pub fn bootstrap_mean(deltas: &[f64], resamples: usize, seed: u64) -> Result<Interval> {
    if deltas.is_empty() || resamples == 0 {
        bail!("a bootstrap needs problems and resamples");
    }
    if deltas.iter().any(|d| !d.is_finite()) {
        bail!("a per-problem difference is not finite");
    }
    let p = deltas.len();
    let mean = |f: &mut dyn FnMut() -> f64| (0..p).map(|_| f()).sum::<f64>() / p as f64;
    let mut rng = SplitMix64::new(seed);
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| mean(&mut || deltas[rng.below_unbiased(p as u64) as usize]))
        .collect();
    means.sort_by(f64::total_cmp);
    let at = |q: f64| means[((q * (resamples - 1) as f64).round() as usize).min(resamples - 1)];
    Ok(Interval {
        estimate: deltas.iter().sum::<f64>() / p as f64,
        lo: at(0.025),
        hi: at(0.975),
    })
}

/// ΔPass@k = model − reference over the same problems (`correct` counts of `n` samples each),
/// with its paired bootstrap 95% interval.
pub fn delta_passk(
    model: &[usize],
    reference: &[usize],
    n: usize,
    k: usize,
    seed: u64,
) -> Result<Interval> {
    if model.len() != reference.len() {
        bail!(
            "paired comparison of {} and {} problems",
            model.len(),
            reference.len()
        );
    }
    let a = per_problem_passk(model, n, k)?;
    let b = per_problem_passk(reference, n, k)?;
    let d: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x - y).collect();
    bootstrap_mean(&d, RESAMPLES, seed)
}

/// ΔPass@k = model − reference where each side may be several training runs (seeds) of the
/// same recipe, all evaluated on the same problems with the same per-problem sample seeds
/// (`model[s][i]`: correct samples of problem i by seed s, of `n`). The estimate is the mean
/// over seeds and problems. The 95% interval is a two-level bootstrap: every resample draws the
/// problems with replacement (paired: a drawn problem keeps both sides' results) and, for each
/// side independently, its seeds with replacement, so it covers the spread between training
/// seeds as well as between problems. With one seed per side it is `delta_passk`.
pub fn delta_passk_seeds(
    model: &[Vec<usize>],
    reference: &[Vec<usize>],
    n: usize,
    k: usize,
    seed: u64,
) -> Result<Interval> {
    let per_seed = |side: &[Vec<usize>], what: &str| -> Result<Vec<Vec<f64>>> {
        if side.is_empty() {
            bail!("the {what} has no seeds");
        }
        side.iter().map(|c| per_problem_passk(c, n, k)).collect()
    };
    let (a, b) = (per_seed(model, "model")?, per_seed(reference, "reference")?);
    let p = a[0].len();
    if p == 0 || a.iter().chain(&b).any(|v| v.len() != p) {
        bail!("paired comparison needs every seed of both sides on the same, non-empty problems");
    }
    if a.len() == 1 && b.len() == 1 {
        return delta_passk(&model[0], &reference[0], n, k, seed);
    }
    let mean_over = |v: &[Vec<f64>], seeds: &[usize], i: usize| {
        seeds.iter().map(|&s| v[s][i]).sum::<f64>() / seeds.len() as f64
    };
    let all = |v: &[Vec<f64>]| (0..v.len()).collect::<Vec<usize>>();
    let (sa, sb) = (all(&a), all(&b));
    let estimate = (0..p)
        .map(|i| mean_over(&a, &sa, i) - mean_over(&b, &sb, i))
        .sum::<f64>()
        / p as f64;
    let mut rng = SplitMix64::new(seed);
    let mut draw = |len: usize| -> Vec<usize> {
        (0..len)
            .map(|_| rng.below_unbiased(len as u64) as usize)
            .collect()
    };
    let mut means: Vec<f64> = (0..RESAMPLES)
        .map(|_| {
            let (ra, rb, problems) = (draw(a.len()), draw(b.len()), draw(p));
            problems
                .iter()
                .map(|&i| mean_over(&a, &ra, i) - mean_over(&b, &rb, i))
                .sum::<f64>()
                / p as f64
        })
        .collect();
    means.sort_by(f64::total_cmp);
    let at = |q: f64| means[((q * (RESAMPLES - 1) as f64).round() as usize).min(RESAMPLES - 1)];
    Ok(Interval {
        estimate,
        lo: at(0.025),
        hi: at(0.975),
    })
}

/// Mean and sample standard deviation (0 for a single value).
pub fn mean_sd(xs: &[f64]) -> (f64, f64) {
    let n = xs.len().max(1) as f64;
    let mean = xs.iter().sum::<f64>() / n;
    if xs.len() < 2 {
        return (mean, 0.0);
    }
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

/// Problems a model stopped or started solving at all, against a reference.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    /// Solved at least once by the reference, never by the model.
    pub lost: usize,
    /// Never solved by the reference, at least once by the model.
    pub gained: usize,
}

pub fn coverage(model: &[usize], reference: &[usize]) -> Coverage {
    let mut c = Coverage::default();
    for (&m, &r) in model.iter().zip(reference) {
        c.lost += (r > 0 && m == 0) as usize;
        c.gained += (r == 0 && m > 0) as usize;
    }
    c
}

/// What a claim says about a difference Δ.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Claim {
    /// Δ < 0: supported when the whole interval is below 0, refuted when it lies at or above 0.
    Decrease,
    /// Δ is not below −margin (non-inferiority): supported when the interval's lower end is
    /// above −margin, else refuted when its upper end is below 0.
    NoWorseThan { margin: f64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Supported,
    NotSupported,
    Inconclusive,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Supported => "supported",
            Verdict::NotSupported => "not supported",
            Verdict::Inconclusive => "inconclusive",
        })
    }
}

impl Claim {
    /// The verdict on one interval at 95%.
    pub fn verdict(&self, d: &Interval) -> Verdict {
        match *self {
            Claim::Decrease if d.hi < 0.0 => Verdict::Supported,
            Claim::Decrease if d.lo >= 0.0 => Verdict::NotSupported,
            Claim::NoWorseThan { margin } if d.lo > -margin => Verdict::Supported,
            Claim::NoWorseThan { .. } if d.hi < 0.0 => Verdict::NotSupported,
            _ => Verdict::Inconclusive,
        }
    }

    /// The verdict on a claim that must hold for every interval (e.g. at every k against every
    /// rival): refuted if any part is refuted, supported if every part is.
    pub fn verdict_all(&self, ds: &[Interval]) -> Verdict {
        let v: Vec<Verdict> = ds.iter().map(|d| self.verdict(d)).collect();
        if v.contains(&Verdict::NotSupported) {
            Verdict::NotSupported
        } else if !v.is_empty() && v.iter().all(|&x| x == Verdict::Supported) {
            Verdict::Supported
        } else {
            Verdict::Inconclusive
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(lo: f64, hi: f64) -> Interval {
        Interval {
            estimate: (lo + hi) / 2.0,
            lo,
            hi,
        }
    }

    #[test]
    fn per_problem_passk_is_the_unbiased_estimator() {
        // n = 4, c = 1, k = 2: 1 − C(3,2)/C(4,2) = 0.5; c = 0 → 0; c = n → 1.
        let v = per_problem_passk(&[1, 0, 4, 2], 4, 2).unwrap();
        for (got, want) in v.iter().zip([0.5, 0.0, 1.0, 1.0 - 1.0 / 6.0]) {
            assert!((got - want).abs() < 1e-12, "{v:?}");
        }
        assert_eq!(per_problem_passk(&[3], 4, 1).unwrap(), vec![0.75]);
        assert!(per_problem_passk(&[5], 4, 1).is_err());
        assert!(per_problem_passk(&[1], 4, 5).is_err());
    }

    #[test]
    fn bootstrap_interval_has_the_normal_width_and_is_deterministic() {
        // ±1 with equal counts: mean 0, sd 1, so the 95% interval is about ±1.96/√n.
        let d: Vec<f64> = (0..400)
            .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        let a = bootstrap_mean(&d, 4000, 7).unwrap();
        let half = 1.96 / 20.0;
        assert_eq!(a.estimate, 0.0);
        assert!((a.hi - half).abs() < 0.15 * half, "{a:?}");
        assert!((a.lo + half).abs() < 0.15 * half, "{a:?}");
        assert_eq!(a, bootstrap_mean(&d, 4000, 7).unwrap());
        // A constant difference has no spread.
        let c = bootstrap_mean(&[0.25; 50], 100, 1).unwrap();
        assert_eq!((c.lo, c.estimate, c.hi), (0.25, 0.25, 0.25));
        assert!(bootstrap_mean(&[], 10, 1).is_err());
    }

    #[test]
    fn pairing_removes_the_spread_between_problems() {
        // Problems range from never to always solved; the model gets one more sample right on
        // every problem, so ΔPass@1 is exactly 1/8 per problem and its interval is a point.
        let base: Vec<usize> = (0..64).map(|i| i % 8).collect();
        let model: Vec<usize> = base.iter().map(|c| c + 1).collect();
        let d = delta_passk(&model, &base, 8, 1, 3).unwrap();
        assert_eq!((d.lo, d.estimate, d.hi), (0.125, 0.125, 0.125));
        assert!(Claim::Decrease.verdict(&d) == Verdict::NotSupported);
        let back = delta_passk(&base, &model, 8, 1, 3).unwrap();
        assert_eq!(Claim::Decrease.verdict(&back), Verdict::Supported);
        assert!(delta_passk(&model, &base[1..], 8, 1, 3).is_err());
    }

    #[test]
    fn seed_bootstrap_covers_the_spread_between_seeds() {
        // Three seeds of a model: one gains 2 of 8 samples on every problem, one gains none,
        // one loses 1, so ΔPass@1 is (2 + 0 − 1)/3/8 = 1/24. Problems add no spread; the
        // interval comes from the seeds alone and reaches both extreme seeds (a resample of
        // three copies of one seed has probability 1/27 > 2.5%).
        let base: Vec<usize> = (0..100).map(|i| 2 + i % 4).collect();
        let shift =
            |d: i64| -> Vec<usize> { base.iter().map(|&c| (c as i64 + d) as usize).collect() };
        let model = vec![shift(2), shift(0), shift(-1)];
        let reference = std::slice::from_ref(&base);
        let d = delta_passk_seeds(&model, reference, 8, 1, 5).unwrap();
        assert!((d.estimate - 1.0 / 24.0).abs() < 1e-12, "{d:?}");
        assert!(d.lo <= -0.1 && d.hi >= 0.2, "{d:?}");
        assert_eq!(d, delta_passk_seeds(&model, reference, 8, 1, 5).unwrap());
        // One seed each: exactly the problem-only paired bootstrap.
        let one = delta_passk_seeds(&[shift(1)], reference, 8, 1, 5).unwrap();
        assert_eq!(one, delta_passk(&shift(1), &base, 8, 1, 5).unwrap());
        // Identical seeds add no spread: a constant gain is a point.
        let same = delta_passk_seeds(&[shift(1), shift(1)], reference, 8, 1, 5).unwrap();
        assert_eq!((same.lo, same.hi), (0.125, 0.125));
        assert!(delta_passk_seeds(&[], reference, 8, 1, 5).is_err());
        assert!(
            delta_passk_seeds(&[base[1..].to_vec(), base.clone()], reference, 8, 1, 5).is_err()
        );
    }

    #[test]
    fn mean_sd_is_the_sample_standard_deviation() {
        let (m, s) = mean_sd(&[1.0, 2.0, 3.0]);
        assert_eq!((m, s), (2.0, 1.0));
        assert_eq!(mean_sd(&[4.0]), (4.0, 0.0));
    }

    #[test]
    fn coverage_counts_problems_lost_and_gained() {
        let base = [0, 3, 1, 0, 5];
        let model = [2, 0, 1, 0, 0];
        assert_eq!(coverage(&model, &base), Coverage { lost: 2, gained: 1 });
    }

    #[test]
    fn verdicts_follow_the_interval() {
        let dec = Claim::Decrease;
        assert_eq!(dec.verdict(&iv(-0.05, -0.01)), Verdict::Supported);
        assert_eq!(dec.verdict(&iv(-0.05, 0.01)), Verdict::Inconclusive);
        assert_eq!(dec.verdict(&iv(0.0, 0.0)), Verdict::NotSupported);
        assert_eq!(dec.verdict(&iv(0.01, 0.03)), Verdict::NotSupported);
        let keep = Claim::NoWorseThan { margin: 0.01 };
        assert_eq!(keep.verdict(&iv(-0.005, 0.02)), Verdict::Supported);
        assert_eq!(keep.verdict(&iv(-0.03, 0.02)), Verdict::Inconclusive);
        assert_eq!(keep.verdict(&iv(-0.05, -0.02)), Verdict::NotSupported);
        assert_eq!(
            keep.verdict_all(&[iv(0.0, 0.01), iv(-0.005, 0.0)]),
            Verdict::Supported
        );
        assert_eq!(
            keep.verdict_all(&[iv(0.0, 0.01), iv(-0.03, 0.01)]),
            Verdict::Inconclusive
        );
        assert_eq!(
            keep.verdict_all(&[iv(-0.03, 0.01), iv(-0.05, -0.02)]),
            Verdict::NotSupported
        );
        assert_eq!(keep.verdict_all(&[]), Verdict::Inconclusive);
    }
}
