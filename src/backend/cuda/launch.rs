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

/// The best rung of an element-wise ladder for `len` elements (or rows of `len`): 2 (`width`
/// consecutive elements per thread and step, 16-byte accesses: 8 bf16 or 4 f32) when `len` is a
/// multiple of `width`, else 1 (one element per thread and step).
pub fn vec_rung(len: usize, width: usize) -> u32 {
    if len.is_multiple_of(width) {
        2
    } else {
        1
    }
}

/// Elements per thread step of `rung` of an element-wise ladder at `len` (see [`vec_rung`]), or
/// an error naming `what`.
pub fn vec_step(what: &str, rung: u32, len: usize, width: usize) -> Result<usize> {
    match rung {
        1 => Ok(1),
        2 if len.is_multiple_of(width) => Ok(width),
        2 => bail!("{what} rung 2: {len} elements, not a multiple of {width}"),
        _ => bail!("{what}: no rung {rung} (rungs 1 and 2)"),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rung_2_needs_whole_runs() {
        assert_eq!(
            (vec_rung(1000, 8), vec_rung(1004, 8), vec_rung(1004, 4)),
            (2, 1, 2)
        );
        assert_eq!((vec_rung(4099, 4), vec_rung(0, 8)), (1, 2));
        assert_eq!(vec_step("k", 1, 4099, 8).unwrap(), 1);
        assert_eq!(vec_step("k", 2, 1000, 8).unwrap(), 8);
        let e = vec_step("k", 2, 1004, 8).unwrap_err().to_string();
        assert!(
            e.contains("k rung 2") && e.contains("1004") && e.contains("of 8"),
            "{e}"
        );
        assert!(vec_step("k", 3, 8, 8).is_err());
    }
}
