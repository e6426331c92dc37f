//! The C ABI of kernels/emu/emu.cpp (linked as librlvr_emu.a when build.rs could build it).
use super::counters::{RawCounters, RawFootprint, Sample};
use crate::backend::cuda::device::{KernelArgs, LaunchCfg};
use anyhow::{bail, Result};

#[cfg(rlvr_emu)]
mod sys {
    use super::{RawCounters, RawFootprint};
    use std::ffi::{c_char, c_int, c_void};
    extern "C" {
        pub fn rlvr_emu_alloc(bytes: usize) -> *mut c_void;
        pub fn rlvr_emu_alloc_lazy(bytes: usize) -> *mut c_void;
        pub fn rlvr_emu_is_device_ptr(p: *const c_void) -> c_int;
        pub fn rlvr_emu_counters_size() -> usize;
        pub fn rlvr_emu_footprint_size() -> usize;
        pub fn rlvr_emu_free(p: *mut c_void);
        pub fn rlvr_emu_kernel_count() -> c_int;
        pub fn rlvr_emu_kernel_name(i: c_int) -> *const c_char;
        #[allow(clippy::too_many_arguments)]
        pub fn rlvr_emu_launch(
            name: *const c_char,
            grid: *const u32,
            block: *const u32,
            smem_bytes: u32,
            args: *mut *mut c_void,
            nargs: c_int,
            arg_sizes: *const usize,
            seed: u64,
            err: *mut c_char,
            err_len: usize,
        ) -> c_int;
        #[allow(clippy::too_many_arguments)]
        pub fn rlvr_emu_launch_counted(
            name: *const c_char,
            grid: *const u32,
            block: *const u32,
            smem_bytes: u32,
            args: *mut *mut c_void,
            nargs: c_int,
            arg_sizes: *const usize,
            seed: u64,
            blocks: *const u64,
            strata: *const u32,
            nblocks: u64,
            counters: *mut RawCounters,
            nstrata: c_int,
            footprints: *mut RawFootprint,
            footprint_cap: c_int,
            footprint_count: *mut c_int,
            err: *mut c_char,
            err_len: usize,
        ) -> c_int;
    }
}

pub const BUILT: bool = cfg!(rlvr_emu);

/// `lazy`: zero-filled pages that take no RAM until written (instead of 0xFF poison).
#[cfg(rlvr_emu)]
pub fn alloc(bytes: usize, lazy: bool) -> Result<usize> {
    // SAFETY: plain allocation calls; a null return is handled.
    let p = unsafe {
        if lazy {
            sys::rlvr_emu_alloc_lazy(bytes)
        } else {
            sys::rlvr_emu_alloc(bytes)
        }
    };
    if p.is_null() {
        bail!("emulator: cannot map {bytes} bytes");
    }
    Ok(p as usize)
}

#[cfg(rlvr_emu)]
pub fn is_device_ptr(p: u64) -> bool {
    // SAFETY: only compares the address with the allocation table.
    unsafe { sys::rlvr_emu_is_device_ptr(p as *const std::ffi::c_void) != 0 }
}

#[cfg(rlvr_emu)]
pub fn free(p: usize) {
    // SAFETY: p came from rlvr_emu_alloc and is freed once (by its owner's Drop).
    unsafe { sys::rlvr_emu_free(p as *mut std::ffi::c_void) }
}

#[cfg(rlvr_emu)]
pub fn kernel_names() -> Vec<String> {
    // SAFETY: the registry is immutable after static initialisation; names are NUL-terminated.
    unsafe {
        (0..sys::rlvr_emu_kernel_count())
            .filter_map(|i| {
                let p = sys::rlvr_emu_kernel_name(i);
                (!p.is_null()).then(|| std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned())
            })
            .collect()
    }
}

#[cfg(rlvr_emu)]
pub fn launch(kernel: &str, cfg: &LaunchCfg, args: &mut KernelArgs, seed: u64) -> Result<()> {
    let name = std::ffi::CString::new(kernel)?;
    let sizes = args.sizes().to_vec();
    let mut params = args.param_ptrs();
    let mut err = vec![0u8; 2048];
    // SAFETY: params point into `args`, which outlives the call; the emulator checks the argument
    // count and sizes against the kernel's signature before reading them.
    let rc = unsafe {
        sys::rlvr_emu_launch(
            name.as_ptr(),
            cfg.grid.as_ptr(),
            cfg.block.as_ptr(),
            cfg.smem_bytes,
            params.as_mut_ptr(),
            params.len() as i32,
            sizes.as_ptr(),
            seed,
            err.as_mut_ptr() as *mut std::ffi::c_char,
            err.len(),
        )
    };
    check(rc, &err)
}

#[cfg(rlvr_emu)]
fn check(rc: i32, err: &[u8]) -> Result<()> {
    if rc != 0 {
        let end = err.iter().position(|&b| b == 0).unwrap_or(err.len());
        bail!(
            "emulated launch failed: {}",
            String::from_utf8_lossy(&err[..end])
        );
    }
    Ok(())
}

/// Most allocations one launch reports a footprint for (more are an error).
#[cfg(rlvr_emu)]
const MAX_FOOTPRINTS: usize = 4096;

/// A launch of the traced kernel: every block (one stratum) or the blocks of `sample`, with the
/// counters of each stratum and the footprint in every allocation touched.
#[cfg(rlvr_emu)]
pub fn launch_counted(
    kernel: &str,
    cfg: &LaunchCfg,
    args: &mut KernelArgs,
    seed: u64,
    sample: Option<&Sample>,
) -> Result<(Vec<RawCounters>, Vec<RawFootprint>)> {
    // SAFETY: size queries of two C structs.
    let (cs, fs) = unsafe {
        (
            sys::rlvr_emu_counters_size(),
            sys::rlvr_emu_footprint_size(),
        )
    };
    if cs != std::mem::size_of::<RawCounters>() || fs != std::mem::size_of::<RawFootprint>() {
        bail!("emulator counters layout differs between kernels/emu/counters.h and counters.rs");
    }
    let name = std::ffi::CString::new(kernel)?;
    let sizes = args.sizes().to_vec();
    let mut params = args.param_ptrs();
    let nstrata = sample.map_or(1, |s| s.weights.len());
    let mut counters = vec![RawCounters::default(); nstrata];
    let mut footprints = vec![RawFootprint::default(); MAX_FOOTPRINTS];
    let mut nfoot: i32 = 0;
    let mut err = vec![0u8; 2048];
    let (blocks, strata, nblocks) = match sample {
        Some(s) => (s.blocks.as_ptr(), s.strata.as_ptr(), s.blocks.len() as u64),
        None => (std::ptr::null(), std::ptr::null(), 0),
    };
    // SAFETY: as `launch`; the block, stratum, counter and footprint arrays have the lengths
    // passed with them and outlive the call.
    let rc = unsafe {
        sys::rlvr_emu_launch_counted(
            name.as_ptr(),
            cfg.grid.as_ptr(),
            cfg.block.as_ptr(),
            cfg.smem_bytes,
            params.as_mut_ptr(),
            params.len() as i32,
            sizes.as_ptr(),
            seed,
            blocks,
            strata,
            nblocks,
            counters.as_mut_ptr(),
            nstrata as i32,
            footprints.as_mut_ptr(),
            MAX_FOOTPRINTS as i32,
            &mut nfoot,
            err.as_mut_ptr() as *mut std::ffi::c_char,
            err.len(),
        )
    };
    check(rc, &err)?;
    let n = nfoot.max(0) as usize;
    if n > MAX_FOOTPRINTS {
        bail!(
            "kernel {kernel} touched {n} allocations; the counters keep at most {MAX_FOOTPRINTS}"
        );
    }
    footprints.truncate(n);
    Ok((counters, footprints))
}

#[cfg(not(rlvr_emu))]
pub fn alloc(_bytes: usize, _lazy: bool) -> Result<usize> {
    bail!("the kernel emulator was not built into this binary")
}

#[cfg(not(rlvr_emu))]
pub fn is_device_ptr(_p: u64) -> bool {
    false
}

#[cfg(not(rlvr_emu))]
pub fn launch_counted(
    _kernel: &str,
    _cfg: &LaunchCfg,
    _args: &mut KernelArgs,
    _seed: u64,
    _sample: Option<&Sample>,
) -> Result<(Vec<RawCounters>, Vec<RawFootprint>)> {
    bail!("the kernel emulator was not built into this binary")
}

#[cfg(not(rlvr_emu))]
pub fn free(_p: usize) {}

#[cfg(not(rlvr_emu))]
pub fn kernel_names() -> Vec<String> {
    Vec::new()
}

#[cfg(not(rlvr_emu))]
pub fn launch(_kernel: &str, _cfg: &LaunchCfg, _args: &mut KernelArgs, _seed: u64) -> Result<()> {
    bail!("the kernel emulator was not built into this binary")
}
