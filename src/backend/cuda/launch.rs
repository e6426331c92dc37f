//! Launch configuration shared by the kernel launchers (one file per kernels/X.cu, named X):
//! grid-stride and row-kernel block shapes, and the buffer-length checks every launcher runs
//! before marshalling its arguments.
use super::device::LaunchCfg;
use anyhow::{bail, Result};

/// Blocks for a grid-stride element-wise kernel: enough to fill the GPU, capped for tiny inputs.
pub fn elementwise_cfg(n: usize) -> LaunchCfg {
    const BLOCK: u32 = 256;
    let blocks = n.div_ceil(BLOCK as usize).clamp(1, 4096) as u32;
    LaunchCfg::linear(blocks, BLOCK, 0)
}

/// An error naming `what` unless every length in `lens` is the same.
pub fn same_len(what: &str, lens: &[usize]) -> Result<()> {
    if lens.windows(2).any(|w| w[0] != w[1]) {
        bail!("{what}: buffer lengths differ: {lens:?}");
    }
    Ok(())
}

/// Threads per block for row kernels: a multiple of 32, no more than the row needs, at most 256.
pub fn row_block(width: usize) -> u32 {
    (width.div_ceil(32) * 32).clamp(32, 256) as u32
}

/// The number of rows of `hidden` elements in `len`, or an error naming `what`.
pub fn check_rows(what: &str, len: usize, hidden: usize) -> Result<usize> {
    if hidden == 0 || !len.is_multiple_of(hidden) {
        bail!("{what}: {len} elements are not whole rows of {hidden}");
    }
    Ok(len / hidden)
}
