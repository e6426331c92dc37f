//! `rlvr make-task`: write a synthetic verifiable task set as JSONL.

use crate::data::synthetic::{generate_tagged, TaskKind, TaskSpec, MAX_DIFFICULTY};
use crate::util::write_atomic;
use anyhow::{bail, Result};
use clap::Parser;
use std::path::PathBuf;

/// Generate seeded math problems with exact integer answers and write them as JSONL lines
/// {"prompt": question, "answer": answer, "id": "<task>-<seed>-<index>", "task": kind}.
/// The same flags always give the same file.
#[derive(Parser, Debug, Clone)]
pub struct Args {
    /// Task family: arithmetic (a + b * c …), linear (solve a·x + b = c for x), word (1–3 step
    /// story problems) or mixed (each item one of the three at random).
    #[arg(long)]
    pub task: TaskKind,

    /// Number of problems.
    #[arg(long, default_value_t = 1000)]
    pub n: usize,

    /// Difficulty from 1 (one-digit sums, one-step stories) to 10; sets digits and operand count,
    /// coefficient ranges, and the number of story steps.
    #[arg(long, default_value_t = 1)]
    pub difficulty: u32,

    /// Seed of the generator.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Output JSONL path (written atomically).
    #[arg(long)]
    pub output: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    if !(1..=MAX_DIFFICULTY).contains(&args.difficulty) {
        bail!(
            "--difficulty must be between 1 and {MAX_DIFFICULTY}, got {}",
            args.difficulty
        );
    }
    crate::util::limits::check_count("--n", args.n, crate::util::limits::MAX_TOTAL_SEQUENCES)?;
    crate::util::output::check_output_file(&args.output)?;
    let spec = TaskSpec {
        kind: args.task,
        difficulty: args.difficulty,
        seed: args.seed,
    };
    let mut out = String::new();
    for (i, (kind, item)) in generate_tagged(spec, args.n).into_iter().enumerate() {
        let line = serde_json::json!({
            "prompt": item.question,
            "answer": item.answer,
            "id": format!("{}-{}-{i}", spec.kind, spec.seed),
            "task": kind.name(),
        });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    write_atomic(&args.output, out.as_bytes())?;
    eprintln!(
        "wrote {} {} problems to {}",
        args.n,
        spec.kind,
        args.output.display()
    );
    Ok(())
}
