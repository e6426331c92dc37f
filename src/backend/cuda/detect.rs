//! CUDA detection that never panics on a machine without libcuda: the driver library is opened at run time, never linked.

/// Number of CUDA devices, or why there are none. cudarc panics when libcuda is missing, so the
/// library is probed with `is_culib_present` first; from then on the driver returns errors.
pub fn cuda_available() -> Result<usize, String> {
    // SAFETY: only tries to dlopen libcuda under its usual names.
    if !unsafe { cudarc::driver::sys::is_culib_present() } {
        return Err("libcuda not found".into());
    }
    match cudarc::driver::CudaContext::device_count() {
        Ok(n) if n > 0 => Ok(n as usize),
        Ok(_) => Err("no CUDA devices".into()),
        Err(e) => Err(format!("cuInit/cuDeviceGetCount failed: {e:?}")),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn detection_returns_instead_of_panicking() {
        // On the CPU machine this is Err("libcuda not found"); on a GPU box Ok(n). Either way no panic.
        match super::cuda_available() {
            Ok(n) => assert!(n > 0),
            Err(e) => assert!(!e.is_empty()),
        }
    }
}
