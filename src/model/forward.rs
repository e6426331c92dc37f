//! The decoder forward pass on the tape: embedding → N × (RMSNorm → attention → residual →
//! RMSNorm → SwiGLU MLP → residual) → final RMSNorm. The LM head is applied by the caller
//! through the fused log-prob op (or `Tape::logits` for small vocabularies).
use super::layer::{self, LayerShape};
use super::{Batch, Model};
use crate::autograd::{RopeTables, Tape, Var};
use crate::backend::cpu::attention::AttnDims;
use anyhow::{bail, Result};

impl Model {
    pub fn attn_dims(&self) -> AttnDims {
        AttnDims {
            n_q_heads: self.config.num_heads,
            n_kv_heads: self.config.num_kv_heads,
            head_dim: self.config.head_dim,
        }
    }

    /// Final hidden states [N, d] for a packed batch. `vars` from [`Model::vars`].
    pub fn forward_hidden(&self, tape: &Tape, vars: &[Var], batch: &Batch) -> Result<Var> {
        self.check_tokens(&batch.tokens)?;
        if let Some(w) = self.config.sliding_window {
            if let Some(&(_, len)) = batch.seqs.iter().find(|&&(_, l)| l > w) {
                bail!("sequence of {len} tokens exceeds the sliding window ({w}); sliding-window attention is not implemented");
            }
        }
        let cfg = &self.config;
        let lay = &self.layout;
        let tables = RopeTables::new(&batch.positions, &self.inv_freq);
        let shape = self.layer_shape();
        let mut h = tape.embedding(&vars[lay.embed], &batch.tokens);
        for l in &lay.layers {
            h = if self.activation_checkpointing && tape.grad_enabled() {
                layer::checkpointed(shape, tape, vars, l, &h, &tables, &batch.seqs)
            } else {
                layer::forward(shape, tape, vars, l, &h, &tables, &batch.seqs)
            };
        }
        Ok(tape.rmsnorm(&h, &vars[lay.final_norm], cfg.rms_norm_eps))
    }

    /// The per-layer hyper-parameters, detached from the model so a checkpointed layer's
    /// backward can re-run it.
    pub fn layer_shape(&self) -> LayerShape {
        LayerShape {
            head_dim: self.config.head_dim,
            num_heads: self.config.num_heads,
            num_kv_heads: self.config.num_kv_heads,
            eps: self.config.rms_norm_eps,
        }
    }

    /// The LM-head variable (the embedding when tied).
    pub fn lm_head<'a>(&self, vars: &'a [Var]) -> &'a Var {
        &vars[self.layout.lm_head_index()]
    }

    /// log π(next token) and entropy for every row that has a next token in its sequence, in
    /// batch order, at temperature τ — through the fused op, never a [N, V] logits tensor.
    pub fn next_token_logprobs(
        &self,
        tape: &Tape,
        vars: &[Var],
        batch: &Batch,
        temperature: f32,
    ) -> Result<(Var, Var)> {
        let h = self.forward_hidden(tape, vars, batch)?;
        let (rows, targets) = batch.next_token_rows();
        let hs = tape.gather_rows(&h, &rows);
        Ok(tape.fused_logprob(&hs, self.lm_head(vars), &targets, temperature))
    }

    /// log π and entropy of the last `suffix_lens[i]` tokens of each sequence of the batch (a
    /// response after its prompt), in batch order.
    pub fn suffix_logprobs(
        &self,
        tape: &Tape,
        vars: &[Var],
        batch: &Batch,
        suffix_lens: &[usize],
        temperature: f32,
    ) -> Result<(Var, Var)> {
        let (rows, targets) = suffix_rows(batch, suffix_lens)?;
        let h = self.forward_hidden(tape, vars, batch)?;
        let hs = tape.gather_rows(&h, &rows);
        Ok(tape.fused_logprob(&hs, self.lm_head(vars), &targets, temperature))
    }
}

/// (row, target) pairs predicting the last `suffix_lens[i]` tokens of each sequence.
pub fn suffix_rows(batch: &Batch, suffix_lens: &[usize]) -> Result<(Vec<usize>, Vec<u32>)> {
    if suffix_lens.len() != batch.seqs.len() {
        bail!(
            "suffix_rows: {} lengths for {} sequences",
            suffix_lens.len(),
            batch.seqs.len()
        );
    }
    let mut rows = Vec::new();
    let mut targets = Vec::new();
    for (&(start, len), &m) in batch.seqs.iter().zip(suffix_lens) {
        if m >= len.max(1) {
            bail!(
                "cannot score {m} tokens of a sequence of {len} (the first token has no context)"
            );
        }
        for i in len - m..len {
            rows.push(start + i - 1);
            targets.push(batch.tokens[start + i]);
        }
    }
    Ok((rows, targets))
}
