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
        let (lp, h) = model.next_token_logprobs(&tape, &vars, &batch, temperature)?;
        let (lp, h) = (lp.value.data(), h.value.data());
        let mut at = 0;
        for s in &seqs[i..j] {
            let m = s.len().saturating_sub(1);
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
