//! `rlvr demo`: the paper's phenomenon as a small experiment on a laptop. On 2 CPU cores and in
//! minutes it
//! (a) builds a small base model — a character-level Llama pretrained from scratch (SFT) on a
//!     synthetic arithmetic task until its Pass@1 is modest but its Pass@k is high — or uses the
//!     model given with `--model`,
//! (b) trains one copy per objective and RL seed (PSR, NSR, W-REINFORCE, REINFORCE by default),
//! (c) evaluates Pass@k for k = 1 … n on held-out problems under each sampling setting (the
//!     paper's T = 0.6 / top-p 0.95 first), every model with the same per-problem sample seeds,
//!     so models are compared problem by problem (paired),
//! (d) compares each objective with the base (ΔPass@k with 95% intervals from a bootstrap over
//!     problems and RL seeds, coverage lost and gained) and computes a verdict on each of the
//!     paper's claims (`crate::eval::evidence`) from the first sampling setting,
//! (e) writes `report.md` (`report`), Pass@k plots per setting and the training curves
//!     (`curves`: entropy, fully solved fraction, reward), and prints the tables.
pub mod curves;
pub mod eval;
pub mod report;
pub mod task;

use crate::dist::Single;
use crate::eval::evidence::{claim_lines, compare_with_base, ClaimLine, Comparison};
use crate::eval::plot::Series;
use crate::eval::recipe::write_passk_plot;
use crate::model::init::{write_tiny_char_model, TinySpec};
use crate::rl::opening::Opening;
use crate::rl::sft::{sft, SftConfig};
use crate::rl::trainer::train_with;
use crate::rl::{ObjectiveKind, TrainConfig};
use crate::tokenizer::ChatTemplate;
use crate::util::cpu_time::process_cpu_secs;
use anyhow::{bail, Context, Result};
use curves::Runs;
use eval::{eval_model, EvalPlan, EvalSampling, ModelEval};
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
    /// Independent RL runs per objective (seeds `seed`, `seed + 1`, …), all from the same base.
    pub rl_seeds: usize,
    pub prompts_per_step: usize,
    pub n: usize,
    pub lr: f32,
    pub eval_problems: usize,
    pub eval_n: usize,
    /// Sampling settings of the evaluation; the verdicts come from the first.
    pub eval_sampling: Vec<EvalSampling>,
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
                ObjectiveKind::Reinforce,
            ],
            sft_steps: 3000,
            // Strong enough that PSR visibly sharpens the tiny model (its entropy falls and it
            // loses problems at large k); at 5e-5 nothing moves within the time budget.
            rl_steps: 100,
            rl_seeds: 3,
            prompts_per_step: 32,
            n: 8,
            lr: 3e-4,
            eval_problems: 512,
            eval_n: 64,
            eval_sampling: vec![EvalSampling::PAPER, EvalSampling::PLAIN],
            max_response_tokens: 8,
            template: ChatTemplate::Plain,
            response_format: "{answer}".into(),
            // SFT's 3000 steps sit where the tiny model's accuracy jumps, so the base depends on
            // the seed (seeds 1-7 gave held-out Pass@1 13-89% at T = 0.6); seed 3's base has
            // Pass@1 about 30% and Pass@64 75-90%, with problems to lose and to gain.
            seed: 3,
        }
    }
}

/// Every recipe under one sampling setting, and its comparisons with the base.
#[derive(Clone, Debug)]
pub struct SamplingOutcome {
    pub sampling: EvalSampling,
    /// The base first, then one entry per objective (a row per RL seed).
    pub models: Vec<ModelEval>,
    /// Every objective against the base.
    pub comparisons: Vec<Comparison>,
}

/// Policy entropy (nats/token, at the rollout temperature) near the start and the end of RL,
/// averaged over an objective's seeds.
#[derive(Clone, Debug)]
pub struct EntropyChange {
    pub name: String,
    pub start: f64,
    pub end: f64,
}

/// Where the time went.
#[derive(Clone, Debug, Default)]
pub struct Timing {
    pub wall_s: f64,
    /// User + system CPU seconds of the process, all threads (`None` without /proc).
    pub cpu_s: Option<f64>,
    pub phases: Vec<(String, f64)>,
}

/// What the demo found.
#[derive(Clone, Debug)]
pub struct DemoOutcome {
    /// One per sampling setting, in `eval_sampling` order.
    pub evals: Vec<SamplingOutcome>,
    /// The paper's claims with their computed verdicts, from the first sampling setting.
    pub claims: Vec<ClaimLine>,
    pub entropy: Vec<EntropyChange>,
    /// The curves of `curves::CURVES`, one series per objective (mean over seeds).
    pub curves: Vec<Vec<Series>>,
    pub timing: Timing,
}

impl DemoOutcome {
    /// The outcome under the verdicts' sampling setting.
    pub fn primary(&self) -> &SamplingOutcome {
        &self.evals[0]
    }
}

fn check(cfg: &DemoConfig) -> Result<()> {
    if cfg.rl_seeds == 0 {
        bail!("--rl-seeds must be at least 1");
    }
    if cfg.eval_sampling.is_empty() {
        bail!("--eval-sampling needs at least one setting");
    }
    if cfg.eval_n == 0 || cfg.eval_problems == 0 {
        bail!("--eval-n and --eval-problems must be at least 1");
    }
    let mut names: Vec<&str> = cfg.objectives.iter().map(|o| o.name()).collect();
    names.sort_unstable();
    if names.windows(2).any(|w| w[0] == w[1]) {
        bail!("--objectives names an objective twice");
    }
    Ok(())
}

/// The tiny base model, pretrained here by SFT on `sft_path`.
fn pretrain_base(cfg: &DemoConfig, sft_path: &Path, log: &mut dyn FnMut(&str)) -> Result<PathBuf> {
    let t = Instant::now();
    let out = &cfg.output;
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
            data: vec![sft_path.to_path_buf()],
            output: base.clone(),
            steps: cfg.sft_steps,
            batch_size: 32,
            lr: 3e-3,
            weight_decay: 0.0,
            grad_clip: 1.0,
            seed: cfg.seed,
            template: cfg.template,
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
        t.elapsed().as_secs_f64()
    ));
    Ok(base)
}

/// One RL run: `obj` from `base` with RL seed `seed`; returns its final checkpoint.
fn train_one(
    cfg: &DemoConfig,
    base: &Path,
    train_path: &Path,
    obj: ObjectiveKind,
    seed: u64,
    run_dir: &Path,
) -> Result<PathBuf> {
    let tc = TrainConfig {
        model: base.to_path_buf(),
        data: vec![train_path.to_path_buf()],
        output: run_dir.to_path_buf(),
        objective: obj,
        steps: cfg.rl_steps,
        prompts_per_step: cfg.prompts_per_step,
        n: cfg.n,
        mini_batch_prompts: (cfg.prompts_per_step / 4).max(1),
        lr: cfg.lr,
        max_prompt_tokens: 256,
        max_response_tokens: cfg.max_response_tokens,
        template: Some(cfg.template),
        save_every: cfg.rl_steps,
        val_every: 0,
        rollout_batch: 256,
        seed,
        ..TrainConfig::default()
    };
    // The demo owns its output folder: a second run replaces its runs.
    let fresh = Opening {
        force: true,
        ..Opening::default()
    };
    let s = train_with(&tc, fresh, false, &Single, None)
        .with_context(|| format!("training {obj} (RL seed {seed})"))?;
    s.final_checkpoint.context("no final checkpoint")
}

pub fn run_demo(cfg: &DemoConfig, log: &mut dyn FnMut(&str)) -> Result<DemoOutcome> {
    check(cfg)?;
    let (t0, cpu0) = (Instant::now(), process_cpu_secs());
    let mut phases = Vec::new();
    let out = &cfg.output;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    // Data, three disjoint sets: SFT problems (make the base model), RL problems (the base has
    // never seen their answers, as in the paper), held-out evaluation problems.
    let data = task::splits(cfg)?;
    let (sft_path, train_path, eval_path) = (
        out.join("sft.jsonl"),
        out.join("train.jsonl"),
        out.join("eval.jsonl"),
    );
    task::write_jsonl(&sft_path, &data.sft)?;
    task::write_jsonl(&train_path, &data.rl)?;
    task::write_jsonl(&eval_path, &data.eval)?;
    log(&format!(
        "data: {} SFT problems, {} RL problems, {} held-out problems ({}, difficulty {})",
        data.sft.len(),
        data.rl.len(),
        data.eval.len(),
        cfg.task,
        cfg.difficulty
    ));

    // (a) The base model.
    let t = Instant::now();
    let base = match &cfg.model {
        Some(m) => m.clone(),
        None => pretrain_base(cfg, &sft_path, log)?,
    };
    phases.push(("base model (SFT)".to_string(), t.elapsed().as_secs_f64()));

    // (b) One RL run per objective and seed, all from the same base.
    let t = Instant::now();
    let mut runs: Vec<(Runs, Vec<PathBuf>)> = Vec::new();
    for &obj in &cfg.objectives {
        let mut dirs = Vec::new();
        let mut ckpts = Vec::new();
        for s in 0..cfg.rl_seeds {
            let dir = out.join("runs").join(obj.name()).join(format!("seed{s}"));
            let ts = Instant::now();
            ckpts.push(train_one(
                cfg,
                &base,
                &train_path,
                obj,
                cfg.seed + s as u64,
                &dir,
            )?);
            log(&format!(
                "trained {obj} seed {s}: {} RL steps in {:.0}s",
                cfg.rl_steps,
                ts.elapsed().as_secs_f64()
            ));
            dirs.push(dir);
        }
        let name = obj.name().to_string();
        runs.push((Runs { name, dirs }, ckpts));
    }
    phases.push(("RL training".to_string(), t.elapsed().as_secs_f64()));
    let run_list: Vec<Runs> = runs.iter().map(|(r, _)| r.clone()).collect();
    let curves = curves::all_curves(&run_list)?;
    let entropy: Vec<EntropyChange> = curves[0]
        .iter()
        .filter_map(|s| {
            // The first and last 3 steps: one step's batch is noisy.
            let (start, end) = curves::start_end(s, 3)?;
            Some(EntropyChange {
                name: s.name.clone(),
                start,
                end,
            })
        })
        .collect();
    for e in &entropy {
        log(&format!(
            "entropy of {}: {:.3} -> {:.3} nats/token (mean of {} seeds, first and last 3 steps)",
            e.name, e.start, e.end, cfg.rl_seeds
        ));
    }

    // (c) Pass@k of every model on the held-out problems, under every sampling setting.
    let t = Instant::now();
    let plan = EvalPlan {
        data: &eval_path,
        template: cfg.template,
        samplings: &cfg.eval_sampling,
        n: cfg.eval_n,
        max_tokens: cfg.max_response_tokens,
        seed: cfg.seed ^ 0xE7A1,
    };
    let settings = cfg.eval_sampling.len();
    let mut per_setting: Vec<Vec<ModelEval>> = vec![Vec::new(); settings];
    let mut add = |name: &str, dirs: &[PathBuf]| -> Result<()> {
        let mut rows: Vec<Vec<eval::EvalRow>> = vec![Vec::new(); settings];
        for d in dirs {
            for (j, r) in eval_model(name, d, &plan)?.into_iter().enumerate() {
                rows[j].push(r);
            }
        }
        for (j, seeds) in rows.into_iter().enumerate() {
            per_setting[j].push(ModelEval {
                name: name.to_string(),
                seeds,
            });
        }
        Ok(())
    };
    add("base", std::slice::from_ref(&base))?;
    for (r, ckpts) in &runs {
        add(&r.name, ckpts)?;
    }
    log(&format!(
        "evaluated {} models on {} problems × {} samples at {} sampling setting(s)",
        1 + runs.len() * cfg.rl_seeds,
        data.eval.len(),
        cfg.eval_n,
        settings
    ));
    phases.push(("held-out evaluation".to_string(), t.elapsed().as_secs_f64()));

    // (d) Paired comparisons and verdicts.
    let evals = cfg
        .eval_sampling
        .iter()
        .zip(per_setting)
        .map(|(&sampling, models)| {
            let comparisons = compare_with_base(&models, cfg.eval_n, cfg.seed)?;
            Ok(SamplingOutcome {
                sampling,
                models,
                comparisons,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let claims = claim_lines(&evals[0].models, cfg.eval_n, cfg.seed)?;

    // (e) Plots and the report.
    for e in &evals {
        write_passk_plot(
            &out.join(format!("passk-{}", e.sampling.slug())),
            &format!("Pass@k on held-out problems, {}", e.sampling),
            &e.models,
        )?;
    }
    curves::write_curve_plots(out, &curves)?;
    let outcome = DemoOutcome {
        evals,
        claims,
        entropy,
        curves,
        timing: Timing {
            wall_s: t0.elapsed().as_secs_f64(),
            cpu_s: process_cpu_secs().zip(cpu0).map(|(b, a)| b - a),
            phases,
        },
    };
    report::write_report(cfg, &outcome, data.eval.len())?;
    Ok(outcome)
}
