//! `--device emu`: runs the kernels of kernels/*.cu on the host through the execution-model
//! emulator (kernels/emu/), behind the same `KernelDevice` interface as the CUDA device, so launch
//! configuration and argument marshalling are exercised exactly as on a GPU.
//!
//! Device memory is host memory that ends at a guard page (an out-of-bounds access stops the
//! kernel with its name, block and thread) and starts out filled with 0xFF bytes (NaN).
use crate::backend::cuda::device::{KernelArgs, KernelDevice, LaunchCfg, RawBuf};
use anyhow::{bail, Result};
use std::sync::atomic::{AtomicU64, Ordering};

mod ffi;

/// Whether the emulator library was compiled into this binary (needs the CUDA headers and g++
/// at build time).
pub fn emu_built() -> bool {
    ffi::BUILT
}

/// Names of every kernel the emulator can run (planted-bug variants included).
pub fn kernel_names() -> Vec<String> {
    ffi::kernel_names()
}

/// The emulated device. `seed` fixes the shuffled order of blocks and threads; every launch
/// derives its own seed from it and a launch counter.
pub struct EmuDevice {
    seed: u64,
    launches: AtomicU64,
}

struct EmuAlloc(usize);

impl Drop for EmuAlloc {
    fn drop(&mut self) {
        ffi::free(self.0);
    }
}

impl EmuDevice {
    pub fn new(seed: u64) -> Result<Self> {
        if !ffi::BUILT {
            bail!(
                "the kernel emulator was not built into this binary (build.rs found no CUDA headers or g++); \
                 run scripts/setup-cuda.sh and rebuild"
            );
        }
        Ok(EmuDevice {
            seed,
            launches: AtomicU64::new(0),
        })
    }
}

impl KernelDevice for EmuDevice {
    fn name(&self) -> String {
        "emulator (host, shuffled threads, guard pages)".into()
    }

    fn alloc_bytes(&self, bytes: usize) -> Result<RawBuf> {
        let p = ffi::alloc(bytes)?;
        Ok(RawBuf {
            ptr: p as u64,
            bytes,
            _owner: Box::new(EmuAlloc(p)),
        })
    }

    fn htod_bytes(&self, src: &[u8], dst: &RawBuf) -> Result<()> {
        if src.len() > dst.bytes {
            bail!(
                "host-to-device copy of {} bytes into a {}-byte buffer",
                src.len(),
                dst.bytes
            );
        }
        // SAFETY: dst.ptr is a live emulator allocation of dst.bytes bytes (owned by dst).
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst.ptr as *mut u8, src.len()) };
        Ok(())
    }

    fn dtoh_bytes(&self, src: &RawBuf, dst: &mut [u8]) -> Result<()> {
        if dst.len() > src.bytes {
            bail!(
                "device-to-host copy of {} bytes from a {}-byte buffer",
                dst.len(),
                src.bytes
            );
        }
        // SAFETY: src.ptr is a live emulator allocation of src.bytes bytes (owned by src).
        unsafe { std::ptr::copy_nonoverlapping(src.ptr as *const u8, dst.as_mut_ptr(), dst.len()) };
        Ok(())
    }

    fn launch(&self, kernel: &str, cfg: &LaunchCfg, args: &mut KernelArgs) -> Result<()> {
        let n = self.launches.fetch_add(1, Ordering::Relaxed);
        let seed = self
            .seed
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(n);
        ffi::launch(kernel, cfg, args, seed)
    }

    fn synchronize(&self) -> Result<()> {
        Ok(())
    }
}
