//! An ESTIMATE of a kernel's time on a GPU from what the emulator counted: the time each counted
//! resource needs at its published peak, the estimate being the largest of them.
//!
//! Resources: tensor (mma FLOPs at the dense bf16 peak), fma (the op's matrix FLOPs that did not
//! run on tensor cores, at the FP32 peak), dram (the distinct sectors the launch touched, at HBM
//! bandwidth), l2 (every sector requested, at L2 bandwidth), smem (shared-memory wavefronts, one
//! per SM per clock), launch (the gap between back-to-back kernels).
//!
//! Simplifications: DRAM moves each distinct sector once (a perfect L2, nothing resident from the
//! kernel before) and L2 serves every request (no L1 hits); no latency: a kernel is as fast as its
//! busiest resource, resources overlap perfectly, and every SM holds enough warps to hide latency
//! (occupancy is reported, not modelled); mma.sync is credited with the full dense tensor peak,
//! which on H100 only wgmma reaches; a grid of B blocks on S SMs runs in ceil(B / S) rounds of the
//! per-SM share of every rate (a grid smaller than the chip leaves SMs idle, a partial last wave
//! costs a whole one); FP32 work other than the op's matrix products (softmax, norms) is not
//! counted; clocks are the boost clocks, with no power or thermal throttling.
use super::hardware::Gpu;
use crate::backend::emu::LaunchCount;
use serde::Serialize;

/// Resource names, in the order `Estimate::times_us` lists them.
pub const RESOURCES: [&str; 6] = ["tensor", "fma", "dram", "l2", "smem", "launch"];

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Estimate {
    pub gpu: &'static str,
    /// The estimated time: the largest resource time.
    pub us: f64,
    /// The resource that binds.
    pub bound: &'static str,
    /// (resource, µs) for every resource.
    pub times_us: Vec<(&'static str, f64)>,
}

/// Rounds of SM work a grid needs, relative to spreading its blocks perfectly: ceil(B / S) S / B.
pub fn wave_factor(gpu: &Gpu, blocks: u64) -> f64 {
    let s = gpu.sms as u64;
    let b = blocks.max(1);
    (b.div_ceil(s) * s) as f64 / b as f64
}

/// The estimate for a set of launches counted together (one kernel's launches, or one bench entry)
/// and the SIMT FLOPs of the op they implement.
pub fn estimate(gpu: &Gpu, launches: &[&LaunchCount], simt_flops: f64) -> Estimate {
    let mut t = [0.0f64; 6];
    let (mut weighted_q, mut blocks) = (0.0, 0.0);
    for l in launches {
        let c = &l.counters;
        let q = wave_factor(gpu, l.blocks_total);
        t[0] += q * c.tensor_flops() / (gpu.bf16_tensor_tflops * 1e12);
        t[2] += q * l.footprint.unique_bytes / (gpu.hbm_gbps * 1e9);
        t[3] += q * 32.0 * c.global_sectors() / (gpu.l2_gbps() * 1e9);
        t[4] += q * c.smem_wavefronts() / gpu.wavefronts_per_s();
        t[5] += gpu.launch_gap_us * 1e-6;
        weighted_q += q * l.blocks_total as f64;
        blocks += l.blocks_total as f64;
    }
    let q = if blocks > 0.0 {
        weighted_q / blocks
    } else {
        1.0
    };
    t[1] = q * simt_flops.max(0.0) / (gpu.fp32_tflops * 1e12);
    let (i, &max) = t
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .expect("six resources");
    Estimate {
        gpu: gpu.name,
        us: max * 1e6,
        bound: RESOURCES[i],
        times_us: RESOURCES
            .iter()
            .zip(t)
            .map(|(&r, s)| (r, s * 1e6))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::hardware::H100_SXM;
    use super::*;
    use crate::backend::emu::counters::{Counters, Footprint};

    fn launch(blocks: u64, c: Counters, unique_bytes: f64) -> LaunchCount {
        LaunchCount {
            kernel: "k".into(),
            grid: [blocks as u32, 1, 1],
            block: [128, 1, 1],
            smem_bytes: 0,
            blocks_total: blocks,
            blocks_run: blocks,
            reused: false,
            shortened: false,
            counters: c,
            footprint: Footprint {
                unique_bytes,
                exact: true,
            },
            args: Vec::new(),
        }
    }

    #[test]
    fn waves_round_up_to_whole_rounds_of_sms() {
        assert_eq!(wave_factor(&H100_SXM, 132), 1.0);
        assert_eq!(wave_factor(&H100_SXM, 264), 1.0);
        assert_eq!(wave_factor(&H100_SXM, 66), 2.0);
        assert!((wave_factor(&H100_SXM, 133) - 264.0 / 133.0).abs() < 1e-12);
    }

    #[test]
    fn the_busiest_resource_binds() {
        // 1.32 GB touched once by 1320 blocks (10 full waves): 1.32e9 / 3.35e12 s = 394 µs of DRAM.
        let c = Counters {
            global_load_sectors: 1.32e9 / 32.0,
            ..Default::default()
        };
        let l = launch(1320, c, 1.32e9);
        let e = estimate(&H100_SXM, &[&l], 0.0);
        assert_eq!(e.bound, "dram");
        assert!((e.us - 1.32e9 / 3.35e12 * 1e6).abs() < 1e-6, "{}", e.us);
        // The same bytes with 1e12 FLOPs not on tensor cores: 1e12 / 66.9e12 s = 14.9 ms of FMA.
        let e = estimate(&H100_SXM, &[&l], 1e12);
        assert_eq!(e.bound, "fma");
        assert!((e.us - 1e12 / 66.9e12 * 1e6).abs() < 1e-6);
        // A tiny kernel is held to the launch gap.
        let tiny = launch(1, Counters::default(), 64.0);
        let e = estimate(&H100_SXM, &[&tiny], 0.0);
        assert_eq!((e.bound, e.us), ("launch", 1.0));
    }
}
