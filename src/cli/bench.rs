//! `rlvr bench <what>`: throughput benchmarks, one subcommand each.
use anyhow::Result;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: BenchCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum BenchCommand {
    /// Decode tokens/s of the generation path at several batch sizes, with the memory-bandwidth
    /// roofline (bytes of weights + KV cache read per step, against this machine's memcpy).
    Generate(super::bench_generate::Args),
    /// Our CPU GEMM's peak (and `matrixmultiply`'s on the same operands), 135M-model forward /
    /// training-step throughput and their fraction of that peak, with a per-op breakdown.
    Cpu(super::bench_cpu::CpuArgs),
    /// Rollout and update tokens/s and update MFU (6·params·tokens against the GEMM peak).
    Train(super::bench_cpu::TrainArgs),
    /// Every CUDA kernel at training shapes: median of CUDA-event-timed repeats (L2 flushed),
    /// TFLOP/s or GB/s, and the ratio to a baseline measured in the same run (cuBLAS, copy
    /// bandwidth, bf16 peak). `--device emu` exercises the entries at tiny shapes, or counts them at
    /// the training shapes with `--shapes real --counters` (an ESTIMATED H100 time, no timing).
    Kernels(super::bench_kernels::KernelsArgs),
}

impl Args {
    /// `--threads`, for sizing the pool before the benchmark runs on it.
    pub fn threads(&self) -> Option<usize> {
        match &self.command {
            BenchCommand::Generate(g) => g.threads,
            BenchCommand::Cpu(c) => c.threads,
            BenchCommand::Train(t) => t.threads,
            BenchCommand::Kernels(_) => None,
        }
    }
}

pub fn run(a: Args) -> Result<()> {
    match a.command {
        BenchCommand::Generate(g) => super::bench_generate::run(g),
        BenchCommand::Cpu(c) => super::bench_cpu::run_cpu(c),
        BenchCommand::Train(t) => super::bench_cpu::run_train(t),
        BenchCommand::Kernels(k) => super::bench_kernels::run(k),
    }
}
