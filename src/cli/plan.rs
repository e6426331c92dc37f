//! `rlvr plan`: the GPU memory plan of full-parameter RL for a model, per rank.
//!
//! Layout assumed (the one `rlvr train --device cuda` uses): bf16 weights for compute, f32 master weights, f32 AdamW moments,
//! f32 gradients (or bf16 with `--bf16-grads`); activation checkpointing (`rlvr train
//! --activation-checkpointing`) keeps one hidden state per layer per token plus one layer's full
//! activations during its recompute (without it, every layer's activations); the fused log-prob
//! path keeps only a bounded logits chunk; the rollout KV cache is bf16. ZeRO-1 shards the f32
//! master weights and the moments over `--nproc` ranks.
use crate::model::ModelConfig;
use anyhow::{bail, Context, Result};
use std::path::PathBuf;

/// Print the memory breakdown (weights, grads, optimizer, activations, KV cache) and the largest
/// micro-batch (tokens) that fits in the given GPU memory.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Model directory (or a config.json path).
    #[arg(long)]
    pub model: PathBuf,
    /// GPU memory per rank, e.g. 80G, 141G, 24000M.
    #[arg(long, default_value = "80G")]
    pub gpu_mem: String,
    /// Data-parallel ranks (ZeRO-1 shards master weights and moments).
    #[arg(long, default_value_t = 1)]
    pub nproc: usize,
    /// Keep gradients in bf16 instead of f32.
    #[arg(long)]
    pub bf16_grads: bool,
    /// Rollout sequences decoded at once and their context length, for the KV cache.
    #[arg(long, default_value_t = 64)]
    pub rollout_batch: usize,
    #[arg(long, default_value_t = 4096)]
    pub context: usize,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn parse_bytes(s: &str) -> Result<f64> {
    let t = s.trim();
    let (num, mult) = match t.chars().last() {
        Some('G') | Some('g') => (&t[..t.len() - 1], 1024f64.powi(3)),
        Some('M') | Some('m') => (&t[..t.len() - 1], 1024f64.powi(2)),
        Some('T') | Some('t') => (&t[..t.len() - 1], 1024f64.powi(4)),
        _ => (t, 1.0),
    };
    let v: f64 = num
        .trim()
        .parse()
        .with_context(|| format!("--gpu-mem {s:?}: expected a size like 80G"))?;
    if v <= 0.0 {
        bail!("--gpu-mem must be positive");
    }
    Ok(v * mult)
}

pub struct Plan {
    pub rows: Vec<(String, f64)>,
    /// Weights, optimizer and KV cache during rollouts.
    pub rollout_total: f64,
    pub fixed: f64,
    /// Activation bytes per training token with activation checkpointing.
    pub per_token: f64,
    pub max_tokens: usize,
    /// The same without activation checkpointing.
    pub per_token_no_ckpt: f64,
    pub max_tokens_no_ckpt: usize,
}

/// Values one decoder layer saves per token for its backward: the tape's saved tensors (the
/// layer input, the normed inputs of the projections, q/k/v after RoPE and the attention
/// output, gate, up and silu·up; Qwen3's q/k before their norm) plus 1/rms per norm row and
/// the attention log-sum-exp per head. `tests/activation_checkpointing.rs` checks it against
/// the CPU tape's count.
pub fn layer_activation_values(cfg: &ModelConfig) -> usize {
    let (d, f) = (cfg.hidden_size, cfg.intermediate_size);
    let (qd, kvd) = (cfg.q_dim(), cfg.kv_dim());
    let (nh, nkv) = (cfg.num_heads, cfg.num_kv_heads);
    let qk_norm = if cfg.qk_norm { qd + kvd + nh + nkv } else { 0 };
    4 * d + 2 * qd + 2 * kvd + 3 * f + 2 + nh + qk_norm
}

/// Bytes per token held for the backward by `bytes_per_value`-wide activations: with
/// checkpointing, each layer's input plus one layer recomputed in full; without, every layer.
pub fn activation_bytes_per_token(cfg: &ModelConfig, bytes_per_value: f64, ckpt: bool) -> f64 {
    let (l, d) = (cfg.num_layers as f64, cfg.hidden_size as f64);
    let layer = layer_activation_values(cfg) as f64;
    let values = if ckpt { l * d + (layer - d) } else { l * layer };
    bytes_per_value * values
}

pub fn plan(
    cfg: &ModelConfig,
    gpu: f64,
    nproc: usize,
    bf16_grads: bool,
    rollout_batch: usize,
    context: usize,
) -> Plan {
    let p = cfg.num_params() as f64;
    let n = nproc.max(1) as f64;
    let (d, l) = (cfg.hidden_size as f64, cfg.num_layers as f64);
    let weights = 2.0 * p;
    let master = 4.0 * p / n;
    let moments = 8.0 * p / n;
    let grads = if bf16_grads { 2.0 } else { 4.0 } * p;
    let kv = 2.0 * l * cfg.kv_dim() as f64 * 2.0 * (rollout_batch * context) as f64;
    // Fused log-prob chunk: 2^27 f32 logits (their gradient in place) and, on the device, the
    // bf16 copy of that gradient the backward GEMMs read (measured through the device model's
    // code path: tests/device_activation_checkpointing.rs).
    let logits_chunk = (4.0 + 2.0) * (1u64 << 27) as f64;
    // The KV cache lives only during rollouts, activations only during the update: they do not
    // coexist, so the training-phase total leaves the KV cache out (it is reported separately).
    let fixed = weights + master + moments + grads + logits_chunk;
    // Per training token: bf16 activations (see `activation_bytes_per_token`) + f32 hidden grads.
    let per_token = activation_bytes_per_token(cfg, 2.0, true) + 4.0 * 2.0 * d;
    let per_token_no_ckpt = activation_bytes_per_token(cfg, 2.0, false) + 4.0 * 2.0 * d;
    let left = gpu - fixed;
    let fit = |per_token: f64| {
        if left > 0.0 {
            (left * 0.9 / per_token) as usize
        } else {
            0
        }
    };
    let rollout_total = weights + master + moments + grads + kv;
    Plan {
        rollout_total,
        rows: vec![
            ("weights (bf16)".into(), weights),
            (
                format!(
                    "master weights (f32){}",
                    if nproc > 1 { ", ZeRO-1 shard" } else { "" }
                ),
                master,
            ),
            (
                format!(
                    "AdamW moments (f32){}",
                    if nproc > 1 { ", ZeRO-1 shard" } else { "" }
                ),
                moments,
            ),
            (
                format!("gradients ({})", if bf16_grads { "bf16" } else { "f32" }),
                grads,
            ),
            ("fused log-prob chunk (f32)".into(), logits_chunk),
            (
                format!("rollout phase: KV cache (bf16, {rollout_batch} × {context} tokens)"),
                kv,
            ),
        ],
        fixed,
        per_token,
        max_tokens: fit(per_token),
        per_token_no_ckpt,
        max_tokens_no_ckpt: fit(per_token_no_ckpt),
    }
}

pub fn run(a: Args) -> Result<()> {
    let path = if a.model.is_dir() {
        a.model.join("config.json")
    } else {
        a.model.clone()
    };
    let cfg = ModelConfig::from_file(&path)?;
    let gpu = parse_bytes(&a.gpu_mem)?;
    let p = plan(&cfg, gpu, a.nproc, a.bf16_grads, a.rollout_batch, a.context);
    let gib = |b: f64| b / 1024f64.powi(3);
    if a.json {
        let rows: serde_json::Map<String, serde_json::Value> = p
            .rows
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::json!(gib(*v))))
            .collect();
        println!(
            "{}",
            serde_json::json!({"params": cfg.num_params(), "gpu_gib": gib(gpu), "nproc": a.nproc, "gib": rows, "fixed_gib": gib(p.fixed), "activation_bytes_per_token": p.per_token, "max_micro_batch_tokens": p.max_tokens, "fits": p.max_tokens > 0, "activation_bytes_per_token_no_checkpointing": p.per_token_no_ckpt, "max_micro_batch_tokens_no_checkpointing": p.max_tokens_no_ckpt})
        );
        return Ok(());
    }
    println!(
        "{} ({:.2} B parameters), {} rank(s), {:.0} GiB per rank",
        path.display(),
        cfg.num_params() as f64 / 1e9,
        a.nproc,
        gib(gpu)
    );
    for (k, v) in &p.rows {
        println!("  {k:<48} {:>9.2} GiB", gib(*v));
    }
    println!(
        "  {:<48} {:>9.2} GiB{}",
        "rollout phase total",
        gib(p.rollout_total),
        if p.rollout_total > gpu {
            "  (does NOT fit: lower --rollout-batch)"
        } else {
            ""
        }
    );
    println!(
        "  {:<48} {:>9.2} GiB",
        "update phase total before activations",
        gib(p.fixed)
    );
    println!(
        "  activations (checkpointed): {:.1} KiB per token",
        p.per_token / 1024.0
    );
    if p.max_tokens == 0 {
        println!("  does NOT fit: {:.1} GiB over", gib(p.fixed - gpu));
    } else {
        println!(
            "  largest micro-batch: {} tokens (--max-tokens-per-micro-batch), 10% headroom, with `rlvr train --activation-checkpointing`",
            p.max_tokens
        );
        println!(
            "  without activation checkpointing: {:.1} KiB per token, largest micro-batch {} tokens",
            p.per_token_no_ckpt / 1024.0,
            p.max_tokens_no_ckpt
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qwen25_math_7b_fits_one_h200_and_zero1_shrinks_per_rank_memory() {
        let cfg = ModelConfig::from_json(serde_json::json!({
            "architectures": ["Qwen2ForCausalLM"], "vocab_size": 152064, "hidden_size": 3584, "intermediate_size": 18944,
            "num_hidden_layers": 28, "num_attention_heads": 28, "num_key_value_heads": 4, "tie_word_embeddings": false
        }))
        .unwrap();
        assert!((cfg.num_params() as f64 / 1e9 - 7.6).abs() < 0.1);
        let one = plan(&cfg, parse_bytes("141G").unwrap(), 1, false, 64, 4096);
        assert!(one.max_tokens > 4096, "{}", one.max_tokens);
        let eight = plan(&cfg, parse_bytes("80G").unwrap(), 8, false, 64, 4096);
        assert!(eight.fixed < one.fixed && eight.max_tokens > 0);
        assert!(one.max_tokens_no_ckpt > 0 && one.max_tokens_no_ckpt * 5 < one.max_tokens);
        assert!(plan(&cfg, parse_bytes("24G").unwrap(), 1, false, 64, 4096).max_tokens == 0);
        assert!(parse_bytes("80X").is_err());
    }
}
