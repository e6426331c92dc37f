//! A tiny model directory made in the test: random Llama weights (Model::random + Model::save)
//! and a character-level tokenizer.json (BPE without merges: printable ASCII, newline, and the
//! special tokens <|endoftext|>, <|im_start|>, <|im_end|>), which the `tokenizers` crate loads.
#![allow(dead_code)]
use rlvr::model::{init::llama_config_json, Model, ModelConfig};
use rlvr::tensor::DType;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

pub const EOS: u32 = 0;
pub const IM_END: u32 = 2;
pub const SPECIALS: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];

pub fn tokenizer_json() -> Value {
    let mut vocab = Map::new();
    let mut added = Vec::new();
    for (i, s) in SPECIALS.iter().enumerate() {
        vocab.insert(s.to_string(), i.into());
        added.push(
            json!({"id": i, "content": s, "single_word": false, "lstrip": false,
            "rstrip": false, "normalized": false, "special": true}),
        );
    }
    let chars = std::iter::once('\n').chain((32u8..=126).map(char::from));
    for c in chars {
        let id = vocab.len();
        vocab.insert(c.to_string(), id.into());
    }
    json!({
        "version": "1.0", "truncation": null, "padding": null,
        "added_tokens": added,
        "normalizer": null, "pre_tokenizer": null, "post_processor": null,
        "decoder": {"type": "Fuse"},
        "model": {"type": "BPE", "dropout": null, "unk_token": null,
            "continuing_subword_prefix": null, "end_of_word_suffix": null,
            "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
            "vocab": vocab, "merges": []}
    })
}

pub const VOCAB: usize = 3 + 1 + 95;

/// Write a tiny model (2 layers, hidden 32) with the char tokenizer into `dir`.
pub fn tiny_model(dir: &Path, seed: u64) -> PathBuf {
    let cfg = llama_config_json(VOCAB, 32, 48, 2, 4, 2, true, 1, EOS);
    let m = Model::random(ModelConfig::from_json(cfg).unwrap(), 0.5, seed).unwrap();
    m.save(dir, DType::F32).unwrap();
    std::fs::write(
        dir.join("tokenizer.json"),
        serde_json::to_string(&tokenizer_json()).unwrap(),
    )
    .unwrap();
    dir.to_path_buf()
}

/// Problems whose answers are small numbers.
pub fn write_problems(path: &Path, prefix: &str, count: usize) {
    let mut text = String::new();
    for i in 0..count {
        let (a, b) = (i % 5, (i * 3) % 4);
        text.push_str(
            &json!({"id": format!("{prefix}{i}"), "prompt": format!("What is {a}+{b}?"),
                "answer": (a + b).to_string()})
            .to_string(),
        );
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

pub fn rlvr(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_rlvr"))
        .args(args)
        .output()
        .expect("running rlvr")
}

pub fn ok(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "rlvr failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
