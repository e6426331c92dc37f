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
}

fn main() {
    let cli = Cli::parse();
    let result: anyhow::Result<()> = match cli.command {
        Command::Logprobs(a) => rlvr::cli::logprobs::run(a),
        Command::Grade(a) => rlvr::cli::grade::run(a),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
