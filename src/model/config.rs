//! Hugging Face `config.json` → [`ModelConfig`] for the Llama family (Llama, Mistral, Qwen2,
//! Qwen3). Accepts transformers 4.x (`rope_theta`, `rope_scaling`) and 5.x (`rope_parameters`).
use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    /// LlamaForCausalLM and MistralForCausalLM.
    Llama,
    /// Qwen2ForCausalLM: biases on q/k/v.
    Qwen2,
    /// Qwen3ForCausalLM: RMSNorm on q and k per head (q_norm/k_norm), explicit head_dim.
    Qwen3,
}

#[derive(Clone, Debug, PartialEq)]
pub enum RopeScaling {
    None,
    /// Llama 3.1 frequency-dependent scaling.
    Llama3 {
        factor: f64,
        low_freq_factor: f64,
        high_freq_factor: f64,
        original_max_position_embeddings: f64,
    },
    /// Positions divided by `factor`.
    Linear {
        factor: f64,
    },
}

#[derive(Clone, Debug)]
pub struct ModelConfig {
    pub arch: Arch,
    /// The architecture string as written in config.json (saved back unchanged).
    pub architecture_name: String,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
    pub rms_norm_eps: f32,
    pub rope_theta: f64,
    pub rope_scaling: RopeScaling,
    pub tie_word_embeddings: bool,
    pub qkv_bias: bool,
    pub o_bias: bool,
    pub mlp_bias: bool,
    pub qk_norm: bool,
    pub max_position_embeddings: usize,
    pub sliding_window: Option<usize>,
    pub bos_token_id: Option<u32>,
    pub eos_token_ids: Vec<u32>,
    /// The original JSON, so a saved model keeps every field transformers expects.
    pub raw: Value,
}

/// Most parameters a model config may describe (4 TB of f32 weights).
pub const MAX_PARAMS: u128 = 1 << 40;

fn get_usize(v: &Value, key: &str) -> Result<Option<usize>> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(x) => x
            .as_u64()
            .map(|n| Some(n as usize))
            .ok_or_else(|| anyhow!("field `{key}` must be a non-negative integer, got {x}")),
    }
}

fn need_usize(v: &Value, key: &str) -> Result<usize> {
    get_usize(v, key)?.ok_or_else(|| anyhow!("missing field `{key}`"))
}

fn get_f64(v: &Value, key: &str) -> Result<Option<f64>> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(x) => x
            .as_f64()
            .map(Some)
            .ok_or_else(|| anyhow!("field `{key}` must be a number, got {x}")),
    }
}

fn get_bool(v: &Value, key: &str, default: bool) -> Result<bool> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(x) => x
            .as_bool()
            .ok_or_else(|| anyhow!("field `{key}` must be true or false, got {x}")),
    }
}

fn token_ids(v: &Value, key: &str) -> Result<Vec<u32>> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(vec![]),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_u64()
                    .map(|n| n as u32)
                    .ok_or_else(|| anyhow!("`{key}` must hold integers"))
            })
            .collect(),
        Some(x) => Ok(vec![x
            .as_u64()
            .ok_or_else(|| anyhow!("`{key}` must be an integer or a list"))?
            as u32]),
    }
}

fn parse_rope(v: &Value) -> Result<(f64, RopeScaling)> {
    // transformers 5.x: everything under `rope_parameters`; 4.x: `rope_theta` + `rope_scaling`.
    let params = v.get("rope_parameters").filter(|p| !p.is_null());
    let theta = match params {
        Some(p) => get_f64(p, "rope_theta")?.or(get_f64(v, "rope_theta")?),
        None => get_f64(v, "rope_theta")?,
    }
    .unwrap_or(10000.0);
    let scaling = params.or(v.get("rope_scaling")).filter(|s| !s.is_null());
    let scaling = match scaling {
        None => RopeScaling::None,
        Some(s) => {
            let kind = s
                .get("rope_type")
                .or(s.get("type"))
                .and_then(|t| t.as_str())
                .unwrap_or("default");
            let num = |k: &str| -> Result<f64> {
                get_f64(s, k)?.ok_or_else(|| anyhow!("rope scaling `{kind}` needs `{k}`"))
            };
            match kind {
                "default" => RopeScaling::None,
                "llama3" => RopeScaling::Llama3 {
                    factor: num("factor")?,
                    low_freq_factor: num("low_freq_factor")?,
                    high_freq_factor: num("high_freq_factor")?,
                    original_max_position_embeddings: num("original_max_position_embeddings")?,
                },
                "linear" => RopeScaling::Linear {
                    factor: num("factor")?,
                },
                other => bail!(
                    "unsupported rope scaling type `{other}` (supported: default, llama3, linear)"
                ),
            }
        }
    };
    Ok((theta, scaling))
}

impl ModelConfig {
    pub fn from_file(path: &Path) -> Result<ModelConfig> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let v: Value = serde_json::from_str(&text)
            .with_context(|| format!("{}: malformed JSON", path.display()))?;
        ModelConfig::from_json(v).with_context(|| format!("{}", path.display()))
    }

    pub fn from_json(v: Value) -> Result<ModelConfig> {
        let arch_name = v
            .get("architectures")
            .and_then(|a| a.get(0))
            .and_then(|a| a.as_str())
            .map(str::to_string)
            .or_else(|| {
                v.get("model_type")
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
            })
            .ok_or_else(|| anyhow!("no `architectures` or `model_type` field"))?;
        let arch = match arch_name.as_str() {
            "LlamaForCausalLM" | "MistralForCausalLM" | "llama" | "mistral" => Arch::Llama,
            "Qwen2ForCausalLM" | "qwen2" => Arch::Qwen2,
            "Qwen3ForCausalLM" | "qwen3" => Arch::Qwen3,
            other => bail!(
                "unknown architecture `{other}` (supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM)"
            ),
        };
        if let Some(act) = v.get("hidden_act").and_then(|a| a.as_str()) {
            if act != "silu" {
                bail!("unsupported hidden_act `{act}` (only silu)");
            }
        }
        let hidden_size = need_usize(&v, "hidden_size")?;
        let num_heads = need_usize(&v, "num_attention_heads")?;
        let num_kv_heads = get_usize(&v, "num_key_value_heads")?.unwrap_or(num_heads);
        if num_heads == 0 || num_kv_heads == 0 || num_heads % num_kv_heads != 0 {
            bail!("num_attention_heads ({num_heads}) must be a positive multiple of num_key_value_heads ({num_kv_heads})");
        }
        let head_dim = get_usize(&v, "head_dim")?.unwrap_or(hidden_size / num_heads);
        if head_dim == 0 || head_dim % 2 != 0 {
            bail!("head_dim must be even and positive, got {head_dim}");
        }
        let (rope_theta, rope_scaling) = parse_rope(&v)?;
        let attention_bias = get_bool(&v, "attention_bias", false)?;
        let use_sliding = get_bool(&v, "use_sliding_window", arch == Arch::Llama)?;
        let sliding_window = if use_sliding {
            get_usize(&v, "sliding_window")?
        } else {
            None
        };
        let cfg = ModelConfig {
            arch,
            architecture_name: arch_name,
            vocab_size: need_usize(&v, "vocab_size")?,
            hidden_size,
            intermediate_size: need_usize(&v, "intermediate_size")?,
            num_layers: need_usize(&v, "num_hidden_layers")?,
            num_heads,
            num_kv_heads,
            head_dim,
            rms_norm_eps: get_f64(&v, "rms_norm_eps")?.unwrap_or(1e-6) as f32,
            rope_theta,
            rope_scaling,
            tie_word_embeddings: get_bool(&v, "tie_word_embeddings", false)?,
            qkv_bias: arch == Arch::Qwen2 || attention_bias,
            o_bias: arch == Arch::Llama && attention_bias,
            mlp_bias: arch == Arch::Llama && get_bool(&v, "mlp_bias", false)?,
            qk_norm: arch == Arch::Qwen3,
            max_position_embeddings: get_usize(&v, "max_position_embeddings")?.unwrap_or(4096),
            sliding_window,
            bos_token_id: token_ids(&v, "bos_token_id")?.first().copied(),
            eos_token_ids: token_ids(&v, "eos_token_id")?,
            raw: v,
        };
        cfg.check_ranges()?;
        Ok(cfg)
    }

    /// Range checks, before any tensor is allocated from these sizes: sizes positive, ε and θ
    /// finite and positive, and the parameter count within what a machine can hold.
    fn check_ranges(&self) -> Result<()> {
        for (key, v) in [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_layers),
            ("max_position_embeddings", self.max_position_embeddings),
        ] {
            if v == 0 {
                bail!("field `{key}` must be positive, got 0");
            }
        }
        if self.sliding_window == Some(0) {
            bail!("field `sliding_window` must be positive, got 0");
        }
        if !(self.rms_norm_eps.is_finite() && self.rms_norm_eps > 0.0) {
            bail!(
                "field `rms_norm_eps` must be a finite number > 0, got {}",
                self.rms_norm_eps
            );
        }
        if !(self.rope_theta.is_finite() && self.rope_theta > 0.0) {
            bail!(
                "field `rope_theta` must be a finite number > 0, got {}",
                self.rope_theta
            );
        }
        // Counted in u128 so absurd sizes cannot overflow before they are refused.
        let (h, q, kv) = (
            self.hidden_size as u128,
            self.num_heads as u128 * self.head_dim as u128,
            self.num_kv_heads as u128 * self.head_dim as u128,
        );
        let layer = h * (2 * q + 2 * kv) + 3 * h * self.intermediate_size as u128;
        let total = 2 * self.vocab_size as u128 * h + self.num_layers as u128 * layer;
        if total > MAX_PARAMS {
            bail!("the sizes in this config make {total} parameters, more than the {MAX_PARAMS} a model may have");
        }
        Ok(())
    }

    /// Inverse RoPE frequencies (length head_dim/2), with the configured scaling applied; f32
    /// as Hugging Face keeps them.
    pub fn inv_freq(&self) -> Vec<f32> {
        let d = self.head_dim;
        let base: Vec<f64> = (0..d / 2)
            .map(|i| 1.0 / self.rope_theta.powf((2 * i) as f64 / d as f64))
            .collect();
        let scaled: Vec<f64> = match &self.rope_scaling {
            RopeScaling::None => base,
            RopeScaling::Linear { factor } => base.iter().map(|f| f / factor).collect(),
            RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_position_embeddings: old,
            } => {
                let low_wavelen = old / low_freq_factor;
                let high_wavelen = old / high_freq_factor;
                base.iter()
                    .map(|&f| {
                        let f = f as f32 as f64; // HF computes the base frequencies in f32
                        let wavelen = 2.0 * std::f64::consts::PI / f;
                        if wavelen < high_wavelen {
                            f
                        } else if wavelen > low_wavelen {
                            f / factor
                        } else {
                            let smooth = (old / wavelen - low_freq_factor)
                                / (high_freq_factor - low_freq_factor);
                            (1.0 - smooth) * f / factor + smooth * f
                        }
                    })
                    .collect()
            }
        };
        scaled.into_iter().map(|f| f as f32).collect()
    }

    pub fn q_dim(&self) -> usize {
        self.num_heads * self.head_dim
    }

    pub fn kv_dim(&self) -> usize {
        self.num_kv_heads * self.head_dim
    }

    /// Parameter count (tied embeddings counted once).
    pub fn num_params(&self) -> usize {
        let (d, f, v) = (self.hidden_size, self.intermediate_size, self.vocab_size);
        let attn = d * self.q_dim() * 2 + d * self.kv_dim() * 2;
        let per_layer = attn + 3 * d * f + 2 * d;
        let head = if self.tie_word_embeddings { 0 } else { v * d };
        v * d + self.num_layers * per_layer + d + head
    }
}
