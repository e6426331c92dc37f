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

/// The metrics lines of a run, without the timing keys (which differ between equal runs).
pub fn metrics(run: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            for k in rlvr::rl::trainer::TIMING_KEYS {
                v.as_object_mut().unwrap().remove(*k);
            }
            v
        })
        .collect()
}
