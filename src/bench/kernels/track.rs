//! A `KernelDevice` wrapper that records which kernels ran and the live / peak bytes allocated
//! through it, so a bench record names the device kernels it timed and the fused log-prob's
//! peak extra memory is measured, not estimated.
use crate::backend::cuda::device::{KernelArgs, KernelDevice, LaunchCfg, RawBuf, TensorMapArg};
use crate::backend::emu::hopper::TensorMapSpec;
use anyhow::Result;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub struct Tracked<'a> {
    inner: &'a dyn KernelDevice,
    live: Arc<AtomicU64>,
    peak: Arc<AtomicU64>,
    launched: Mutex<BTreeSet<String>>,
    /// Count-only runs (`--shapes real` on the emulator): launches outside a counted pass are
    /// skipped, since at training shapes each would take the emulator minutes to hours.
    only_counted: AtomicBool,
    counting: AtomicBool,
}

/// Owns the inner allocation and gives its bytes back to the live count on drop.
struct TrackedOwner {
    _inner: Box<dyn std::any::Any + Send + Sync>,
    live: Arc<AtomicU64>,
    bytes: u64,
}

impl Drop for TrackedOwner {
    fn drop(&mut self) {
        self.live.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

impl<'a> Tracked<'a> {
    pub fn new(inner: &'a dyn KernelDevice) -> Self {
        Tracked {
            inner,
            live: Arc::new(AtomicU64::new(0)),
            peak: Arc::new(AtomicU64::new(0)),
            launched: Mutex::new(BTreeSet::new()),
            only_counted: AtomicBool::new(false),
            counting: AtomicBool::new(false),
        }
    }

    /// From now on, launch kernels only between `set_counting(true)` and `set_counting(false)`.
    pub fn launch_only_when_counting(&self) {
        self.only_counted.store(true, Ordering::Relaxed);
    }

    /// Whether launches outside a counted pass are skipped.
    pub fn is_count_only(&self) -> bool {
        self.only_counted.load(Ordering::Relaxed)
    }

    /// Marks the start and the end of a counted pass.
    pub fn set_counting(&self, on: bool) {
        self.counting.store(on, Ordering::Relaxed);
    }

    /// Bytes allocated through this wrapper and not yet dropped.
    pub fn live_bytes(&self) -> u64 {
        self.live.load(Ordering::Relaxed)
    }

    /// Starts a new peak measurement from the current live bytes.
    pub fn reset_peak(&self) {
        self.peak.store(self.live_bytes(), Ordering::Relaxed);
    }

    /// Highest live bytes since the last `reset_peak`.
    pub fn peak_bytes(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }

    /// Names of the kernels launched since the last call, sorted.
    pub fn take_launched(&self) -> Vec<String> {
        match self.launched.lock() {
            Ok(mut s) => std::mem::take(&mut *s).into_iter().collect(),
            Err(_) => Vec::new(),
        }
    }
}

impl KernelDevice for Tracked<'_> {
    fn has_sm90a(&self) -> bool {
        self.inner.has_sm90a()
    }

    fn sm_count(&self) -> usize {
        self.inner.sm_count()
    }

    fn max_smem_per_block(&self) -> usize {
        self.inner.max_smem_per_block()
    }

    fn tensor_map(&self, spec: &TensorMapSpec) -> Result<TensorMapArg> {
        self.inner.tensor_map(spec)
    }

    fn name(&self) -> String {
        self.inner.name()
    }

    fn alloc_bytes(&self, bytes: usize) -> Result<RawBuf> {
        let raw = self.inner.alloc_bytes(bytes)?;
        let now = self.live.fetch_add(bytes as u64, Ordering::Relaxed) + bytes as u64;
        self.peak.fetch_max(now, Ordering::Relaxed);
        Ok(RawBuf {
            ptr: raw.ptr,
            bytes: raw.bytes,
            _owner: Box::new(TrackedOwner {
                _inner: raw._owner,
                live: self.live.clone(),
                bytes: bytes as u64,
            }),
        })
    }

    fn htod_bytes(&self, src: &[u8], dst: &RawBuf) -> Result<()> {
        self.inner.htod_bytes(src, dst)
    }

    fn dtoh_bytes(&self, src: &RawBuf, dst: &mut [u8]) -> Result<()> {
        self.inner.dtoh_bytes(src, dst)
    }

    fn launch(&self, kernel: &str, cfg: &LaunchCfg, args: &mut KernelArgs) -> Result<()> {
        if let Ok(mut s) = self.launched.lock() {
            if !s.contains(kernel) {
                s.insert(kernel.to_string());
            }
        }
        if self.is_count_only() && !self.counting.load(Ordering::Relaxed) {
            return Ok(());
        }
        self.inner.launch(kernel, cfg, args)
    }

    fn synchronize(&self) -> Result<()> {
        self.inner.synchronize()
    }
}
