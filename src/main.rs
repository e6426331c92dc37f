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
    /// Train with PSR, NSR, W-REINFORCE, REINFORCE, GRPO or PPO on verifiable problems.
    Train(rlvr::cli::train::Args),
    /// Write a randomly initialised character-level Llama (for from-scratch experiments).
    NewModel(rlvr::cli::new_model::Args),
    /// Supervised fine-tuning on (prompt, answer) pairs (token-mean NLL of the response).
    Sft(rlvr::cli::sft::Args),
    /// Import a GGUF model (llama.cpp format) as a Hugging Face model directory.
    Convert(rlvr::cli::convert::Args),
    /// Check every CUDA kernel against its CPU reference, on the GPU or the host emulator.
    Selftest(rlvr::cli::selftest::Args),
    /// CPU throughput: GEMM vs the GEMM crate's peak, 135M-model forward and training step.
    BenchCpu(rlvr::cli::bench_cpu::CpuArgs),
    /// RL loop throughput: rollout and update tokens/s and update MFU.
    BenchTrain(rlvr::cli::bench_cpu::TrainArgs),
}

fn main() {
    let cli = Cli::parse();
    let result: anyhow::Result<()> = match cli.command {
        Command::Logprobs(a) => rlvr::cli::logprobs::run(a),
        Command::Grade(a) => rlvr::cli::grade::run(a),
        Command::Passk(a) => rlvr::cli::passk::run(a),
        Command::MakeTask(a) => rlvr::cli::make_task::run(a),
        Command::Train(a) => rlvr::cli::train::run(a),
        Command::NewModel(a) => rlvr::cli::new_model::run(a),
        Command::Sft(a) => rlvr::cli::sft::run(a),
        Command::Convert(a) => rlvr::cli::convert::run(a),
        Command::Selftest(a) => rlvr::cli::selftest::run(a),
        Command::BenchCpu(a) => rlvr::cli::bench_cpu::run_cpu(a),
        Command::BenchTrain(a) => rlvr::cli::bench_cpu::run_train(a),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
