//! `rlvr passk`: score an evaluation JSONL (ours or the paper's `eval.py` output) with the
//! unbiased Pass@k estimator.

use crate::eval::passk::PasskReport;
use crate::eval::samples::read_eval_samples;
use anyhow::{bail, Context, Result};
use clap::Parser;
use std::io::Write;
use std::path::PathBuf;

/// Print the unbiased Pass@k (1 − C(n−c,k)/C(n,k), averaged over questions) of an evaluation
/// JSONL as JSON on stdout: {"n_problems": .., "n_samples_per_problem": .., "passk": {"1": ..}}.
/// Values are fractions in [0, 1], not percentages. Warnings go to stderr.
#[derive(Parser, Debug, Clone)]
pub struct Args {
    /// Evaluation JSONL: one line per sample with "question_id" (string or integer) and "label"
    /// (true/false or 1/0); "generation_id", "prompt", "response", "answer", "gold_answer" and
    /// "pred_answer" may be present. Samples are grouped by question_id in file order.
    #[arg(long)]
    pub input: PathBuf,

    /// Comma-separated k values, e.g. 1,2,4,8. Default: 1, 2, 4, … up to the smallest number of
    /// samples of any question (plus that number itself if it is not a power of two). A question
    /// with fewer than k samples is left out of that k and counted under "excluded".
    #[arg(long, value_delimiter = ',')]
    pub k: Option<Vec<usize>>,

    /// Use only the first N samples of each question, in file order (as the paper's
    /// calculate_metrics.py does with N = 256); a question with fewer than N samples is an error.
    #[arg(long)]
    pub n: Option<usize>,
}

pub fn run(args: Args) -> Result<()> {
    let report = passk_report_for_file(&args)?;
    // writeln! rather than println!: a closed pipe (`| head`) is an error, not a panic.
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", report.to_json()).context("writing to stdout")?;
    Ok(())
}

/// The report `rlvr passk` prints, with its warnings written to stderr.
pub fn passk_report_for_file(args: &Args) -> Result<PasskReport> {
    if let Some(ks) = &args.k {
        if ks.is_empty() || ks.contains(&0) {
            bail!("--k: every k must be at least 1");
        }
    }
    if args.n == Some(0) {
        bail!("--n must be at least 1");
    }
    let mut samples = read_eval_samples(&args.input)?;
    if samples.questions.is_empty() {
        bail!("{}: no samples", args.input.display());
    }
    if samples.duplicate_generations > 0 {
        eprintln!(
            "warning: {}: {} lines repeat a (question_id, generation_id) pair already seen; they are counted as extra samples",
            args.input.display(),
            samples.duplicate_generations
        );
    }
    if let Some(n) = args.n {
        samples = samples
            .take_first(n)
            .map_err(|e| anyhow::anyhow!("{}: {e}", args.input.display()))?;
    }
    let report = PasskReport::new(&samples.counts(), args.k.as_deref());
    for (k, excluded) in &report.excluded {
        eprintln!("warning: k={k}: {excluded} of {} questions have fewer than {k} samples and are left out", report.n_problems);
    }
    if report.passk.is_empty() {
        bail!("no question has enough samples for any requested k");
    }
    Ok(report)
}
