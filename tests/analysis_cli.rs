//! `rlvr analyze` end to end through the binary: a tiny random Llama saved to a temp dir with a
//! character-level tokenizer.json written here, a two-problem JSONL, every output produced.
use rlvr::model::{init::llama_config_json, Model, ModelConfig};
use rlvr::tensor::DType;
use serde_json::json;
use std::path::Path;
use std::process::Command;

const SPECIALS: [&str; 3] = ["<|im_start|>", "<|im_end|>", "<|endoftext|>"];

/// BPE without merges over "\n" + printable ASCII, plus the ChatML special tokens: one token per
/// character. Returns the vocabulary size.
fn write_char_tokenizer(path: &Path) -> usize {
    let mut chars: Vec<String> = vec!["\n".into()];
    chars.extend((32u8..=126).map(|b| (b as char).to_string()));
    let mut vocab = serde_json::Map::new();
    for (i, c) in chars.iter().enumerate() {
        vocab.insert(c.clone(), json!(i));
    }
    let mut added = Vec::new();
    for (j, s) in SPECIALS.iter().enumerate() {
        let id = chars.len() + j;
        vocab.insert(s.to_string(), json!(id));
        added.push(
            json!({"id": id, "content": s, "single_word": false, "lstrip": false,
            "rstrip": false, "normalized": false, "special": true}),
        );
    }
    let tok = json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": added,
        "normalizer": null, "pre_tokenizer": null, "post_processor": null,
        "decoder": {"type": "Fuse"},
        "model": {"type": "BPE", "dropout": null, "unk_token": null,
            "continuing_subword_prefix": null, "end_of_word_suffix": null, "fuse_unk": false,
            "byte_fallback": false, "ignore_merges": false, "vocab": vocab, "merges": []}
    });
    std::fs::write(path, serde_json::to_string(&tok).unwrap()).unwrap();
    chars.len() + SPECIALS.len()
}

fn setup(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let model_dir = dir.join("model");
    std::fs::create_dir_all(&model_dir).unwrap();
    let vocab = write_char_tokenizer(&model_dir.join("tokenizer.json"));
    // The tokenizer loads and is one token per character.
    let tok = rlvr::tokenizer::Tokenizer::from_dir(&model_dir).unwrap();
    assert_eq!(tok.vocab_size(), vocab);
    let ids = tok.encode("<|im_start|>ab 1\n").unwrap();
    assert_eq!(ids.len(), 6, "{ids:?}");
    assert_eq!(tok.decode(&ids, false).unwrap(), "<|im_start|>ab 1\n");
    let eos = tok.token_id("<|endoftext|>").unwrap();
    let cfg = llama_config_json(vocab, 16, 32, 2, 2, 1, true, eos, eos);
    let m = Model::random(ModelConfig::from_json(cfg).unwrap(), 0.3, 7).unwrap();
    m.save(&model_dir, DType::F32).unwrap();
    let data = dir.join("problems.jsonl");
    std::fs::write(
        &data,
        "{\"prompt\": \"What is 1+1?\", \"answer\": \"2\"}\n{\"prompt\": \"What is 2*3?\", \"answer\": \"6\"}\n",
    )
    .unwrap();
    (model_dir, data)
}

fn rlvr(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rlvr"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn analyze_end_to_end_writes_every_output() {
    let dir = tempfile::tempdir().unwrap();
    let (model_dir, data) = setup(dir.path());
    let out = dir.path().join("out");
    let o = rlvr(&[
        "analyze",
        "--model",
        model_dir.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--objective",
        "psr,nsr,w-reinforce",
        "--samples",
        "2",
        "--n",
        "3",
        "--max-tokens",
        "5",
        "--template",
        "chatml",
        "--lr",
        "0.01",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in [
        "tokens.jsonl",
        "params.jsonl",
        "summary.json",
        "report.md",
        "samples.jsonl",
        "redistribution.svg",
        "redistribution.png",
        "grad_norm_layers.svg",
        "grad_norm_layers.png",
        "entropy.svg",
        "dlogp_by_confidence.png",
        "passk.svg",
        "passk.png",
    ] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["samples"], 6);
    let objs = summary["objectives"].as_array().unwrap();
    assert_eq!(objs.len(), 3);
    assert_eq!(objs[1]["name"], "nsr");
    // A random model answers nothing correctly: PSR keeps no sample, NSR keeps them all.
    let correct = summary["correct_samples"].as_u64().unwrap();
    assert_eq!(objs[1]["kept_samples"].as_u64().unwrap(), 6 - correct);
    assert_eq!(objs[0]["kept_samples"].as_u64().unwrap(), correct);
    assert!(summary["passk_before"].is_array());
    let samples = rlvr::util::read_jsonl(&out.join("samples.jsonl")).unwrap();
    let tokens = rlvr::util::read_jsonl(&out.join("tokens.jsonl")).unwrap();
    assert_eq!(samples.len(), 6);
    assert_eq!(
        tokens.len() as u64,
        summary["response_tokens"].as_u64().unwrap()
    );
    assert!(!tokens.is_empty());
}

#[test]
fn analyze_rejects_bad_flags_with_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (model_dir, data) = setup(dir.path());
    let out = dir.path().join("out");
    let base = |obj: &str, step: &str| {
        rlvr(&[
            "analyze",
            "--model",
            model_dir.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--objective",
            obj,
            "--step",
            step,
            "--output",
            out.to_str().unwrap(),
        ])
    };
    for (obj, step, msg) in [
        ("psr,bogus", "sgd", "unknown objective `bogus`"),
        ("ppo", "sgd", "need a critic"),
        ("nsr", "lbfgs", "unknown step rule"),
    ] {
        let o = base(obj, step);
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(msg), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    let o = rlvr(&[
        "analyze",
        "--model",
        model_dir.to_str().unwrap(),
        "--data",
        dir.path().join("missing.jsonl").to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing.jsonl"));
}
