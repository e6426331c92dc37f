//! What the training tests share: a tiny character-level model and a synthetic arithmetic task
//! (32 problems, seed 5) in a directory, and a run's metrics without the wall-clock keys.
#![allow(dead_code)]
use rlvr::model::init::{write_tiny_char_model, TinySpec};
use std::path::Path;

/// Writes `dir/model` (the default tiny model) and `dir/train.jsonl`.
pub fn write(dir: &Path) {
    write_tiny_char_model(&dir.join("model"), TinySpec::default()).unwrap();
    let items = rlvr::data::synthetic::generate(
        rlvr::data::synthetic::TaskSpec {
            kind: rlvr::data::synthetic::TaskKind::Arithmetic,
            difficulty: 1,
            seed: 5,
        },
        32,
    );
    let lines: String = items
        .iter()
        .map(|t| serde_json::json!({"prompt": t.question, "answer": t.answer}).to_string() + "\n")
        .collect();
    std::fs::write(dir.join("train.jsonl"), lines).unwrap();
}

/// An SFT run on the task of `write` (which it calls): batches of 5 (odd, so two shards differ
/// in size), the `\boxed{answer}` format.
pub fn sft_config(dir: &Path, steps: usize) -> rlvr::rl::sft::SftConfig {
    write(dir);
    rlvr::rl::sft::SftConfig {
        model: dir.join("model"),
        data: vec![dir.join("train.jsonl")],
        output: dir.join("out"),
        steps,
        batch_size: 5,
        lr: 3e-3,
        weight_decay: 0.01,
        grad_clip: 1.0,
        seed: 7,
        template: rlvr::tokenizer::ChatTemplate::Plain,
        response_format: "\\boxed{{answer}}".into(),
        max_tokens: 128,
        activation_checkpointing: false,
        nccl: false,
    }
}

/// The metrics lines of a run, without the timing keys (which differ between equal runs).
pub fn metrics(run: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            for k in rlvr::rl::metrics::TIMING_KEYS {
                v.as_object_mut().unwrap().remove(*k);
            }
            v
        })
        .collect()
}
