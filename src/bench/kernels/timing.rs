//! Timed repeats: CUDA events around each repeat on a GPU (after warm-up, with the L2 cache
//! flushed by writing a buffer twice its size before every repeat), wall clock on the emulator.
use super::track::Tracked;
use crate::backend::cuda::device::{alloc, DevElem, KernelDevice, RawBuf};
use crate::backend::cuda::gpu::Gpu;
use crate::backend::emu::{CountPolicy, Counts, EmuDevice};
use crate::bench::efficiency::measure;
use anyhow::Result;
use std::time::{Duration, Instant};

/// Where the bench runs.
#[derive(Clone, Copy)]
pub enum Backend<'a> {
    Gpu(&'a Gpu),
    Emu(&'a EmuDevice),
}

/// Repeat counts and the time budget of one measurement.
#[derive(Clone, Copy, Debug)]
pub struct RepeatPolicy {
    pub warmup: usize,
    pub max_repeats: usize,
    /// Repeats are cut (down to `MIN_REPEATS`) so one measurement takes about this long.
    pub budget_s: f64,
}

const MIN_REPEATS: usize = 3;

/// The median and best of the timed repeats, in milliseconds.
#[derive(Clone, Debug)]
pub struct Timing {
    pub median_ms: f64,
    pub min_ms: f64,
    pub repeats: usize,
    /// What one more call counted on the emulator (`Bencher::count`).
    pub counts: Option<Counts>,
}

impl Timing {
    pub fn from_samples(mut ms: Vec<f64>) -> Self {
        ms.sort_by(f64::total_cmp);
        let n = ms.len();
        let median = if n == 0 {
            f64::NAN
        } else if n % 2 == 1 {
            ms[n / 2]
        } else {
            0.5 * (ms[n / 2 - 1] + ms[n / 2])
        };
        Timing {
            median_ms: median,
            min_ms: ms.first().copied().unwrap_or(f64::NAN),
            repeats: n,
            counts: None,
        }
    }
}

pub struct Bencher<'a> {
    pub backend: Backend<'a>,
    /// The device every entry launches through (records kernels and memory).
    pub dev: Tracked<'a>,
    pub policy: RepeatPolicy,
    /// Written before every timed GPU repeat (2 × the L2 size).
    flush: Option<RawBuf>,
    filter: Option<String>,
    /// `--kernel`: which ops and rungs of their kernel ladders run.
    pub rungs: super::RungFilter,
    seed: u64,
    /// On the emulator: after the timed repeats, one more call with these efficiency counters.
    pub count: Option<CountPolicy>,
}

impl<'a> Bencher<'a> {
    pub fn new(
        backend: Backend<'a>,
        policy: RepeatPolicy,
        filter: Option<String>,
        seed: u64,
    ) -> Result<Self> {
        let inner: &'a dyn KernelDevice = match backend {
            Backend::Gpu(g) => g,
            Backend::Emu(e) => e,
        };
        let flush = match backend {
            Backend::Gpu(g) => {
                let l2 = g.l2_cache_bytes().unwrap_or(0);
                // 100 MiB when the driver does not say (2 × the 50 MB L2 of an H100).
                let bytes = if l2 > 0 { 2 * l2 } else { 100 << 20 };
                Some(g.alloc_bytes(bytes)?)
            }
            Backend::Emu(_) => None,
        };
        Ok(Bencher {
            backend,
            dev: Tracked::new(inner),
            policy,
            flush,
            filter,
            rungs: super::RungFilter::default(),
            seed,
            count: None,
        })
    }

    /// Count-only run at training shapes (`--shapes real --counters` on the emulator): every
    /// entry's launches run once, counted with at most `max_blocks` blocks per launch and
    /// shortened K loops; launches outside that pass are skipped, inputs stay lazily mapped
    /// zeros and nothing is timed.
    pub fn count_only(&mut self, max_blocks: usize) {
        self.count = Some(CountPolicy::sampled(max_blocks));
        self.dev.launch_only_when_counting();
    }

    pub fn dev_name(&self) -> String {
        self.dev.name()
    }

    pub fn is_gpu(&self) -> bool {
        matches!(self.backend, Backend::Gpu(_))
    }

    pub fn gpu(&self) -> Option<&'a Gpu> {
        match self.backend {
            Backend::Gpu(g) => Some(g),
            Backend::Emu(_) => None,
        }
    }

    /// Bytes written between repeats to flush L2 (0 on the emulator).
    pub fn flush_bytes(&self) -> usize {
        self.flush.as_ref().map_or(0, |f| f.bytes())
    }

    /// Whether an entry for `kernel` passes `--filter`.
    pub fn wants(&self, kernel: &str) -> bool {
        self.filter.as_deref().is_none_or(|f| kernel.contains(f))
    }

    /// A fresh seed for an input buffer.
    pub fn next_seed(&mut self) -> u64 {
        self.seed = self.seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        self.seed
    }

    /// Warm-up, then timed repeats of `f` (which enqueues work on the device).
    pub fn time(&self, f: &mut dyn FnMut() -> Result<()>) -> Result<Timing> {
        self.time_inner(f, self.policy.warmup)
    }

    /// Timed repeats of `f` that the caller has already run (warm) at least once.
    pub fn time_warm(&self, f: &mut dyn FnMut() -> Result<()>) -> Result<Timing> {
        self.time_inner(f, 0)
    }

    fn time_inner(&self, f: &mut dyn FnMut() -> Result<()>, warmup: usize) -> Result<Timing> {
        if let (Backend::Emu(e), true) = (self.backend, self.dev.is_count_only()) {
            return self.count_once(e, f);
        }
        let p = self.policy;
        let t0 = Instant::now();
        for _ in 0..warmup {
            f()?;
            self.dev.synchronize()?;
            if t0.elapsed().as_secs_f64() > p.budget_s {
                break; // a slow entry: one warm-up is enough
            }
        }
        // One more call, synchronised, sizes the repeat count to the budget.
        let t1 = Instant::now();
        f()?;
        self.dev.synchronize()?;
        let one = t1.elapsed().as_secs_f64().max(1e-7);
        let repeats = ((p.budget_s / one) as usize)
            .clamp(MIN_REPEATS.min(p.max_repeats), p.max_repeats.max(1));
        match self.backend {
            Backend::Gpu(g) => {
                let mut events = Vec::with_capacity(repeats);
                for i in 0..repeats {
                    if let Some(fl) = &self.flush {
                        g.memset_async(fl, i as u8)?;
                    }
                    let start = g.timing_event()?;
                    f()?;
                    let end = g.timing_event()?;
                    events.push((start, end));
                }
                g.synchronize()?;
                let mut ms = Vec::with_capacity(repeats);
                for (a, b) in &events {
                    ms.push(
                        a.elapsed_ms(b)
                            .map_err(|e| anyhow::anyhow!("cuEventElapsedTime: {e:?}"))?
                            as f64,
                    );
                }
                Ok(Timing::from_samples(ms))
            }
            Backend::Emu(e) => {
                let mut ms = Vec::with_capacity(repeats);
                for _ in 0..repeats {
                    let t = Instant::now();
                    f()?;
                    ms.push(t.elapsed().as_secs_f64() * 1e3);
                }
                let mut timing = Timing::from_samples(ms);
                // Counted apart from the timed calls: counters slow the emulator down.
                if let Some(policy) = self.count {
                    timing.counts = Some(measure(e, policy, |_| {
                        f()?;
                        self.dev.synchronize()
                    })?);
                }
                Ok(timing)
            }
        }
    }

    /// Count-only (`--shapes real`): one counted call of `f` and no timed repeat, so the timing
    /// has no samples (`repeats` 0, NaN times) and only its counts.
    fn count_once(&self, e: &EmuDevice, f: &mut dyn FnMut() -> Result<()>) -> Result<Timing> {
        let Some(policy) = self.count else {
            anyhow::bail!("a count-only bench run needs the efficiency counters (--counters)");
        };
        self.dev.set_counting(true);
        let counts = measure(e, policy, |_| {
            f()?;
            self.dev.synchronize()
        });
        self.dev.set_counting(false);
        let mut timing = Timing::from_samples(Vec::new());
        timing.counts = Some(counts?);
        Ok(timing)
    }

    /// Device time of `iters` back-to-back calls of `f` between two CUDA events (criterion's
    /// `iter_custom`); wall clock on the emulator.
    pub fn time_iters(&self, iters: u64, f: &mut dyn FnMut() -> Result<()>) -> Result<Duration> {
        match self.backend {
            Backend::Gpu(g) => {
                let start = g.timing_event()?;
                for _ in 0..iters {
                    f()?;
                }
                let end = g.timing_event()?;
                let ms = start
                    .elapsed_ms(&end)
                    .map_err(|e| anyhow::anyhow!("cuEventElapsedTime: {e:?}"))?;
                Ok(Duration::from_secs_f64(ms as f64 * 1e-3))
            }
            Backend::Emu(_) => {
                let t = Instant::now();
                for _ in 0..iters {
                    f()?;
                }
                Ok(t.elapsed())
            }
        }
    }

    /// A device-to-device copy of `bytes` (the measured memory bandwidth).
    pub fn time_copy(&self, bytes: usize) -> Result<Timing> {
        if self.dev.is_count_only() {
            // No kernel to count, and a host copy's time says nothing.
            return Ok(Timing::from_samples(Vec::new()));
        }
        let src = self.dev.alloc_bytes(bytes)?;
        let dst = self.dev.alloc_bytes(bytes)?;
        match self.backend {
            Backend::Gpu(g) => {
                g.memset_async(&src, 1)?;
                self.time(&mut || g.copy_async(&dst, &src, bytes))
            }
            Backend::Emu(_) => self.time(&mut || {
                // SAFETY: emulator device memory is host memory; both blocks hold `bytes` bytes.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        src.device_ptr() as *const u8,
                        dst.device_ptr() as *mut u8,
                        bytes,
                    )
                };
                Ok(())
            }),
        }
    }

    /// A device buffer of `n` pseudo-random values from `gen` (a 65521-long pattern, tiled, so
    /// filling gigabytes stays cheap on the host).
    pub fn random<T: DevElem>(
        &mut self,
        n: usize,
        gen: impl Fn(f64) -> T,
    ) -> Result<crate::backend::cuda::device::DevBuf<T>> {
        const PERIOD: usize = 65_521;
        if self.dev.is_count_only() {
            // Lazily mapped zeros: filling gigabytes of training-shape inputs on the host would
            // cost more than counting the kernels, and the counts follow the zeros' code paths.
            return alloc::<T>(&self.dev, n);
        }
        let mut rng = crate::rng::SplitMix64::new(self.next_seed());
        let pattern: Vec<T> = (0..PERIOD.min(n.max(1)))
            .map(|_| gen(rng.uniform()))
            .collect();
        let mut host = Vec::with_capacity(n);
        while host.len() < n {
            let take = (n - host.len()).min(pattern.len());
            host.extend_from_slice(&pattern[..take]);
        }
        let buf = alloc::<T>(&self.dev, n)?;
        crate::backend::cuda::device::copy_to_device(&self.dev, &host, &buf)?;
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::Timing;

    #[test]
    fn median_of_odd_and_even_sample_counts() {
        let t = Timing::from_samples(vec![3.0, 1.0, 2.0]);
        assert_eq!((t.median_ms, t.min_ms, t.repeats), (2.0, 1.0, 3));
        let t = Timing::from_samples(vec![4.0, 1.0, 2.0, 3.0]);
        assert_eq!(t.median_ms, 2.5);
    }
}
