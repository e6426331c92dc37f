//! The C ABI of kernels/emu/emu.cpp (linked as librlvr_emu.a when build.rs could build it).
use crate::backend::cuda::device::{KernelArgs, LaunchCfg};
use anyhow::{bail, Result};

#[cfg(rlvr_emu)]
mod sys {
    use std::ffi::{c_char, c_int, c_void};
    extern "C" {
        pub fn rlvr_emu_alloc(bytes: usize) -> *mut c_void;
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
    }
}

pub const BUILT: bool = cfg!(rlvr_emu);

#[cfg(rlvr_emu)]
pub fn alloc(bytes: usize) -> Result<usize> {
    // SAFETY: plain allocation call; a null return is handled.
    let p = unsafe { sys::rlvr_emu_alloc(bytes) };
    if p.is_null() {
        bail!("emulator: cannot map {bytes} bytes");
    }
    Ok(p as usize)
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
    if rc != 0 {
        let end = err.iter().position(|&b| b == 0).unwrap_or(err.len());
        bail!(
            "emulated launch failed: {}",
            String::from_utf8_lossy(&err[..end])
        );
    }
    Ok(())
}

#[cfg(not(rlvr_emu))]
pub fn alloc(_bytes: usize) -> Result<usize> {
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
