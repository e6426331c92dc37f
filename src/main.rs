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
    /// Check every CUDA kernel against its CPU reference, on the GPU or the host emulator.
    Selftest(rlvr::cli::selftest::Args),
}

fn main() {
    let cli = Cli::parse();
    let result: anyhow::Result<()> = match cli.command {
        Command::Selftest(a) => rlvr::cli::selftest::run(a),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
