//! A character-level tokenizer.json (printable ASCII, newline and tab, plus ChatML special
//! tokens) for models trained from scratch: the demo's base model and tests. It loads through
//! the same `tokenizers` path as a real model's BPE tokenizer.
use serde_json::{json, Map, Value};

pub const SPECIALS: &[&str] = &["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
pub const UNK: &str = "<unk>";

/// The vocabulary in id order: specials, `<unk>`, then the characters.
pub fn vocab() -> Vec<String> {
    let mut v: Vec<String> = SPECIALS.iter().map(|s| s.to_string()).collect();
    v.push(UNK.to_string());
    v.push("\n".into());
    v.push("\t".into());
    v.extend((32u8..127).map(|c| (c as char).to_string()));
    v
}

/// tokenizer.json text: BPE with no merges (so every character is a token), a Fuse decoder.
pub fn tokenizer_json() -> String {
    let vocab = vocab();
    let mut map = Map::new();
    for (i, t) in vocab.iter().enumerate() {
        map.insert(t.clone(), json!(i));
    }
    let added: Vec<Value> = SPECIALS
        .iter()
        .enumerate()
        .map(|(i, s)| json!({"id": i, "content": s, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}))
        .collect();
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": null,
        "post_processor": null,
        "decoder": {"type": "Fuse"},
        "model": {
            "type": "BPE", "dropout": null, "unk_token": UNK, "continuing_subword_prefix": null,
            "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
            "vocab": Value::Object(map), "merges": []
        }
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn loads_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("tokenizer.json");
        std::fs::write(&p, super::tokenizer_json()).unwrap();
        let t = crate::tokenizer::Tokenizer::from_file(&p).unwrap();
        let text = "<|im_start|>What is 12+7?\n= 19<|im_end|>";
        let ids = t.encode(text).unwrap();
        assert_eq!(ids[0], 1);
        assert_eq!(*ids.last().unwrap(), 2);
        assert_eq!(ids.len(), 2 + "What is 12+7?\n= 19".len());
        assert_eq!(t.decode(&ids, false).unwrap(), text);
        assert_eq!(t.decode(&ids, true).unwrap(), "What is 12+7?\n= 19");
    }
}
