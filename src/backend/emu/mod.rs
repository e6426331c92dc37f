//! `--device emu`: runs the kernels of kernels/*.cu on the host through the execution-model
//! emulator (kernels/emu/), behind the same `KernelDevice` interface as the CUDA device, so launch
//! configuration and argument marshalling are exercised exactly as on a GPU.
//!
//! Device memory is host memory that ends at a guard page (an out-of-bounds access stops the
//! kernel with its name, block and thread) and starts out filled with 0xFF bytes (NaN).
//!
//! With a counting session open ([`EmuDevice::start_counting`]) launches run the traced kernels
//! and leave efficiency counters (`counters`, `session`); long loops may run shortened (`loops`).
use crate::backend::cuda::device::{
    upload, KernelArgs, KernelDevice, LaunchCfg, RawBuf, TensorMapArg,
};
use anyhow::{bail, Result};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

pub mod counters;
mod ffi;
pub mod hopper;
pub mod loops;
pub mod session;

pub use session::{CountPolicy, Counts, LaunchCount};

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
    /// Allocations are zero-filled and take no RAM until written (real-size counting runs).
    lazy_memory: bool,
    session: Mutex<Option<session::Session>>,
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
            lazy_memory: false,
            session: Mutex::new(None),
        })
    }

    /// A device whose allocations read as zeros and take no RAM until written, for counting runs
    /// at real sizes: a sampled launch touches a small part of buffers of gigabytes.
    pub fn with_lazy_memory(seed: u64) -> Result<Self> {
        let mut d = Self::new(seed)?;
        d.lazy_memory = true;
        Ok(d)
    }

    /// Opens a counting session: from now on every launch runs its traced variant and is counted.
    pub fn start_counting(&self, policy: CountPolicy) {
        *self.lock_session() = Some(session::Session::new(policy));
    }

    /// Closes the session and returns what it counted (`None` if none was open).
    pub fn finish_counting(&self) -> Option<Counts> {
        self.lock_session().take().map(|s| s.counts)
    }

    fn lock_session(&self) -> std::sync::MutexGuard<'_, Option<session::Session>> {
        // A panic while counting leaves nothing half-updated that matters: keep going.
        self.session.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn count_copy(&self, htod: bool, bytes: usize) {
        if let Some(s) = self.lock_session().as_mut() {
            let c = &mut s.counts;
            if htod {
                c.htod_copies += 1;
                c.htod_bytes += bytes as u64;
            } else {
                c.dtoh_copies += 1;
                c.dtoh_bytes += bytes as u64;
            }
        }
    }

    fn launch_counted(
        &self,
        kernel: &str,
        cfg: &LaunchCfg,
        args: &mut KernelArgs,
        seed: u64,
    ) -> Result<()> {
        let mut guard = self.lock_session();
        let Some(s) = guard.as_mut() else {
            drop(guard);
            return ffi::launch(kernel, cfg, args, seed);
        };
        let sig = s
            .policy
            .reuse_identical
            .then(|| session::Session::signature(kernel, cfg, args, ffi::is_device_ptr));
        let values = session::arg_values(args);
        if let Some(sig) = &sig {
            if s.reuse(sig, values.clone()) {
                return Ok(());
            }
        }
        let sample = s.sample(cfg);
        let shortened = match args.loop_arg().filter(|_| s.policy.shorten_loops) {
            Some(l) => loops::plan(l, args.int_at(l.index)?),
            None => None,
        };
        let (raw, footprints) = match shortened {
            Some(plan) => loops::run_shortened(&plan, args, |a| {
                ffi::launch_counted(kernel, cfg, a, seed, sample.as_ref())
            })?,
            None => ffi::launch_counted(kernel, cfg, args, seed, sample.as_ref())?,
        };
        let mut count =
            LaunchCount::from_raw(kernel, cfg, values, sample.as_ref(), &raw, &footprints);
        count.shortened = shortened.is_some();
        s.record(sig, count);
        Ok(())
    }
}

impl KernelDevice for EmuDevice {
    /// The emulator runs the sm_90a instructions of kernels/hopper.cuh.
    fn has_sm90a(&self) -> bool {
        true
    }

    fn tensor_map(&self, spec: &hopper::TensorMapSpec) -> Result<TensorMapArg> {
        let map = hopper::encode_tiled(spec)?;
        Ok(TensorMapArg::InMemory(upload(self, &map.0)?))
    }

    fn name(&self) -> String {
        "emulator (host, shuffled threads, guard pages)".into()
    }

    fn alloc_bytes(&self, bytes: usize) -> Result<RawBuf> {
        let p = ffi::alloc(bytes, self.lazy_memory)?;
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
        self.count_copy(true, src.len());
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
        self.count_copy(false, dst.len());
        Ok(())
    }

    fn launch(&self, kernel: &str, cfg: &LaunchCfg, args: &mut KernelArgs) -> Result<()> {
        let n = self.launches.fetch_add(1, Ordering::Relaxed);
        let seed = self
            .seed
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(n);
        self.launch_counted(kernel, cfg, args, seed)
    }

    fn synchronize(&self) -> Result<()> {
        if let Some(s) = self.lock_session().as_mut() {
            s.counts.synchronizations += 1;
        }
        Ok(())
    }
}
