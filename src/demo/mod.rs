//! `rlvr demo`: the paper's phenomenon on a laptop. On 2 CPU cores and in minutes it
//! (a) builds a small base model — a character-level Llama pretrained from scratch (SFT) on a
//!     synthetic arithmetic task until its Pass@1 is modest but its Pass@k is high — or uses the
//!     model given with `--model`,
//! (b) trains one copy per objective (PSR, NSR, W-REINFORCE, GRPO by default),
//! (c) evaluates Pass@k for k = 1 … n on held-out problems, every model with the same
//!     per-problem sample seeds, so models are compared problem by problem (paired),
//! (d) compares each model with the base (ΔPass@k with paired bootstrap 95% intervals, coverage
//!     lost and gained) and computes a verdict on each of the paper's claims (`evidence`),
//! (e) writes `report.md`, `passk.svg/.png`, training curves, and prints the tables.
pub mod evidence;

use crate::data::synthetic::{
    arithmetic, generate, ArithmeticConfig, SplitMix64, TaskItem, TaskKind, TaskSpec,
};
use crate::dist::Single;
use crate::eval::passk::{default_ks, passk_table};
use crate::eval::plot::{write_plot, PlotSpec, Series};
use crate::generate::engine::EngineConfig;
use crate::generate::prompts::stop_tokens;
use crate::generate::sampling::SamplingParams;
use crate::model::init::{write_tiny_char_model, TinySpec};
use crate::model::Model;
use crate::rl::opening::Opening;
use crate::rl::prompts::load_prompts;
use crate::rl::rollout::{rollout, RolloutSettings};
use crate::rl::sft::{sft, SftConfig};
use crate::rl::trainer::train_with;
use crate::rl::{ObjectiveKind, TrainConfig};
use crate::tokenizer::{ChatTemplate, Tokenizer};
use anyhow::{Context, Result};
use evidence::{claim_lines, compare_with_base, comparison_table, ClaimLine, Comparison};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Clone, Debug)]
pub struct DemoConfig {
    pub output: PathBuf,
    /// Start from this model instead of pretraining a tiny one.
    pub model: Option<PathBuf>,
    /// `add2` (two-digit addition/subtraction, the default) or a synthetic task kind
    /// (arithmetic, linear, word, mixed) at `difficulty`.
    pub task: String,
    pub difficulty: u32,
    pub objectives: Vec<ObjectiveKind>,
    pub sft_steps: usize,
    pub rl_steps: usize,
    pub prompts_per_step: usize,
    pub n: usize,
    pub lr: f32,
    pub eval_problems: usize,
    pub eval_n: usize,
    pub eval_temperature: f32,
    pub max_response_tokens: usize,
    pub template: ChatTemplate,
    pub response_format: String,
    pub seed: u64,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            output: PathBuf::from("demo-out"),
            model: None,
            task: "add2".into(),
            difficulty: 2,
            objectives: vec![
                ObjectiveKind::Psr,
                ObjectiveKind::Nsr,
                ObjectiveKind::WReinforce,
                ObjectiveKind::Grpo,
            ],
            sft_steps: 3000,
            rl_steps: 60,
            prompts_per_step: 32,
            n: 8,
            lr: 5e-5,
            eval_problems: 64,
            eval_n: 64,
            eval_temperature: 1.0,
            max_response_tokens: 8,
            template: ChatTemplate::Plain,
            response_format: "{answer}".into(),
            seed: 1,
        }
    }
}

/// One model's evaluation.
#[derive(Clone, Debug)]
pub struct EvalRow {
    pub name: String,
    pub passk: Vec<(usize, f64)>,
    pub mean_response_tokens: f64,
    /// Correct samples of each held-out problem, in the evaluation file's order.
    pub correct: Vec<usize>,
}

/// What the demo found.
#[derive(Clone, Debug)]
pub struct DemoOutcome {
    pub rows: Vec<EvalRow>,
    /// Every trained model against the base.
    pub comparisons: Vec<Comparison>,
    /// The paper's claims with their computed verdicts.
    pub claims: Vec<ClaimLine>,
}

/// Problems of the demo's task.
fn task_items(cfg: &DemoConfig, seed: u64, n: usize) -> Result<Vec<TaskItem>> {
    if cfg.task == "add2" {
        let c = ArithmeticConfig {
            operands: 2,
            digits: 2,
            multiply: false,
        };
        let mut rng = SplitMix64::new(seed);
        return Ok((0..n).map(|_| arithmetic(&c, &mut rng)).collect());
    }
    let kind: TaskKind = cfg.task.parse()?;
    Ok(generate(
        TaskSpec {
            kind,
            difficulty: cfg.difficulty,
            seed,
        },
        n,
    ))
}

fn write_jsonl(path: &Path, items: &[crate::data::synthetic::TaskItem]) -> Result<()> {
    let text: String = items
        .iter()
        .map(|t| serde_json::json!({"prompt": t.question, "answer": t.answer}).to_string() + "\n")
        .collect();
    crate::util::write_atomic(path, text.as_bytes())
}

/// `model_dir` evaluated on the prompts of `data` with n samples each. The samples of problem
/// i are seeded by (demo seed, i) alone, the same for every model.
pub fn eval_passk(
    name: &str,
    model_dir: &Path,
    data: &Path,
    cfg: &DemoConfig,
    template: ChatTemplate,
) -> Result<EvalRow> {
    let model = Model::load(model_dir)?;
    let tok = Tokenizer::from_dir(model_dir)?;
    let (items, _) = load_prompts(&[data.to_path_buf()], &tok, template, 512)?;
    let stop = stop_tokens(Some(model_dir), &model.config, &tok, template)?;
    let samples = rollout(
        &crate::generate::sampler::Sampler::cpu(&model),
        &tok,
        &items,
        u64::MAX,
        RolloutSettings {
            params: SamplingParams {
                temperature: cfg.eval_temperature,
                ..Default::default()
            },
            n: cfg.eval_n,
            max_tokens: cfg.max_response_tokens,
            seed: cfg.seed ^ 0xE7A1,
            engine: EngineConfig {
                max_batch: 256,
                stop_tokens: stop,
            },
            verifier: crate::verify::Mode::Correct,
            progress: &mut |_| {},
        },
    )?;
    let mut correct = vec![0usize; items.len()];
    for s in &samples {
        correct[s.group] += s.is_correct() as usize;
    }
    let counts: Vec<(usize, usize)> = correct.iter().map(|&c| (cfg.eval_n, c)).collect();
    let mean_len = samples.iter().map(|s| s.response.len()).sum::<usize>() as f64
        / samples.len().max(1) as f64;
    Ok(EvalRow {
        name: name.to_string(),
        passk: passk_table(&counts, &default_ks(cfg.eval_n)),
        mean_response_tokens: mean_len,
        correct,
    })
}

fn metric_series(run: &Path, key: &str, name: &str) -> Result<Series> {
    let text = std::fs::read_to_string(run.join("metrics.jsonl"))
        .with_context(|| format!("reading {}", run.display()))?;
    let points = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| Some((v["step"].as_f64()?, v[key].as_f64()?)))
        .collect();
    Ok(Series {
        name: name.to_string(),
        points,
    })
}

pub fn run_demo(cfg: &DemoConfig, log: &mut dyn FnMut(&str)) -> Result<DemoOutcome> {
    let t0 = Instant::now();
    let out = &cfg.output;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let template = cfg.template;
    // Data, three disjoint sets: SFT problems (make the base model), RL problems (the base has
    // never seen their answers, as in the paper), held-out evaluation problems.
    let sft_items = task_items(cfg, cfg.seed, 4000)?;
    let mut seen: BTreeSet<String> = sft_items.iter().map(|t| t.question.clone()).collect();
    let mut fresh = |seed: u64, n: usize| -> Result<Vec<TaskItem>> {
        let items: Vec<TaskItem> = task_items(cfg, seed, 20 * n)?
            .into_iter()
            .filter(|t| seen.insert(t.question.clone()))
            .take(n)
            .collect();
        if items.len() < n {
            anyhow::bail!("the task has too few distinct problems for the demo (needed {n} new ones, got {}); choose a harder --task/--difficulty", items.len());
        }
        Ok(items)
    };
    let rl_items = fresh(cfg.seed + 500, 2000)?;
    let eval_items = fresh(cfg.seed + 1000, cfg.eval_problems)?;
    let (sft_path, train_path, eval_path) = (
        out.join("sft.jsonl"),
        out.join("train.jsonl"),
        out.join("eval.jsonl"),
    );
    write_jsonl(&sft_path, &sft_items)?;
    write_jsonl(&train_path, &rl_items)?;
    write_jsonl(&eval_path, &eval_items)?;
    log(&format!(
        "data: {} SFT problems, {} RL problems, {} held-out problems ({}, difficulty {})",
        sft_items.len(),
        rl_items.len(),
        eval_items.len(),
        cfg.task,
        cfg.difficulty
    ));

    // (a) The base model.
    let base = match &cfg.model {
        Some(m) => m.clone(),
        None => {
            let init = out.join("base-init");
            if init.exists() {
                std::fs::remove_dir_all(&init)?;
            }
            let m = write_tiny_char_model(
                &init,
                TinySpec {
                    hidden: 64,
                    intermediate: 176,
                    layers: 2,
                    heads: 4,
                    kv_heads: 2,
                    seed: cfg.seed,
                },
            )?;
            let base = out.join("base");
            let losses = sft(
                &SftConfig {
                    model: init,
                    data: vec![sft_path.clone()],
                    output: base.clone(),
                    steps: cfg.sft_steps,
                    batch_size: 32,
                    lr: 3e-3,
                    weight_decay: 0.0,
                    grad_clip: 1.0,
                    seed: cfg.seed,
                    template,
                    response_format: cfg.response_format.clone(),
                    max_tokens: 256,
                    activation_checkpointing: false,
                    nccl: false,
                },
                Some(&out.join("sft_log.jsonl")),
            )?;
            log(&format!(
                "base: {}-parameter char-level Llama, SFT {} steps, loss {:.3} -> {:.3} ({:.0}s)",
                m.config.num_params(),
                cfg.sft_steps,
                losses.first().copied().unwrap_or(0.0),
                losses.last().copied().unwrap_or(0.0),
                t0.elapsed().as_secs_f64()
            ));
            base
        }
    };

    // (b) One RL run per objective, all from the same base.
    let mut runs = Vec::new();
    for &obj in &cfg.objectives {
        let run_dir = out.join("runs").join(obj.name());
        let tc = TrainConfig {
            model: base.clone(),
            data: vec![train_path.clone()],
            output: run_dir.clone(),
            objective: obj,
            steps: cfg.rl_steps,
            prompts_per_step: cfg.prompts_per_step,
            n: cfg.n,
            mini_batch_prompts: (cfg.prompts_per_step / 4).max(1),
            lr: cfg.lr,
            max_prompt_tokens: 256,
            max_response_tokens: cfg.max_response_tokens,
            template: Some(template),
            save_every: cfg.rl_steps,
            val_every: 0,
            rollout_batch: 256,
            seed: cfg.seed,
            ..TrainConfig::default()
        };
        let t = Instant::now();
        // The demo owns its output folder: a second run replaces its runs.
        let fresh = Opening {
            force: true,
            ..Opening::default()
        };
        let s = train_with(&tc, fresh, false, &Single, None)
            .with_context(|| format!("training {obj}"))?;
        log(&format!(
            "trained {obj}: {} RL steps in {:.0}s, last reward {:.3}",
            cfg.rl_steps,
            t.elapsed().as_secs_f64(),
            s.last_metrics.map_or(0.0, |m| m.batch.reward_mean)
        ));
        runs.push((
            obj.name(),
            run_dir,
            s.final_checkpoint.context("no final checkpoint")?,
        ));
    }

    // (c) Pass@k of every model on the held-out problems.
    let mut rows = vec![eval_passk("base", &base, &eval_path, cfg, template)?];
    for (obj, _, ckpt) in &runs {
        rows.push(eval_passk(obj, ckpt, &eval_path, cfg, template)?);
    }
    log(&format!(
        "evaluated {} models on {} problems × {} samples",
        rows.len(),
        eval_items.len(),
        cfg.eval_n
    ));

    // (d) Paired comparisons and verdicts.
    let comparisons = compare_with_base(&rows, cfg.eval_n, cfg.seed)?;
    let claims = claim_lines(&rows, cfg.eval_n, cfg.seed)?;

    // (e) Report and plots.
    let series: Vec<Series> = rows
        .iter()
        .map(|r| Series {
            name: r.name.clone(),
            points: r
                .passk
                .iter()
                .map(|&(k, v)| (k as f64, 100.0 * v))
                .collect(),
        })
        .collect();
    let mut spec = PlotSpec::passk("Pass@k on held-out problems");
    spec.y_label = "Pass@k (%)".into();
    write_plot(&out.join("passk"), &spec, &series, 800, 500)?;
    for (key, title, file) in [
        ("reward/mean", "Training reward", "train_reward"),
        (
            "actor/entropy",
            "Policy entropy (nats/token)",
            "train_entropy",
        ),
    ] {
        let s: Vec<Series> = runs
            .iter()
            .map(|(o, d, _)| metric_series(d, key, o))
            .collect::<Result<_>>()?;
        let spec = PlotSpec {
            title: title.into(),
            x_label: "RL step".into(),
            y_label: key.into(),
            log2_x: false,
            y_range: None,
        };
        write_plot(&out.join(file), &spec, &s, 800, 500)?;
    }
    let table = markdown_table(&rows);
    let mut md = String::new();
    writeln!(
        md,
        "# rlvr demo: PSR vs NSR vs W-REINFORCE on a verifiable toy task\n"
    )?;
    writeln!(
        md,
        "Task: {} (difficulty {}), {} held-out problems, {} samples each at temperature {}. Base model: {}. \
         RL: {} steps × {} prompts × {} samples, lr {}, PPO-clip 0.2, token-mean loss. Wall time {:.0} s.\n",
        cfg.task,
        cfg.difficulty,
        eval_items.len(),
        cfg.eval_n,
        cfg.eval_temperature,
        cfg.model.as_ref().map(|m| m.display().to_string()).unwrap_or_else(|| "tiny char-level Llama pretrained here by SFT".into()),
        cfg.rl_steps,
        cfg.prompts_per_step,
        cfg.n,
        cfg.lr,
        t0.elapsed().as_secs_f64()
    )?;
    writeln!(md, "## Pass@k (%)\n\n{table}\n![Pass@k](passk.svg)\n")?;
    writeln!(
        md,
        "## Against the base, problem by problem\n\nEvery model drew its samples of a problem \
         with the same seeds, so differences are paired. ΔPass@k in points with a paired \
         bootstrap 95% interval ({} resamples of the {} problems); lost = problems the base \
         solves at least once and the model never, gained = the reverse.\n\n{}",
        crate::eval::stats::RESAMPLES,
        eval_items.len(),
        comparison_table(&comparisons)
    )?;
    writeln!(md, "## The paper's claims\n")?;
    for c in &claims {
        writeln!(md, "- {c}")?;
    }
    writeln!(
        md,
        "\nEach verdict is computed from the intervals above (one RL seed; intervals are per \
         comparison, not corrected for multiplicity).\n\n## Training\n\n\
         ![reward](train_reward.svg)\n![entropy](train_entropy.svg)\n"
    )?;
    crate::util::write_atomic(&out.join("report.md"), md.as_bytes())?;
    Ok(DemoOutcome {
        rows,
        comparisons,
        claims,
    })
}

/// The Pass@k table in markdown: one row per model, one column per k.
pub fn markdown_table(rows: &[EvalRow]) -> String {
    let mut s = String::from("| model |");
    let ks: Vec<usize> = rows
        .first()
        .map(|r| r.passk.iter().map(|p| p.0).collect())
        .unwrap_or_default();
    for k in &ks {
        let _ = write!(s, " k={k} |");
    }
    s.push_str(" mean tokens |\n|---|");
    for _ in &ks {
        s.push_str("---|");
    }
    s.push_str("---|\n");
    for r in rows {
        let _ = write!(s, "| {} |", r.name);
        for (_, v) in &r.passk {
            let _ = write!(s, " {:.1} |", 100.0 * v);
        }
        let _ = writeln!(s, " {:.1} |", r.mean_response_tokens);
    }
    s
}
