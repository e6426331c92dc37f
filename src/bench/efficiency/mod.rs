//! Kernel efficiency without a GPU. The emulator executes a kernel with counters on
//! (`backend::emu::counters`) — exactly at small sizes, from a stratified sample of blocks at
//! real ones — and this module turns the counts into per-kernel records: the share of the op's
//! matrix FLOPs on tensor cores, how well global accesses use their 32-byte sectors, bytes moved
//! against the op's compulsory bytes, shared-memory wavefronts per request, the static SASS
//! instruction mix, registers and occupancy from ptxas, and an ESTIMATE of the time on an H100
//! SXM and an A100 (see `estimate` for the model and its simplifications).
pub mod estimate;
pub mod hardware;
pub mod occupancy;
pub mod sass;
pub mod sass_mix;

use crate::backend::cuda::device::KernelDevice;
use crate::backend::emu::counters::Counters;
use crate::backend::emu::{CountPolicy, Counts, EmuDevice, LaunchCount};
use anyhow::Result;
use estimate::Estimate;
use hardware::{A100_SXM, H100_SXM};
use serde::Serialize;
use std::collections::BTreeMap;

/// What the op a set of launches implements must do at least, when the caller knows it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct OpCost {
    /// FLOPs of the op's matrix products (a multiply-add counts 2).
    pub matrix_flops: Option<f64>,
    /// Every input read once and every output written once.
    pub compulsory_bytes: Option<f64>,
}

/// Per kernel (and architecture): registers, spills, static shared memory from ptxas, the largest
/// block it was launched with, and how many such blocks an SM holds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct KernelResources {
    pub kernel: String,
    pub registers: u32,
    pub spill_bytes: u32,
    pub static_smem: u32,
    pub dynamic_smem: u32,
    pub threads: u32,
    pub resident_blocks_h100: u32,
    pub resident_blocks_a100: u32,
}

/// The efficiency of one kernel, or of one bench entry (all its launches).
#[derive(Clone, Debug, Serialize)]
pub struct EfficiencyRecord {
    pub name: String,
    /// The kernels that ran, sorted.
    pub kernels: Vec<String>,
    pub launches: u64,
    /// Whether any launch ran a sample of its blocks (counts extrapolated).
    pub sampled: bool,
    pub counters: Counters,
    /// Distinct global bytes touched (whole sectors; see `Footprint`).
    pub unique_bytes: f64,
    pub cost: OpCost,
    /// mma FLOPs over the op's matrix FLOPs.
    pub tc_flop_share: Option<f64>,
    /// Bytes requested over bytes in the sectors moved.
    pub global_sector_efficiency: Option<f64>,
    /// Sector bytes moved (L2 traffic) over the compulsory bytes: the re-read factor.
    pub global_bytes_over_compulsory: Option<f64>,
    /// Distinct bytes touched over the compulsory bytes (> 1: scratch or waste).
    pub unique_bytes_over_compulsory: Option<f64>,
    pub smem_wavefronts_per_request: Option<f64>,
    /// Static SASS instruction mix (sm_90a) of the kernels, opcode key → count.
    pub sass: BTreeMap<String, u64>,
    pub resources: Vec<KernelResources>,
    pub est_h100_us: f64,
    pub est_bound: &'static str,
    pub est_a100_us: f64,
    pub est_a100_bound: &'static str,
    pub estimate_h100: Estimate,
    pub estimate_a100: Estimate,
}

fn ratio(num: f64, den: Option<f64>) -> Option<f64> {
    den.filter(|&d| d > 0.0).map(|d| num / d)
}

impl EfficiencyRecord {
    /// One record for `launches` (one kernel's, or one entry's) implementing an op of `cost`.
    pub fn new(name: &str, launches: &[&LaunchCount], cost: OpCost) -> Self {
        let mut counters = Counters::default();
        let mut unique_bytes = 0.0;
        let mut kernels: Vec<String> = Vec::new();
        for l in launches {
            counters.add(&l.counters);
            unique_bytes += l.footprint.unique_bytes;
            if !kernels.contains(&l.kernel) {
                kernels.push(l.kernel.clone());
            }
        }
        kernels.sort();
        let simt_flops = cost
            .matrix_flops
            .map_or(0.0, |m| (m - counters.tensor_flops()).max(0.0));
        let h100 = estimate::estimate(&H100_SXM, launches, simt_flops);
        let a100 = estimate::estimate(&A100_SXM, launches, simt_flops);
        EfficiencyRecord {
            name: name.to_string(),
            launches: launches.len() as u64,
            sampled: launches.iter().any(|l| l.sampled()),
            tc_flop_share: ratio(counters.tensor_flops(), cost.matrix_flops),
            global_sector_efficiency: counters.global_sector_efficiency(),
            global_bytes_over_compulsory: ratio(
                32.0 * counters.global_sectors(),
                cost.compulsory_bytes,
            ),
            unique_bytes_over_compulsory: ratio(unique_bytes, cost.compulsory_bytes),
            smem_wavefronts_per_request: counters.smem_wavefronts_per_request(),
            sass: sass::sum_mix(kernels.iter().map(String::as_str), sass::H100_ARCH),
            resources: kernels.iter().map(|k| resources(k, launches)).collect(),
            est_h100_us: h100.us,
            est_bound: h100.bound,
            est_a100_us: a100.us,
            est_a100_bound: a100.bound,
            estimate_h100: h100,
            estimate_a100: a100,
            kernels,
            counters,
            unique_bytes,
            cost,
        }
    }
}

/// ptxas figures of `kernel` and the occupancy of its largest launch among `launches`.
fn resources(kernel: &str, launches: &[&LaunchCount]) -> KernelResources {
    let (threads, dynamic_smem) = launches
        .iter()
        .filter(|l| l.kernel == kernel)
        .map(|l| (l.block.iter().product::<u32>(), l.smem_bytes))
        .max()
        .unwrap_or((0, 0));
    let h = occupancy::ptxas(kernel, sass::H100_ARCH);
    let a = occupancy::ptxas(kernel, sass::A100_ARCH);
    let row = h.clone().unwrap_or_default();
    KernelResources {
        kernel: kernel.to_string(),
        registers: row.registers,
        spill_bytes: row.spill_stores + row.spill_loads,
        static_smem: row.smem,
        dynamic_smem,
        threads,
        resident_blocks_h100: h.map_or(0, |r| {
            occupancy::resident_blocks(&H100_SXM, &r, threads, dynamic_smem)
        }),
        resident_blocks_a100: a.map_or(0, |r| {
            occupancy::resident_blocks(&A100_SXM, &r, threads, dynamic_smem)
        }),
    }
}

/// Runs `work` on the emulated device with counters on and returns what it counted. The session
/// is closed whether `work` succeeds or not.
pub fn measure(
    dev: &EmuDevice,
    policy: CountPolicy,
    work: impl FnOnce(&dyn KernelDevice) -> Result<()>,
) -> Result<Counts> {
    dev.start_counting(policy);
    let result = work(dev);
    let counts = dev.finish_counting().unwrap_or_default();
    result.map(|()| counts)
}

/// One record per kernel name, in order of first launch (no op costs: the ratios to the op's
/// FLOPs and compulsory bytes are absent).
pub fn per_kernel(counts: &Counts) -> Vec<EfficiencyRecord> {
    per_kernel_with(counts, |_| OpCost::default())
}

/// One record per kernel name with the op cost of each launch from `cost_of` (a kernel's cost is
/// the sum over its launches; a part known for only some launches counts as unknown).
pub fn per_kernel_with(
    counts: &Counts,
    cost_of: impl Fn(&LaunchCount) -> OpCost,
) -> Vec<EfficiencyRecord> {
    let mut order: Vec<&str> = Vec::new();
    for l in &counts.launches {
        if !order.contains(&l.kernel.as_str()) {
            order.push(&l.kernel);
        }
    }
    order
        .into_iter()
        .map(|k| {
            let ls: Vec<&LaunchCount> = counts.launches.iter().filter(|l| l.kernel == k).collect();
            let costs: Vec<OpCost> = ls.iter().map(|l| cost_of(l)).collect();
            let sum = |part: fn(&OpCost) -> Option<f64>| -> Option<f64> {
                costs.iter().map(part).sum::<Option<f64>>()
            };
            let cost = OpCost {
                matrix_flops: sum(|c| c.matrix_flops),
                compulsory_bytes: sum(|c| c.compulsory_bytes),
            };
            EfficiencyRecord::new(k, &ls, cost)
        })
        .collect()
}

/// One record for every launch of `counts`, as one op (a bench entry) of `cost`.
pub fn entry(name: &str, counts: &Counts, cost: OpCost) -> EfficiencyRecord {
    let ls: Vec<&LaunchCount> = counts.launches.iter().collect();
    EfficiencyRecord::new(name, &ls, cost)
}
