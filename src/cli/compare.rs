//! `rlvr compare`: the demo's comparison with the base, from `rlvr eval` output directories.
use crate::eval::compare::{run_compare, CompareSettings, RecipeDirs};
use anyhow::{bail, Result};
use std::path::PathBuf;

/// Compare trained models with their base from `rlvr eval` output directories, as `rlvr demo`
/// does: Pass@k mean ± sd over RL seeds, ΔPass@k against the base at k = 1, 8, n with 95%
/// intervals from a two-level paired bootstrap (problems and RL seeds), problems lost and gained
/// per seed, and the computed verdicts (supported / not supported / inconclusive at 95%) on "PSR
/// loses Pass@n", "NSR keeps it" and "W-REINFORCE is best over the whole curve" (recipes named
/// psr, nsr and w-reinforce). Every directory must hold one model's evaluation of the same
/// problems with the same settings (n, temperature, top-p, max tokens, seed, template, …), so
/// each problem's samples were drawn with the same seeds; otherwise it is refused, naming the
/// directory and what differs. Prints the report and writes OUTPUT/report.md,
/// OUTPUT/compare.json and OUTPUT/passk.svg/.png.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The base model's evaluation directory.
    #[arg(long)]
    pub base: PathBuf,
    /// A recipe and the evaluation directories of its RL seeds: NAME=DIR[,DIR…]; repeat for
    /// each recipe (e.g. --model psr=eval/psr-1,eval/psr-2 --model nsr=eval/nsr-1,eval/nsr-2).
    #[arg(long = "model", required = true, value_name = "NAME=DIRS")]
    pub models: Vec<String>,
    /// The dataset to compare on, when the directories evaluated several (its label in
    /// run.json: the file stem).
    #[arg(long)]
    pub dataset: Option<String>,
    /// Output directory.
    #[arg(long, default_value = "compare-out")]
    pub output: PathBuf,
    /// Seed of the bootstrap resampling.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// `NAME=DIR[,DIR…]`.
fn parse_recipe(s: &str) -> Result<RecipeDirs> {
    let Some((name, dirs)) = s.split_once('=') else {
        bail!("--model `{s}`: expected NAME=DIR[,DIR…]");
    };
    let dirs: Vec<PathBuf> = dirs
        .split(',')
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .collect();
    if name.trim().is_empty() || dirs.is_empty() {
        bail!("--model `{s}`: expected NAME=DIR[,DIR…]");
    }
    Ok(RecipeDirs {
        name: name.trim().to_string(),
        dirs,
    })
}

pub fn run(a: Args) -> Result<()> {
    let recipes = a
        .models
        .iter()
        .map(|m| parse_recipe(m))
        .collect::<Result<Vec<_>>>()?;
    let outcome = run_compare(&CompareSettings {
        base: a.base,
        recipes,
        dataset: a.dataset,
        output: a.output.clone(),
        seed: a.seed,
    })?;
    print!("{}", outcome.report);
    eprintln!(
        "wrote {0}/report.md, {0}/compare.json and {0}/passk.svg/.png",
        a.output.display()
    );
    Ok(())
}
