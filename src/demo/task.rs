//! The demo's data: problems of its task, split into three disjoint sets (SFT problems that make
//! the base model, RL problems whose answers the base never saw, held-out evaluation problems).
use super::DemoConfig;
use crate::data::synthetic::{
    arithmetic, generate, ArithmeticConfig, SplitMix64, TaskItem, TaskKind, TaskSpec,
};
use anyhow::Result;
use std::collections::BTreeSet;
use std::path::Path;

/// SFT problems that make the tiny base model.
pub const SFT_PROBLEMS: usize = 4000;
/// RL problems (each RL step draws `prompts_per_step` of them).
pub const RL_PROBLEMS: usize = 2000;

/// The three sets, each problem in at most one of them.
pub struct Splits {
    pub sft: Vec<TaskItem>,
    pub rl: Vec<TaskItem>,
    pub eval: Vec<TaskItem>,
}

/// Problems of the demo's task.
fn task_items(cfg: &DemoConfig, seed: u64, n: usize) -> Result<Vec<TaskItem>> {
    if cfg.task == "add2" {
        let c = ArithmeticConfig {
            operands: 2,
            digits: 2,
            multiply: false,
        };
        let mut rng = SplitMix64::new(seed);
        return Ok((0..n).map(|_| arithmetic(&c, &mut rng)).collect());
    }
    let kind: TaskKind = cfg.task.parse()?;
    Ok(generate(
        TaskSpec {
            kind,
            difficulty: cfg.difficulty,
            seed,
        },
        n,
    ))
}

/// The SFT, RL and held-out sets of `cfg`'s task, disjoint by question.
pub fn splits(cfg: &DemoConfig) -> Result<Splits> {
    let sft = task_items(cfg, cfg.seed, SFT_PROBLEMS)?;
    let mut seen: BTreeSet<String> = sft.iter().map(|t| t.question.clone()).collect();
    let mut fresh = |seed: u64, n: usize| -> Result<Vec<TaskItem>> {
        let items: Vec<TaskItem> = task_items(cfg, seed, 20 * n)?
            .into_iter()
            .filter(|t| seen.insert(t.question.clone()))
            .take(n)
            .collect();
        if items.len() < n {
            anyhow::bail!(
                "the task has too few distinct problems for the demo (needed {n} new ones, got \
                 {}); choose a harder --task/--difficulty or fewer --eval-problems",
                items.len()
            );
        }
        Ok(items)
    };
    let rl = fresh(cfg.seed + 500, RL_PROBLEMS)?;
    let eval = fresh(cfg.seed + 1000, cfg.eval_problems)?;
    Ok(Splits { sft, rl, eval })
}

pub fn write_jsonl(path: &Path, items: &[TaskItem]) -> Result<()> {
    let text: String = items
        .iter()
        .map(|t| serde_json::json!({"prompt": t.question, "answer": t.answer}).to_string() + "\n")
        .collect();
    crate::util::write_atomic(path, text.as_bytes())
}
