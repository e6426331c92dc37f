//! Published figures of the two cards the estimate targets, each with its source. Rates are for
//! the whole chip; per-clock figures use the clock listed with them.

/// One GPU as the estimate sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gpu {
    pub name: &'static str,
    pub sms: u32,
    /// SM clock the per-clock figures below are taken at, GHz.
    pub clock_ghz: f64,
    /// Dense bf16 tensor-core peak (no 2:4 sparsity), TFLOP/s.
    pub bf16_tensor_tflops: f64,
    /// FP32 (non-tensor) peak, an FMA counted as 2 FLOPs, TFLOP/s.
    pub fp32_tflops: f64,
    /// DRAM bandwidth, GB/s (10⁹ bytes).
    pub hbm_gbps: f64,
    /// L2 read bandwidth, bytes per clock for the whole chip.
    pub l2_bytes_per_clock: f64,
    /// Shared memory: 32 banks x 4 bytes, one wavefront per SM per clock.
    pub smem_bytes_per_clock_per_sm: f64,
    /// What one SM can hold: registers, threads, blocks, shared memory per SM and per block.
    pub regs_per_sm: u32,
    pub max_threads_per_sm: u32,
    pub max_blocks_per_sm: u32,
    pub smem_per_sm: u32,
    pub smem_per_block: u32,
    /// Shared memory the driver reserves per resident block (CUDA 11+).
    pub smem_reserved_per_block: u32,
    /// Gap between back-to-back kernels of one stream: a floor on every launch.
    pub launch_gap_us: f64,
    pub sources: &'static [&'static str],
}

impl Gpu {
    pub fn l2_gbps(&self) -> f64 {
        self.l2_bytes_per_clock * self.clock_ghz
    }
    /// Shared-memory wavefronts (128 bytes each) per second, whole chip.
    pub fn wavefronts_per_s(&self) -> f64 {
        self.sms as f64 * self.clock_ghz * 1e9 * self.smem_bytes_per_clock_per_sm / 128.0
    }
}

/// H100 SXM5 80 GB.
pub const H100_SXM: Gpu = Gpu {
    name: "H100 SXM",
    sms: 132,
    clock_ghz: 1.83,
    bf16_tensor_tflops: 989.4,
    fp32_tflops: 66.9,
    hbm_gbps: 3350.0,
    l2_bytes_per_clock: 5120.0,
    smem_bytes_per_clock_per_sm: 128.0,
    regs_per_sm: 65_536,
    max_threads_per_sm: 2048,
    max_blocks_per_sm: 32,
    smem_per_sm: 233_472,
    smem_per_block: 232_448,
    smem_reserved_per_block: 1024,
    launch_gap_us: 1.0,
    sources: &[
        "SMs, dense BF16 989.4 TFLOP/s, FP32 66.9 TFLOP/s, HBM3 3.35 TB/s: NVIDIA H100 Tensor Core \
         GPU datasheet and 'NVIDIA H100 Tensor Core GPU Architecture' whitepaper (H100 SXM5 column)",
        "clock 1.83 GHz: the boost clock at which the whitepaper's 989.4 TFLOP/s follows from 132 SMs \
         x 2048 dense bf16 FMA per SM per clock",
        "L2 5120 B/clock: NVIDIA publishes no H100 figure; A100's published per-clock L2 read \
         bandwidth is assumed",
        "shared memory 128 B/clock/SM (32 banks x 4 B), 228 KB per SM, 227 KB per block, 64K \
         registers, 2048 threads and 32 blocks per SM: CUDA C++ Programming Guide, compute \
         capability 9.0 tables",
        "1 µs between back-to-back launches: NVIDIA developer blog 'Getting Started with CUDA \
         Graphs' (a 2.9 µs kernel took 3.8 µs per launch in a stream)",
    ],
};

/// A100 SXM4 80 GB.
pub const A100_SXM: Gpu = Gpu {
    name: "A100 SXM",
    sms: 108,
    clock_ghz: 1.41,
    bf16_tensor_tflops: 312.0,
    fp32_tflops: 19.5,
    hbm_gbps: 2039.0,
    l2_bytes_per_clock: 5120.0,
    smem_bytes_per_clock_per_sm: 128.0,
    regs_per_sm: 65_536,
    max_threads_per_sm: 2048,
    max_blocks_per_sm: 32,
    smem_per_sm: 167_936,
    smem_per_block: 166_912,
    smem_reserved_per_block: 1024,
    launch_gap_us: 1.0,
    sources: &[
        "108 SMs, 1.41 GHz boost, dense BF16 312 TFLOP/s, FP32 19.5 TFLOP/s, HBM2e 2039 GB/s (80 GB \
         SXM4): NVIDIA A100 datasheet and 'NVIDIA A100 Tensor Core GPU Architecture' whitepaper",
        "L2 read bandwidth 5120 B/clock: A100 whitepaper (2.3x V100's at their clocks)",
        "shared memory 128 B/clock/SM, 164 KB per SM, 163 KB per block, 64K registers, 2048 \
         threads and 32 blocks per SM: CUDA C++ Programming Guide, compute capability 8.0 tables",
        "1 µs between back-to-back launches: as for H100",
    ],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_peaks_agree_with_their_per_clock_derivation() {
        // 132 SMs x 2048 dense bf16 FMA x 2 FLOPs x 1.83 GHz = 989.4 TFLOP/s.
        let h = 132.0 * 2048.0 * 2.0 * H100_SXM.clock_ghz * 1e9 / 1e12;
        assert!((h - H100_SXM.bf16_tensor_tflops).abs() < 0.2, "{h}");
        // A100: 108 SMs x 1024 x 2 x 1.41 GHz = 311.9.
        let a = 108.0 * 1024.0 * 2.0 * A100_SXM.clock_ghz * 1e9 / 1e12;
        assert!((a - A100_SXM.bf16_tensor_tflops).abs() < 0.5, "{a}");
        // A100 L2: 5120 B x 1.41 GHz = 7219 GB/s.
        assert!((A100_SXM.l2_gbps() - 7219.2).abs() < 0.1);
    }
}
