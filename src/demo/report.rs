//! The demo's `report.md`: setup, Pass@k per sampling setting (mean ± sd over RL seeds), the
//! comparisons with the base, the computed verdicts, the training curves and the time taken.
use super::curves::{curve_table, CURVES};
use super::eval::{markdown_table, EvalSampling};
use super::{DemoConfig, DemoOutcome};
use crate::eval::evidence::{claims_section, comparison_section};
use crate::eval::stats::mean_sd;
use anyhow::Result;
use std::fmt::Write as _;

/// Columns of the curve tables (evenly spaced RL steps).
const CURVE_COLUMNS: usize = 7;

/// The evaluation at T = 1, top-p 1, if one ran.
fn plain(o: &DemoOutcome) -> Option<&super::SamplingOutcome> {
    o.evals.iter().find(|e| e.sampling == EvalSampling::PLAIN)
}

/// Held-out −log p per token of `name`'s seeds at T = 1 (mean, sd).
fn held_out(o: &DemoOutcome, name: &str) -> Option<(f64, f64)> {
    let m = plain(o)?.models.iter().find(|m| m.name == name)?;
    let v: Vec<f64> = m.seeds.iter().map(|r| r.token_nll).collect::<Option<_>>()?;
    Some(mean_sd(&v))
}

fn held_out_base(o: &DemoOutcome) -> Option<f64> {
    plain(o)?.models.first()?.seeds.first()?.token_nll
}

pub fn render(cfg: &DemoConfig, o: &DemoOutcome, problems: usize) -> Result<String> {
    let mut md = String::new();
    let objectives: Vec<&str> = cfg.objectives.iter().map(|x| x.name()).collect();
    writeln!(
        md,
        "# rlvr demo: {} on a verifiable toy task\n",
        objectives.join(" vs ")
    )?;
    let base = cfg.model.as_ref().map_or_else(
        || "tiny char-level Llama pretrained here by SFT".to_string(),
        |m| m.display().to_string(),
    );
    writeln!(
        md,
        "Task: {} (difficulty {}), {problems} held-out problems × {} samples each. Base model: \
         {base} ({} SFT steps). RL: {} seed(s) per objective, {} steps × {} prompts × {} samples \
         at T = 1, lr {}, PPO-clip 0.2, token-mean loss, 4 mini-batches per step. Every model \
         draws the samples of a held-out problem with the same seeds.\n",
        cfg.task,
        cfg.difficulty,
        cfg.eval_n,
        cfg.sft_steps,
        cfg.rl_seeds,
        cfg.rl_steps,
        cfg.prompts_per_step,
        cfg.n,
        cfg.lr,
    )?;
    let n = cfg.eval_n;
    for (i, e) in o.evals.iter().enumerate() {
        let role = if i == 0 {
            "the verdicts' setting"
        } else {
            "for comparison"
        };
        writeln!(md, "## Pass@k (%) at {} ({role})\n", e.sampling)?;
        writeln!(
            md,
            "Mean ± sd over RL seeds; `all {n} correct` is the share of problems whose every \
             sample is right.\n\n{}\n![Pass@k](passk-{}.svg)\n",
            markdown_table(&e.models, n),
            e.sampling.slug()
        )?;
        md.push_str(&comparison_section(
            problems,
            &cfg.rl_seeds.to_string(),
            &e.comparisons,
        ));
    }
    md.push_str(&claims_section(&o.primary().sampling, &o.claims));
    writeln!(
        md,
        "## Training curves (mean over seeds)\n\nPolicy entropy near the start and the end of \
         RL: the trainer's `actor/entropy`, mean of the first and last 3 steps, in nats/token \
         at the rollout temperature over the samples the objective trains on (PSR: the correct \
         ones, NSR: the incorrect ones, so compare an objective with itself). The held-out \
         column is objective-neutral: the mean −log p per token of the held-out samples drawn \
         at T = 1, top-p 1 (an entropy estimate on the same prompts for every model{}).\n",
        held_out_base(o).map_or(String::new(), |b| format!("; base {b:.3}"))
    )?;
    writeln!(
        md,
        "| objective | start | end | change | held-out, end |\n|---|---|---|---|---|"
    )?;
    for e in &o.entropy {
        let held =
            held_out(o, &e.name).map_or("–".to_string(), |(m, sd)| format!("{m:.3} ± {sd:.3}"));
        writeln!(
            md,
            "| {} | {:.3} | {:.3} | {:+.0}% | {held} |",
            e.name,
            e.start,
            e.end,
            100.0 * (e.end / e.start - 1.0)
        )?;
    }
    for ((key, title, stem), series) in CURVES.iter().zip(&o.curves) {
        writeln!(
            md,
            "\n### {title} (`{key}`)\n\n{}\n![{title}]({stem}.svg)",
            curve_table(series, CURVE_COLUMNS, 3)
        )?;
    }
    let t = &o.timing;
    writeln!(md, "\n## Time\n")?;
    let cpu = t
        .cpu_s
        .map_or("unknown".to_string(), |c| format!("{c:.0} s"));
    writeln!(
        md,
        "Wall time {:.0} s; CPU time (user + system, all threads) {cpu}. Wall time per phase: {}.",
        t.wall_s,
        t.phases
            .iter()
            .map(|(p, s)| format!("{p} {s:.0} s"))
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    Ok(md)
}

pub fn write_report(cfg: &DemoConfig, o: &DemoOutcome, problems: usize) -> Result<()> {
    let md = render(cfg, o, problems)?;
    crate::util::write_atomic(&cfg.output.join("report.md"), md.as_bytes())
}
