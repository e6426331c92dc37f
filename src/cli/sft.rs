//! `rlvr sft`: supervised fine-tuning on (prompt, answer) pairs.
use crate::rl::sft::{sft, SftConfig};
use anyhow::Result;
use std::path::PathBuf;

/// Supervised fine-tuning (or pretraining from scratch) on (prompt, answer) pairs through the
/// fused log-prob path: token-mean negative log-likelihood of the response (the formatted answer
/// followed by the model's EOS token).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Model directory to start from.
    #[arg(long)]
    pub model: PathBuf,
    /// verl parquet or JSONL (`prompt`, `answer`); repeatable.
    #[arg(long, num_args = 1.., required = true)]
    pub data: Vec<PathBuf>,
    /// Output model directory.
    #[arg(long)]
    pub output: PathBuf,
    /// Optimizer steps.
    #[arg(long, default_value_t = 200)]
    pub steps: usize,
    /// Sequences per step.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// AdamW learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f32,
    /// AdamW weight decay.
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f32,
    /// Seed for example order.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Chat template (see `rlvr train --help`).
    #[arg(long, default_value = "plain")]
    pub template: String,
    /// Response text; `{answer}` is replaced by the gold answer.
    #[arg(long, default_value = "\\boxed{{answer}}")]
    pub response_format: String,
    /// Skip examples longer than this (prompt + response tokens).
    #[arg(long, default_value_t = 512)]
    pub max_tokens: usize,
    /// Keep only each layer's input on the tape and recompute the layer in the backward:
    /// bit-identical gradients, far less activation memory, about 1.1–1.2× the step time.
    #[arg(long)]
    pub activation_checkpointing: bool,
}

pub fn run(a: Args) -> Result<()> {
    let cfg = SftConfig {
        model: a.model,
        data: a.data,
        output: a.output.clone(),
        steps: a.steps,
        batch_size: a.batch_size.max(1),
        lr: a.lr,
        weight_decay: a.weight_decay,
        grad_clip: 1.0,
        seed: a.seed,
        template: a.template.parse()?,
        response_format: a.response_format,
        max_tokens: a.max_tokens,
        activation_checkpointing: a.activation_checkpointing,
    };
    std::fs::create_dir_all(&a.output)?;
    let losses = sft(&cfg, Some(&a.output.join("sft_log.jsonl")))?;
    println!(
        "{}",
        serde_json::json!({"first_loss": losses.first(), "last_loss": losses.last(), "steps": losses.len()})
    );
    Ok(())
}
