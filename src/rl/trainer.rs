//! The RL loop: open (or resume) a run, then per step the RL step (`step`), its metrics line and,
//! when due, a checkpoint; after the last step, the final validation. Deterministic given the seed: the data order is a function of
//! (seed, epoch) and every rollout draw of (seed, step, prompt, sample, token), so `--resume`
//! continues bit for bit.
use super::config::TrainConfig;
use super::metrics::StepMetrics;
use super::opening::Opening;
use super::run::Run;
use super::validate::Validation;
use crate::backend::cuda::device::KernelDevice;
use crate::dist::{Comm, Single};
use anyhow::Result;
use std::path::PathBuf;

/// Outcome of a training run (what the CLI prints and the demo tabulates).
#[derive(Debug, Clone)]
pub struct TrainSummary {
    pub steps_run: usize,
    pub output: PathBuf,
    pub final_checkpoint: Option<PathBuf>,
    /// The last step's metrics (none when no step ran).
    pub last_metrics: Option<StepMetrics>,
    /// Validation of the final policy (with validation data and `val_every > 0`).
    pub final_validation: Option<Vec<Validation>>,
}

pub fn train(cfg: &TrainConfig, resume: bool, show_progress: bool) -> Result<TrainSummary> {
    train_with(cfg, resume, show_progress, &Single, None)
}

/// [`train`] with the policy update on a kernel device (`rlvr train --device cuda|emu`); the old
/// and reference log-probs are scored on the device as well. The PPO critic stays on the CPU,
/// which gets the updated weights (and AdamW moments, for checkpoints) back when it reads them.
pub fn train_on(
    cfg: &TrainConfig,
    resume: bool,
    show_progress: bool,
    device: Option<&dyn KernelDevice>,
) -> Result<TrainSummary> {
    train_with(cfg, resume, show_progress, &Single, device)
}

/// Train as one rank of `comm` (every rank calls this with the same config). Rank 0 alone
/// writes the run directory; the result does not depend on the number of ranks.
pub fn train_with(
    cfg: &TrainConfig,
    opening: impl Into<Opening>,
    show_progress: bool,
    comm: &dyn Comm,
    device: Option<&dyn KernelDevice>,
) -> Result<TrainSummary> {
    let mut run = Run::open(cfg, &opening.into(), comm, device)?;
    let bar = progress_bar(show_progress && comm.rank() == 0, cfg.steps, run.start);
    let mut last_metrics = None;
    let mut final_checkpoint = None;
    for step in run.start..cfg.steps {
        let m = run.step(step)?;
        run.record(&m)?;
        bar.set_message(format!("reward {:.3}", m.batch.reward_mean));
        bar.inc(1);
        if run.checkpoint_due(step + 1) {
            final_checkpoint = Some(run.checkpoint(step + 1)?);
        }
        last_metrics = Some(m);
    }
    bar.finish_and_clear();
    let final_validation = run.final_validation()?;
    if let Some(v) = &final_validation {
        run.record(v)?;
    }
    Ok(TrainSummary {
        steps_run: cfg.steps.saturating_sub(run.start),
        output: cfg.output.clone(),
        final_checkpoint,
        last_metrics,
        final_validation: final_validation.map(|v| v.validation.0),
    })
}

fn progress_bar(show: bool, steps: usize, start: usize) -> indicatif::ProgressBar {
    let bar = if show {
        indicatif::ProgressBar::new(steps as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} step {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_position(start as u64);
    bar
}
