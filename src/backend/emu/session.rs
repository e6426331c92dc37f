//! A counting session of the emulated device: while it is open every launch runs its traced
//! variant (a sample of its blocks at real sizes) and leaves a [`LaunchCount`]; host↔device copies
//! and synchronisations are counted too.
use super::counters::{plan_sample, Counters, Footprint, RawCounters, RawFootprint, Sample};
use crate::backend::cuda::device::{KernelArgs, LaunchCfg};
use serde::Serialize;
use std::collections::HashMap;

/// How launches are counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CountPolicy {
    /// Largest number of blocks a launch runs; a larger grid runs a stratified sample
    /// ([`plan_sample`]) and its counters are extrapolated. `usize::MAX`: always the whole grid.
    pub max_blocks: usize,
    /// A launch identical to an earlier one (same kernel, configuration and scalar arguments;
    /// buffers may differ) reuses its counts instead of running again: the layers of a model.
    pub reuse_identical: bool,
    /// A launch that declares a long loop (`LoopArg`) runs it shortened twice and its counts are
    /// extended to the real length (`loops`), so a block's work no longer grows with K.
    pub shorten_loops: bool,
}

impl CountPolicy {
    /// Every block of every launch: exact counts (small shapes).
    pub fn exact() -> Self {
        CountPolicy {
            max_blocks: usize::MAX,
            reuse_identical: false,
            shorten_loops: false,
        }
    }

    /// Real sizes: at most `max_blocks` blocks per launch, identical launches counted once, long
    /// loops shortened.
    pub fn sampled(max_blocks: usize) -> Self {
        CountPolicy {
            max_blocks,
            reuse_identical: true,
            shorten_loops: true,
        }
    }
}

/// One counted launch.
#[derive(Clone, Debug, Serialize)]
pub struct LaunchCount {
    pub kernel: String,
    pub grid: [u32; 3],
    pub block: [u32; 3],
    pub smem_bytes: u32,
    pub blocks_total: u64,
    /// Blocks that ran for these counts.
    pub blocks_run: u64,
    /// The counts are those of an earlier identical launch (nothing ran again).
    pub reused: bool,
    /// The blocks' loop ran shortened twice and the counts were extended to its real length.
    pub shortened: bool,
    /// The whole launch (extrapolated from the sample when `blocks_run < blocks_total`).
    pub counters: Counters,
    pub footprint: Footprint,
    /// Each kernel argument's value (up to 8 bytes, zero-extended): sizes a caller can decode.
    #[serde(skip)]
    pub args: Vec<u64>,
}

/// The value of every argument of `args`, zero-extended to 64 bits.
pub fn arg_values(args: &mut KernelArgs) -> Vec<u64> {
    let sizes = args.sizes().to_vec();
    args.param_ptrs()
        .into_iter()
        .zip(sizes)
        .map(|(p, size)| {
            let mut v = [0u8; 8];
            let n = size.min(8);
            // SAFETY: each pointer addresses an 8-byte argument slot of `args`.
            v[..n].copy_from_slice(unsafe { std::slice::from_raw_parts(p as *const u8, n) });
            u64::from_ne_bytes(v)
        })
        .collect()
}

impl LaunchCount {
    pub fn sampled(&self) -> bool {
        self.blocks_run < self.blocks_total
    }

    /// Combines the traced launch's raw output into whole-launch counts.
    pub fn from_raw(
        kernel: &str,
        cfg: &LaunchCfg,
        args: Vec<u64>,
        sample: Option<&Sample>,
        raw: &[RawCounters],
        footprints: &[RawFootprint],
    ) -> LaunchCount {
        let blocks_total: u64 = cfg.grid.iter().map(|&g| g as u64).product();
        let mut counters = Counters::default();
        let mut sampled = Counters::default();
        match sample {
            Some(s) => {
                for (r, &w) in raw.iter().zip(&s.weights) {
                    counters.add_raw(r, w);
                    sampled.add_raw(r, 1.0);
                }
            }
            None => {
                for r in raw {
                    counters.add_raw(r, 1.0);
                    sampled.add_raw(r, 1.0);
                }
            }
        }
        let scale = if sampled.global_bytes() > 0.0 {
            counters.global_bytes() / sampled.global_bytes()
        } else {
            1.0
        };
        LaunchCount {
            kernel: kernel.to_string(),
            grid: cfg.grid,
            block: cfg.block,
            smem_bytes: cfg.smem_bytes,
            blocks_total,
            blocks_run: sampled.blocks as u64,
            reused: false,
            shortened: false,
            counters,
            footprint: Footprint::from_raw(footprints, scale, sample.is_none()),
            args,
        }
    }
}

/// Everything a session counted.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Counts {
    pub launches: Vec<LaunchCount>,
    pub htod_copies: u64,
    pub htod_bytes: u64,
    pub dtoh_copies: u64,
    pub dtoh_bytes: u64,
    pub synchronizations: u64,
}

/// The open session inside the device.
pub(super) struct Session {
    pub policy: CountPolicy,
    pub counts: Counts,
    /// Index into `counts.launches` of the first launch with each signature.
    seen: HashMap<Vec<u8>, usize>,
}

impl Session {
    pub fn new(policy: CountPolicy) -> Self {
        Session {
            policy,
            counts: Counts::default(),
            seen: HashMap::new(),
        }
    }

    /// The blocks to run for `cfg`, or `None` for the whole grid.
    pub fn sample(&self, cfg: &LaunchCfg) -> Option<Sample> {
        plan_sample(cfg.grid, self.policy.max_blocks)
    }

    /// What identifies a launch for reuse: kernel, configuration and every argument, with buffer
    /// addresses replaced by a marker.
    pub fn signature(
        kernel: &str,
        cfg: &LaunchCfg,
        args: &mut KernelArgs,
        is_buffer: impl Fn(u64) -> bool,
    ) -> Vec<u8> {
        let mut sig = kernel.as_bytes().to_vec();
        sig.push(0);
        for v in cfg.grid.iter().chain(&cfg.block).chain([&cfg.smem_bytes]) {
            sig.extend_from_slice(&v.to_ne_bytes());
        }
        let sizes = args.sizes().to_vec();
        for (value, size) in arg_values(args).into_iter().zip(sizes) {
            if size == 8 && is_buffer(value) {
                sig.extend_from_slice(b"<buf>");
            } else {
                sig.extend_from_slice(&value.to_ne_bytes());
            }
            sig.push(size as u8);
        }
        sig
    }

    /// An earlier identical launch, counted again (with this launch's argument values).
    pub fn reuse(&mut self, sig: &[u8], args: Vec<u64>) -> bool {
        let Some(&i) = self.seen.get(sig) else {
            return false;
        };
        let mut again = self.counts.launches[i].clone();
        again.reused = true;
        again.args = args;
        self.counts.launches.push(again);
        true
    }

    pub fn record(&mut self, sig: Option<Vec<u8>>, launch: LaunchCount) {
        if let Some(sig) = sig {
            self.seen.insert(sig, self.counts.launches.len());
        }
        self.counts.launches.push(launch);
    }
}
