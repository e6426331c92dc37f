//! Registers, spills and static shared memory per kernel from the `ptxas -v` report build.rs
//! keeps, and the blocks of a launch one SM can hold at once.
use super::hardware::Gpu;
use crate::backend::cuda::kernels::PTXAS_REPORT;
use serde::Serialize;

/// What ptxas reported for one kernel on one architecture.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PtxasRow {
    pub kernel: String,
    pub arch: String,
    pub registers: u32,
    pub spill_stores: u32,
    pub spill_loads: u32,
    pub stack: u32,
    pub smem: u32,
}

/// Rows of a report in build.rs's tab-separated form (header first).
pub fn parse_report(report: &str) -> Vec<PtxasRow> {
    report
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let n = |i: usize| f.get(i).and_then(|s| s.parse().ok()).unwrap_or(0);
            (f.len() >= 8).then(|| PtxasRow {
                kernel: f[1].to_string(),
                arch: f[2].to_string(),
                registers: n(3),
                spill_stores: n(4),
                spill_loads: n(5),
                stack: n(6),
                smem: n(7),
            })
        })
        .collect()
}

/// The row of `kernel` for `arch` ("sm_90a", "sm_80") in this binary's report.
pub fn ptxas(kernel: &str, arch: &str) -> Option<PtxasRow> {
    parse_report(PTXAS_REPORT)
        .into_iter()
        .find(|r| r.kernel == kernel && r.arch == arch)
}

/// Blocks of `threads` threads with `dynamic_smem` bytes one SM holds at once (0: the launch does
/// not fit), the smallest of the thread, register, shared-memory and block limits. Registers are
/// allocated per warp in units of 256.
pub fn resident_blocks(gpu: &Gpu, row: &PtxasRow, threads: u32, dynamic_smem: u32) -> u32 {
    let warps = threads.div_ceil(32).max(1);
    let by_threads = gpu.max_threads_per_sm / (warps * 32);
    let regs_per_warp = (row.registers.max(1) * 32).div_ceil(256) * 256;
    let by_regs = (gpu.regs_per_sm / regs_per_warp) / warps;
    let smem = row.smem + dynamic_smem;
    let by_smem = if smem > gpu.smem_per_block {
        0
    } else {
        gpu.smem_per_sm / (smem + gpu.smem_reserved_per_block)
    };
    by_threads
        .min(by_regs)
        .min(by_smem)
        .min(gpu.max_blocks_per_sm)
}

#[cfg(test)]
mod tests {
    use super::super::hardware::{A100_SXM, H100_SXM};
    use super::*;

    #[test]
    fn report_rows_parse() {
        let r = "file\tkernel\tarch\tregisters\tspill_stores\tspill_loads\tstack\tsmem\n\
                 gemm\tgemm_bf16_mma\tsm_90a\t128\t0\t0\t0\t10240\n";
        let rows = parse_report(r);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].registers, 128);
        assert_eq!(rows[0].smem, 10240);
    }

    #[test]
    fn resident_blocks_take_the_tightest_limit() {
        let row = |registers, smem| PtxasRow {
            registers,
            smem,
            ..Default::default()
        };
        // 128 threads, 128 registers: 4 warps x 4096 registers = 16384 per block, 4 per SM.
        assert_eq!(resident_blocks(&H100_SXM, &row(128, 0), 128, 0), 4);
        // 256 threads, 32 registers: the thread limit, 2048 / 256 = 8.
        assert_eq!(resident_blocks(&H100_SXM, &row(32, 0), 256, 0), 8);
        // 32 threads, 16 registers: the 32-block limit.
        assert_eq!(resident_blocks(&H100_SXM, &row(16, 0), 32, 0), 32);
        // 40 KiB of shared memory + 1 KiB reserved: 228 KiB / 41 KiB = 5 on H100, 164 / 41 = 4 on A100.
        assert_eq!(resident_blocks(&H100_SXM, &row(32, 40 * 1024), 64, 0), 5);
        assert_eq!(resident_blocks(&A100_SXM, &row(32, 40 * 1024), 64, 0), 4);
        // More than a block may have: does not fit.
        assert_eq!(resident_blocks(&A100_SXM, &row(32, 0), 64, 200 * 1024), 0);
        // 255 registers: 8192 per warp (rounded), 8 warps per SM.
        assert_eq!(resident_blocks(&H100_SXM, &row(255, 0), 256, 0), 1);
    }
}
