//! Scoring sequences without gradients: per-token log-probs and entropies (the `rlvr logprobs`
//! contract, and what the trainer compares the sampler's log-probs against).
use super::{Batch, Model};
use crate::autograd::Tape;
use anyhow::Result;

#[derive(Clone, Debug, PartialEq)]
pub struct SeqScores {
    /// `logprobs[i] = log p(tokens[i+1] | tokens[..=i])`, length len−1.
    pub logprobs: Vec<f32>,
    /// Entropy of that next-token distribution, length len−1.
    pub entropy: Vec<f32>,
}

/// Score sequences in packs of at most `token_budget` tokens (a longer sequence gets a pack of
/// its own).
pub fn score_sequences(
    model: &Model,
    seqs: &[Vec<u32>],
    temperature: f32,
    token_budget: usize,
) -> Result<Vec<SeqScores>> {
    let suffix: Vec<usize> = seqs.iter().map(|s| s.len().saturating_sub(1)).collect();
    score_suffixes(model, seqs, &suffix, temperature, token_budget)
}

/// Like [`score_sequences`] but only the last `suffix_lens[i]` tokens of each sequence are
/// scored (a response after its prompt): entry j is log p(token P+j | tokens before it).
pub fn score_suffixes(
    model: &Model,
    seqs: &[Vec<u32>],
    suffix_lens: &[usize],
    temperature: f32,
    token_budget: usize,
) -> Result<Vec<SeqScores>> {
    let tape = Tape::no_grad();
    let vars = model.vars(&tape);
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
        let (lp, h) = model.suffix_logprobs(&tape, &vars, &batch, &suffix_lens[i..j], temperature)?;
        let (lp, h) = (lp.value.data(), h.value.data());
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
