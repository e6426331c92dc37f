//! `rlvr profile`: one RL update or decode step at a model's real shapes on the emulator with
//! efficiency counters (`bench::profile`), printed as a per-kernel table or as JSON.
use crate::bench::profile::{profile, ModelShape, ProfileOptions, StepKind};
use anyhow::{bail, Context, Result};
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ProfileDevice {
    /// The kernel emulator with counters: exact counts, an estimated time.
    Emu,
}

/// Every number of the table except the counts is an ESTIMATE from published H100/A100 peaks:
/// the emulator executes the kernels (a stratified sample of each large grid's blocks,
/// extrapolated) and counts tensor-core FLOPs, global sectors, shared-memory wavefronts and
/// launches; the time of each kernel is that of its busiest resource.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The model whose shapes the step runs at.
    #[arg(long, value_enum)]
    pub shape: ModelShape,
    /// update: forward, fused log-prob head, backward, grad-norm clip and AdamW; decode: one new
    /// token per sequence through every layer, the LM head and sampling.
    #[arg(long, value_enum)]
    pub step: StepKind,
    /// Sequences in the step (default 8 for update, 64 for decode).
    #[arg(long)]
    pub batch: Option<usize>,
    /// Tokens per sequence (update) or already cached per sequence (decode).
    #[arg(long, default_value_t = 1024)]
    pub seq_len: usize,
    /// Where the kernels run (only the emulator counts; GPU timings are `rlvr bench kernels`).
    #[arg(long, value_enum, default_value_t = ProfileDevice::Emu)]
    pub device: ProfileDevice,
    /// Most blocks one launch runs; a larger grid runs a stratified sample and is extrapolated.
    #[arg(long, default_value_t = 24)]
    pub max_blocks: usize,
    /// Run every sampled block's K loop to its real length. By default a GEMM's blocks run it
    /// shortened to 8 and 16 K tiles and the counts are extended to the real length (exact, see
    /// README); this checks that, and is slow at real shapes (the LM head's dH loops over the
    /// vocabulary).
    #[arg(long)]
    pub full_loops: bool,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Also write the JSON to this file.
    #[arg(long)]
    pub json_out: Option<PathBuf>,
    /// Seed of the emulator's block and thread order.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

pub fn run(a: Args) -> Result<()> {
    let ProfileDevice::Emu = a.device;
    if a.max_blocks == 0 {
        bail!("--max-blocks must be positive");
    }
    let batch = a.batch.unwrap_or(match a.step {
        StepKind::Update => 8,
        StepKind::Decode => 64,
    });
    let p = profile(&ProfileOptions {
        shape: a.shape,
        step: a.step,
        batch,
        seq_len: a.seq_len,
        max_blocks: a.max_blocks,
        full_loops: a.full_loops,
        seed: a.seed,
    })?;
    let json = serde_json::to_string_pretty(&p)?;
    if let Some(path) = &a.json_out {
        crate::util::write_atomic(path, json.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if a.json {
        println!("{json}");
    } else {
        p.print_table();
    }
    Ok(())
}
