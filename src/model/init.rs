//! Fresh models: a config for a small Llama-shaped model and random initialisation (for
//! pretraining from scratch in the demo, and for tests).
use super::{Model, ModelConfig, ParamLayout};
use crate::rng::SplitMix64;
use crate::tensor::{DType, Tensor};
use anyhow::Result;

/// A Llama config JSON as transformers writes it.
#[allow(clippy::too_many_arguments)]
pub fn llama_config_json(
    vocab: usize,
    hidden: usize,
    intermediate: usize,
    layers: usize,
    heads: usize,
    kv_heads: usize,
    tie: bool,
    bos: u32,
    eos: u32,
) -> serde_json::Value {
    serde_json::json!({
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": vocab,
        "hidden_size": hidden,
        "intermediate_size": intermediate,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "head_dim": hidden / heads,
        "hidden_act": "silu",
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "rope_scaling": null,
        "max_position_embeddings": 2048,
        "tie_word_embeddings": tie,
        "attention_bias": false,
        "mlp_bias": false,
        "bos_token_id": bos,
        "eos_token_id": eos,
        "torch_dtype": "float32",
        "initializer_range": 0.02
    })
}

impl Model {
    /// Random weights: normal(0, std) for matrices (output projections scaled down by
    /// sqrt(2·layers), GPT-2 style), ones for norms, zeros for biases.
    pub fn random(config: ModelConfig, std: f32, seed: u64) -> Result<Model> {
        let layout = ParamLayout::new(&config);
        let mut rng = SplitMix64(seed);
        let resid_scale = 1.0 / (2.0 * config.num_layers.max(1) as f32).sqrt();
        let params = layout
            .specs
            .iter()
            .map(|(name, shape)| {
                let n: usize = shape.iter().product();
                let data = if name.ends_with("norm.weight") || name.ends_with("layernorm.weight") {
                    vec![1.0; n]
                } else if name.ends_with(".bias") {
                    vec![0.0; n]
                } else {
                    let s = if name.ends_with("o_proj.weight") || name.ends_with("down_proj.weight")
                    {
                        std * resid_scale
                    } else {
                        std
                    };
                    (0..n).map(|_| rng.normal() as f32 * s).collect()
                };
                Tensor::from_vec(data, shape)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Model::from_parts(config, layout, params, DType::F32, None))
    }
}

/// Shape of a small Llama trained from scratch (the demo's base model, tests).
#[derive(Clone, Copy, Debug)]
pub struct TinySpec {
    pub hidden: usize,
    pub intermediate: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub seed: u64,
}

impl Default for TinySpec {
    fn default() -> Self {
        TinySpec {
            hidden: 64,
            intermediate: 176,
            layers: 2,
            heads: 4,
            kv_heads: 2,
            seed: 1,
        }
    }
}

/// Write a randomly initialised character-level Llama as a complete model directory
/// (config.json, generation_config.json, model.safetensors, tokenizer.json).
pub fn write_tiny_char_model(dir: &std::path::Path, spec: TinySpec) -> Result<Model> {
    use crate::tokenizer::charlevel;
    let vocab = charlevel::vocab().len();
    let eos = 0u32; // <|endoftext|>
    let cfg = llama_config_json(
        vocab,
        spec.hidden,
        spec.intermediate,
        spec.layers,
        spec.heads,
        spec.kv_heads,
        true,
        1,
        eos,
    );
    let model = Model::random(
        ModelConfig::from_json(cfg)?,
        0.02_f32.max(1.0 / (spec.hidden as f32).sqrt()),
        spec.seed,
    )?;
    model.save(dir, DType::F32)?;
    crate::util::write_atomic(
        &dir.join("tokenizer.json"),
        charlevel::tokenizer_json().as_bytes(),
    )?;
    // <|im_end|> also ends a turn; both stop generation.
    let gen = serde_json::json!({"bos_token_id": 1, "eos_token_id": [eos, 2]});
    crate::util::write_atomic(
        &dir.join("generation_config.json"),
        gen.to_string().as_bytes(),
    )?;
    Ok(model)
}
