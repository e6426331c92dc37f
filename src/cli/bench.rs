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
}

pub fn run(a: Args) -> Result<()> {
    match a.command {
        BenchCommand::Generate(g) => super::bench_generate::run(g),
    }
}
