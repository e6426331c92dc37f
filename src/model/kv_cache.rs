//! KV cache and the cached (inference) forward pass used by generation: prefill a prompt once,
//! copy its cache to every sample of that prompt, then decode many sequences one token per step
//! in one batched pass (the projections and the MLP are one GEMM over all active rows).
use super::Model;
use crate::autograd::{RopeTables, Tape, Var};
use crate::backend::cpu::attention::{attend_head, gather_head};
use crate::tensor::Tensor;
use anyhow::{bail, Result};
use rayon::prelude::*;

/// One sequence's cache: per layer, per kv head, keys and values as [t, head_dim] rows.
#[derive(Clone, Debug)]
pub struct SeqCache {
    pub len: usize,
    k: Vec<Vec<Vec<f32>>>,
    v: Vec<Vec<Vec<f32>>>,
}

impl SeqCache {
    pub fn new(model: &Model) -> SeqCache {
        let (l, h) = (model.config.num_layers, model.config.num_kv_heads);
        SeqCache {
            len: 0,
            k: vec![vec![Vec::new(); h]; l],
            v: vec![vec![Vec::new(); h]; l],
        }
    }

    /// Bytes held (for memory accounting).
    pub fn bytes(&self) -> usize {
        self.k
            .iter()
            .chain(&self.v)
            .flatten()
            .map(|x| x.len() * 4)
            .sum()
    }
}

/// A piece of work for the cached forward: `tokens` appended to the sequence in `cache`.
pub struct Chunk<'a> {
    pub cache: &'a mut SeqCache,
    pub tokens: &'a [u32],
}

impl Model {
    /// Run new tokens of several sequences through the model, appending to their caches.
    /// Returns the final hidden state of the last new token of each chunk ([chunks, d]).
    pub fn forward_cached(&self, chunks: &mut [Chunk<'_>]) -> Result<Tensor> {
        let cfg = &self.config;
        let lay = &self.layout;
        let (hd, nh, nkv) = (cfg.head_dim, cfg.num_heads, cfg.num_kv_heads);
        let group = nh / nkv;
        let scale = 1.0 / (hd as f32).sqrt();
        let mut tokens = Vec::new();
        let mut positions = Vec::new();
        let mut spans = Vec::new();
        for c in chunks.iter() {
            self.check_tokens(c.tokens)?;
            if c.tokens.is_empty() {
                bail!("forward_cached: empty chunk");
            }
            if let Some(w) = cfg.sliding_window {
                if c.cache.len + c.tokens.len() > w {
                    bail!("sequence exceeds the sliding window ({w}); sliding-window attention is not implemented");
                }
            }
            spans.push((tokens.len(), c.tokens.len(), c.cache.len));
            tokens.extend_from_slice(c.tokens);
            positions.extend((c.cache.len..c.cache.len + c.tokens.len()).map(|p| p as u32));
        }
        let n = tokens.len();
        let tape = Tape::no_grad();
        let vars: Vec<Var> = self
            .params
            .iter()
            .map(|p| tape.constant(p.clone()))
            .collect();
        let tables = RopeTables::new(&positions, &self.inv_freq);
        let mut h = tape.embedding(&vars[lay.embed], &tokens);
        for (li, l) in lay.layers.iter().enumerate() {
            let (q, k, v) = self.attn_inputs(&tape, &vars, l, &h, &tables);
            // Append this layer's keys/values, then attend over each sequence's whole cache.
            for (c, &(start, len, _)) in chunks.iter_mut().zip(&spans) {
                for g in 0..nkv {
                    c.cache.k[li][g].extend(gather_head(k.value.data(), nkv, hd, g, start, len));
                    c.cache.v[li][g].extend(gather_head(v.value.data(), nkv, hd, g, start, len));
                }
            }
            let qd = q.value.data();
            let tasks: Vec<(usize, usize)> = (0..chunks.len())
                .flat_map(|s| (0..nh).map(move |hh| (s, hh)))
                .collect();
            let caches: Vec<&SeqCache> = chunks.iter().map(|c| &*c.cache).collect();
            let outs: Vec<Vec<f32>> = tasks
                .par_iter()
                .map(|&(s, hh)| {
                    let (start, len, past) = spans[s];
                    let g = hh / group;
                    let qh = gather_head(qd, nh, hd, hh, start, len);
                    attend_head(
                        &qh,
                        &caches[s].k[li][g],
                        &caches[s].v[li][g],
                        len,
                        past + len,
                        hd,
                        scale,
                    )
                    .0
                })
                .collect();
            let mut o = vec![0.0f32; n * nh * hd];
            for (&(s, hh), oh) in tasks.iter().zip(outs) {
                let start = spans[s].0;
                for (i, r) in oh.chunks(hd).enumerate() {
                    let at = (start + i) * nh * hd + hh * hd;
                    o[at..at + hd].copy_from_slice(r);
                }
            }
            let o = tape.constant(Tensor::new_cpu(o, &[n, nh * hd]));
            h = self.attn_out_and_mlp(&tape, &vars, l, &h, &o);
        }
        for (c, &(_, len, _)) in chunks.iter_mut().zip(&spans) {
            c.cache.len += len;
        }
        let last_rows: Vec<usize> = spans
            .iter()
            .map(|&(start, len, _)| start + len - 1)
            .collect();
        let hl = tape.gather_rows(&h, &last_rows);
        Ok(tape
            .rmsnorm(&hl, &vars[lay.final_norm], cfg.rms_norm_eps)
            .value)
    }

    /// Logits [rows, V] of final hidden states (for sampling).
    pub fn logits_of(&self, hidden: &Tensor) -> Tensor {
        let w = &self.params[self.layout.lm_head_index()];
        let (v, d) = (w.dims()[0], w.dims()[1]);
        let rows = hidden.numel() / d;
        Tensor::new_cpu(
            crate::backend::cpu::gemm::linear(hidden.data(), w.data(), rows, d, v),
            &[rows, v],
        )
    }
}
