//! `rlvr demo`: PSR vs NSR vs W-REINFORCE (and GRPO) on a laptop, no arguments needed.
use crate::demo::evidence::comparison_table;
use crate::demo::{markdown_table, run_demo, DemoConfig};
use crate::rl::ObjectiveKind;
use crate::tokenizer::ChatTemplate;
use anyhow::Result;
use std::path::PathBuf;

/// Build a small base model (or use --model), train it with PSR, NSR, W-REINFORCE and GRPO on a
/// verifiable synthetic task, evaluate Pass@k on held-out problems (every model with the same
/// per-problem sample seeds), compare each model with the base (ΔPass@k at k = 1, 8, n with
/// paired bootstrap 95% intervals; problems lost and gained), print a computed verdict
/// (supported / not supported / inconclusive at 95%) on "PSR loses Pass@n", "NSR keeps it" and
/// "W-REINFORCE is best over the whole curve", and write OUTPUT/report.md, passk.svg/.png and
/// training curves. Runs on the CPU in minutes.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Output directory.
    #[arg(long, default_value = "demo-out")]
    pub output: PathBuf,
    /// Start from this model (e.g. models/smollm2-135m-instruct) instead of pretraining a tiny one.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Task: add2 (two-digit addition/subtraction) | arithmetic | linear | word | mixed.
    #[arg(long, default_value = "add2")]
    pub task: String,
    /// Task difficulty 1–10.
    #[arg(long, default_value_t = 2)]
    pub difficulty: u32,
    /// Objectives to compare (comma-separated).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "psr,nsr,w-reinforce,grpo"
    )]
    pub objectives: Vec<ObjectiveKind>,
    /// SFT steps that make the tiny base model.
    #[arg(long, default_value_t = 3000)]
    pub sft_steps: usize,
    /// RL steps per objective.
    #[arg(long, default_value_t = 60)]
    pub steps: usize,
    /// Prompts per RL step.
    #[arg(long, default_value_t = 32)]
    pub prompts_per_step: usize,
    /// Samples per prompt during RL.
    #[arg(long, default_value_t = 8)]
    pub n: usize,
    /// RL learning rate.
    #[arg(long, default_value_t = 5e-5)]
    pub lr: f32,
    /// Held-out problems.
    #[arg(long, default_value_t = 64)]
    pub eval_problems: usize,
    /// Samples per held-out problem (Pass@k up to this k).
    #[arg(long, default_value_t = 64)]
    pub eval_n: usize,
    /// Sampling temperature for the evaluation.
    #[arg(long, default_value_t = 1.0)]
    pub eval_temperature: f32,
    /// Response token limit.
    #[arg(long, default_value_t = 8)]
    pub max_response_tokens: usize,
    /// Chat template (plain for the tiny model; e.g. smollm2 with --model).
    #[arg(long, value_enum, default_value_t = ChatTemplate::Plain)]
    pub template: ChatTemplate,
    /// SFT response format for the tiny model (`{answer}` is replaced).
    #[arg(long, default_value = "{answer}")]
    pub response_format: String,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Backend (the demo runs on the CPU backend).
    #[arg(long, value_enum, default_value_t = super::device::DeviceArg::Cpu)]
    pub device: super::device::DeviceArg,
}

pub fn run(a: Args) -> Result<()> {
    a.device.require_model_backend()?;
    let cfg = DemoConfig {
        output: a.output,
        model: a.model,
        task: a.task,
        difficulty: a.difficulty,
        objectives: a.objectives,
        sft_steps: a.sft_steps,
        rl_steps: a.steps,
        prompts_per_step: a.prompts_per_step,
        n: a.n,
        lr: a.lr,
        eval_problems: a.eval_problems,
        eval_n: a.eval_n,
        eval_temperature: a.eval_temperature,
        max_response_tokens: a.max_response_tokens,
        template: a.template,
        response_format: a.response_format,
        seed: a.seed,
    };
    let out = run_demo(&cfg, &mut |s| eprintln!("[demo] {s}"))?;
    println!("{}", markdown_table(&out.rows));
    println!("{}", comparison_table(&out.comparisons));
    for c in &out.claims {
        println!("{c}");
    }
    println!("report: {}", cfg.output.join("report.md").display());
    Ok(())
}
