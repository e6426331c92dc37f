//! A training run's state and its directory: opening a run (model, data, policy, reference,
//! critic, log files) or resuming one from its newest checkpoint, recording metrics, and saving
//! checkpoints. `step` runs one RL step on it.
use super::checkpoint::{self, CheckpointParts};
use super::config::TrainConfig;
use super::dp::DataParallel;
use super::objective::Objective;
use super::opening::{fingerprint, prepare_run_dir, record_fingerprint, Opening};
use super::policy::{Frozen, Policy};
use super::ppo::Critic;
use super::prompts::load_prompts;
use super::rollout::PromptItem;
use super::validate::{validation_sampling, ValidationSettings};
use crate::backend::cuda::device::KernelDevice;
use crate::dist::Comm;
use crate::generate::prompts::{model_type, stop_tokens};
use crate::model::Model;
use crate::tokenizer::{ChatTemplate, Tokenizer};
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};

pub struct Run<'a> {
    pub(super) cfg: &'a TrainConfig,
    pub(super) dp: DataParallel<'a>,
    pub(super) objective: Objective,
    pub(super) tok: Tokenizer,
    /// Token ids that end a response.
    pub(super) stop: Vec<u32>,
    pub(super) train_items: Vec<PromptItem>,
    pub(super) val_items: Vec<PromptItem>,
    /// How validation answers are drawn (the model family's protocol).
    pub(super) val: ValidationSettings,
    pub(super) policy: Policy<'a>,
    /// The initial policy, for GRPO's KL loss and PPO's KL penalty.
    pub(super) reference: Option<Frozen<'a>>,
    /// PPO's value model.
    pub(super) critic: Option<Critic>,
    /// The first step to run: 0, or the step of the checkpoint resumed from.
    pub start: usize,
    /// `metrics.jsonl` on rank 0.
    metrics: Box<dyn Write>,
}

impl<'a> Run<'a> {
    /// Opens the run of `cfg` as one rank of `comm` (every rank calls this with the same config),
    /// continuing from the newest checkpoint in its directory when `resume`. Rank 0 alone writes
    /// the run directory. With `device` the policy update (and its scoring) runs there.
    pub fn open(
        cfg: &'a TrainConfig,
        opening: &Opening,
        comm: &'a dyn Comm,
        device: Option<&'a dyn KernelDevice>,
    ) -> Result<Self> {
        cfg.validate()?;
        let resume = opening.resume;
        let root = comm.rank() == 0;
        if root {
            prepare_run_dir(cfg, opening)?;
            checkpoint::remove_interrupted(&cfg.output)?;
        }
        let objective = cfg.objective();
        let mut model =
            Model::load(&cfg.model).with_context(|| format!("loading {}", cfg.model.display()))?;
        model.activation_checkpointing = cfg.activation_checkpointing;
        let tok = Tokenizer::for_model(&cfg.model, model.config.vocab_size)?;
        let template = cfg.template.unwrap_or_else(|| {
            ChatTemplate::default_for(model.config.raw["model_type"].as_str().unwrap_or(""))
        });
        let stop = stop_tokens(Some(&cfg.model), &model.config, &tok, template)?;
        let val = ValidationSettings {
            params: validation_sampling(&model_type(&model.config)),
            max_tokens: cfg.max_response_tokens,
            stop: stop.clone(),
            verifier: cfg.verifier,
            seed: cfg.seed,
        };
        let (train_items, dropped) =
            load_prompts(&cfg.data, &tok, template, cfg.max_prompt_tokens)?;
        let (mut val_items, _) =
            load_prompts(&cfg.val_data, &tok, template, cfg.max_prompt_tokens)?;
        if cfg.val_max_problems > 0 {
            val_items.truncate(cfg.val_max_problems);
        }
        let from = if resume {
            resume_point(cfg, comm)?
        } else {
            None
        };
        if let Some((step, dir)) = &from {
            if *step >= cfg.steps {
                bail!(
                    "{}: the run is complete at step {step} (steps = {}); pass a larger --steps to continue it",
                    dir.display(),
                    cfg.steps
                );
            }
        }
        let shards = match (cfg.dp_shards, &from) {
            (0, Some((_, dir))) => checkpoint_shards(dir)?,
            (0, None) => comm.world_size(),
            (s, _) => s,
        };
        let dp = DataParallel {
            comm,
            shards,
            zero: cfg.zero.is_sharded(),
        };
        if cfg.nccl && device.is_none() {
            bail!("--nccl moves device buffers: it needs --device cuda");
        }
        let mut log: Box<dyn Write> = if root {
            let start = from.as_ref().map_or(0, |f| f.0);
            record_fingerprint(cfg, opening, start, &fingerprint(cfg)?)?;
            crate::util::write_atomic(
                &cfg.output.join("config.toml"),
                toml::to_string_pretty(cfg)?.as_bytes(),
            )?;
            Box::new(append(&cfg.output.join("log.txt"))?)
        } else {
            Box::new(std::io::sink())
        };
        writeln!(log, "objective {} | {} training prompts ({dropped} dropped as longer than {} tokens) | template {template:?}", objective.name(), train_items.len(), cfg.max_prompt_tokens)?;
        writeln!(
            log,
            "entropy coefficient {} | stop tokens {stop:?}",
            cfg.entropy_coef
        )?;
        if dp.is_parallel() {
            writeln!(log, "data parallel: {}", dp.describe())?;
        }

        // The reference and the critic start from the initial policy, also when resuming.
        let needs_ref = matches!(objective, Objective::Ppo)
            || (matches!(objective, Objective::Grpo) && cfg.kl_coef > 0.0);
        let reference = needs_ref.then(|| Frozen::cpu(&model));
        let mut opt = dp.optimizer(cfg.adamw(), &model.params);
        let mut critic = if objective == Objective::Ppo {
            Some(Critic::from_policy(&model, cfg, &dp)?)
        } else {
            None
        };
        let mut start = 0;
        let metrics_path = cfg.output.join("metrics.jsonl");
        if resume {
            if let Some((step, dir)) = from {
                let saved = Model::load(&dir)?;
                same_architecture(&model, &saved, &cfg.model, &dir)?;
                model.params = saved.params;
                dp.load_optimizer(&mut opt, &dir.join("optimizer.safetensors"), &model.params)?;
                if let Some(c) = critic.as_mut() {
                    c.load(&dir.join("critic"), &dp)?;
                }
                start = step;
                writeln!(log, "resumed from {} (step {step})", dir.display())?;
            }
            if root {
                truncate_metrics(&metrics_path, start)?;
            }
        } else if root && metrics_path.exists() {
            std::fs::remove_file(&metrics_path)
                .with_context(|| format!("removing {}", metrics_path.display()))?;
        }
        let policy = match device {
            Some(dev) => {
                // How device buffers travel between ranks: NCCL, or staged through `comm`.
                let device_comm = crate::dist::device_comm::device_comm_for(comm, dev, cfg.nccl)?;
                let owned = dp.owned(&model.params);
                let samples_here = cfg.rollouts == super::config::Rollouts::Device;
                Policy::on_device(
                    model,
                    dev,
                    device_comm,
                    cfg.adamw(),
                    owned,
                    Some(&opt),
                    samples_here,
                )?
            }
            None => Policy::cpu(model, opt),
        }
        .with_rollout_weights(cfg.rollout_weights.dtype());
        // On a device the reference scores there too, so KL(π‖π_ref) starts at 0.
        let reference = reference.map(|r| r.to_device(device)).transpose()?;
        if let Some(place) = policy.describe() {
            writeln!(log, "{place}")?;
        }
        if !cfg.rollout_weights.is_f32() {
            writeln!(log, "rollouts sampled on the CPU read bf16-rounded weights")?;
        }
        let metrics: Box<dyn Write> = if root {
            Box::new(append(&metrics_path)?)
        } else {
            Box::new(std::io::sink())
        };
        Ok(Run {
            cfg,
            dp,
            objective,
            tok,
            stop,
            train_items,
            val_items,
            val,
            policy,
            reference,
            critic,
            start,
            metrics,
        })
    }

    /// Appends a line (a step's metrics, or the final validation) to `metrics.jsonl`.
    pub fn record<T: serde::Serialize>(&mut self, line: &T) -> Result<()> {
        writeln!(self.metrics, "{}", serde_json::to_string(line)?)?;
        self.metrics.flush()?;
        Ok(())
    }

    /// Whether the run saves a checkpoint after `done` steps (every `save_every`, and at the end).
    pub fn checkpoint_due(&self, done: usize) -> bool {
        (self.cfg.save_every > 0 && done.is_multiple_of(self.cfg.save_every))
            || done == self.cfg.steps
    }

    /// Saves the checkpoint after `done` steps and returns its directory once every rank knows
    /// it exists. Rank 0 writes it; under ZeRO-1 the optimizer state is gathered there first (a
    /// collective), and on a device the weights and moments come to the host for it.
    pub fn checkpoint(&mut self, done: usize) -> Result<PathBuf> {
        let cfg = self.cfg;
        let (model, opt) = self.policy.checkpoint_state(&self.dp)?;
        let full_opt = self.dp.gather_optimizer(&opt, &model.params)?;
        let critic_all = self.critic.as_ref().map(|c| c.all_params());
        let critic_opt = match (&self.critic, &critic_all) {
            (Some(c), Some(all)) => self.dp.gather_optimizer(&c.opt, all)?,
            _ => None,
        };
        if self.dp.is_root() {
            let critic_parts = self.critic.as_ref().map(|c| {
                (
                    &c.model,
                    c.head.as_slice(),
                    critic_opt.as_ref().unwrap_or(&c.opt),
                )
            });
            checkpoint::save(
                &cfg.output,
                done,
                CheckpointParts {
                    model,
                    source_dir: &cfg.model,
                    optimizer: full_opt.as_ref().unwrap_or(&opt),
                    state: json!({
                        "step": done,
                        "objective": self.objective.name(),
                        "dp_shards": self.dp.shards,
                    }),
                    critic: critic_parts,
                },
            )?;
        }
        // Nobody reports a checkpoint before it exists.
        self.dp.comm.barrier()?;
        Ok(checkpoint::step_dir(&cfg.output, done))
    }
}

/// A log of the run directory: every line lands whole (a full disk leaves no half line).
fn append(path: &Path) -> Result<crate::util::append::Appender> {
    crate::util::append::Appender::open(path)
}

/// Drops the lines of steps at or after `before_step` (a resumed run writes them again).
fn truncate_metrics(path: &Path, before_step: usize) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let kept: String = text
        .lines()
        .filter(|l| {
            serde_json::from_str::<Value>(l)
                .ok()
                .and_then(|v| v["step"].as_u64())
                .is_some_and(|s| (s as usize) < before_step)
        })
        .map(|l| format!("{l}\n"))
        .collect();
    crate::util::write_atomic(path, kept.as_bytes())
}

/// The checkpoint a resumed run starts from: rank 0 looks, every rank gets its answer.
fn resume_point(cfg: &TrainConfig, comm: &dyn Comm) -> Result<Option<(usize, PathBuf)>> {
    let mut msg = Vec::new();
    if comm.rank() == 0 {
        if let Some((step, dir)) = checkpoint::latest(&cfg.output)? {
            msg = format!("{step}\n{}", dir.display()).into_bytes();
        }
    }
    comm.broadcast_bytes(0, &mut msg)?;
    if msg.is_empty() {
        return Ok(None);
    }
    let text = String::from_utf8(msg)?;
    let (step, dir) = text
        .split_once('\n')
        .context("malformed resume message from rank 0")?;
    Ok(Some((step.parse()?, PathBuf::from(dir))))
}

/// A checkpoint continues the model of `--model` only if their shapes agree; otherwise say which
/// size differs instead of failing later on an optimizer tensor's element count.
fn same_architecture(model: &Model, saved: &Model, model_dir: &Path, ckpt: &Path) -> Result<()> {
    let (a, b) = (&model.config, &saved.config);
    for (key, x, y) in [
        ("vocab_size", a.vocab_size, b.vocab_size),
        ("hidden_size", a.hidden_size, b.hidden_size),
        (
            "intermediate_size",
            a.intermediate_size,
            b.intermediate_size,
        ),
        ("num_hidden_layers", a.num_layers, b.num_layers),
        ("num_attention_heads", a.num_heads, b.num_heads),
        ("num_key_value_heads", a.num_kv_heads, b.num_kv_heads),
        ("head_dim", a.head_dim, b.head_dim),
    ] {
        if x != y {
            bail!(
                "{}: the checkpoint's architecture differs from the model {} ({key} {y} in the checkpoint, {x} in the model): resume with the model the run started from",
                ckpt.display(),
                model_dir.display()
            );
        }
    }
    Ok(())
}

/// The gradient shards of a checkpointed run (1 for checkpoints without `dp_shards`).
fn checkpoint_shards(dir: &Path) -> Result<usize> {
    let path = dir.join("trainer_state.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let v: Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: malformed JSON", path.display()))?;
    Ok(v["dp_shards"].as_u64().unwrap_or(1).max(1) as usize)
}
