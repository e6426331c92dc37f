//! Scoring sequences on the device without gradients (`rlvr logprobs --device cuda|emu`): the
//! same packing and contract as `crate::model::score` on the CPU.
use super::{DeviceBatch, DeviceModel};
use crate::backend::cuda::device::KernelDevice;
use crate::model::forward::suffix_rows;
use crate::model::score::SeqScores;
use crate::model::Batch;
use anyhow::Result;

/// Like `model::score::score_suffixes`: packs of at most `token_budget` tokens (a longer
/// sequence gets a pack of its own); the last `suffix_lens[i]` tokens of sequence i are scored.
pub fn score_suffixes(
    dev: &dyn KernelDevice,
    model: &DeviceModel,
    seqs: &[Vec<u32>],
    suffix_lens: &[usize],
    temperature: f32,
    token_budget: usize,
) -> Result<Vec<SeqScores>> {
    anyhow::ensure!(
        seqs.len() == suffix_lens.len(),
        "{} suffix lengths for {} sequences",
        suffix_lens.len(),
        seqs.len()
    );
    let mut out = Vec::with_capacity(seqs.len());
    let mut i = 0;
    while i < seqs.len() {
        let mut j = i;
        let mut tokens = 0;
        while j < seqs.len() && (j == i || tokens + seqs[j].len() <= token_budget) {
            tokens += seqs[j].len();
            j += 1;
        }
        let batch = Batch::from_sequences(&seqs[i..j]);
        let (rows, targets) = suffix_rows(&batch, &suffix_lens[i..j])?;
        let (lp, h) = if rows.is_empty() {
            (vec![], vec![])
        } else {
            let db = DeviceBatch::from_batch(dev, &batch)?;
            let acts = model.forward(dev, &db)?;
            model
                .head(dev, &acts, &rows, &targets, temperature)?
                .download(dev)?
        };
        let mut at = 0;
        for &m in &suffix_lens[i..j] {
            out.push(SeqScores {
                logprobs: lp[at..at + m].to_vec(),
                entropy: h[at..at + m].to_vec(),
            });
            at += m;
        }
        i = j;
    }
    Ok(out)
}

/// Every next-token log-prob of each sequence (the `rlvr logprobs` contract).
pub fn score_sequences(
    dev: &dyn KernelDevice,
    model: &DeviceModel,
    seqs: &[Vec<u32>],
    temperature: f32,
    token_budget: usize,
) -> Result<Vec<SeqScores>> {
    let suffix: Vec<usize> = seqs.iter().map(|s| s.len().saturating_sub(1)).collect();
    score_suffixes(dev, model, seqs, &suffix, temperature, token_budget)
}
