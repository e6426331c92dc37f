//! The process's allocator policy for large tensors.
//!
//! glibc serves blocks above its mmap threshold (at most 32 MiB) with fresh mappings and gives
//! the top of the heap back to the kernel when it frees enough; either way the next tensor of
//! that size starts on untouched pages, and every 4 KiB page costs a fault plus the kernel
//! zeroing it. A training step allocates and frees the same activation sizes every layer, so
//! without this policy the CPU backend spends several percent of a step in page faults.
//! Keeping freed memory in the heap trades a higher resident size (bounded by the peak a step
//! needs) for that time.
//!
//! One arena for every thread: the commands run on a thread-pool worker, and glibc gives each
//! thread its own arena made of 64 MiB heaps that it unmaps as soon as they empty, whatever the
//! trim threshold says — with per-thread arenas a forward pass of the 135M model faulted in
//! about 250 MB of fresh pages every time; with one arena, none after the first step. The
//! arena's lock is uncontended: tensors are allocated a few at a time, not in inner loops.

/// Serve every allocation from one heap and never trim it. Call once, first thing in `main`.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes malloc's tuning parameters; it is called before any thread
    // that allocates is started.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}
