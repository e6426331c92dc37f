//! The shapes `rlvr bench kernels` runs at: the layers of the three target models at training
//! sizes (GPU), or one tiny model that only exercises the code paths (emulator).

/// One transformer layer's dimensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerShape {
    pub model: &'static str,
    /// Short label for table rows.
    pub short: &'static str,
    pub hidden: usize,
    pub ffn: usize,
    pub n_q_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    pub vocab: usize,
}

impl LayerShape {
    /// Width of the fused q, k, v projection's output.
    pub fn qkv_width(&self) -> usize {
        (self.n_q_heads + 2 * self.n_kv_heads) * self.head_dim
    }
}

pub const SMOLLM2_135M: LayerShape = LayerShape {
    model: "SmolLM2-135M",
    short: "135M",
    hidden: 576,
    ffn: 1536,
    n_q_heads: 9,
    n_kv_heads: 3,
    head_dim: 64,
    vocab: 49_152,
};

pub const QWEN25_1_5B: LayerShape = LayerShape {
    model: "Qwen2.5-1.5B",
    short: "1.5B",
    hidden: 1536,
    ffn: 8960,
    n_q_heads: 12,
    n_kv_heads: 2,
    head_dim: 128,
    vocab: 151_936,
};

pub const QWEN25_MATH_7B: LayerShape = LayerShape {
    model: "Qwen2.5-Math-7B",
    short: "7B",
    hidden: 3584,
    ffn: 18_944,
    n_q_heads: 28,
    n_kv_heads: 4,
    head_dim: 128,
    vocab: 152_064,
};

/// Emulator-only stand-in: every dimension small, head_dim and hidden multiples of 8 so the GEMM
/// takes its fast path as the real shapes do.
pub const TINY: LayerShape = LayerShape {
    model: "tiny",
    short: "tiny",
    hidden: 64,
    ffn: 96,
    n_q_heads: 4,
    n_kv_heads: 2,
    head_dim: 16,
    vocab: 320,
};

/// Which of the plans a run uses (`--shapes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ShapeSet {
    /// [`Plan::tiny`]: the emulator's default, the code paths in seconds.
    Tiny,
    /// [`Plan::gpu`]: the training shapes, the only set on a GPU.
    Real,
}

/// Every size the bench uses.
#[derive(Clone, Debug)]
pub struct Plan {
    pub models: Vec<LayerShape>,
    /// Tokens per training micro-batch for the per-layer GEMMs and element-wise kernels.
    pub tokens: usize,
    /// Side of the square GEMM (4096³ on a GPU).
    pub square_gemm: usize,
    /// Causal attention: sequences of `attn_seq_len` tokens, `attn_seqs` of them packed.
    pub attn_seq_len: usize,
    pub attn_seqs: usize,
    /// Decode attention: batch and cached length per sequence.
    pub decode_batch: usize,
    pub decode_len: usize,
    /// Fused log-prob: tokens (vocab and hidden come from the last model).
    pub logprob_tokens: usize,
    /// Logits budget (f32 elements) of the fused log-prob's chunks.
    pub logprob_budget_floats: usize,
    /// Rows of the chunked cuBLAS baseline of the log-prob GEMMs.
    pub logprob_baseline_chunk: usize,
    /// Sampling: rows of logits (vocab from the last model).
    pub sample_rows: usize,
    /// Softmax rows (vocab from the last model).
    pub softmax_rows: usize,
    /// Bytes copied by the bandwidth measurement.
    pub copy_bytes: usize,
}

impl Plan {
    /// Training shapes for a GPU (where the kernels' goals are stated). `logprob_tokens` is T of
    /// the fused log-prob (32768 for the goal).
    pub fn gpu(logprob_tokens: usize) -> Self {
        Plan {
            models: vec![SMOLLM2_135M, QWEN25_1_5B, QWEN25_MATH_7B],
            tokens: 8192,
            square_gemm: 4096,
            attn_seq_len: 4096,
            attn_seqs: 4,
            decode_batch: 64,
            decode_len: 2048,
            logprob_tokens,
            logprob_budget_floats: crate::backend::cuda::logprob::GPU_FUSED_BUDGET_FLOATS,
            logprob_baseline_chunk: 4096,
            sample_rows: 256,
            softmax_rows: 256,
            copy_bytes: 1 << 30,
        }
    }

    /// Tiny shapes for the emulator: the same entries, seconds in a debug build.
    pub fn tiny() -> Self {
        Plan {
            models: vec![TINY],
            tokens: 24,
            square_gemm: 32,
            attn_seq_len: 20,
            attn_seqs: 2,
            decode_batch: 2,
            decode_len: 9,
            logprob_tokens: 12,
            // 5 rows of the tiny vocabulary: several chunks, as on a GPU.
            logprob_budget_floats: 5 * 320,
            logprob_baseline_chunk: 8,
            sample_rows: 3,
            softmax_rows: 3,
            copy_bytes: 1 << 16,
        }
    }

    /// The largest model (the vocabulary and hidden size of the log-prob and sampling entries).
    pub fn largest(&self) -> LayerShape {
        *self.models.last().expect("a plan has at least one model")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_shapes_are_consistent() {
        for m in [SMOLLM2_135M, QWEN25_1_5B, QWEN25_MATH_7B, TINY] {
            assert_eq!(m.n_q_heads % m.n_kv_heads, 0, "{}", m.model);
            assert_eq!(m.n_q_heads * m.head_dim, m.hidden, "{}", m.model);
        }
        assert_eq!(QWEN25_MATH_7B.qkv_width(), 3584 + 2 * 512);
        assert_eq!(Plan::gpu(32768).largest(), QWEN25_MATH_7B);
    }
}
