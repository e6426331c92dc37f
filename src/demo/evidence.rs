//! The demo's evidence: every trained model against the base on the same problems and sample
//! seeds (ΔPass@k with paired bootstrap 95% intervals, coverage lost and gained), and a verdict
//! on each of the paper's claims computed from those intervals.
use super::EvalRow;
use crate::eval::stats::{coverage, delta_passk, Claim, Coverage, Interval, Verdict};
use anyhow::{Context, Result};
use std::fmt::Write as _;

/// How far below a rival "keeps" and "best" may fall and still hold: 1 Pass@k point.
pub const MARGIN: f64 = 0.01;

/// One model against the base.
#[derive(Clone, Debug)]
pub struct Comparison {
    pub name: String,
    /// (k, ΔPass@k model − base with its 95% interval).
    pub deltas: Vec<(usize, Interval)>,
    pub coverage: Coverage,
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

fn row<'r>(rows: &'r [EvalRow], name: &str) -> Option<&'r EvalRow> {
    rows.iter().find(|r| r.name == name)
}

/// Every row but the base (the first) against the base.
pub fn compare_with_base(rows: &[EvalRow], n: usize, seed: u64) -> Result<Vec<Comparison>> {
    let base = rows.first().context("no base model evaluated")?;
    rows[1..]
        .iter()
        .map(|r| {
            let deltas = comparison_ks(n)
                .into_iter()
                .map(|k| Ok((k, delta_passk(&r.correct, &base.correct, n, k, seed)?)))
                .collect::<Result<_>>()?;
            Ok(Comparison {
                name: r.name.clone(),
                deltas,
                coverage: coverage(&r.correct, &base.correct),
            })
        })
        .collect()
}

/// The paper's three claims, for the objectives that were run: PSR loses Pass@n, NSR keeps it,
/// W-REINFORCE is at least as good as every other model (the base included) at every k.
pub fn claim_lines(rows: &[EvalRow], n: usize, seed: u64) -> Result<Vec<ClaimLine>> {
    let base = rows.first().context("no base model evaluated")?;
    let mut out = Vec::new();
    let at_n = |r: &EvalRow| delta_passk(&r.correct, &base.correct, n, n, seed);
    if let Some(psr) = row(rows, "psr") {
        let d = at_n(psr)?;
        out.push(ClaimLine {
            claim: format!("PSR loses Pass@{n}"),
            verdict: Claim::Decrease.verdict(&d),
            evidence: format!("ΔPass@{n} vs base {d} points"),
        });
    }
    let keep = Claim::NoWorseThan { margin: MARGIN };
    if let Some(nsr) = row(rows, "nsr") {
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
    if let Some(w) = row(rows, "w-reinforce") {
        let rivals: Vec<&EvalRow> = rows.iter().filter(|r| r.name != w.name).collect();
        let mut ds = Vec::new();
        let mut worst: Option<(String, usize, Interval)> = None;
        for r in &rivals {
            for k in comparison_ks(n) {
                let d = delta_passk(&w.correct, &r.correct, n, k, seed)?;
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

/// The comparisons as a markdown table (points, 95% intervals).
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
        let _ = writeln!(s, " {} | {} |", c.coverage.lost, c.coverage.gained);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(name: &str, correct: Vec<usize>) -> EvalRow {
        EvalRow {
            name: name.into(),
            passk: vec![],
            mean_response_tokens: 0.0,
            correct,
        }
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
            Coverage {
                lost: 100,
                gained: 0
            }
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
}
