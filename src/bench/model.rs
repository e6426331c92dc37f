//! Whole-model throughput: a forward (prefill, scored through the fused LM head) and a training
//! step (forward + backward) of a Llama-shaped model with random weights, in tokens/s and as a
//! fraction of the GEMM peak.
use super::sorted_secs;
use crate::autograd::Tape;
use crate::model::init::llama_config_json;
use crate::model::{Batch, Model, ModelConfig};
use anyhow::Result;
use serde::Serialize;

/// SmolLM2-135M's shape: 30 layers, hidden 576, FFN 1536, 9 heads / 3 KV heads, vocab 49152,
/// tied embeddings (134.5M parameters).
pub fn smollm2_135m_config() -> Result<ModelConfig> {
    ModelConfig::from_json(llama_config_json(49152, 576, 1536, 30, 9, 3, true, 1, 2))
}

/// A random model of that shape (no download).
pub fn synthetic_135m(seed: u64) -> Result<Model> {
    Model::random(smollm2_135m_config()?, 0.02, seed)
}

/// Forward FLOPs of one packed batch: 2·params per token (matmuls; the tied LM head counted
/// once through the embedding) plus causal attention, QKᵀ and PV at 2·T²·(H·D) each, halved
/// by the mask, per layer and sequence.
pub fn forward_flops(cfg: &ModelConfig, seq_lens: &[usize]) -> f64 {
    let tokens: usize = seq_lens.iter().sum();
    let p = cfg.num_params() as f64;
    let hd = (cfg.num_heads * cfg.head_dim) as f64;
    let attn: f64 = seq_lens
        .iter()
        .map(|&t| 4.0 * (t * t) as f64 * hd * cfg.num_layers as f64 / 2.0)
        .sum();
    2.0 * p * tokens as f64 + attn
}

/// Training-step FLOPs as MFU conventionally counts them: 6·params·tokens.
pub fn train_flops(cfg: &ModelConfig, tokens: usize) -> f64 {
    6.0 * cfg.num_params() as f64 * tokens as f64
}

/// Deterministic token ids below `vocab`.
pub fn token_ids(len: usize, vocab: usize, salt: usize) -> Vec<u32> {
    (0..len)
        .map(|i| ((i * 2_654_435_761 + salt * 40_503) % vocab) as u32)
        .collect()
}

pub fn packed_batch(cfg: &ModelConfig, seqs: usize, len: usize) -> Batch {
    let s: Vec<Vec<u32>> = (0..seqs)
        .map(|i| token_ids(len, cfg.vocab_size, i + 1))
        .collect();
    Batch::from_sequences(&s)
}

#[derive(Clone, Debug, Serialize)]
pub struct ModelRun {
    pub what: String,
    pub seqs: usize,
    pub seq_len: usize,
    pub tokens: usize,
    /// Median over the repeats.
    pub seconds: f64,
    pub tokens_per_s: f64,
    /// Fastest repeat (what the machine does when the other tenants let it).
    pub best_seconds: f64,
    pub best_tokens_per_s: f64,
    pub flops: f64,
    pub gflops: f64,
    /// `gflops` over the GEMM peak measured in the same run.
    pub frac_of_gemm_peak: f64,
}

fn run(what: &str, seqs: usize, len: usize, times: &[f64], flops: f64, peak: f64) -> ModelRun {
    let tokens = seqs * len;
    let (seconds, best) = (times[times.len() / 2], times[0]);
    let gflops = flops / seconds / 1e9;
    ModelRun {
        what: what.to_string(),
        seqs,
        seq_len: len,
        tokens,
        seconds,
        tokens_per_s: tokens as f64 / seconds,
        best_seconds: best,
        best_tokens_per_s: tokens as f64 / best,
        flops,
        gflops,
        frac_of_gemm_peak: gflops / peak,
    }
}

/// Prefill: hidden states and next-token log-probs of every position, no gradients.
pub fn bench_forward(
    model: &Model,
    seqs: usize,
    len: usize,
    repeats: usize,
    peak: f64,
) -> Result<ModelRun> {
    let batch = packed_batch(&model.config, seqs, len);
    let mut err = None;
    let secs = sorted_secs(1, repeats, || {
        let tape = Tape::no_grad();
        let vars = model.vars(&tape);
        if let Err(e) = model.next_token_logprobs(&tape, &vars, &batch, 1.0) {
            err = Some(e);
        }
    });
    if let Some(e) = err {
        return Err(e);
    }
    let flops = forward_flops(&model.config, &vec![len; seqs]);
    Ok(run("forward", seqs, len, &secs, flops, peak))
}

/// One training step's compute: forward, a weighted log-prob loss, backward to every parameter.
pub fn bench_train_step(
    model: &Model,
    seqs: usize,
    len: usize,
    repeats: usize,
    peak: f64,
) -> Result<ModelRun> {
    let batch = packed_batch(&model.config, seqs, len);
    let mut err = None;
    let secs = sorted_secs(1, repeats, || {
        let tape = Tape::new();
        let vars = model.vars(&tape);
        match model.next_token_logprobs(&tape, &vars, &batch, 1.0) {
            Ok((lp, _)) => {
                let coef = vec![1.0 / lp.value.numel() as f32; lp.value.numel()];
                let loss = tape.weighted_sum(&lp, &coef);
                let grads = tape.backward(&loss);
                std::hint::black_box(&grads);
            }
            Err(e) => err = Some(e),
        }
    });
    if let Some(e) = err {
        return Err(e);
    }
    let flops = train_flops(&model.config, seqs * len);
    Ok(run("forward+backward", seqs, len, &secs, flops, peak))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_config_has_135m_params() {
        let c = smollm2_135m_config().unwrap();
        let p = c.num_params();
        assert!((134_000_000..135_000_000).contains(&p), "{p}");
    }

    #[test]
    fn flops_count_matmuls_and_causal_attention() {
        let c = smollm2_135m_config().unwrap();
        let p = c.num_params() as f64;
        let f = forward_flops(&c, &[256]);
        let attn = 4.0 * 256.0 * 256.0 * 576.0 * 30.0 / 2.0;
        assert!((f - (2.0 * p * 256.0 + attn)).abs() < 1.0);
        assert_eq!(train_flops(&c, 10), 60.0 * p);
    }

    #[test]
    fn tiny_model_forward_and_step_run() {
        let cfg =
            ModelConfig::from_json(llama_config_json(50, 16, 32, 1, 2, 1, true, 1, 2)).unwrap();
        let m = Model::random(cfg, 0.1, 1).unwrap();
        let f = bench_forward(&m, 2, 8, 1, 1.0).unwrap();
        assert_eq!(f.tokens, 16);
        assert!(f.tokens_per_s > 0.0);
        let t = bench_train_step(&m, 2, 8, 1, 1.0).unwrap();
        assert!(t.gflops > 0.0);
    }
}
