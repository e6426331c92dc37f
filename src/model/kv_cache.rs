//! KV cache of generation: prefill a prompt once, copy its cache to every sample of that
//! prompt, then decode many sequences one token per step in one batched pass
//! ([`super::decode::Decoder`]).
use super::decode::Decoder;
use super::Model;
use crate::backend::cpu::attention_cached::HeadCache;
use crate::tensor::{DType, Tensor};
use anyhow::Result;

/// One sequence's cache: per layer, per kv head, its keys and values.
#[derive(Clone, Debug)]
pub struct SeqCache {
    pub len: usize,
    kv_heads: usize,
    /// [layer · kv_heads + head].
    heads: Vec<HeadCache>,
}

impl SeqCache {
    pub fn new(model: &Model) -> SeqCache {
        let c = &model.config;
        SeqCache {
            len: 0,
            kv_heads: c.num_kv_heads,
            heads: vec![HeadCache::new(c.head_dim); c.num_layers * c.num_kv_heads],
        }
    }

    /// Bytes held (for memory accounting).
    pub fn bytes(&self) -> usize {
        self.heads.iter().map(HeadCache::bytes).sum()
    }

    pub fn head(&self, layer: usize, kv_head: usize) -> &HeadCache {
        &self.heads[layer * self.kv_heads + kv_head]
    }

    pub fn head_mut(&mut self, layer: usize, kv_head: usize) -> &mut HeadCache {
        &mut self.heads[layer * self.kv_heads + kv_head]
    }
}

/// A piece of work for the cached forward: `tokens` appended to the sequence in `cache`.
pub struct Chunk<'a> {
    pub cache: &'a mut SeqCache,
    pub tokens: &'a [u32],
}

impl Model {
    /// [`Decoder::forward`] with f32 weights packed for this one call. Loops should build one
    /// [`Decoder`] and reuse it: packing reads every weight.
    pub fn forward_cached(&self, chunks: &mut [Chunk<'_>]) -> Result<Tensor> {
        Decoder::new(self, DType::F32).forward(chunks)
    }

    /// Logits [rows, V] of final hidden states, through the training path's GEMM (the same
    /// numbers as [`Decoder::logits`] with f32 weights).
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
