//! The evidence of `rlvr demo` and `rlvr compare`: every trained recipe against the base on the same problems and sample
//! seeds (ΔPass@k with 95% intervals from a bootstrap over problems and RL seeds, coverage lost
//! and gained per seed), and a verdict on each of the paper's claims computed from those
//! intervals.
use super::recipe::{EvalSampling, ModelEval};
use super::stats::{
    coverage, delta_passk_seeds, mean_sd, Claim, Coverage, Interval, Verdict, RESAMPLES,
};
use anyhow::{Context, Result};
use std::fmt::Write as _;

/// How far below a rival "keeps" and "best" may fall and still hold: 1 Pass@k point.
pub const MARGIN: f64 = 0.01;

/// One recipe against the base.
#[derive(Clone, Debug)]
pub struct Comparison {
    pub name: String,
    /// (k, ΔPass@k recipe − base with its 95% interval over problems and seeds).
    pub deltas: Vec<(usize, Interval)>,
    /// Coverage against the base, one per RL seed.
    pub coverage: Vec<Coverage>,
}

/// A claim, its computed verdict, and the intervals behind it.
#[derive(Clone, Debug)]
pub struct ClaimLine {
    pub claim: String,
    pub verdict: Verdict,
    pub evidence: String,
}

impl std::fmt::Display for ClaimLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} at 95% ({})",
            self.claim, self.verdict, self.evidence
        )
    }
}

/// The k of the comparisons: 1, 8 and n (those that fit n samples).
pub fn comparison_ks(n: usize) -> Vec<usize> {
    let mut ks: Vec<usize> = [1, 8, n]
        .into_iter()
        .filter(|&k| k >= 1 && k <= n)
        .collect();
    ks.dedup();
    ks
}

fn find<'m>(models: &'m [ModelEval], name: &str) -> Option<&'m ModelEval> {
    models.iter().find(|m| m.name == name)
}

/// Every recipe but the base (the first) against the base.
pub fn compare_with_base(models: &[ModelEval], n: usize, seed: u64) -> Result<Vec<Comparison>> {
    let base = models.first().context("no base model evaluated")?;
    let base_correct = &base
        .seeds
        .first()
        .context("the base has no evaluation")?
        .correct;
    models[1..]
        .iter()
        .map(|m| {
            let deltas = comparison_ks(n)
                .into_iter()
                .map(|k| {
                    Ok((
                        k,
                        delta_passk_seeds(&m.correct(), &base.correct(), n, k, seed)?,
                    ))
                })
                .collect::<Result<_>>()?;
            Ok(Comparison {
                name: m.name.clone(),
                deltas,
                coverage: m
                    .seeds
                    .iter()
                    .map(|r| coverage(&r.correct, base_correct))
                    .collect(),
            })
        })
        .collect()
}

/// The paper's three claims, for the objectives that were run: PSR loses Pass@n, NSR keeps it,
/// W-REINFORCE is at least as good as every other recipe (the base included) at every k.
pub fn claim_lines(models: &[ModelEval], n: usize, seed: u64) -> Result<Vec<ClaimLine>> {
    let base = models.first().context("no base model evaluated")?;
    let mut out = Vec::new();
    let at_n = |m: &ModelEval| delta_passk_seeds(&m.correct(), &base.correct(), n, n, seed);
    if let Some(psr) = find(models, "psr") {
        let d = at_n(psr)?;
        out.push(ClaimLine {
            claim: format!("PSR loses Pass@{n}"),
            verdict: Claim::Decrease.verdict(&d),
            evidence: format!("ΔPass@{n} vs base {d} points"),
        });
    }
    let keep = Claim::NoWorseThan { margin: MARGIN };
    if let Some(nsr) = find(models, "nsr") {
        let d = at_n(nsr)?;
        out.push(ClaimLine {
            claim: format!("NSR keeps Pass@{n}"),
            verdict: keep.verdict(&d),
            evidence: format!(
                "ΔPass@{n} vs base {d} points; kept = not below −{:.0} point",
                100.0 * MARGIN
            ),
        });
    }
    if let Some(w) = find(models, "w-reinforce") {
        let rivals: Vec<&ModelEval> = models.iter().filter(|m| m.name != w.name).collect();
        let mut ds = Vec::new();
        let mut worst: Option<(String, usize, Interval)> = None;
        for r in &rivals {
            for k in comparison_ks(n) {
                let d = delta_passk_seeds(&w.correct(), &r.correct(), n, k, seed)?;
                if worst.as_ref().is_none_or(|(_, _, x)| d.lo < x.lo) {
                    worst = Some((r.name.clone(), k, d));
                }
                ds.push(d);
            }
        }
        if let Some((name, k, d)) = worst {
            out.push(ClaimLine {
                claim: "W-REINFORCE is best over the whole curve".into(),
                verdict: keep.verdict_all(&ds),
                evidence: format!(
                    "against {} models at k = {:?}; weakest: ΔPass@{k} vs {name} {d} points",
                    rivals.len(),
                    comparison_ks(n)
                ),
            });
        }
    }
    Ok(out)
}

/// A per-seed count: the value for one seed, else mean (min–max).
fn per_seed(xs: &[usize]) -> String {
    match xs {
        [x] => x.to_string(),
        _ => {
            let f: Vec<f64> = xs.iter().map(|&x| x as f64).collect();
            let (lo, hi) = (xs.iter().min(), xs.iter().max());
            match (lo, hi) {
                (Some(lo), Some(hi)) => format!("{:.1} ({lo}–{hi})", mean_sd(&f).0),
                _ => "–".into(),
            }
        }
    }
}

/// The comparisons as a markdown table (points, 95% intervals; coverage per seed).
pub fn comparison_table(cs: &[Comparison]) -> String {
    let mut s = String::from("| model vs base |");
    let ks: Vec<usize> = cs
        .first()
        .map(|c| c.deltas.iter().map(|d| d.0).collect())
        .unwrap_or_default();
    for k in &ks {
        let _ = write!(s, " ΔPass@{k} [95%] |");
    }
    s.push_str(" lost | gained |\n|---|");
    for _ in &ks {
        s.push_str("---|");
    }
    s.push_str("---|---|\n");
    for c in cs {
        let _ = write!(s, "| {} |", c.name);
        for (_, d) in &c.deltas {
            let _ = write!(s, " {d} |");
        }
        let lost: Vec<usize> = c.coverage.iter().map(|x| x.lost).collect();
        let gained: Vec<usize> = c.coverage.iter().map(|x| x.gained).collect();
        let _ = writeln!(s, " {} | {} |", per_seed(&lost), per_seed(&gained));
    }
    s
}

/// The comparisons with their explanation (markdown): `problems` held-out problems, `seeds` the
/// RL seeds per objective as text.
pub fn comparison_section(problems: usize, seeds: &str, cs: &[Comparison]) -> String {
    format!(
        "Against the base, problem by problem: ΔPass@k in points with a 95% interval from a \
         two-level bootstrap ({RESAMPLES} resamples; each draws the {problems} problems with \
         replacement, paired with the base, and the objective's {seeds} RL seeds with \
         replacement, so the interval covers seed-to-seed spread as well). Lost = problems the \
         base solves at least once and the model never, gained = the reverse, per seed (mean \
         and range).\n\n{}\n",
        comparison_table(cs)
    )
}

/// The verdicts on the paper's claims under `sampling`, with how they are decided (markdown).
pub fn claims_section(sampling: &EvalSampling, claims: &[ClaimLine]) -> String {
    let mut md = format!("## The paper's claims (at {sampling})\n\n");
    for c in claims {
        let _ = writeln!(md, "- {c}");
    }
    md.push_str(
        "\nEach verdict is computed from the intervals above (per comparison, not corrected \
         for multiplicity): supported when the whole 95% interval agrees with the claim, not \
         supported when it excludes it, inconclusive otherwise.\n\n",
    );
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::eval::recipe::EvalRow;

    /// A recipe with one seed per count vector.
    fn seeds(name: &str, correct: Vec<Vec<usize>>) -> ModelEval {
        ModelEval {
            name: name.into(),
            seeds: correct
                .into_iter()
                .map(|correct| EvalRow {
                    name: name.into(),
                    passk: vec![],
                    mean_response_tokens: 0.0,
                    token_nll: None,
                    correct,
                })
                .collect(),
        }
    }

    fn r(name: &str, correct: Vec<usize>) -> ModelEval {
        seeds(name, vec![correct])
    }

    #[test]
    fn claims_are_computed_from_the_counts() {
        // 200 problems × 8 samples. PSR solves the easy half always and the hard half never;
        // the base and NSR solve every problem now and then.
        let base: Vec<usize> = (0..200).map(|i| if i % 2 == 0 { 4 } else { 2 }).collect();
        let psr: Vec<usize> = (0..200).map(|i| if i % 2 == 0 { 8 } else { 0 }).collect();
        let nsr = base.clone();
        let w: Vec<usize> = base.iter().map(|c| c + 1).collect();
        let rows = vec![
            r("base", base),
            r("psr", psr),
            r("nsr", nsr),
            r("w-reinforce", w),
        ];
        let lines = claim_lines(&rows, 8, 1).unwrap();
        let v: Vec<Verdict> = lines.iter().map(|l| l.verdict).collect();
        assert_eq!(
            v,
            vec![
                Verdict::Supported,
                Verdict::Supported,
                Verdict::Inconclusive
            ],
            "{lines:#?}"
        );
        // W-REINFORCE beats the base and NSR at k = 1 and ties them at k = 8; against PSR its
        // Pass@1 is equal on average but the interval is wide (each problem differs by ±3/8).
        assert!(lines[2].evidence.contains("psr"), "{}", lines[2]);
        let cs = compare_with_base(&rows, 8, 1).unwrap();
        assert_eq!(
            cs[0].coverage,
            vec![Coverage {
                lost: 100,
                gained: 0
            }]
        );
        assert_eq!(cs.len(), 3);
        let table = comparison_table(&cs);
        assert!(
            table.contains("ΔPass@8") && table.contains("| psr |"),
            "{table}"
        );
        // Without PSR and with a W-REINFORCE that loses everything: refuted.
        let rows = vec![r("base", vec![4; 50]), r("w-reinforce", vec![0; 50])];
        let lines = claim_lines(&rows, 8, 1).unwrap();
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].verdict, Verdict::NotSupported);
    }

    #[test]
    fn disagreeing_seeds_widen_the_interval() {
        // Two PSR seeds: one loses the hard half of the problems, the other changes nothing.
        // Pooled over problems alone the loss would look certain; over seeds it is not.
        let base: Vec<usize> = (0..200).map(|i| if i % 2 == 0 { 4 } else { 2 }).collect();
        let lossy: Vec<usize> = (0..200).map(|i| if i % 2 == 0 { 8 } else { 0 }).collect();
        let models = vec![
            r("base", base.clone()),
            seeds("psr", vec![lossy.clone(), base.clone()]),
        ];
        let lines = claim_lines(&models, 8, 1).unwrap();
        assert_eq!(lines[0].verdict, Verdict::Inconclusive, "{}", lines[0]);
        let cs = compare_with_base(&models, 8, 1).unwrap();
        let table = comparison_table(&cs);
        // Lost 100 problems with one seed and none with the other.
        assert!(table.contains("| 50.0 (0–100) | 0.0 (0–0) |"), "{table}");
        // Both seeds lossy: supported again.
        let models = vec![r("base", base), seeds("psr", vec![lossy.clone(), lossy])];
        let lines = claim_lines(&models, 8, 1).unwrap();
        assert_eq!(lines[0].verdict, Verdict::Supported, "{}", lines[0]);
    }
}
