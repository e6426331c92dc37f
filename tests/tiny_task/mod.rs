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

/// An RL run on the task of `write` (which it calls): 2 steps of 4 prompts × 4 samples in
/// mini-batches of 2 prompts, checkpointed every step, no validation.
pub fn rl_config(dir: &Path) -> rlvr::rl::TrainConfig {
    write(dir);
    rlvr::rl::TrainConfig {
        model: dir.join("model"),
        data: vec![dir.join("train.jsonl")],
        output: dir.join("run"),
        steps: 2,
        prompts_per_step: 4,
        n: 4,
        mini_batch_prompts: 2,
        lr: 1e-3,
        max_prompt_tokens: 64,
        max_response_tokens: 6,
        template: Some(rlvr::tokenizer::ChatTemplate::Plain),
        save_every: 1,
        val_every: 0,
        rollout_batch: 8,
        ..rlvr::rl::TrainConfig::default()
    }
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

/// The lines of RL steps (not the final validation's, which holds `val/*` keys alone).
pub fn step_lines(m: &[serde_json::Value]) -> impl Iterator<Item = &serde_json::Value> {
    m.iter().filter(|l| l.get("reward/mean").is_some())
}
