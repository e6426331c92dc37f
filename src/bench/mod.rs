//! Throughput benchmarks of the CPU backend: GEMM against the GEMM crate's own peak, a
//! 135M-parameter Llama forward/backward, and the RL rollout/update loop (`rlvr bench cpu`,
//! `rlvr bench train`). Numbers are medians of repeats after a warm-up, because the machines
//! these run on are shared and single runs are noisy.

pub mod checkpointing;
pub mod efficiency;
pub mod gemm;
pub mod kernels;
pub mod model;
pub mod ops;
pub mod profile;
pub mod train;

use std::time::Instant;

/// Median wall time in seconds of `repeats` runs of `f`, after `warmup` untimed runs.
pub fn median_secs(warmup: usize, repeats: usize, f: impl FnMut()) -> f64 {
    let times = sorted_secs(warmup, repeats, f);
    times[times.len() / 2]
}

/// Fastest of `repeats` runs: what the hardware can do when the shared machine lets it (the
/// GEMM peak is a ceiling, so it takes the best run, not the typical one).
pub fn best_secs(warmup: usize, repeats: usize, f: impl FnMut()) -> f64 {
    sorted_secs(warmup, repeats, f)[0]
}

/// Wall times in seconds of `repeats` runs of `f` after `warmup` untimed runs, fastest first.
pub fn sorted_secs(warmup: usize, repeats: usize, mut f: impl FnMut()) -> Vec<f64> {
    for _ in 0..warmup {
        f();
    }
    let mut times: Vec<f64> = (0..repeats.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times
}

pub use crate::util::cpu_time::load_average;

/// Size the rayon pool and matrixmultiply's pool. Must run before any kernel does: both pools
/// are created on first use and cannot be resized afterwards.
/// Asking again for the size the pool already has is not an error.
pub fn set_threads(threads: usize) -> anyhow::Result<()> {
    anyhow::ensure!(threads > 0, "--threads must be at least 1");
    static SET: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    if SET.get() == Some(&threads) {
        return Ok(());
    }
    // matrixmultiply reads this once, lazily (it caps the value at 4).
    std::env::set_var("MATMUL_NUM_THREADS", threads.to_string());
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .map_err(|e| anyhow::anyhow!("cannot size the thread pool to {threads}: {e}"))?;
    let _ = SET.set(threads);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_runs_warmup_plus_repeats_and_picks_the_middle() {
        let mut calls = 0;
        let t = median_secs(2, 3, || calls += 1);
        assert_eq!(calls, 5);
        assert!(t >= 0.0);
    }
}
