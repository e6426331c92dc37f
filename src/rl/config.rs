//! Training configuration: every field is a TOML key (`--config run.toml`) and a CLI flag (the
//! CLI overrides the file); presets carry the paper's values.
use super::dp::ZeroStage;
use super::objective::{Objective, ObjectiveKind, PsrNsrMode};
use crate::generate::sampling::SamplingParams;
use crate::optim::AdamWConfig;
use crate::tensor::DType;
use crate::tokenizer::ChatTemplate;
use crate::verify::Mode as Verifier;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Where rollouts are sampled when the policy update runs on a kernel device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Rollouts {
    /// The updated bf16 policy on the device, so sampler and trainer log-probs agree.
    #[default]
    Device,
    /// The f32 host copy of the policy.
    Cpu,
}

/// How the CPU stores the policy's weights while it samples rollouts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum RolloutWeights {
    /// The trainer's f32 weights: rollouts sample exactly the policy being trained.
    #[default]
    F32,
    /// Weights rounded to bf16 (half the bytes to stream per decode step; f32 arithmetic). The
    /// samples then come from a policy a rounding away from the trained one; the update's old
    /// log-probs are still scored with the f32 weights, so the importance ratio stays exact.
    Bf16,
}

/// Keys a written config leaves out at their default value, with that value (still valid keys
/// of a `--config` file).
pub const KEYS_OMITTED_AT_DEFAULT: &[(&str, &str)] = &[("rollout_weights", "f32")];

impl RolloutWeights {
    pub fn is_f32(&self) -> bool {
        *self == RolloutWeights::F32
    }
    pub fn dtype(self) -> DType {
        match self {
            RolloutWeights::F32 => DType::F32,
            RolloutWeights::Bf16 => DType::BF16,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    pub model: PathBuf,
    pub data: Vec<PathBuf>,
    pub val_data: Vec<PathBuf>,
    pub output: PathBuf,
    pub objective: ObjectiveKind,
    /// λ of W-REINFORCE (weight on positive samples).
    pub lambda: f32,
    pub psr_nsr_mode: PsrNsrMode,
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
    /// Entropy bonus. Default 1e-3, what the paper's released training scripts run (its config
    /// default, which no script overrides); the paper's text says 1e-4. Every metrics line
    /// records the value used (`actor/entropy_coef`).
    pub entropy_coef: f32,
    /// GRPO's k3 KL loss coefficient (0 disables the reference model).
    pub kl_coef: f32,
    /// PPO's k1 KL penalty in the reward.
    pub ppo_kl_coef: f32,
    pub critic_lr: f32,
    pub value_clip: f32,
    pub seed: u64,
    /// Chat template (see `rlvr train --help`); unset (`""` in TOML) = the model family's
    /// default.
    #[serde(with = "template_or_default")]
    pub template: Option<ChatTemplate>,
    pub save_every: usize,
    pub val_every: usize,
    pub val_max_problems: usize,
    pub max_tokens_per_micro_batch: usize,
    /// Rollout sequences decoded at once.
    pub rollout_batch: usize,
    /// Weight storage of rollouts sampled on the CPU. Left out of the written config and the
    /// fingerprint while f32, so runs from before the setting existed resume unchanged.
    #[serde(skip_serializing_if = "RolloutWeights::is_f32")]
    pub rollout_weights: RolloutWeights,
    /// The released code's scheduler quirk: the whole first RL step runs at lr 0 for the policy
    /// and the critic (their Adam moments and step counts still advance). Off unless asked for.
    pub lr_zero_first_step: bool,
    /// verl's micro-batch scaling gives a short mini-batch a proportionally smaller gradient
    /// (len/nominal). On by default (faithful to the paper's code).
    pub short_minibatch_downweight: bool,
    pub verifier: Verifier,
    /// Data parallel: each mini-batch's gradient is summed from this many shards, in order
    /// (0 = the number of processes, or the resumed checkpoint's value). Results depend on it,
    /// not on the number of processes.
    pub dp_shards: usize,
    /// ZeRO stage: 0, or 1 to shard the AdamW moments and master-weight updates across ranks.
    pub zero: ZeroStage,
    /// Recompute each layer in the backward instead of keeping its activations (same
    /// gradients; less memory, about one more forward of time).
    pub activation_checkpointing: bool,
    /// With the update on a device (`--device cuda|emu`): where rollouts are sampled.
    pub rollouts: Rollouts,
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
            objective: ObjectiveKind::WReinforce,
            lambda: 0.1,
            psr_nsr_mode: PsrNsrMode::Filter,
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
            entropy_coef: 1e-3,
            kl_coef: 1e-3,
            ppo_kl_coef: 1e-3,
            critic_lr: 1e-5,
            value_clip: 0.5,
            seed: 1,
            template: None,
            save_every: 7,
            val_every: 7,
            val_max_problems: 0,
            max_tokens_per_micro_batch: 16384,
            rollout_batch: 64,
            rollout_weights: RolloutWeights::F32,
            lr_zero_first_step: false,
            short_minibatch_downweight: true,
            verifier: Verifier::Correct,
            dp_shards: 0,
            zero: ZeroStage::Off,
            activation_checkpointing: false,
            rollouts: Rollouts::Device,
            nccl: false,
        }
    }
}

/// Named settings (`--preset`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Preset {
    /// The paper's Qwen2.5-Math-7B runs.
    #[value(name = "paper-qwen2.5-math-7b")]
    PaperQwen25Math7b,
    /// The paper's Qwen3-4B runs (non-thinking, long responses).
    #[value(name = "paper-qwen3-4b")]
    PaperQwen3_4b,
    /// Small enough for 2 CPU cores.
    TinyCpu,
}

impl TrainConfig {
    pub fn preset(preset: Preset) -> TrainConfig {
        let base = TrainConfig::default();
        match preset {
            // 1024 prompts × 8, mini-batch 256, lr 1e-6, 1024 + 3072 tokens, 140 steps.
            Preset::PaperQwen25Math7b => TrainConfig {
                steps: 140,
                template: Some(ChatTemplate::PaperQwen),
                max_prompt_tokens: 1024,
                max_response_tokens: 3072,
                ..base
            },
            Preset::PaperQwen3_4b => TrainConfig {
                steps: 140,
                template: Some(ChatTemplate::PaperQwen3NoThink),
                max_prompt_tokens: 1024,
                max_response_tokens: 31744,
                ..base
            },
            Preset::TinyCpu => TrainConfig {
                steps: 20,
                prompts_per_step: 16,
                n: 8,
                mini_batch_prompts: 4,
                lr: 1e-4,
                max_prompt_tokens: 64,
                max_response_tokens: 24,
                template: Some(ChatTemplate::Plain),
                save_every: 10,
                val_every: 10,
                ..base
            },
        }
    }

    pub fn objective(&self) -> Objective {
        Objective::new(self.objective, self.lambda)
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
        super::config_check::check_ranges(self)?;
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
        Ok(())
    }
}

/// `template` in TOML: a template name, or `""` for the model family's default.
mod template_or_default {
    use crate::tokenizer::ChatTemplate;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<ChatTemplate>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(t.map_or("", |t| t.name()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ChatTemplate>, D::Error> {
        let name = String::deserialize(d)?;
        if name.is_empty() {
            return Ok(None);
        }
        name.parse().map(Some).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> std::result::Result<TrainConfig, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn closed_sets_accept_the_spellings_config_files_use() {
        let c = parse(
            "objective = \"weighted\"\npsr_nsr_mode = \"mask\"\ntemplate = \"\"\n\
             verifier = \"paper\"\nzero = 1\nrollouts = \"cpu\"\n",
        )
        .unwrap();
        assert_eq!(c.objective, ObjectiveKind::WReinforce);
        assert_eq!(c.psr_nsr_mode, PsrNsrMode::Mask);
        assert_eq!(c.template, None);
        assert_eq!(c.verifier, Verifier::Paper);
        assert_eq!(c.zero, ZeroStage::One);
        assert_eq!(c.rollouts, Rollouts::Cpu);
        for (name, kind) in [
            ("w-reinforce", ObjectiveKind::WReinforce),
            ("wreinforce", ObjectiveKind::WReinforce),
            ("grpo", ObjectiveKind::Grpo),
        ] {
            let c = parse(&format!("objective = \"{name}\"")).unwrap();
            assert_eq!(c.objective, kind);
        }
        let c = parse("template = \"paper-qwen3-nothink\"\nzero = 0").unwrap();
        assert_eq!(c.template, Some(ChatTemplate::PaperQwen3NoThink));
        assert_eq!(c.zero, ZeroStage::Off);
    }

    #[test]
    fn unknown_values_are_named_in_the_error() {
        for (text, word) in [
            ("objective = \"ppo2\"", "ppo2"),
            ("psr_nsr_mode = \"drop\"", "drop"),
            ("template = \"qwen9\"", "qwen9"),
            ("verifier = \"loose\"", "loose"),
            ("rollouts = \"gpu\"", "gpu"),
            ("zero = 2", "2"),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(word), "{text}: {e}");
        }
    }

    #[test]
    fn paper_presets_follow_the_released_code() {
        for p in [Preset::PaperQwen25Math7b, Preset::PaperQwen3_4b] {
            let c = TrainConfig::preset(p);
            assert_eq!(c.entropy_coef, 1e-3, "{p:?}");
            assert!(!c.lr_zero_first_step, "{p:?}: the lr-0 quirk is opt-in");
        }
    }

    #[test]
    fn a_written_config_reads_back_the_same() {
        for &p in <Preset as clap::ValueEnum>::value_variants() {
            let c = TrainConfig::preset(p);
            let text = toml::to_string_pretty(&c).unwrap();
            assert_eq!(parse(&text).unwrap(), c, "{p:?}");
        }
        let text = toml::to_string_pretty(&TrainConfig::default()).unwrap();
        assert!(
            text.contains("template = \"\"") && text.contains("zero = 0"),
            "{text}"
        );
        assert!(text.contains("objective = \"w-reinforce\""), "{text}");
    }
}
