//! Tiny llama and qwen2 models as GGUF files: a byte-level BPE vocabulary with a few merges and
//! every tensor of a two-layer model in a mix of quant types, with the Hugging Face tensors the
//! converter must produce from them.
use super::gguf_writer::{GgufWriter, Kv};
use super::quantize::{quantize, test_values};
use rlvr::model::gguf::GgmlType;

/// GPT-2's byte → printable-unicode map used by byte-level BPE vocabularies.
fn byte_level_alphabet() -> Vec<String> {
    let printable: Vec<u32> = (33..=126).chain(161..=172).chain(174..=255).collect();
    let mut map = vec![0u32; 256];
    for &b in &printable {
        map[b as usize] = b;
    }
    let mut extra = 0;
    for b in 0..256u32 {
        if !printable.contains(&b) {
            map[b as usize] = 256 + extra;
            extra += 1;
        }
    }
    map.iter()
        .map(|&c| char::from_u32(c).unwrap().to_string())
        .collect()
}

pub struct TinyVocab {
    pub tokens: Vec<String>,
    pub types: Vec<i32>,
    pub merges: Vec<String>,
}

impl TinyVocab {
    /// The id of token `s`.
    pub fn id(&self, s: &str) -> u32 {
        self.tokens
            .iter()
            .position(|t| t == s)
            .expect("token in the tiny vocabulary") as u32
    }
}

/// Specials 0..3 (control), one user-defined token, the 256 byte tokens, and merges for "the",
/// " the" and "12".
pub fn tiny_vocab() -> TinyVocab {
    let mut tokens: Vec<String> = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut types = vec![3, 3, 3, 4];
    for t in byte_level_alphabet() {
        tokens.push(t);
        types.push(1);
    }
    let merges: Vec<String> = ["t h", "th e", "Ġ the", "1 2"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for m in &merges {
        tokens.push(m.replace(' ', ""));
        types.push(1);
    }
    TinyVocab {
        tokens,
        types,
        merges,
    }
}

pub struct TinyDims {
    pub hidden: u64,
    pub heads: u64,
    pub kv_heads: u64,
    pub ffn: u64,
    pub layers: u64,
    pub vocab_rows: u64,
}

pub const TINY: TinyDims = TinyDims {
    hidden: 64,
    heads: 4,
    kv_heads: 2,
    ffn: 96,
    layers: 2,
    vocab_rows: 288,
};

/// llama.cpp's permutation of HF Q/K rows (convert_hf_to_gguf's `permute`): within each head,
/// HF row `j * hd/2 + i` goes to GGUF row `2i + j`.
fn llama_cpp_permute(w: &[f32], rows: usize, n_heads: usize) -> Vec<f32> {
    let cols = w.len() / rows;
    let hd = rows / n_heads;
    let mut out = vec![0f32; w.len()];
    for head in 0..n_heads {
        for j in 0..2 {
            for i in 0..hd / 2 {
                let hf = head * hd + j * (hd / 2) + i;
                let gg = head * hd + 2 * i + j;
                out[gg * cols..(gg + 1) * cols].copy_from_slice(&w[hf * cols..(hf + 1) * cols]);
            }
        }
    }
    out
}

/// The HF-order values of every tensor of a tiny model (what the converter must produce), keyed
/// by HF name.
pub type Expected = Vec<(String, Vec<usize>, Vec<f32>)>;

/// Build a tiny llama or qwen2 GGUF. Matrices use several quant types; Q/K of llama are stored
/// permuted as llama.cpp does. Returns the writer and the expected HF tensors.
pub fn tiny_model(arch: &str) -> (GgufWriter, Expected) {
    let d = TINY;
    let v = tiny_vocab();
    let llama = arch == "llama";
    let mut w = GgufWriter::new();
    w.kv("general.architecture", Kv::Str(arch.into()))
        .kv("general.name", Kv::Str(format!("tiny {arch}")))
        .kv(&format!("{arch}.block_count"), Kv::U32(d.layers as u32))
        .kv(&format!("{arch}.context_length"), Kv::U32(512))
        .kv(
            &format!("{arch}.embedding_length"),
            Kv::U32(d.hidden as u32),
        )
        .kv(
            &format!("{arch}.feed_forward_length"),
            Kv::U32(d.ffn as u32),
        )
        .kv(
            &format!("{arch}.attention.head_count"),
            Kv::U32(d.heads as u32),
        )
        .kv(
            &format!("{arch}.attention.head_count_kv"),
            Kv::U32(d.kv_heads as u32),
        )
        .kv(
            &format!("{arch}.attention.layer_norm_rms_epsilon"),
            Kv::F32(1e-5),
        )
        .kv(
            &format!("{arch}.rope.freq_base"),
            Kv::F32(if llama { 1e5 } else { 1e6 }),
        )
        .kv("tokenizer.ggml.model", Kv::Str("gpt2".into()))
        .kv(
            "tokenizer.ggml.pre",
            Kv::Str(if llama { "smollm" } else { "qwen2" }.into()),
        )
        .kv("tokenizer.ggml.tokens", Kv::StrArr(v.tokens.clone()))
        .kv("tokenizer.ggml.token_type", Kv::I32Arr(v.types.clone()))
        .kv("tokenizer.ggml.merges", Kv::StrArr(v.merges.clone()))
        .kv("tokenizer.ggml.bos_token_id", Kv::U32(1))
        .kv("tokenizer.ggml.eos_token_id", Kv::U32(2))
        .kv("tokenizer.ggml.padding_token_id", Kv::U32(2))
        .kv("tokenizer.ggml.add_bos_token", Kv::Bool(false))
        .kv(
            "tokenizer.chat_template",
            Kv::Str("{% for m in messages %}<|im_start|>{{ m.content }}{% endfor %}".into()),
        )
        .kv("general.alignment", Kv::U32(64));
    w.alignment = 64;
    let mut expected: Expected = Vec::new();
    let mut seed = 100;
    let mut add = |w: &mut GgufWriter,
                   gguf: &str,
                   hf: &str,
                   shape: &[u64],
                   ty: GgmlType,
                   perm_heads: Option<u64>| {
        seed += 1;
        let n: u64 = shape.iter().product();
        let hf_values = test_values(n as usize, seed);
        let (_, hf_defined) = quantize(ty, &hf_values);
        let rows = shape[0] as usize;
        // Quantise what llama.cpp would store: the permuted rows. F32/F16 round per value, so the
        // un-permuted dequantised values equal the format-defined HF values exactly.
        let stored = match perm_heads {
            Some(nh) => llama_cpp_permute(&hf_values, rows, nh as usize),
            None => hf_values.clone(),
        };
        let (bytes, _) = quantize(ty, &stored);
        let dims: Vec<u64> = shape.iter().rev().copied().collect();
        w.tensor(gguf, &dims, ty, bytes);
        expected.push((
            hf.to_string(),
            shape.iter().map(|&s| s as usize).collect(),
            hf_defined,
        ));
    };
    let hd = d.hidden / d.heads;
    add(
        &mut w,
        "token_embd.weight",
        "model.embed_tokens.weight",
        &[d.vocab_rows, d.hidden],
        GgmlType::Q8_0,
        None,
    );
    add(
        &mut w,
        "output_norm.weight",
        "model.norm.weight",
        &[d.hidden],
        GgmlType::F32,
        None,
    );
    if !llama {
        add(
            &mut w,
            "output.weight",
            "lm_head.weight",
            &[d.vocab_rows, d.hidden],
            GgmlType::Q5_0,
            None,
        );
    }
    for l in 0..d.layers {
        let g = |s: &str| format!("blk.{l}.{s}");
        let m = |s: &str| format!("model.layers.{l}.{s}");
        let (q_perm, k_perm) = if llama {
            (Some(d.heads), Some(d.kv_heads))
        } else {
            (None, None)
        };
        add(
            &mut w,
            &g("attn_norm.weight"),
            &m("input_layernorm.weight"),
            &[d.hidden],
            GgmlType::F32,
            None,
        );
        add(
            &mut w,
            &g("ffn_norm.weight"),
            &m("post_attention_layernorm.weight"),
            &[d.hidden],
            GgmlType::F32,
            None,
        );
        add(
            &mut w,
            &g("attn_q.weight"),
            &m("self_attn.q_proj.weight"),
            &[d.heads * hd, d.hidden],
            GgmlType::F16,
            q_perm,
        );
        add(
            &mut w,
            &g("attn_k.weight"),
            &m("self_attn.k_proj.weight"),
            &[d.kv_heads * hd, d.hidden],
            GgmlType::F32,
            k_perm,
        );
        add(
            &mut w,
            &g("attn_v.weight"),
            &m("self_attn.v_proj.weight"),
            &[d.kv_heads * hd, d.hidden],
            GgmlType::Q4_1,
            None,
        );
        add(
            &mut w,
            &g("attn_output.weight"),
            &m("self_attn.o_proj.weight"),
            &[d.hidden, d.heads * hd],
            GgmlType::Q4_0,
            None,
        );
        add(
            &mut w,
            &g("ffn_gate.weight"),
            &m("mlp.gate_proj.weight"),
            &[d.ffn, d.hidden],
            GgmlType::Q5_1,
            None,
        );
        add(
            &mut w,
            &g("ffn_up.weight"),
            &m("mlp.up_proj.weight"),
            &[d.ffn, d.hidden],
            GgmlType::BF16,
            None,
        );
        add(
            &mut w,
            &g("ffn_down.weight"),
            &m("mlp.down_proj.weight"),
            &[d.hidden, d.ffn],
            GgmlType::Q8_0,
            None,
        );
        if !llama {
            add(
                &mut w,
                &g("attn_q.bias"),
                &m("self_attn.q_proj.bias"),
                &[d.heads * hd],
                GgmlType::F32,
                None,
            );
            add(
                &mut w,
                &g("attn_k.bias"),
                &m("self_attn.k_proj.bias"),
                &[d.kv_heads * hd],
                GgmlType::F32,
                None,
            );
            add(
                &mut w,
                &g("attn_v.bias"),
                &m("self_attn.v_proj.bias"),
                &[d.kv_heads * hd],
                GgmlType::F32,
                None,
            );
        }
    }
    (w, expected)
}
