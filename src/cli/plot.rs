//! `rlvr plot RUN_DIR`: training curves from a run's metrics.jsonl.
use crate::eval::plot::{write_plot, PlotSpec, Series};
use anyhow::{bail, Context, Result};
use std::path::PathBuf;

/// Draw the training curves of one or more runs (RUN_DIR/metrics.jsonl) as SVG and PNG: reward,
/// entropy, response length, clip fraction, grad norm, approx-KL, sampler-vs-trainer log-prob
/// difference, and every validation accuracy. Several runs share each plot (one curve per run).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Run directories written by `rlvr train`.
    #[arg(required = true, num_args = 1..)]
    pub runs: Vec<PathBuf>,
    /// Output directory (default: the first run's directory, under plots/).
    #[arg(long)]
    pub output: Option<PathBuf>,
}

const KEYS: &[&str] = &[
    "reward/mean",
    "actor/entropy",
    "response/length_mean",
    "actor/pg_clipfrac",
    "actor/grad_norm",
    "actor/ppo_kl",
    "rollout/sampler_trainer_logp_max_diff",
    "batch/fully_solved_ratio",
];

pub fn run(a: Args) -> Result<()> {
    let out = a.output.clone().unwrap_or_else(|| a.runs[0].join("plots"));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let mut rows: Vec<(String, Vec<serde_json::Value>)> = Vec::new();
    for r in &a.runs {
        let path = r.join("metrics.jsonl");
        let lines = crate::util::read_jsonl(&path)?;
        if lines.is_empty() {
            bail!("{}: no metrics yet", path.display());
        }
        let name = r
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| r.display().to_string());
        rows.push((name, lines));
    }
    let mut keys: Vec<String> = KEYS.iter().map(|k| k.to_string()).collect();
    for (_, lines) in &rows {
        for l in lines {
            if let Some(o) = l.as_object() {
                let new: Vec<String> = o
                    .keys()
                    .filter(|k| k.starts_with("val/") && !keys.contains(k))
                    .cloned()
                    .collect();
                keys.extend(new);
            }
        }
    }
    let mut written = 0;
    for key in &keys {
        let series: Vec<Series> = rows
            .iter()
            .map(|(name, lines)| Series {
                name: name.clone(),
                points: lines
                    .iter()
                    .filter_map(|l| Some((l["step"].as_f64()?, l[key.as_str()].as_f64()?)))
                    .collect(),
            })
            .filter(|s| !s.points.is_empty())
            .collect();
        if series.is_empty() {
            continue;
        }
        let spec = PlotSpec {
            title: key.clone(),
            x_label: "RL step".into(),
            y_label: key.clone(),
            log2_x: false,
            y_range: None,
        };
        write_plot(&out.join(key.replace('/', "_")), &spec, &series, 800, 500)?;
        written += 1;
    }
    eprintln!("wrote {written} plots (SVG + PNG) to {}", out.display());
    Ok(())
}
