//! `rlvr logprobs`: per-token log-probs and entropies of given token sequences.
use super::device::DeviceArg;
use crate::backend::cuda::model::{score as device_score, DeviceModel};
use crate::model::{score, Model};
use anyhow::{anyhow, bail, Context, Result};
use std::path::{Path, PathBuf};

/// Score token sequences: for each input line `{"tokens": [...]}` write
/// `{"logprobs": [...], "entropy": [...]}` (same order), where `logprobs[i] = log p(tokens[i+1] |
/// tokens[..=i])` and `entropy[i]` is the entropy of that next-token distribution; both have
/// length len−1.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Hugging Face model directory (config.json + safetensors).
    #[arg(long)]
    pub model: PathBuf,
    /// Input JSONL, one `{"tokens": [int, ...]}` per line.
    #[arg(long)]
    pub input: PathBuf,
    /// Output JSONL.
    #[arg(long)]
    pub output: PathBuf,
    /// Backend: cpu (f32 reference), cuda (our kernels on the GPU, bf16 weights and
    /// activations) or emu (the same kernels on the host emulator; slow, for checking).
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    pub device: DeviceArg,
    /// Softmax temperature (the contract is defined at 1).
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f32,
    /// Tokens per forward pack.
    #[arg(long, default_value_t = 4096)]
    pub token_budget: usize,
}

pub fn read_token_lines(path: &Path, vocab: usize) -> Result<Vec<Vec<u32>>> {
    let lines = crate::util::read_jsonl(path)?;
    let mut out = Vec::with_capacity(lines.len());
    for (i, v) in lines.iter().enumerate() {
        let at = || format!("{}: record {}", path.display(), i + 1);
        let arr = v
            .get("tokens")
            .and_then(|t| t.as_array())
            .ok_or_else(|| anyhow!("{}: no `tokens` array", at()))?;
        if arr.is_empty() {
            bail!("{}: `tokens` is empty", at());
        }
        let mut toks = Vec::with_capacity(arr.len());
        for (j, t) in arr.iter().enumerate() {
            let id = t.as_u64().ok_or_else(|| {
                anyhow!("{}: tokens[{j}] = {t} is not a non-negative integer", at())
            })?;
            if id as usize >= vocab {
                bail!(
                    "{}: tokens[{j}] = {id} is out of range (vocab size {vocab})",
                    at()
                );
            }
            toks.push(id as u32);
        }
        out.push(toks);
    }
    Ok(out)
}

pub fn run(a: Args) -> Result<()> {
    if !(a.temperature > 0.0 && a.temperature.is_finite()) {
        bail!("--temperature must be > 0, got {}", a.temperature);
    }
    let model =
        Model::load(&a.model).with_context(|| format!("loading model {}", a.model.display()))?;
    crate::util::output::check_output_file(&a.output)?;
    let seqs = read_token_lines(&a.input, model.config.vocab_size)?;
    let context = model.config.max_position_embeddings;
    if let Some((i, s)) = seqs.iter().enumerate().find(|(_, s)| s.len() > context) {
        bail!(
            "{}: record {} has {} tokens, more than the model's context of {context} (max_position_embeddings)",
            a.input.display(),
            i + 1,
            s.len()
        );
    }
    let budget = a.token_budget.max(1);
    let scores = match a.device.kernel_device(0)? {
        None => score::score_sequences(&model, &seqs, a.temperature, budget)?,
        Some(dev) => {
            let dm = DeviceModel::upload(dev.as_ref(), &model)?;
            device_score::score_sequences(dev.as_ref(), &dm, &seqs, a.temperature, budget)?
        }
    };
    let mut text = String::new();
    for s in scores {
        let line = serde_json::json!({"logprobs": s.logprobs, "entropy": s.entropy});
        text.push_str(&line.to_string());
        text.push('\n');
    }
    crate::util::write_atomic(&a.output, text.as_bytes())
}
