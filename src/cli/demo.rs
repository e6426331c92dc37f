//! `rlvr demo`: PSR vs NSR vs W-REINFORCE vs REINFORCE on a laptop, no arguments needed.
use crate::demo::eval::{markdown_table, EvalSampling};
use crate::demo::{run_demo, DemoConfig};
use crate::eval::evidence::comparison_table;
use crate::rl::ObjectiveKind;
use crate::tokenizer::ChatTemplate;
use anyhow::Result;
use std::path::PathBuf;

/// Build a small base model (or use --model), train it with PSR, NSR, W-REINFORCE (λ = 0.1) and
/// REINFORCE (λ = 1) on a verifiable synthetic task, several RL seeds each, evaluate Pass@k on
/// held-out problems at the paper's T = 0.6 / top-p 0.95 and at T = 1 (every model with the same
/// per-problem sample seeds), compare each objective with the base (mean ± sd over seeds;
/// ΔPass@k at k = 1, 8, n with 95% intervals from a bootstrap over problems and seeds; problems
/// lost and gained), print a computed verdict (supported / not supported / inconclusive at 95%)
/// on "PSR loses Pass@n", "NSR keeps it" and "W-REINFORCE is best over the whole curve", and
/// write OUTPUT/report.md, Pass@k plots and training curves (entropy, fully solved fraction,
/// reward). The defaults fit in about 10 minutes on 2 idle CPU cores; --eval-problems,
/// --rl-seeds and --steps scale it up to the full protocol.
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
        default_value = "psr,nsr,w-reinforce,reinforce"
    )]
    pub objectives: Vec<ObjectiveKind>,
    /// SFT steps that make the tiny base model.
    #[arg(long, default_value_t = DemoConfig::default().sft_steps)]
    pub sft_steps: usize,
    /// RL steps per objective and seed.
    #[arg(long, default_value_t = DemoConfig::default().rl_steps)]
    pub steps: usize,
    /// Independent RL runs (seeds) per objective, all from the same base model.
    #[arg(long, default_value_t = DemoConfig::default().rl_seeds)]
    pub rl_seeds: usize,
    /// Prompts per RL step.
    #[arg(long, default_value_t = 32)]
    pub prompts_per_step: usize,
    /// Samples per prompt during RL.
    #[arg(long, default_value_t = 8)]
    pub n: usize,
    /// RL learning rate.
    #[arg(long, default_value_t = DemoConfig::default().lr)]
    pub lr: f32,
    /// Held-out problems.
    #[arg(long, default_value_t = DemoConfig::default().eval_problems)]
    pub eval_problems: usize,
    /// Samples per held-out problem (Pass@k up to this k).
    #[arg(long, default_value_t = 64)]
    pub eval_n: usize,
    /// Evaluation sampling settings, `T/top-p` (or `T` for top-p 1), comma-separated; the
    /// verdicts come from the first.
    #[arg(long, value_delimiter = ',', default_value = "0.6/0.95,1.0/1.0")]
    pub eval_sampling: Vec<EvalSampling>,
    /// Response token limit.
    #[arg(long, default_value_t = 8)]
    pub max_response_tokens: usize,
    /// Chat template (plain for the tiny model; e.g. smollm2 with --model).
    #[arg(long, value_enum, default_value_t = ChatTemplate::Plain)]
    pub template: ChatTemplate,
    /// SFT response format for the tiny model (`{answer}` is replaced).
    #[arg(long, default_value = "{answer}")]
    pub response_format: String,
    /// Seed of the data split, the base model's initialisation and SFT, and the first RL seed
    /// (the default gives a base whose Pass@k leaves room to lose and to gain coverage).
    #[arg(long, default_value_t = DemoConfig::default().seed)]
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
        rl_seeds: a.rl_seeds,
        prompts_per_step: a.prompts_per_step,
        n: a.n,
        lr: a.lr,
        eval_problems: a.eval_problems,
        eval_n: a.eval_n,
        eval_sampling: a.eval_sampling,
        max_response_tokens: a.max_response_tokens,
        template: a.template,
        response_format: a.response_format,
        seed: a.seed,
    };
    let out = run_demo(&cfg, &mut |s| eprintln!("[demo] {s}"))?;
    for e in &out.evals {
        println!("Pass@k (%) at {}, mean ± sd over RL seeds\n", e.sampling);
        println!("{}", markdown_table(&e.models, cfg.eval_n));
        println!("{}", comparison_table(&e.comparisons));
    }
    println!("The paper's claims (at {}):", out.primary().sampling);
    for c in &out.claims {
        println!("- {c}");
    }
    for e in &out.entropy {
        println!(
            "entropy {}: {:.3} -> {:.3} nats/token",
            e.name, e.start, e.end
        );
    }
    let cpu = out
        .timing
        .cpu_s
        .map_or("unknown".to_string(), |c| format!("{c:.0} s"));
    println!(
        "wall time {:.0} s, CPU time {cpu}; report: {}",
        out.timing.wall_s,
        cfg.output.join("report.md").display()
    );
    Ok(())
}
