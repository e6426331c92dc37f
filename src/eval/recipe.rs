//! One recipe's evaluation (the base, or an objective with one row per RL seed) under one
//! sampling setting: per-problem correct counts, Pass@k, and the mean ± sd table over seeds.
//! Shared by `rlvr demo`, which samples the rows itself, and `rlvr compare`, which reads them
//! from `rlvr eval` output directories.
use super::plot::{write_plot, PlotSpec, Series};
use super::stats::mean_sd;
use anyhow::{bail, Context, Result};
use std::fmt::Write as _;
use std::path::Path;

/// How held-out samples are drawn: temperature and nucleus (top-p) mass.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EvalSampling {
    pub temperature: f32,
    pub top_p: f32,
}

impl EvalSampling {
    /// The paper's evaluation: T = 0.6, top-p 0.95.
    pub const PAPER: EvalSampling = EvalSampling {
        temperature: 0.6,
        top_p: 0.95,
    };
    /// Plain sampling from the model's distribution.
    pub const PLAIN: EvalSampling = EvalSampling {
        temperature: 1.0,
        top_p: 1.0,
    };

    /// A short label for file names: `t0.6-p0.95`.
    pub fn slug(&self) -> String {
        format!("t{}-p{}", self.temperature, self.top_p)
    }
}

impl std::fmt::Display for EvalSampling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "T = {}, top-p {}", self.temperature, self.top_p)
    }
}

impl std::str::FromStr for EvalSampling {
    type Err = anyhow::Error;
    /// `T` or `T/top-p`, e.g. `0.6/0.95` or `1.0`.
    fn from_str(s: &str) -> Result<Self> {
        let (t, p) = s.split_once('/').unwrap_or((s, "1"));
        let num = |x: &str, what: &str| -> Result<f32> {
            x.trim()
                .parse::<f32>()
                .with_context(|| format!("evaluation sampling `{s}`: {what} `{x}` is not a number"))
        };
        let e = EvalSampling {
            temperature: num(t, "temperature")?,
            top_p: num(p, "top-p")?,
        };
        if !(e.temperature > 0.0 && e.temperature.is_finite()) {
            bail!("evaluation sampling `{s}`: the temperature must be > 0");
        }
        if !(e.top_p > 0.0 && e.top_p <= 1.0) {
            bail!("evaluation sampling `{s}`: top-p must be in (0, 1]");
        }
        Ok(e)
    }
}

/// One model's evaluation under one sampling setting.
#[derive(Clone, Debug)]
pub struct EvalRow {
    pub name: String,
    pub passk: Vec<(usize, f64)>,
    pub mean_response_tokens: f64,
    /// Mean −log p per sampled response token under the sampling distribution: at T = 1 and
    /// top-p 1 an estimate of the policy's entropy per token on these prompts. `None` where the
    /// samples' log-probs are not at hand (rows read back from `rlvr eval` output).
    pub token_nll: Option<f64>,
    /// Correct samples of each held-out problem, in the evaluation file's order.
    pub correct: Vec<usize>,
}

impl EvalRow {
    /// Share of the problems whose every sample is correct (`n` samples each).
    pub fn fully_solved(&self, n: usize) -> f64 {
        let all = self.correct.iter().filter(|&&c| c == n).count();
        all as f64 / self.correct.len().max(1) as f64
    }
}

/// One recipe (the base, or an objective) under one sampling setting: a row per RL seed (the
/// base has one).
#[derive(Clone, Debug)]
pub struct ModelEval {
    pub name: String,
    pub seeds: Vec<EvalRow>,
}

impl ModelEval {
    /// Correct counts of every seed (`[seed][problem]`).
    pub fn correct(&self) -> Vec<Vec<usize>> {
        self.seeds.iter().map(|r| r.correct.clone()).collect()
    }

    /// Pass@k (fraction) of every seed at each k of the rows, as (k, mean, sd).
    pub fn passk_mean_sd(&self) -> Vec<(usize, f64, f64)> {
        let Some(first) = self.seeds.first() else {
            return vec![];
        };
        first
            .passk
            .iter()
            .enumerate()
            .map(|(j, &(k, _))| {
                let v: Vec<f64> = self.seeds.iter().map(|r| r.passk[j].1).collect();
                let (m, s) = mean_sd(&v);
                (k, m, s)
            })
            .collect()
    }
}

/// The Pass@k table in markdown (percent): one row per recipe, one column per k, mean ± sd over
/// its seeds (a single seed shows the value alone), then the share of problems whose every
/// sample is correct and the mean response length.
pub fn markdown_table(models: &[ModelEval], n: usize) -> String {
    let ks: Vec<usize> = models
        .first()
        .and_then(|m| m.seeds.first())
        .map(|r| r.passk.iter().map(|p| p.0).collect())
        .unwrap_or_default();
    let mut s = String::from("| model | seeds |");
    for k in &ks {
        let _ = write!(s, " k={k} |");
    }
    let _ = writeln!(s, " all {n} correct | mean tokens |");
    s.push_str("|---|---|");
    for _ in &ks {
        s.push_str("---|");
    }
    s.push_str("---|---|\n");
    let cell = |m: f64, sd: f64, seeds: usize| {
        if seeds > 1 {
            format!("{:.1} ± {:.1}", 100.0 * m, 100.0 * sd)
        } else {
            format!("{:.1}", 100.0 * m)
        }
    };
    for m in models {
        let seeds = m.seeds.len();
        let _ = write!(s, "| {} | {seeds} |", m.name);
        for (_, mean, sd) in m.passk_mean_sd() {
            let _ = write!(s, " {} |", cell(mean, sd, seeds));
        }
        let full: Vec<f64> = m.seeds.iter().map(|r| r.fully_solved(n)).collect();
        let len: Vec<f64> = m.seeds.iter().map(|r| r.mean_response_tokens).collect();
        let (fm, fs) = mean_sd(&full);
        let _ = writeln!(s, " {} | {:.1} |", cell(fm, fs, seeds), mean_sd(&len).0);
    }
    s
}

/// A Pass@k plot (`stem`.svg/.png, percent, log2 k): one curve per recipe, the mean over its
/// seeds.
pub fn write_passk_plot(stem: &Path, title: &str, models: &[ModelEval]) -> Result<()> {
    let series: Vec<Series> = models
        .iter()
        .map(|m| Series {
            name: m.name.clone(),
            points: m
                .passk_mean_sd()
                .iter()
                .map(|&(k, v, _)| (k as f64, 100.0 * v))
                .collect(),
        })
        .collect();
    let mut spec = PlotSpec::passk(title);
    spec.y_label = "Pass@k (%)".into();
    write_plot(stem, &spec, &series, 800, 500)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_settings_parse_and_reject_bad_values() {
        let p: EvalSampling = "0.6/0.95".parse().unwrap();
        assert_eq!(p, EvalSampling::PAPER);
        assert_eq!("1.0".parse::<EvalSampling>().unwrap(), EvalSampling::PLAIN);
        assert_eq!(p.slug(), "t0.6-p0.95");
        for bad in ["0/0.9", "0.6/0", "0.6/1.5", "x", "0.6/y", "-1"] {
            assert!(bad.parse::<EvalSampling>().is_err(), "{bad}");
        }
    }

    #[test]
    fn table_shows_mean_and_sd_over_seeds() {
        let row = |c: Vec<usize>, p1: f64| EvalRow {
            name: "psr".into(),
            passk: vec![(1, p1), (2, p1 + 0.1)],
            mean_response_tokens: 3.0,
            token_nll: Some(0.5),
            correct: c,
        };
        let models = vec![
            ModelEval {
                name: "base".into(),
                seeds: vec![row(vec![1, 2], 0.2)],
            },
            ModelEval {
                name: "psr".into(),
                seeds: vec![row(vec![2, 2], 0.3), row(vec![0, 2], 0.5)],
            },
        ];
        let t = markdown_table(&models, 2);
        assert!(t.contains("| base | 1 | 20.0 | 30.0 | 50.0 |"), "{t}");
        // Pass@1 30% and 50%: mean 40, sd 14.1; every sample right on 2 of 2 and 1 of 2.
        assert!(
            t.contains("| psr | 2 | 40.0 ± 14.1 | 50.0 ± 14.1 | 75.0 ± 35.4 |"),
            "{t}"
        );
    }
}
