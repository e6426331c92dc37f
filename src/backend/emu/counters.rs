//! The emulator's efficiency counters (kernels/emu/counters.h): what one launch asks of the memory
//! system and the SM — global requests, bytes and 32-byte sectors, the distinct sectors touched,
//! shared-memory requests and bank-conflict wavefronts, ldmatrix and cp.async traffic, tensor-core
//! instructions, barriers and warp operations — counted exactly by executing the traced kernel.
//!
//! At real sizes a launch runs a stratified sample of its blocks ([`plan_sample`]) and the counts
//! are extrapolated to the whole grid; a grid no larger than the sample budget runs whole.
use serde::Serialize;

/// Declares the counter fields once: the C layout (`RawCounters`, u64) and the extrapolated
/// whole-launch values (`Counters`, f64, exact integers when every block ran).
macro_rules! counter_fields {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        /// One stratum's counters as the emulator writes them (layout of `rlvr_emu_counters`).
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct RawCounters {
            $(pub $name: u64,)*
        }

        impl RawCounters {
            /// Every counter as `long + k · (long − short)` (rounded, at least 0): the counts of a
            /// run extended past `long` along a line through two runs.
            pub fn extrapolate(short: &Self, long: &Self, k: f64) -> Self {
                RawCounters { $($name: affine(short.$name, long.$name, k),)* }
            }
        }

        /// Counters of a whole launch, or a sum of launches; extrapolated from a sample of blocks
        /// when the grid was too large to run whole.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
        pub struct Counters {
            $($(#[$doc])* pub $name: f64,)*
        }

        impl Counters {
            /// Adds `weight` times the counters of one stratum's sampled blocks.
            pub fn add_raw(&mut self, raw: &RawCounters, weight: f64) {
                $(self.$name += weight * raw.$name as f64;)*
            }
            /// Adds another launch's counters.
            pub fn add(&mut self, o: &Counters) {
                $(self.$name += o.$name;)*
            }
            /// Every counter scaled by `k` (repeated identical launches).
            pub fn scaled(&self, k: f64) -> Counters {
                Counters { $($name: self.$name * k,)* }
            }
        }
    };
}

counter_fields! {
    /// Blocks, warps and threads run (the whole grid after extrapolation).
    blocks,
    warps,
    threads,
    /// Warp-level global load instructions (one per site execution of a warp).
    global_load_requests,
    /// Bytes the lanes asked for.
    global_load_bytes,
    /// Distinct bytes per request (lanes reading one address count once), summed.
    global_load_used_bytes,
    /// Distinct 32-byte sectors per request, summed.
    global_load_sectors,
    global_store_requests,
    global_store_bytes,
    global_store_used_bytes,
    global_store_sectors,
    shared_load_requests,
    shared_load_bytes,
    /// Shared-memory passes: 32 banks x 4 bytes per pass, wider accesses in phases.
    shared_load_wavefronts,
    shared_store_requests,
    shared_store_bytes,
    shared_store_wavefronts,
    ldmatrix_instructions,
    ldmatrix_bytes,
    ldmatrix_wavefronts,
    /// cp.async instructions (their global reads are in the global load counters).
    cp_async_requests,
    /// Bytes cp.async wrote to shared memory (16 per lane, zero fill included).
    cp_async_bytes,
    cp_async_wavefronts,
    /// mma.sync.m16n8k16 instructions and their FLOPs (4096 each).
    mma_instructions,
    mma_flops,
    /// Block-wide barriers completed (one per __syncthreads per block).
    barriers,
    shuffles,
    /// Votes and warp reductions (ballot, any, all, __reduce_*_sync).
    votes,
    warp_syncs,
    /// wgmma.mma_async m64nNk16 instructions (one per warpgroup) and their FLOPs (2048 N each).
    wgmma_instructions,
    wgmma_flops,
    /// TMA 2-D loads and the bytes they deliver to shared memory (whole boxes, zero fill
    /// included); their global rows are in the global load counters.
    tma_load_requests,
    tma_load_bytes,
    /// TMA 2-D stores and their box bytes; the global rows are in the global store counters.
    tma_store_requests,
    tma_store_bytes,
}

/// `long + k · (long − short)`, rounded to the nearest count and at least 0.
pub fn affine(short: u64, long: u64, k: f64) -> u64 {
    let v = long as f64 + k * (long as f64 - short as f64);
    v.round().max(0.0) as u64
}

impl Counters {
    /// FLOPs on the tensor cores: mma.sync and wgmma.
    pub fn tensor_flops(&self) -> f64 {
        self.mma_flops + self.wgmma_flops
    }
    pub fn global_requests(&self) -> f64 {
        self.global_load_requests + self.global_store_requests
    }
    pub fn global_bytes(&self) -> f64 {
        self.global_load_bytes + self.global_store_bytes
    }
    pub fn global_sectors(&self) -> f64 {
        self.global_load_sectors + self.global_store_sectors
    }
    pub fn global_used_bytes(&self) -> f64 {
        self.global_load_used_bytes + self.global_store_used_bytes
    }
    /// Distinct bytes the requests needed over the bytes of the sectors they moved (1.0 = every
    /// sector byte used).
    pub fn global_sector_efficiency(&self) -> Option<f64> {
        let s = self.global_sectors();
        (s > 0.0).then(|| self.global_used_bytes() / (32.0 * s))
    }
    /// Shared-memory instructions: plain loads and stores, ldmatrix, and cp.async's shared side.
    pub fn smem_requests(&self) -> f64 {
        self.shared_load_requests
            + self.shared_store_requests
            + self.ldmatrix_instructions
            + self.cp_async_requests
    }
    pub fn smem_wavefronts(&self) -> f64 {
        self.shared_load_wavefronts
            + self.shared_store_wavefronts
            + self.ldmatrix_wavefronts
            + self.cp_async_wavefronts
    }
    /// 1.0 means no bank conflicts for 4-byte accesses; wider accesses need 2 or 4 per request
    /// at best, an 8 x 8 ldmatrix.x4 needs 4.
    pub fn smem_wavefronts_per_request(&self) -> Option<f64> {
        let r = self.smem_requests();
        (r > 0.0).then(|| self.smem_wavefronts() / r)
    }
}

/// The layout of `rlvr_emu_footprint`: what one launch touched in one device allocation.
/// A sector both read and written is in both counts (DRAM reads it in and writes it back).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawFootprint {
    pub alloc_base: u64,
    pub alloc_bytes: u64,
    /// Distinct 32-byte sectors read.
    pub load_sectors: u64,
    /// Distinct 32-byte sectors written.
    pub store_sectors: u64,
    pub lo: u64,
    pub hi: u64,
    /// Non-zero when the grid's first or last block touched the allocation.
    pub edge: u64,
}

/// Blocks to run for a sampled launch: `blocks[i]` (linear index) stands for `weights[strata[i]]`
/// blocks of the grid.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub blocks: Vec<u64>,
    pub strata: Vec<u32>,
    pub weights: Vec<f64>,
}

/// Bins of one grid dimension as (representative index, indices represented): the first and the
/// last index alone (edge tiles often differ) and the rest in runs of odd length where the parity
/// allows, each represented by its middle index, so work that grows linearly along the dimension
/// (causal attention along the query tiles) extrapolates exactly.
fn bins(n: u64, count: u64) -> Vec<(u64, u64)> {
    if count <= 1 || n <= 2 {
        return if count <= 1 {
            vec![((n - 1) / 2, n)]
        } else {
            (0..n).map(|i| (i, 1)).collect()
        };
    }
    let inner = n - 2;
    let k = (count - 2).clamp(1, inner);
    let q = inner / k;
    let odd = if q % 2 == 1 { q } else { q - 1 }.max(1);
    let nbins = k as usize;
    let mut lens = vec![odd; nbins];
    let mut rest = inner - odd * k;
    let mut i = 0;
    while rest >= 2 {
        lens[i % nbins] += 2;
        rest -= 2;
        i += 1;
    }
    if rest == 1 {
        lens[i % nbins] += 1;
    }
    let mut v = vec![(0, 1)];
    let mut start = 1;
    for len in lens {
        v.push((start + (len - 1) / 2, len));
        start += len;
    }
    v.push((n - 1, 1));
    v
}

/// A stratified sample of about `max_blocks` blocks of `grid`, or `None` when the grid is that
/// small (it then runs whole and the counts are exact). Every dimension is split into bins
/// ([`bins`]), at least its first index, a middle bin and its last index (so the grid's first and
/// last blocks always run and the sample's reach into every operand brackets the grid's: up to 27
/// blocks whatever `max_blocks`), then more bins, the coarsest dimension first, while the product
/// of the bin counts fits; each cell of the bin grid is one stratum, run as its representative
/// block.
pub fn plan_sample(grid: [u32; 3], max_blocks: usize) -> Option<Sample> {
    let n: [u64; 3] = grid.map(u64::from);
    let total: u64 = n.iter().product();
    let mut count = n.map(|d| d.min(3));
    let max = (max_blocks as u64).max(count.iter().product());
    if total <= max {
        return None;
    }
    let mut frozen = [false; 3];
    loop {
        let pick = (0..3)
            .filter(|&d| !frozen[d] && count[d] < n[d])
            // the coarsest dimension first; on a tie the lower one (x before y before z), so the
            // grid's first and last blocks are among the sampled ones
            .max_by(|&a, &b| (n[a] * count[b]).cmp(&(n[b] * count[a])).then(b.cmp(&a)));
        let Some(d) = pick else { break };
        let next = count[d] + 1;
        let product: u64 = (0..3)
            .map(|e| if e == d { next } else { count[e] })
            .product();
        if product > max {
            frozen[d] = true;
        } else {
            count[d] = next;
        }
    }
    let bx = bins(n[0], count[0]);
    let by = bins(n[1], count[1]);
    let bz = bins(n[2], count[2]);
    let mut s = Sample {
        blocks: Vec::new(),
        strata: Vec::new(),
        weights: Vec::new(),
    };
    for &(z, wz) in &bz {
        for &(y, wy) in &by {
            for &(x, wx) in &bx {
                s.strata.push(s.blocks.len() as u32);
                s.blocks.push(x + n[0] * (y + n[1] * z));
                s.weights.push((wx * wy * wz) as f64);
            }
        }
    }
    Some(s)
}

/// Global memory a launch moves to or from DRAM, in whole 32-byte sectors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Footprint {
    /// (Distinct sectors read + distinct sectors written) x 32: a read-modify-write sector counts
    /// twice, as it is read in and written back. Exact when every block ran; for a sample, per
    /// allocation and direction the sampled distinct bytes scaled like the traffic, capped by the
    /// span the sample touched when the grid's first or last block (always run) touched the
    /// allocation, so the sample brackets the grid's reach (operands shared across the grid).
    /// An allocation only interior blocks touched (a multi-tensor kernel's tensors, of which the
    /// sample ran a few and saw none of the rest) keeps the scaled bytes: they stand for the
    /// tensors the sample did not reach.
    pub unique_bytes: f64,
    pub exact: bool,
}

impl Footprint {
    pub fn from_raw(f: &[RawFootprint], traffic_scale: f64, exact: bool) -> Footprint {
        let unique_bytes = f
            .iter()
            .flat_map(|a| [(a, a.load_sectors), (a, a.store_sectors)])
            .map(|(a, sectors)| {
                let sampled = 32.0 * sectors as f64;
                let scaled = sampled * traffic_scale;
                if exact {
                    sampled
                } else if a.edge != 0 {
                    let span = 32.0 * (a.hi.div_ceil(32) - a.lo / 32) as f64;
                    scaled.min(span).max(sampled)
                } else {
                    scaled
                }
            })
            .sum();
        Footprint {
            unique_bytes,
            exact,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weight_sum(s: &Sample) -> f64 {
        s.weights.iter().sum()
    }

    #[test]
    fn a_small_grid_runs_whole() {
        assert_eq!(plan_sample([4, 2, 1], 8), None);
        assert_eq!(plan_sample([1, 1, 1], 1), None);
        // Every dimension's first and last index is at least the whole of a 2×2×2 grid.
        assert_eq!(plan_sample([2, 2, 2], 4), None);
    }

    #[test]
    fn samples_cover_the_grid_with_first_and_last_blocks() {
        for (grid, max) in [
            ([1000, 1, 1], 16),
            ([64, 12, 4], 32),
            ([140, 128, 1], 24),
            ([7, 3, 2], 5),
            ([12, 64, 4], 24),
            ([4, 4, 4], 1),
        ] {
            let s = plan_sample(grid, max).expect("sampled");
            let total: u64 = grid.iter().map(|&g| g as u64).product();
            assert!(
                s.blocks.len() <= max.max(27),
                "{grid:?}: {} blocks",
                s.blocks.len()
            );
            assert!(
                s.blocks.contains(&0) && s.blocks.contains(&(total - 1)),
                "{grid:?}: the first and last blocks"
            );
            assert_eq!(weight_sum(&s), total as f64, "{grid:?}");
            // The coarsest dimension (x here) is always split, its first and last index alone.
            let xs: Vec<u64> = s.blocks.iter().map(|&b| b % grid[0] as u64).collect();
            assert!(
                xs.contains(&0) && xs.contains(&(grid[0] as u64 - 1)),
                "{grid:?}"
            );
            assert!(s.blocks.iter().all(|&b| b < total));
            let mut seen = s.blocks.clone();
            seen.sort();
            seen.dedup();
            assert_eq!(seen.len(), s.blocks.len(), "{grid:?}: a block twice");
        }
        let s = plan_sample([1000, 1, 1], 16).unwrap();
        assert!(s.blocks.contains(&999) && s.blocks.contains(&0));
    }

    #[test]
    fn middle_representatives_extrapolate_linear_work_exactly() {
        // Work of block x is x + 1 (a causal query tile): the weighted sample gives the exact sum.
        let n = 101u32;
        let s = plan_sample([n, 1, 1], 7).unwrap();
        let est: f64 = s
            .blocks
            .iter()
            .zip(&s.strata)
            .map(|(&b, &st)| s.weights[st as usize] * (b + 1) as f64)
            .sum();
        let exact: f64 = (1..=n as u64).map(|x| x as f64).sum();
        assert_eq!(est, exact);
    }

    #[test]
    fn counters_sum_with_weights_and_derive_ratios() {
        let raw = RawCounters {
            global_load_requests: 2,
            global_load_bytes: 1024,
            global_load_used_bytes: 1024,
            global_load_sectors: 32,
            shared_load_requests: 1,
            shared_load_wavefronts: 32,
            ..Default::default()
        };
        let mut c = Counters::default();
        c.add_raw(&raw, 3.0);
        assert_eq!(c.global_load_requests, 6.0);
        assert_eq!(c.global_sector_efficiency(), Some(1.0));
        assert_eq!(c.smem_wavefronts_per_request(), Some(32.0));
        assert_eq!(Counters::default().global_sector_efficiency(), None);
    }

    #[test]
    fn footprint_takes_the_smaller_of_scaled_and_span() {
        let f = [RawFootprint {
            alloc_base: 0,
            alloc_bytes: 1 << 20,
            load_sectors: 10,
            store_sectors: 0,
            lo: 0,
            hi: 32 * 100,
            edge: 1,
        }];
        assert_eq!(
            Footprint::from_raw(&f, 5.0, false).unique_bytes,
            32.0 * 50.0
        );
        assert_eq!(
            Footprint::from_raw(&f, 50.0, false).unique_bytes,
            32.0 * 100.0
        );
        assert_eq!(
            Footprint::from_raw(&f, 50.0, true).unique_bytes,
            32.0 * 10.0
        );
    }

    #[test]
    fn footprint_of_an_allocation_only_interior_blocks_touched_scales_with_the_traffic() {
        // One sampled block standing for 46 that stream tensors the sample never saw: its own span
        // says nothing of theirs, so its bytes scale like the traffic.
        let f = [RawFootprint {
            alloc_base: 1 << 20,
            alloc_bytes: 1 << 20,
            load_sectors: 683,
            store_sectors: 0,
            lo: (1 << 20) + 32 * 683 * 5,
            hi: (1 << 20) + 32 * 683 * 6,
            edge: 0,
        }];
        assert_eq!(
            Footprint::from_raw(&f, 46.0, false).unique_bytes,
            32.0 * 683.0 * 46.0
        );
        // The same touch by an edge block keeps the span cap.
        let edge = [RawFootprint { edge: 1, ..f[0] }];
        assert_eq!(
            Footprint::from_raw(&edge, 46.0, false).unique_bytes,
            32.0 * 683.0
        );
    }

    #[test]
    fn footprint_counts_a_sector_read_and_written_twice() {
        let f = [RawFootprint {
            alloc_base: 0,
            alloc_bytes: 1 << 20,
            load_sectors: 100,
            store_sectors: 100,
            lo: 0,
            hi: 32 * 100,
            edge: 1,
        }];
        assert_eq!(Footprint::from_raw(&f, 1.0, true).unique_bytes, 6400.0);
        // Sampled: each direction is capped by the span on its own.
        assert_eq!(Footprint::from_raw(&f, 3.0, false).unique_bytes, 6400.0);
    }
}
