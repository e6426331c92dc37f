//! The parameter list of a model: HF names, expected shapes, and where each layer's tensors sit.
use super::config::ModelConfig;

/// Indices into the flat parameter list for one decoder layer.
#[derive(Clone, Debug)]
pub struct LayerIdx {
    pub input_norm: usize,
    pub q: usize,
    pub k: usize,
    pub v: usize,
    pub o: usize,
    pub q_bias: Option<usize>,
    pub k_bias: Option<usize>,
    pub v_bias: Option<usize>,
    pub o_bias: Option<usize>,
    pub q_norm: Option<usize>,
    pub k_norm: Option<usize>,
    pub post_norm: usize,
    pub gate: usize,
    pub up: usize,
    pub down: usize,
    pub gate_bias: Option<usize>,
    pub up_bias: Option<usize>,
    pub down_bias: Option<usize>,
}

#[derive(Clone, Debug)]
pub struct ParamLayout {
    /// (HF name, shape) in canonical order.
    pub specs: Vec<(String, Vec<usize>)>,
    pub embed: usize,
    pub layers: Vec<LayerIdx>,
    pub final_norm: usize,
    /// `None` when the LM head is tied to the embedding.
    pub lm_head: Option<usize>,
}

impl ParamLayout {
    pub fn new(cfg: &ModelConfig) -> ParamLayout {
        let mut specs: Vec<(String, Vec<usize>)> = Vec::new();
        let mut push = |name: String, shape: Vec<usize>| {
            specs.push((name, shape));
            specs.len() - 1
        };
        let (d, f) = (cfg.hidden_size, cfg.intermediate_size);
        let (qd, kvd, hd) = (cfg.q_dim(), cfg.kv_dim(), cfg.head_dim);
        let embed = push("model.embed_tokens.weight".into(), vec![cfg.vocab_size, d]);
        let mut layers = Vec::new();
        for i in 0..cfg.num_layers {
            let p = format!("model.layers.{i}");
            let input_norm = push(format!("{p}.input_layernorm.weight"), vec![d]);
            let q = push(format!("{p}.self_attn.q_proj.weight"), vec![qd, d]);
            let k = push(format!("{p}.self_attn.k_proj.weight"), vec![kvd, d]);
            let v = push(format!("{p}.self_attn.v_proj.weight"), vec![kvd, d]);
            let o = push(format!("{p}.self_attn.o_proj.weight"), vec![d, qd]);
            let (q_bias, k_bias, v_bias) = if cfg.qkv_bias {
                (
                    Some(push(format!("{p}.self_attn.q_proj.bias"), vec![qd])),
                    Some(push(format!("{p}.self_attn.k_proj.bias"), vec![kvd])),
                    Some(push(format!("{p}.self_attn.v_proj.bias"), vec![kvd])),
                )
            } else {
                (None, None, None)
            };
            let o_bias = cfg
                .o_bias
                .then(|| push(format!("{p}.self_attn.o_proj.bias"), vec![d]));
            let (q_norm, k_norm) = if cfg.qk_norm {
                (
                    Some(push(format!("{p}.self_attn.q_norm.weight"), vec![hd])),
                    Some(push(format!("{p}.self_attn.k_norm.weight"), vec![hd])),
                )
            } else {
                (None, None)
            };
            let post_norm = push(format!("{p}.post_attention_layernorm.weight"), vec![d]);
            let gate = push(format!("{p}.mlp.gate_proj.weight"), vec![f, d]);
            let up = push(format!("{p}.mlp.up_proj.weight"), vec![f, d]);
            let down = push(format!("{p}.mlp.down_proj.weight"), vec![d, f]);
            let (gate_bias, up_bias, down_bias) = if cfg.mlp_bias {
                (
                    Some(push(format!("{p}.mlp.gate_proj.bias"), vec![f])),
                    Some(push(format!("{p}.mlp.up_proj.bias"), vec![f])),
                    Some(push(format!("{p}.mlp.down_proj.bias"), vec![d])),
                )
            } else {
                (None, None, None)
            };
            layers.push(LayerIdx {
                input_norm,
                q,
                k,
                v,
                o,
                q_bias,
                k_bias,
                v_bias,
                o_bias,
                q_norm,
                k_norm,
                post_norm,
                gate,
                up,
                down,
                gate_bias,
                up_bias,
                down_bias,
            });
        }
        let final_norm = push("model.norm.weight".into(), vec![d]);
        let lm_head = (!cfg.tie_word_embeddings)
            .then(|| push("lm_head.weight".into(), vec![cfg.vocab_size, d]));
        ParamLayout {
            specs,
            embed,
            layers,
            final_norm,
            lm_head,
        }
    }

    pub fn lm_head_index(&self) -> usize {
        self.lm_head.unwrap_or(self.embed)
    }
}
