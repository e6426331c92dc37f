//! What activation checkpointing buys and costs on a training step: the activation bytes the
//! tape holds after the forward (its peak: the backward only releases them), plus the one layer
//! a checkpointed backward recomputes at a time, and the forward+backward time ratio.
use super::model::packed_batch;
use crate::autograd::{Tape, TapeStats};
use crate::model::{Batch, Model};
use crate::util::cpu_time::process_cpu_secs;
use anyhow::Result;
use serde::Serialize;
use std::time::Instant;

#[derive(Clone, Debug, Serialize)]
pub struct CheckpointRun {
    pub seqs: usize,
    pub seq_len: usize,
    /// Activations on the tape after the forward, without / with checkpointing (MiB).
    pub saved_mib_plain: f64,
    pub saved_mib_ckpt: f64,
    /// One layer's activations, alive while that layer is recomputed in the backward (MiB).
    pub recompute_mib: f64,
    /// Fastest forward+backward of the repeats (runs alternate between the two).
    pub seconds_plain: f64,
    pub seconds_ckpt: f64,
    pub time_ratio: f64,
    /// The same in CPU seconds of the process (all threads): less sensitive than wall time to
    /// other programs on a shared machine. `None` where /proc is unavailable.
    pub cpu_time_ratio: Option<f64>,
}

/// (wall seconds, CPU seconds) of `f`.
fn timed<T>(f: impl FnOnce() -> T) -> (T, f64, Option<f64>) {
    let (c0, t) = (process_cpu_secs(), Instant::now());
    let out = f();
    let wall = t.elapsed().as_secs_f64();
    let cpu = process_cpu_secs().zip(c0).map(|(b, a)| b - a);
    (out, wall, cpu)
}

/// Forward, weighted log-prob loss, backward; the tape's statistics after the forward and
/// after the backward.
fn step(model: &Model, batch: &Batch) -> Result<(TapeStats, TapeStats)> {
    let tape = Tape::new();
    let vars = model.vars(&tape);
    let (lp, _) = model.next_token_logprobs(&tape, &vars, batch, 1.0)?;
    let coef = vec![1.0 / lp.value.numel() as f32; lp.value.numel()];
    let loss = tape.weighted_sum(&lp, &coef);
    let after_forward = tape.stats();
    let grads = tape.backward(&loss);
    std::hint::black_box(&grads);
    Ok((after_forward, tape.stats()))
}

pub fn bench_checkpointing(
    model: &Model,
    seqs: usize,
    len: usize,
    repeats: usize,
) -> Result<CheckpointRun> {
    let batch = packed_batch(&model.config, seqs, len);
    // Two views of the same weights (tensor clones share storage).
    let with = |on: bool| {
        let mut m = Model::from_parts(
            model.config.clone(),
            model.layout.clone(),
            model.params.clone(),
            model.stored_dtype,
            None,
        );
        m.activation_checkpointing = on;
        m
    };
    let (plain, ckpt) = (with(false), with(true));
    let (mut best_plain, mut best_ckpt) = (f64::INFINITY, f64::INFINITY);
    let (mut cpu_plain, mut cpu_ckpt) = (Some(f64::INFINITY), Some(f64::INFINITY));
    let (mut saved_plain, mut saved_ckpt, mut recompute) = (0, 0, 0);
    let min = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| a.min(b));
    for _ in 0..repeats.max(1) {
        let (r, wall, cpu) = timed(|| step(&plain, &batch));
        saved_plain = r?.0.saved_bytes;
        best_plain = best_plain.min(wall);
        cpu_plain = min(cpu_plain, cpu);
        let (r, wall, cpu) = timed(|| step(&ckpt, &batch));
        let (fwd, bwd) = r?;
        (saved_ckpt, recompute) = (fwd.saved_bytes, bwd.recompute_peak_bytes);
        best_ckpt = best_ckpt.min(wall);
        cpu_ckpt = min(cpu_ckpt, cpu);
    }
    let mib = |b: usize| b as f64 / (1024.0 * 1024.0);
    Ok(CheckpointRun {
        seqs,
        seq_len: len,
        saved_mib_plain: mib(saved_plain),
        saved_mib_ckpt: mib(saved_ckpt),
        recompute_mib: mib(recompute),
        seconds_plain: best_plain,
        seconds_ckpt: best_ckpt,
        time_ratio: best_ckpt / best_plain,
        cpu_time_ratio: cpu_ckpt
            .zip(cpu_plain)
            .filter(|&(_, p)| p > 0.0)
            .map(|(c, p)| c / p),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::init::llama_config_json;
    use crate::model::ModelConfig;

    #[test]
    fn checkpointing_saves_less_and_recomputes_one_layer() {
        let cfg =
            ModelConfig::from_json(llama_config_json(50, 16, 32, 3, 2, 1, true, 1, 2)).unwrap();
        let m = Model::random(cfg, 0.1, 1).unwrap();
        let r = bench_checkpointing(&m, 2, 8, 1).unwrap();
        assert!(r.saved_mib_ckpt < r.saved_mib_plain, "{r:?}");
        assert!(r.recompute_mib > 0.0 && r.recompute_mib < r.saved_mib_plain);
        assert!(r.time_ratio > 0.0);
        // clock-tick granularity: a young test process may have used 0 ticks
        assert!(process_cpu_secs().is_some_and(|s| s >= 0.0));
    }
}
