//! The host side of the emulator's Hopper instructions (kernels/emu/hopper.cpp): TMA tensor maps
//! encoded from the arguments of `cuTensorMapEncodeTiled`, and the emulator's wgmma fragment,
//! descriptor and swizzle layouts (what tests compare with CuTe's).
use anyhow::{bail, Result};

/// `CUtensorMapDataType` values the kernels use.
pub const TMA_DTYPE_F32: u32 = 7;
pub const TMA_DTYPE_BF16: u32 = 9;

/// `CUtensorMapSwizzle`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum TmaSwizzle {
    None = 0,
    B32 = 1,
    B64 = 2,
    B128 = 3,
}

impl TmaSwizzle {
    /// The swizzle span in bytes (0 for none).
    pub fn span(self) -> u32 {
        match self {
            TmaSwizzle::None => 0,
            TmaSwizzle::B32 => 32,
            TmaSwizzle::B64 => 64,
            TmaSwizzle::B128 => 128,
        }
    }
}

/// The arguments of `cuTensorMapEncodeTiled` for a 2-D tensor, as a launcher fills them
/// (dimension 0 is the contiguous one). Enums are their CUDA integer values.
#[derive(Clone, Debug)]
pub struct TensorMapSpec {
    pub dtype: u32,
    pub global_address: u64,
    pub global_dim: [u64; 2],
    /// Bytes between consecutive indices of dimension 1 (`globalStrides[0]`).
    pub global_strides: [u64; 1],
    pub box_dim: [u32; 2],
    pub element_strides: [u32; 2],
    pub interleave: u32,
    pub swizzle: TmaSwizzle,
    pub l2_promotion: u32,
    pub oob_fill: u32,
}

impl TensorMapSpec {
    /// A row-major `rows x cols` tensor at `address` with `elem_bytes`-byte elements, boxes of
    /// `box_rows x box_cols`, zero fill outside the tensor (the driver call's own arguments).
    #[allow(clippy::too_many_arguments)]
    pub fn row_major(
        dtype: u32,
        address: u64,
        rows: u64,
        cols: u64,
        elem_bytes: u64,
        box_rows: u32,
        box_cols: u32,
        swizzle: TmaSwizzle,
    ) -> Self {
        TensorMapSpec {
            dtype,
            global_address: address,
            global_dim: [cols, rows],
            global_strides: [cols * elem_bytes],
            box_dim: [box_cols, box_rows],
            element_strides: [1, 1],
            interleave: 0,
            swizzle,
            l2_promotion: 0,
            oob_fill: 0,
        }
    }
}

/// A 64-byte aligned tensor map (`CUtensorMap`).
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub struct TensorMap(pub [u8; 128]);

#[cfg(rlvr_emu)]
mod sys {
    use std::ffi::{c_char, c_int, c_void};
    extern "C" {
        #[allow(clippy::too_many_arguments)]
        pub fn rlvr_emu_tensor_map_encode_tiled(
            tensor_map: *mut c_void,
            dtype: c_int,
            rank: u32,
            global_address: *mut c_void,
            global_dim: *const u64,
            global_strides: *const u64,
            box_dim: *const u32,
            element_strides: *const u32,
            interleave: c_int,
            swizzle: c_int,
            l2_promotion: c_int,
            oob_fill: c_int,
            err: *mut c_char,
            err_len: usize,
        ) -> c_int;
        pub fn rlvr_emu_wgmma_acc_map(n: c_int, rows: *mut i32, cols: *mut i32) -> c_int;
        pub fn rlvr_emu_wgmma_a_map(rows: *mut i32, ks: *mut i32);
        pub fn rlvr_emu_swizzle(span: c_int, addr: u32) -> u32;
        pub fn rlvr_emu_wgmma_desc_address(desc: u64, mn_major: c_int, mn: c_int, k: c_int) -> u32;
    }
}

/// The emulator's `cuTensorMapEncodeTiled`: checks the arguments as the driver documents them
/// and returns the map a kernel reads (through a pointer to device memory).
#[cfg(rlvr_emu)]
pub fn encode_tiled(spec: &TensorMapSpec) -> Result<TensorMap> {
    let mut map = TensorMap([0u8; 128]);
    let mut err = vec![0u8; 512];
    // SAFETY: every pointer is valid for the call (the dims, strides and box arrays have the rank's
    // lengths); the global address is only recorded, never dereferenced here.
    let rc = unsafe {
        sys::rlvr_emu_tensor_map_encode_tiled(
            map.0.as_mut_ptr().cast(),
            spec.dtype as i32,
            2,
            spec.global_address as *mut std::ffi::c_void,
            spec.global_dim.as_ptr(),
            spec.global_strides.as_ptr(),
            spec.box_dim.as_ptr(),
            spec.element_strides.as_ptr(),
            spec.interleave as i32,
            spec.swizzle as u32 as i32,
            spec.l2_promotion as i32,
            spec.oob_fill as i32,
            err.as_mut_ptr().cast(),
            err.len(),
        )
    };
    if rc != 0 {
        let end = err.iter().position(|&b| b == 0).unwrap_or(err.len());
        bail!(
            "cuTensorMapEncodeTiled (emulated): {}",
            String::from_utf8_lossy(&err[..end])
        );
    }
    Ok(map)
}

#[cfg(not(rlvr_emu))]
pub fn encode_tiled(_spec: &TensorMapSpec) -> Result<TensorMap> {
    bail!("the kernel emulator was not built into this binary")
}

/// (row, col) of accumulator value i of thread t, at `t * n / 2 + i`, for wgmma m64nNk16.
#[cfg(rlvr_emu)]
pub fn wgmma_acc_map(n: usize) -> Result<Vec<(i32, i32)>> {
    let len = 128 * n / 2;
    let (mut rows, mut cols) = (vec![0i32; len], vec![0i32; len]);
    // SAFETY: both buffers hold 128 * n / 2 entries, what the emulator writes for a valid n.
    let rc = unsafe { sys::rlvr_emu_wgmma_acc_map(n as i32, rows.as_mut_ptr(), cols.as_mut_ptr()) };
    if rc != 0 {
        bail!("wgmma m64n{n}k16: N must be a multiple of 8 in [8, 256]");
    }
    Ok(rows.into_iter().zip(cols).collect())
}

/// (row, k) of bf16 value v of thread t's register A fragment, at `t * 8 + v`.
#[cfg(rlvr_emu)]
pub fn wgmma_a_map() -> Result<Vec<(i32, i32)>> {
    let (mut rows, mut ks) = (vec![0i32; 1024], vec![0i32; 1024]);
    // SAFETY: both buffers hold the 128 x 8 entries the emulator writes.
    unsafe { sys::rlvr_emu_wgmma_a_map(rows.as_mut_ptr(), ks.as_mut_ptr()) };
    Ok(rows.into_iter().zip(ks).collect())
}

/// The emulator's swizzle of `span` bytes (0, 32, 64, 128) on a shared-memory byte address.
#[cfg(rlvr_emu)]
pub fn swizzle(span: u32, addr: u32) -> Result<u32> {
    // SAFETY: a pure function of its arguments.
    Ok(unsafe { sys::rlvr_emu_swizzle(span as i32, addr) })
}

/// Shared-memory byte address of element (mn, k) of the 16-bit operand a descriptor describes.
#[cfg(rlvr_emu)]
pub fn wgmma_desc_address(desc: u64, mn_major: bool, mn: usize, k: usize) -> Result<u32> {
    // SAFETY: a pure function of its arguments.
    Ok(unsafe { sys::rlvr_emu_wgmma_desc_address(desc, mn_major as i32, mn as i32, k as i32) })
}

#[cfg(not(rlvr_emu))]
pub fn wgmma_acc_map(_n: usize) -> Result<Vec<(i32, i32)>> {
    bail!("the kernel emulator was not built into this binary")
}
#[cfg(not(rlvr_emu))]
pub fn wgmma_a_map() -> Result<Vec<(i32, i32)>> {
    bail!("the kernel emulator was not built into this binary")
}
#[cfg(not(rlvr_emu))]
pub fn swizzle(_span: u32, _addr: u32) -> Result<u32> {
    bail!("the kernel emulator was not built into this binary")
}
#[cfg(not(rlvr_emu))]
pub fn wgmma_desc_address(_desc: u64, _mn_major: bool, _mn: usize, _k: usize) -> Result<u32> {
    bail!("the kernel emulator was not built into this binary")
}
