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
    /// PSR vs NSR vs W-REINFORCE (and GRPO) on a laptop: base model, RL, Pass@k report.
    Demo(rlvr::cli::demo::Args),
    /// Compare trained models with their base from `rlvr eval` outputs: the demo's ΔPass@k
    /// intervals, coverage and verdicts on the paper's claims.
    Compare(rlvr::cli::compare::Args),
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
    Train(Box<rlvr::cli::train::Args>),
    /// Write a randomly initialised character-level Llama (for from-scratch experiments).
    NewModel(rlvr::cli::new_model::Args),
    /// GPU memory plan of full-parameter RL for a model (weights, grads, optimizer, activations, KV).
    Plan(rlvr::cli::plan::Args),
    /// Training curves (SVG/PNG) of one or more `rlvr train` runs.
    Plot(rlvr::cli::plot::Args),
    /// Supervised fine-tuning on (prompt, answer) pairs (token-mean NLL of the response).
    Sft(rlvr::cli::sft::Args),
    /// Import a GGUF model (llama.cpp format) as a Hugging Face model directory.
    Convert(rlvr::cli::convert::Args),
    /// Check every CUDA kernel against its CPU reference, on the GPU or the host emulator.
    Selftest(rlvr::cli::selftest::Args),
    /// Sample n responses per prompt (JSONL/parquet in, JSONL out with tokens and log-probs).
    Generate(rlvr::cli::generate::Args),
    /// Evaluate models on datasets: sample, grade, Pass@k (passk.json) and plots; resumable.
    Eval(rlvr::cli::eval::Args),
    /// Benchmarks: `bench cpu` (GEMM peak, model forward/step), `bench train`, `bench generate`.
    Bench(rlvr::cli::bench::Args),
    /// Measure where PSR, NSR, W-REINFORCE (or other objectives) push probability mass: token-level
    /// logit gradients and probability changes after one step, per-layer gradient norms, cosines.
    Analyze(rlvr::cli::analyze::Args),
    /// One RL update or decode step of a model at its real shapes on the kernel emulator with
    /// efficiency counters: per-kernel table and the ESTIMATED H100 step time, tokens/s and MFU.
    Profile(rlvr::cli::profile::Args),
    /// Check the device exchange between ranks (NCCL with `--device cuda --nccl`, else staged
    /// through the host): a known pattern to every rank, verified, then timed.
    DistCheck(rlvr::cli::dist_check::Args),
}

fn main() {
    rlvr::util::alloc_policy::keep_freed_memory();
    let cli = Cli::parse();
    // The thread count is fixed before the pool exists: the command then runs on it.
    if let Some(t) = cli.command.threads() {
        if let Err(e) = rlvr::bench::set_threads(t) {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
    }
    let result = rlvr::util::pool::on_pool(move || run(cli.command));
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

impl Command {
    /// `--threads` of the commands that take it.
    fn threads(&self) -> Option<usize> {
        match self {
            Command::Bench(b) => b.threads(),
            _ => None,
        }
    }
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Demo(a) => rlvr::cli::demo::run(a),
        Command::Compare(a) => rlvr::cli::compare::run(a),
        Command::Logprobs(a) => rlvr::cli::logprobs::run(a),
        Command::Grade(a) => rlvr::cli::grade::run(a),
        Command::Passk(a) => rlvr::cli::passk::run(a),
        Command::MakeTask(a) => rlvr::cli::make_task::run(a),
        Command::Train(a) => rlvr::cli::train::run(*a),
        Command::NewModel(a) => rlvr::cli::new_model::run(a),
        Command::Plot(a) => rlvr::cli::plot::run(a),
        Command::Plan(a) => rlvr::cli::plan::run(a),
        Command::Sft(a) => rlvr::cli::sft::run(a),
        Command::Convert(a) => rlvr::cli::convert::run(a),
        Command::Selftest(a) => rlvr::cli::selftest::run(a),
        Command::Generate(a) => rlvr::cli::generate::run(a),
        Command::Eval(a) => rlvr::cli::eval::run(a),
        Command::Bench(a) => rlvr::cli::bench::run(a),
        Command::Analyze(a) => rlvr::cli::analyze::run(a),
        Command::DistCheck(a) => rlvr::cli::dist_check::run(a),
        Command::Profile(a) => rlvr::cli::profile::run(a),
    }
}
