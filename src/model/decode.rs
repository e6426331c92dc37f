//! Generation's forward pass: new tokens of several sequences through the model over their KV
//! caches, with the weights packed once for the whole generation (f32, or bf16 for half the
//! bytes per step) and the q|k|v and gate|up projections each read as one fused matrix.
//!
//! With f32 weights every number equals the training forward's (`Model::forward_hidden`) bit
//! for bit: the same kernels in the same order (each product element is one FMA chain over its
//! inputs, whatever the batch; fusing projections only puts columns side by side). So a
//! sampler's log-probs are exactly what the trainer recomputes, and a sequence's tokens do not
//! depend on the batch it was decoded in. bf16 weights round every weight once; that changes
//! the numbers slightly (tested: greedy agreement and log-prob tolerance).
use super::kv_cache::Chunk;
use super::params::LayerIdx;
use super::Model;
use crate::backend::cpu::embedding::embedding_fwd;
use crate::backend::cpu::gemm_pack::PackedWeight;
use crate::backend::cpu::mlp::swiglu_one;
use crate::backend::cpu::norm::rmsnorm_fwd;
use crate::backend::cpu::rope::{rope_apply, rope_tables};
use crate::backend::cpu::simd::{isa, Isa};
use crate::tensor::{DType, Tensor};
use anyhow::{bail, Result};
use rayon::prelude::*;

/// A fused projection: packed weights and, per stacked part, (first column, bias parameter).
struct Projection {
    w: PackedWeight,
    biases: Vec<(usize, usize)>,
}

impl Projection {
    fn new(model: &Model, parts: &[(usize, Option<usize>)], dtype: DType) -> Projection {
        let k = model.params[parts[0].0].dims()[1];
        let ws: Vec<&[f32]> = parts.iter().map(|&(w, _)| model.params[w].data()).collect();
        let mut biases = Vec::new();
        let mut col = 0;
        for &(w, b) in parts {
            if let Some(b) = b {
                biases.push((col, b));
            }
            col += model.params[w].dims()[0];
        }
        Projection {
            w: PackedWeight::from_weights(&ws, k, dtype),
            biases,
        }
    }

    /// `x [rows, k]` → [rows, n] with the biases added as the training forward adds them.
    fn apply(&self, model: &Model, isa: Isa, x: &[f32], rows: usize) -> Vec<f32> {
        let mut y = self.w.matmul(isa, x, rows);
        let n = self.w.n();
        for &(col, b) in &self.biases {
            let b = model.params[b].data();
            for row in y.chunks_mut(n) {
                for (a, &bv) in row[col..col + b.len()].iter_mut().zip(b) {
                    *a += bv;
                }
            }
        }
        y
    }
}

struct DecodeLayer {
    qkv: Projection,
    o: Projection,
    gate_up: Projection,
    down: Projection,
}

/// The model with its weights packed for generation.
pub struct Decoder<'a> {
    pub model: &'a Model,
    pub dtype: DType,
    isa: Isa,
    layers: Vec<DecodeLayer>,
    lm_head: PackedWeight,
}

impl<'a> Decoder<'a> {
    /// Packs every weight matrix (one pass over the model) in `dtype`.
    pub fn new(model: &'a Model, dtype: DType) -> Decoder<'a> {
        let layers = model
            .layout
            .layers
            .iter()
            .map(|l: &LayerIdx| DecodeLayer {
                qkv: Projection::new(
                    model,
                    &[(l.q, l.q_bias), (l.k, l.k_bias), (l.v, l.v_bias)],
                    dtype,
                ),
                o: Projection::new(model, &[(l.o, l.o_bias)], dtype),
                gate_up: Projection::new(model, &[(l.gate, l.gate_bias), (l.up, l.up_bias)], dtype),
                down: Projection::new(model, &[(l.down, l.down_bias)], dtype),
            })
            .collect();
        let head = &model.params[model.layout.lm_head_index()];
        let lm_head = PackedWeight::from_weights(&[head.data()], head.dims()[1], dtype);
        Decoder {
            model,
            dtype,
            isa: isa(),
            layers,
            lm_head,
        }
    }

    /// Runs the kernels on `isa` instead of the detected one (tests of the fallback).
    pub fn with_isa(mut self, isa: Isa) -> Decoder<'a> {
        self.isa = isa;
        self
    }

    /// Bytes of packed weights one decode step streams (every matrix once).
    pub fn weight_bytes(&self) -> usize {
        self.lm_head.bytes()
            + self
                .layers
                .iter()
                .map(|l| l.qkv.w.bytes() + l.o.w.bytes() + l.gate_up.w.bytes() + l.down.w.bytes())
                .sum::<usize>()
    }

    /// Logits [rows, V] of final hidden states.
    pub fn logits(&self, hidden: &Tensor) -> Tensor {
        let rows = hidden.numel() / self.model.config.hidden_size;
        Tensor::new_cpu(
            self.lm_head.matmul(self.isa, hidden.data(), rows),
            &[rows, self.lm_head.n()],
        )
    }

    /// Runs new tokens of several sequences through the model, appending to their caches.
    /// Returns the final hidden state of the last new token of each chunk ([chunks, d]).
    pub fn forward(&self, chunks: &mut [Chunk<'_>]) -> Result<Tensor> {
        let model = self.model;
        let cfg = &model.config;
        let p = &model.params;
        let (hd, nh, nkv) = (cfg.head_dim, cfg.num_heads, cfg.num_kv_heads);
        let (d, f, eps) = (cfg.hidden_size, cfg.intermediate_size, cfg.rms_norm_eps);
        let (qd, kvd) = (nh * hd, nkv * hd);
        let group = nh / nkv;
        let scale = 1.0 / (hd as f32).sqrt();
        let mut tokens = Vec::new();
        let mut positions = Vec::new();
        let mut spans = Vec::new();
        for c in chunks.iter() {
            model.check_tokens(c.tokens)?;
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
        let (cos, sin) = rope_tables(&positions, &model.inv_freq);
        let mut h = embedding_fwd(p[model.layout.embed].data(), d, &tokens);
        for (li, (l, w)) in model.layout.layers.iter().zip(&self.layers).enumerate() {
            let (a, _) = rmsnorm_fwd(&h, p[l.input_norm].data(), eps);
            let qkv = w.qkv.apply(model, self.isa, &a, n);
            let mut q = Vec::with_capacity(n * qd);
            let mut k = Vec::with_capacity(n * kvd);
            let mut v = Vec::with_capacity(n * kvd);
            for row in qkv.chunks(qd + 2 * kvd) {
                q.extend_from_slice(&row[..qd]);
                k.extend_from_slice(&row[qd..qd + kvd]);
                v.extend_from_slice(&row[qd + kvd..]);
            }
            if let (Some(qn), Some(kn)) = (l.q_norm, l.k_norm) {
                q = rmsnorm_fwd(&q, p[qn].data(), eps).0;
                k = rmsnorm_fwd(&k, p[kn].data(), eps).0;
            }
            rope_apply(&mut q, nh, hd, &cos, &sin, false);
            rope_apply(&mut k, nkv, hd, &cos, &sin, false);
            for (c, &(start, len, _)) in chunks.iter_mut().zip(&spans) {
                for t in start..start + len {
                    for g in 0..nkv {
                        let at = t * kvd + g * hd;
                        c.cache
                            .head_mut(li, g)
                            .push(&k[at..at + hd], &v[at..at + hd]);
                    }
                }
            }
            let o = self.attention(chunks, &spans, li, &q, group, scale);
            h = residual(&h, &w.o.apply(model, self.isa, &o, n));
            let (m, _) = rmsnorm_fwd(&h, p[l.post_norm].data(), eps);
            let gu = w.gate_up.apply(model, self.isa, &m, n);
            let mut sw = vec![0.0f32; n * f];
            sw.par_chunks_mut(f)
                .zip(gu.par_chunks(2 * f))
                .for_each(|(s, r)| {
                    for ((x, &g), &u) in s.iter_mut().zip(&r[..f]).zip(&r[f..]) {
                        *x = swiglu_one(g, u);
                    }
                });
            h = residual(&h, &w.down.apply(model, self.isa, &sw, n));
        }
        for (c, &(_, len, _)) in chunks.iter_mut().zip(&spans) {
            c.cache.len += len;
        }
        let mut last = Vec::with_capacity(spans.len() * d);
        for &(start, len, _) in &spans {
            let r = start + len - 1;
            last.extend_from_slice(&h[r * d..(r + 1) * d]);
        }
        let (out, _) = rmsnorm_fwd(&last, p[model.layout.final_norm].data(), eps);
        Ok(Tensor::new_cpu(out, &[spans.len(), d]))
    }

    /// Attention of every new token over its sequence's cache (this layer's keys/values already
    /// appended). One task per (sequence, kv head): the group's query heads share one read of
    /// the cache. Returns [n, q_dim].
    fn attention(
        &self,
        chunks: &[Chunk<'_>],
        spans: &[(usize, usize, usize)],
        layer: usize,
        q: &[f32],
        group: usize,
        scale: f32,
    ) -> Vec<f32> {
        let cfg = &self.model.config;
        let (hd, nh, nkv) = (cfg.head_dim, cfg.num_heads, cfg.num_kv_heads);
        let qd = nh * hd;
        let tasks: Vec<(usize, usize)> = (0..chunks.len())
            .flat_map(|s| (0..nkv).map(move |g| (s, g)))
            .collect();
        let outs: Vec<Vec<f32>> = tasks
            .par_iter()
            .map(|&(s, g)| {
                let (start, len, past) = spans[s];
                // Rows ordered (token, head of the group).
                let mut rows = Vec::with_capacity(len * group * hd);
                let mut visible = Vec::with_capacity(len * group);
                for i in 0..len {
                    for hh in g * group..(g + 1) * group {
                        let at = (start + i) * qd + hh * hd;
                        rows.extend_from_slice(&q[at..at + hd]);
                        visible.push(past + i + 1);
                    }
                }
                chunks[s]
                    .cache
                    .head(layer, g)
                    .attend(self.isa, &rows, &visible, scale)
            })
            .collect();
        let mut o = vec![0.0f32; q.len()];
        for (&(s, g), out) in tasks.iter().zip(outs) {
            let start = spans[s].0;
            for (r, row) in out.chunks(hd).enumerate() {
                let (i, hh) = (r / group, g * group + r % group);
                let at = (start + i) * qd + hh * hd;
                o[at..at + hd].copy_from_slice(row);
            }
        }
        o
    }
}

/// `h + y`, elementwise (the training forward's residual add).
fn residual(h: &[f32], y: &[f32]) -> Vec<f32> {
    h.iter().zip(y).map(|(a, b)| a + b).collect()
}
