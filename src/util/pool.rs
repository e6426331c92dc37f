//! Running a command's work on a worker of the global rayon pool.
//!
//! A parallel loop started from a thread outside the pool is injected into it, and the caller
//! sleeps until the pool has finished it: a wake-up of a worker, a wake-up of the caller and
//! their context switches, for every loop. A decode step runs a few hundred small parallel
//! products, and on a two-core machine that hand-off cost about a third of the step (the
//! profile was sched_yield, futex and task switches). Started on a worker, the same loops fork
//! and join by work stealing, the caller taking its own share.

/// Runs `f` on a worker of the global pool (the calling thread waits for it once), or on the
/// calling thread when the pool has a single worker: `f` may start threads that run parallel
/// loops of their own (the data-parallel ranks do) and wait for them, which needs a worker
/// other than the one `f` occupies.
pub fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if rayon::current_num_threads() < 2 || rayon::current_thread_index().is_some() {
        return f();
    }
    rayon::scope(|_| f())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rayon::prelude::*;

    #[test]
    fn runs_on_a_worker_and_returns_the_result() {
        let (on_worker, sum) = on_pool(|| {
            let sum: u64 = (0..10_000u64).into_par_iter().sum();
            (rayon::current_thread_index().is_some(), sum)
        });
        assert_eq!(sum, 49_995_000);
        assert_eq!(on_worker, rayon::current_num_threads() >= 2);
    }

    #[test]
    fn threads_started_inside_can_use_the_pool_while_it_waits() {
        let total: u64 = on_pool(|| {
            std::thread::scope(|s| {
                let hs: Vec<_> = (0..3u64)
                    .map(|r| {
                        s.spawn(move || (0..1000u64).into_par_iter().map(|x| x * r).sum::<u64>())
                    })
                    .collect();
                hs.into_iter().map(|h| h.join().expect("rank thread")).sum()
            })
        });
        assert_eq!(total, 3 * 499_500);
    }
}
