//! GGUF tensor names → Hugging Face names, expected shapes, and llama.cpp's Q/K row permutation.
use super::hf_config::{Arch, HParams};
use anyhow::{bail, Result};

/// Which heads-permutation (if any) llama.cpp applied to a tensor's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowPermutation {
    None,
    /// Rotary-interleaved rows of a projection with this many heads (Q: n_head, K: n_head_kv).
    Heads(usize),
}

/// One tensor's destination.
#[derive(Debug, Clone)]
pub struct HfTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub permutation: RowPermutation,
}

/// Per-layer tensors: (GGUF suffix, HF suffix). Biases are optional; weights are required.
const LAYER_TENSORS: [(&str, &str); 9] = [
    ("attn_norm", "input_layernorm"),
    ("ffn_norm", "post_attention_layernorm"),
    ("attn_q", "self_attn.q_proj"),
    ("attn_k", "self_attn.k_proj"),
    ("attn_v", "self_attn.v_proj"),
    ("attn_output", "self_attn.o_proj"),
    ("ffn_gate", "mlp.gate_proj"),
    ("ffn_up", "mlp.up_proj"),
    ("ffn_down", "mlp.down_proj"),
];

/// Map one GGUF tensor to its HF name, shape and permutation; errors on names this converter does
/// not know and on shapes that disagree with the hyperparameters.
pub fn map_tensor(name: &str, shape: &[usize], hp: &HParams) -> Result<HfTensor> {
    let (h, ffn, vocab) = (
        hp.hidden_size as usize,
        hp.intermediate_size as usize,
        hp.vocab_size as usize,
    );
    let (nh, nkv, hd) = (
        hp.num_attention_heads as usize,
        hp.num_key_value_heads as usize,
        hp.head_dim as usize,
    );
    let mut permutation = RowPermutation::None;
    let (hf_name, expected): (String, Vec<usize>) = match name {
        "token_embd.weight" => ("model.embed_tokens.weight".into(), vec![vocab, h]),
        "output.weight" => ("lm_head.weight".into(), vec![vocab, h]),
        "output_norm.weight" => ("model.norm.weight".into(), vec![h]),
        _ => {
            let Some((layer, rest)) = name.strip_prefix("blk.").and_then(|r| r.split_once('.'))
            else {
                bail!("tensor {name} has no Hugging Face equivalent in this converter");
            };
            let Ok(layer) = layer.parse::<u64>() else {
                bail!("tensor {name}: bad layer number")
            };
            if layer >= hp.num_hidden_layers {
                bail!(
                    "tensor {name}: layer {layer} but block_count is {}",
                    hp.num_hidden_layers
                );
            }
            let Some((base, kind)) = rest.rsplit_once('.') else {
                bail!("tensor {name} is not NAME.weight/bias")
            };
            let Some(&(_, hf_base)) = LAYER_TENSORS.iter().find(|(g, _)| *g == base) else {
                bail!("tensor {name} has no Hugging Face equivalent in this converter");
            };
            let rows_cols = match base {
                "attn_norm" | "ffn_norm" => (h, 0),
                "attn_q" => (nh * hd, h),
                "attn_k" | "attn_v" => (nkv * hd, h),
                "attn_output" => (h, nh * hd),
                "ffn_gate" | "ffn_up" => (ffn, h),
                _ => (h, ffn), // ffn_down
            };
            let expected = match (kind, rows_cols) {
                ("weight", (r, 0)) => vec![r],
                ("weight", (r, c)) => vec![r, c],
                ("bias", (r, _))
                    if matches!(base, "attn_q" | "attn_k" | "attn_v" | "attn_output") =>
                {
                    vec![r]
                }
                _ => bail!("tensor {name} has no Hugging Face equivalent in this converter"),
            };
            if hp.arch == Arch::Llama {
                match base {
                    "attn_q" => permutation = RowPermutation::Heads(nh),
                    "attn_k" => permutation = RowPermutation::Heads(nkv),
                    _ => {}
                }
            }
            (format!("model.layers.{layer}.{hf_base}.{kind}"), expected)
        }
    };
    if shape != expected.as_slice() {
        bail!("tensor {name}: shape {shape:?} does not match the hyperparameters (expected {expected:?})");
    }
    if let RowPermutation::Heads(n) = permutation {
        if !shape[0].is_multiple_of(2 * n) {
            bail!(
                "tensor {name}: {} rows cannot be split into {n} heads of even size",
                shape[0]
            );
        }
    }
    Ok(HfTensor {
        name: hf_name,
        shape: expected,
        permutation,
    })
}

/// The GGUF tensor names every layer must have.
pub fn required_layer_tensors(layer: u64) -> impl Iterator<Item = String> {
    LAYER_TENSORS
        .iter()
        .map(move |(g, _)| format!("blk.{layer}.{g}.weight"))
}

/// Undo llama.cpp's rotary permutation of Q/K rows: within each head, GGUF row `2i + j` is HF row
/// `j * head_dim/2 + i` (numpy: `w.reshape(nh, rows/nh/2, 2, cols).swapaxes(1, 2)`). Works for
/// biases too with `cols = 1`. `rows` must be divisible by `2 * n_heads`.
pub fn unpermute_rows(w: &[f32], rows: usize, n_heads: usize) -> Vec<f32> {
    let cols = w.len() / rows;
    let hd = rows / n_heads;
    let half = hd / 2;
    let mut out = vec![0f32; w.len()];
    for head in 0..n_heads {
        for i in 0..half {
            for j in 0..2 {
                let src = head * hd + 2 * i + j;
                let dst = head * hd + j * half + i;
                out[dst * cols..(dst + 1) * cols].copy_from_slice(&w[src * cols..(src + 1) * cols]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpermute_one_head() {
        // One head of 4 rows, 1 column: GGUF order (i=0,j=0),(0,1),(1,0),(1,1) → HF rows 0,2,1,3.
        let w = [10.0, 20.0, 30.0, 40.0];
        assert_eq!(unpermute_rows(&w, 4, 1), vec![10.0, 30.0, 20.0, 40.0]);
    }
}
