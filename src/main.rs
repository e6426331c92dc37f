use clap::{Parser, Subcommand};

/// rlvr — reinforcement learning with verifiable rewards (PSR, NSR, W-REINFORCE, REINFORCE, GRPO,
/// PPO) for language-model reasoning, on its own CUDA kernels with a CPU reference backend.
#[derive(Parser)]
#[command(name = "rlvr", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Per-token log-probs and entropies of token sequences (JSONL in, JSONL out).
    Logprobs(rlvr::cli::logprobs::Args),
    /// Grade model responses against gold answers (JSONL in, JSONL out with `correct` and `pred`).
    Grade(rlvr::cli::grade::Args),
    /// Unbiased Pass@k of an evaluation JSONL (question_id + label per line), printed as JSON
    /// with values as fractions in [0, 1].
    Passk(rlvr::cli::passk::Args),
    /// Write a seeded synthetic task set (arithmetic, linear equations, word problems) as JSONL.
    MakeTask(rlvr::cli::make_task::Args),
    /// Measure where PSR, NSR, W-REINFORCE (or other objectives) push probability mass: token-level
    /// logit gradients and probability changes after one step, per-layer gradient norms, cosines.
    Analyze(rlvr::cli::analyze::Args),
}

fn main() {
    let cli = Cli::parse();
    let result: anyhow::Result<()> = match cli.command {
        Command::Logprobs(a) => rlvr::cli::logprobs::run(a),
        Command::Grade(a) => rlvr::cli::grade::run(a),
        Command::Passk(a) => rlvr::cli::passk::run(a),
        Command::MakeTask(a) => rlvr::cli::make_task::run(a),
        Command::Analyze(a) => rlvr::cli::analyze::run(a),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
