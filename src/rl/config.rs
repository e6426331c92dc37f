//! Training configuration: every field is a TOML key (`--config run.toml`) and a CLI flag (the
//! CLI overrides the file); presets carry the paper's values (method.md §1.8, §2).
use super::objective::{Objective, PsrNsrMode};
use crate::generate::sampling::SamplingParams;
use crate::optim::AdamWConfig;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    pub model: PathBuf,
    pub data: Vec<PathBuf>,
    pub val_data: Vec<PathBuf>,
    pub output: PathBuf,
    /// psr | nsr | w-reinforce | reinforce | grpo | ppo
    pub objective: String,
    /// λ of W-REINFORCE (weight on positive samples).
    pub lambda: f32,
    /// filter (the paper's code) | mask
    pub psr_nsr_mode: String,
    pub steps: usize,
    pub prompts_per_step: usize,
    pub n: usize,
    pub mini_batch_prompts: usize,
    pub clip_eps: f32,
    pub lr: f32,
    pub weight_decay: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub adam_eps: f32,
    pub grad_clip: f32,
    pub temperature: f32,
    pub top_p: f32,
    pub top_k: usize,
    pub max_prompt_tokens: usize,
    pub max_response_tokens: usize,
    /// Paper text: 1e-4; the released code runs 1e-3.
    pub entropy_coef: f32,
    /// GRPO's k3 KL loss coefficient (0 disables the reference model).
    pub kl_coef: f32,
    /// PPO's k1 KL penalty in the reward.
    pub ppo_kl_coef: f32,
    pub critic_lr: f32,
    pub value_clip: f32,
    pub seed: u64,
    /// Chat template name (see `rlvr train --help`); empty = the model family's default.
    pub template: String,
    pub save_every: usize,
    pub val_every: usize,
    pub val_max_problems: usize,
    pub max_tokens_per_micro_batch: usize,
    /// Rollout sequences decoded at once.
    pub rollout_batch: usize,
    /// verl quirk: the whole first RL step runs at lr 0. Off unless asked for.
    pub lr_zero_first_step: bool,
    /// verl's micro-batch scaling gives a short mini-batch a proportionally smaller gradient
    /// (len/nominal). On by default (faithful to the paper's code).
    pub short_minibatch_downweight: bool,
    /// Verifier mode: correct | paper
    pub verifier: String,
    /// Data parallel: each mini-batch's gradient is summed from this many shards, in order
    /// (0 = the number of processes, or the resumed checkpoint's value). Results depend on it,
    /// not on the number of processes.
    pub dp_shards: usize,
    /// ZeRO stage: 0, or 1 to shard the AdamW moments and master-weight updates across ranks.
    pub zero: usize,
    /// Recompute each layer in the backward instead of keeping its activations (same
    /// gradients; less memory, about one more forward of time).
    pub activation_checkpointing: bool,
    /// With the update on a device (`--device cuda|emu`): where rollouts are sampled, `device`
    /// (the updated bf16 policy on the device, the default) or `cpu` (the f32 host copy).
    pub rollouts: String,
    /// With --device cuda: move the data-parallel update's device buffers with NCCL (build with
    /// `--features nccl`) instead of staging them through the host communicator.
    pub nccl: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            model: PathBuf::new(),
            data: vec![],
            val_data: vec![],
            output: PathBuf::from("runs/run"),
            objective: "w-reinforce".into(),
            lambda: 0.1,
            psr_nsr_mode: "filter".into(),
            steps: 10,
            prompts_per_step: 1024,
            n: 8,
            mini_batch_prompts: 256,
            clip_eps: 0.2,
            lr: 1e-6,
            weight_decay: 0.01,
            beta1: 0.9,
            beta2: 0.999,
            adam_eps: 1e-8,
            grad_clip: 1.0,
            temperature: 1.0,
            top_p: 1.0,
            top_k: 0,
            max_prompt_tokens: 1024,
            max_response_tokens: 3072,
            entropy_coef: 1e-4,
            kl_coef: 1e-3,
            ppo_kl_coef: 1e-3,
            critic_lr: 1e-5,
            value_clip: 0.5,
            seed: 1,
            template: String::new(),
            save_every: 7,
            val_every: 7,
            val_max_problems: 0,
            max_tokens_per_micro_batch: 16384,
            rollout_batch: 64,
            lr_zero_first_step: false,
            short_minibatch_downweight: true,
            verifier: "correct".into(),
            dp_shards: 0,
            zero: 0,
            activation_checkpointing: false,
            rollouts: "device".into(),
            nccl: false,
        }
    }
}

/// Named presets with the paper's settings.
pub const PRESETS: &[&str] = &["paper-qwen2.5-math-7b", "paper-qwen3-4b", "tiny-cpu"];

impl TrainConfig {
    pub fn preset(name: &str) -> Result<TrainConfig> {
        let base = TrainConfig::default();
        Ok(match name {
            // method.md §2: 1024 prompts × 8, mini-batch 256, lr 1e-6, 1024 + 3072 tokens, 140 steps.
            "paper-qwen2.5-math-7b" => TrainConfig {
                steps: 140,
                template: "paper-qwen".into(),
                max_prompt_tokens: 1024,
                max_response_tokens: 3072,
                ..base
            },
            "paper-qwen3-4b" => TrainConfig {
                steps: 140,
                template: "paper-qwen3-nothink".into(),
                max_prompt_tokens: 1024,
                max_response_tokens: 31744,
                ..base
            },
            // Small enough for 2 CPU cores.
            "tiny-cpu" => TrainConfig {
                steps: 20,
                prompts_per_step: 16,
                n: 8,
                mini_batch_prompts: 4,
                lr: 1e-4,
                max_prompt_tokens: 64,
                max_response_tokens: 24,
                template: "plain".into(),
                save_every: 10,
                val_every: 10,
                ..base
            },
            other => bail!("unknown preset `{other}` (known: {})", PRESETS.join(", ")),
        })
    }

    pub fn objective(&self) -> Result<Objective> {
        Objective::parse(&self.objective, self.lambda)
    }

    pub fn psr_nsr_mode(&self) -> Result<PsrNsrMode> {
        self.psr_nsr_mode.parse()
    }

    pub fn sampling(&self) -> SamplingParams {
        SamplingParams {
            temperature: self.temperature,
            top_p: self.top_p,
            top_k: self.top_k,
            min_p: 0.0,
            greedy: false,
        }
    }

    pub fn adamw(&self) -> AdamWConfig {
        AdamWConfig {
            lr: self.lr,
            beta1: self.beta1,
            beta2: self.beta2,
            eps: self.adam_eps,
            weight_decay: self.weight_decay,
        }
    }

    pub fn validate(&self) -> Result<()> {
        self.objective()?;
        self.psr_nsr_mode()?;
        self.sampling().validate()?;
        if self.model.as_os_str().is_empty() {
            bail!("no model given (--model or `model` in the config file)");
        }
        if self.data.is_empty() {
            bail!("no training data given (--data or `data` in the config file)");
        }
        if self.n == 0 || self.prompts_per_step == 0 || self.mini_batch_prompts == 0 {
            bail!("n, prompts_per_step and mini_batch_prompts must be positive");
        }
        if !self
            .prompts_per_step
            .is_multiple_of(self.mini_batch_prompts)
        {
            bail!(
                "prompts_per_step ({}) must be a multiple of mini_batch_prompts ({})",
                self.prompts_per_step,
                self.mini_batch_prompts
            );
        }
        if !(self.clip_eps > 0.0 && self.clip_eps < 1.0) {
            bail!("clip_eps must be in (0, 1), got {}", self.clip_eps);
        }
        if self.zero > 1 {
            bail!("zero must be 0 or 1 (ZeRO-1), got {}", self.zero);
        }
        if self.rollouts != "device" && self.rollouts != "cpu" {
            bail!(
                "rollouts must be `device` or `cpu`, got `{}`",
                self.rollouts
            );
        }
        if self.verifier != "correct" && self.verifier != "paper" {
            bail!(
                "verifier must be `correct` or `paper`, got `{}`",
                self.verifier
            );
        }
        Ok(())
    }
}
