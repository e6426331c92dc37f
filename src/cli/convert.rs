//! `rlvr convert --from-gguf FILE.gguf --output DIR`: import a llama.cpp GGUF model as a Hugging
//! Face directory (config.json, model.safetensors, tokenizer.json, tokenizer_config.json).
use crate::model::gguf::{convert_gguf, to_hf::describe_types, OutDtype};
use anyhow::Result;
use clap::ValueEnum;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DtypeArg {
    /// 32-bit float (exact dequantised values).
    F32,
    /// bfloat16 (half the size; rounds the dequantised values to nearest even).
    Bf16,
}

/// Convert a GGUF model (architectures llama, qwen2; tensor types F32, F16, BF16, Q8_0, Q4_0,
/// Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K) into a Hugging Face model directory.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The GGUF file to import (GGUF version 2 or 3).
    #[arg(long, value_name = "FILE.gguf")]
    pub from_gguf: PathBuf,
    /// The model directory to create; written to a temporary sibling and renamed when complete.
    #[arg(long, value_name = "DIR")]
    pub output: PathBuf,
    /// Element type of model.safetensors.
    #[arg(long, value_enum, default_value = "f32")]
    pub dtype: DtypeArg,
    /// Replace DIR if it already exists (the old directory is removed only after the new one is
    /// complete).
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: Args) -> Result<()> {
    let start = Instant::now();
    let (dtype, dtype_name) = match args.dtype {
        DtypeArg::F32 => (OutDtype::F32, "f32"),
        DtypeArg::Bf16 => (OutDtype::Bf16, "bf16"),
    };
    let s = convert_gguf(&args.from_gguf, &args.output, dtype, args.force)?;
    let hp = &s.hparams;
    println!(
        "converted {} ({}: {} layers, hidden {}, {} heads / {} KV, vocab {}, {} tokens{})",
        args.from_gguf.display(),
        hp.arch.name(),
        hp.num_hidden_layers,
        hp.hidden_size,
        hp.num_attention_heads,
        hp.num_key_value_heads,
        hp.vocab_size,
        s.vocab_len,
        if hp.tie_word_embeddings {
            ", tied embeddings"
        } else {
            ""
        },
    );
    println!(
        "  {} tensors ({}) -> {} ({dtype_name}, model.safetensors {:.1} MB) in {:.1} s",
        s.n_tensors,
        describe_types(&s.source_types),
        args.output.display(),
        s.safetensors_bytes as f64 / 1e6,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
