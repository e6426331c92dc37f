//! `config.json` and `generation_config.json` for the converted model, from GGUF hyperparameters.
use super::reader::GgufFile;
use anyhow::{bail, Result};
use serde_json::{json, Value as Json};

/// The architectures the converter knows how to map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    Llama,
    Qwen2,
}

impl Arch {
    pub fn name(self) -> &'static str {
        match self {
            Arch::Llama => "llama",
            Arch::Qwen2 => "qwen2",
        }
    }
}

/// Hyperparameters read from `{arch}.*` metadata and the embedding's shape.
#[derive(Debug, Clone)]
pub struct HParams {
    pub arch: Arch,
    pub vocab_size: u64,
    pub hidden_size: u64,
    pub intermediate_size: u64,
    pub num_hidden_layers: u64,
    pub num_attention_heads: u64,
    pub num_key_value_heads: u64,
    pub head_dim: u64,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    pub max_position_embeddings: u64,
    pub tie_word_embeddings: bool,
    pub attention_bias: bool,
    pub bos_token_id: Option<u64>,
    pub eos_token_id: Option<u64>,
    pub pad_token_id: Option<u64>,
}

/// GGUF stores these as f32; print them at f32 precision so 1e-5 stays 1e-5, not 9.99999974e-6.
fn f32_decimal(x: f64) -> f64 {
    (x as f32).to_string().parse().unwrap_or(x)
}

impl HParams {
    pub fn read(f: &GgufFile) -> Result<Self> {
        let file = f.path().display();
        let arch = match f.get_str("general.architecture")? {
            "llama" => Arch::Llama,
            "qwen2" => Arch::Qwen2,
            other => {
                bail!("{file}: architecture {other:?} is not supported (supported: llama, qwen2)")
            }
        };
        let a = arch.name();
        let hidden_size = f.get_u64(&format!("{a}.embedding_length"))?;
        let num_attention_heads = f.get_u64(&format!("{a}.attention.head_count"))?;
        let num_key_value_heads = f
            .opt_u64(&format!("{a}.attention.head_count_kv"))?
            .unwrap_or(num_attention_heads);
        if num_attention_heads == 0
            || num_key_value_heads == 0
            || num_attention_heads % num_key_value_heads != 0
        {
            bail!("{file}: {num_attention_heads} attention heads cannot be shared by {num_key_value_heads} KV heads");
        }
        let head_dim = match f.opt_u64(&format!("{a}.attention.key_length"))? {
            Some(d) => d,
            None if hidden_size % num_attention_heads == 0 => hidden_size / num_attention_heads,
            None => bail!(
                "{file}: hidden size {hidden_size} is not divisible by {num_attention_heads} heads"
            ),
        };
        let Some(embd) = f.tensor("token_embd.weight") else {
            bail!("{file}: no token_embd.weight tensor");
        };
        if embd.dims.len() != 2 || embd.dims[0] != hidden_size {
            bail!(
                "{file}: token_embd.weight has dims {:?}, expected [{hidden_size}, vocab]",
                embd.dims
            );
        }
        let rope_scaling = f.opt_str(&format!("{a}.rope.scaling.type"))?;
        if rope_scaling.is_some_and(|s| s != "none") || f.tensor("rope_freqs.weight").is_some() {
            bail!(
                "{file}: RoPE scaling ({}) is not supported",
                rope_scaling.unwrap_or("rope_freqs.weight")
            );
        }
        let hp = Self {
            arch,
            vocab_size: embd.dims[1],
            hidden_size,
            intermediate_size: f.get_u64(&format!("{a}.feed_forward_length"))?,
            num_hidden_layers: f.get_u64(&format!("{a}.block_count"))?,
            num_attention_heads,
            num_key_value_heads,
            head_dim,
            rms_norm_eps: f32_decimal(f.get_f64(&format!("{a}.attention.layer_norm_rms_epsilon"))?),
            rope_theta: f32_decimal(
                f.opt_f64(&format!("{a}.rope.freq_base"))?
                    .unwrap_or(10000.0),
            ),
            max_position_embeddings: f.get_u64(&format!("{a}.context_length"))?,
            tie_word_embeddings: f.tensor("output.weight").is_none(),
            attention_bias: f.tensor("blk.0.attn_q.bias").is_some(),
            bos_token_id: f.opt_u64("tokenizer.ggml.bos_token_id")?,
            eos_token_id: f.opt_u64("tokenizer.ggml.eos_token_id")?,
            pad_token_id: f.opt_u64("tokenizer.ggml.padding_token_id")?,
        };
        hp.check(f)?;
        Ok(hp)
    }

    /// Range checks of the sizes and constants read from metadata, before anything is built from
    /// them (a block count of 2^31 in an 8 KB file must not drive an allocation).
    fn check(&self, f: &GgufFile) -> Result<()> {
        let file = f.path().display();
        let a = self.arch.name();
        // Each decoder block holds several tensors, so a file cannot have more blocks than tensors.
        if self.num_hidden_layers == 0 || self.num_hidden_layers > f.tensors.len() as u64 {
            bail!(
                "{file}: {a}.block_count is {}, but the file holds {} tensors (must be 1..=the tensor count)",
                self.num_hidden_layers,
                f.tensors.len()
            );
        }
        for (key, v) in [
            ("embedding_length", self.hidden_size),
            ("feed_forward_length", self.intermediate_size),
            ("context_length", self.max_position_embeddings),
        ] {
            if v == 0 {
                bail!("{file}: {a}.{key} must be positive, got 0");
            }
        }
        for (key, v) in [
            ("attention.layer_norm_rms_epsilon", self.rms_norm_eps),
            ("rope.freq_base", self.rope_theta),
        ] {
            if !(v.is_finite() && v > 0.0) {
                bail!("{file}: {a}.{key} must be a finite number > 0, got {v}");
            }
        }
        Ok(())
    }

    /// `config.json`; `torch_dtype` is "float32" or "bfloat16".
    pub fn config_json(&self, torch_dtype: &str) -> Json {
        let mut c = json!({
            "architectures": [match self.arch { Arch::Llama => "LlamaForCausalLM", Arch::Qwen2 => "Qwen2ForCausalLM" }],
            "model_type": self.arch.name(),
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "head_dim": self.head_dim,
            "hidden_act": "silu",
            "rms_norm_eps": self.rms_norm_eps,
            "rope_theta": self.rope_theta,
            "rope_scaling": null,
            "max_position_embeddings": self.max_position_embeddings,
            "tie_word_embeddings": self.tie_word_embeddings,
            "attention_bias": self.attention_bias,
            "bos_token_id": self.bos_token_id,
            "eos_token_id": self.eos_token_id,
            "pad_token_id": self.pad_token_id,
            "torch_dtype": torch_dtype,
            "initializer_range": 0.02,
            "use_cache": true,
        });
        if let Some(o) = c.as_object_mut() {
            match self.arch {
                Arch::Llama => {
                    o.insert("mlp_bias".into(), json!(false));
                    o.insert("pretraining_tp".into(), json!(1));
                }
                Arch::Qwen2 => {
                    o.insert("use_sliding_window".into(), json!(false));
                    o.insert("sliding_window".into(), Json::Null);
                }
            }
        }
        c
    }

    /// `generation_config.json`.
    pub fn generation_config_json(&self) -> Json {
        json!({
            "bos_token_id": self.bos_token_id,
            "eos_token_id": self.eos_token_id,
            "pad_token_id": self.pad_token_id,
        })
    }
}
