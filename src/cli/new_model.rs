//! `rlvr new-model`: a randomly initialised character-level Llama (for from-scratch experiments
//! and the demo).
use crate::model::init::{write_tiny_char_model, TinySpec};
use crate::util::output_dir::{prepare_output_dir, DirPolicy};
use anyhow::{bail, Result};
use std::path::PathBuf;

/// Write a randomly initialised, character-level Llama model directory (config.json,
/// model.safetensors, tokenizer.json, generation_config.json) that every other subcommand loads.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Output directory (must not exist or be empty).
    #[arg(long)]
    pub output: PathBuf,
    /// Hidden size.
    #[arg(long, default_value_t = 64)]
    pub hidden: usize,
    /// MLP intermediate size.
    #[arg(long, default_value_t = 176)]
    pub intermediate: usize,
    /// Decoder layers.
    #[arg(long, default_value_t = 2)]
    pub layers: usize,
    /// Attention heads.
    #[arg(long, default_value_t = 4)]
    pub heads: usize,
    /// Key/value heads (GQA); must divide --heads.
    #[arg(long, default_value_t = 2)]
    pub kv_heads: usize,
    /// Initialisation seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

pub fn run(a: Args) -> Result<()> {
    if a.heads == 0
        || a.kv_heads == 0
        || !a.heads.is_multiple_of(a.kv_heads)
        || !a.hidden.is_multiple_of(a.heads)
    {
        bail!("--heads must be a multiple of --kv-heads and divide --hidden");
    }
    let spec = TinySpec {
        hidden: a.hidden,
        intermediate: a.intermediate,
        layers: a.layers,
        heads: a.heads,
        kv_heads: a.kv_heads,
        seed: a.seed,
    };
    prepare_output_dir(&a.output, DirPolicy::New, "")?;
    let m = write_tiny_char_model(&a.output, spec)?;
    eprintln!(
        "wrote {} ({} parameters)",
        a.output.display(),
        m.config.num_params()
    );
    Ok(())
}
