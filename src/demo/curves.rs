//! Training curves of the demo's RL runs: a metric of `metrics.jsonl` per RL step, averaged over
//! an objective's seeds, drawn with the plot module and summarised as a markdown table.
use crate::eval::plot::{write_plot, PlotSpec, Series};
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The curves the demo draws: (metrics key, plot title, file stem).
pub const CURVES: [(&str, &str, &str); 3] = [
    (
        "actor/entropy",
        "Policy entropy (nats/token)",
        "train_entropy",
    ),
    (
        "batch/fully_solved_ratio",
        "Fully solved fraction of the step's prompts",
        "train_fully_solved",
    ),
    ("reward/mean", "Training reward", "train_reward"),
];

/// One objective's RL runs (one folder per seed).
#[derive(Clone, Debug)]
pub struct Runs {
    pub name: String,
    pub dirs: Vec<PathBuf>,
}

/// `key` of every step of one run, in step order.
fn metric(run: &Path, key: &str) -> Result<Vec<(f64, f64)>> {
    let path = run.join("metrics.jsonl");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| Some((v["step"].as_f64()?, v[key].as_f64()?)))
        .collect())
}

/// `key` per step, the mean over the objective's seeds (steps some seed lacks are left out).
pub fn mean_curve(runs: &Runs, key: &str) -> Result<Series> {
    let mut at: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    for d in &runs.dirs {
        for (step, v) in metric(d, key)? {
            at.entry(step as i64).or_default().push(v);
        }
    }
    let seeds = runs.dirs.len();
    let points = at
        .into_iter()
        .filter(|(_, v)| v.len() == seeds)
        .map(|(s, v)| (s as f64, v.iter().sum::<f64>() / seeds as f64))
        .collect();
    Ok(Series {
        name: runs.name.clone(),
        points,
    })
}

/// Every curve of `CURVES` for every objective, in that order.
pub fn all_curves(runs: &[Runs]) -> Result<Vec<Vec<Series>>> {
    CURVES
        .iter()
        .map(|(key, _, _)| runs.iter().map(|r| mean_curve(r, key)).collect())
        .collect()
}

/// `<out>/<stem>.svg/.png` for every curve.
pub fn write_curve_plots(out: &Path, curves: &[Vec<Series>]) -> Result<()> {
    for ((key, title, stem), series) in CURVES.iter().zip(curves) {
        let spec = PlotSpec {
            title: (*title).into(),
            x_label: "RL step".into(),
            y_label: (*key).into(),
            log2_x: false,
            y_range: None,
        };
        write_plot(&out.join(stem), &spec, series, 800, 500)?;
    }
    Ok(())
}

/// Mean of the first and of the last `w` points (the curve's start and end, smoothed).
pub fn start_end(s: &Series, w: usize) -> Option<(f64, f64)> {
    let w = w.clamp(1, s.points.len().max(1));
    let mean = |p: &[(f64, f64)]| p.iter().map(|x| x.1).sum::<f64>() / p.len() as f64;
    (!s.points.is_empty()).then(|| (mean(&s.points[..w]), mean(&s.points[s.points.len() - w..])))
}

/// A markdown table of one curve per objective at about `columns` evenly spaced steps.
pub fn curve_table(series: &[Series], columns: usize, digits: usize) -> String {
    let steps: Vec<f64> = series
        .first()
        .map(|s| s.points.iter().map(|p| p.0).collect())
        .unwrap_or_default();
    if steps.is_empty() {
        return String::new();
    }
    let every = (steps.len() - 1).div_ceil(columns.max(2) - 1).max(1);
    let mut pick: Vec<usize> = (0..steps.len()).step_by(every).collect();
    if pick.last() != Some(&(steps.len() - 1)) {
        pick.push(steps.len() - 1);
    }
    let mut t = String::from("| step |");
    for &i in &pick {
        let _ = write!(t, " {} |", steps[i]);
    }
    t.push_str("\n|---|");
    for _ in &pick {
        t.push_str("---|");
    }
    t.push('\n');
    for s in series {
        let _ = write!(t, "| {} |", s.name);
        for &i in &pick {
            match s.points.iter().find(|p| p.0 == steps[i]) {
                Some(p) => {
                    let _ = write!(t, " {:.*} |", digits, p.1);
                }
                None => t.push_str(" – |"),
            }
        }
        t.push('\n');
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curves_average_seeds_and_tabulate() {
        let dir = tempfile::tempdir().unwrap();
        let mut dirs = Vec::new();
        for (s, scale) in [1.0, 3.0].iter().enumerate() {
            let d = dir.path().join(format!("seed{s}"));
            std::fs::create_dir_all(&d).unwrap();
            let lines: String = (0..5)
                .map(|i| {
                    format!(
                        "{{\"step\":{i},\"actor/entropy\":{}}}\n",
                        scale * (5 - i) as f64 / 10.0
                    )
                })
                .collect();
            std::fs::write(d.join("metrics.jsonl"), lines).unwrap();
            dirs.push(d);
        }
        let runs = Runs {
            name: "psr".into(),
            dirs,
        };
        let s = mean_curve(&runs, "actor/entropy").unwrap();
        // Seeds 0.5 … 0.1 and 1.5 … 0.3: the mean is 1.0 … 0.2.
        assert_eq!(s.points.len(), 5);
        assert!((s.points[0].1 - 1.0).abs() < 1e-12 && (s.points[4].1 - 0.2).abs() < 1e-12);
        let (a, b) = start_end(&s, 2).unwrap();
        assert!(
            (a - 0.9).abs() < 1e-12 && (b - 0.3).abs() < 1e-12,
            "{a} {b}"
        );
        let t = curve_table(&[s], 3, 2);
        assert!(t.starts_with("| step | 0 | 2 | 4 |"), "{t}");
        assert!(t.contains("| psr | 1.00 | 0.60 | 0.20 |"), "{t}");
        assert!(mean_curve(&runs, "no/such").unwrap().points.is_empty());
    }
}
