//! Which transport moves device buffers between ranks: NCCL on GPUs when asked for (and built
//! in), else `Staged` through the host `Comm` (the emulator, the CPU-only build, or NCCL off).
use super::Comm;
use crate::backend::cuda::comm::{DeviceComm, Staged};
use crate::backend::cuda::device::KernelDevice;
use anyhow::Result;

/// Whether this binary was built with NCCL (`--features nccl`).
pub const HAS_NCCL: bool = cfg!(feature = "nccl");

pub const NO_NCCL_BUILD: &str =
    "this rlvr was built without NCCL: rebuild with --features nccl (or leave NCCL off to stage \
     device collectives through the host)";

/// What to do when libnccl cannot be loaded. cudarc looks for `libnccl.so` and
/// `libnccl.so.13` … `.1` but not `libnccl.so.2`, NCCL's real soname.
pub const NCCL_MISSING_HINT: &str =
    "cannot load the NCCL library: cudarc looks for libnccl.so (and libnccl.so.1, .9-.13) on the \
     loader path, not libnccl.so.2. Install NCCL (e.g. `pip install nvidia-nccl-cu13`), then put \
     a `libnccl.so -> /path/to/libnccl.so.2` symlink in a directory on LD_LIBRARY_PATH \
     (scripts/gpu-check.sh shows how)";

/// The device transport for `comm`'s ranks on `dev`: NCCL when `want_nccl` and `dev` is a GPU
/// (every rank must call this, in the same order as its other collectives: NCCL's id is
/// broadcast over `comm`); otherwise buffers are staged through the host and `comm`.
/// World size 1 takes the same path as any other.
pub fn device_comm_for<'a>(
    comm: &'a dyn Comm,
    dev: &dyn KernelDevice,
    want_nccl: bool,
) -> Result<Box<dyn DeviceComm + 'a>> {
    match (want_nccl, dev.gpu()) {
        (true, Some(gpu)) => nccl_comm(comm, gpu),
        _ => Ok(Box::new(Staged { comm })),
    }
}

#[cfg(feature = "nccl")]
fn nccl_comm<'a>(
    comm: &'a dyn Comm,
    gpu: &crate::backend::cuda::gpu::Gpu,
) -> Result<Box<dyn DeviceComm + 'a>> {
    Ok(Box::new(super::nccl::Nccl::bootstrap(comm, gpu)?))
}

#[cfg(not(feature = "nccl"))]
fn nccl_comm<'a>(
    _comm: &'a dyn Comm,
    _gpu: &crate::backend::cuda::gpu::Gpu,
) -> Result<Box<dyn DeviceComm + 'a>> {
    anyhow::bail!(NO_NCCL_BUILD)
}

/// NCCL's version code as "major.minor.patch" (codes since 2.9 are major·10000 + minor·100 +
/// patch; older ones major·1000 + minor·100 + patch).
pub fn nccl_version_string(code: i32) -> String {
    let (major, rest) = if code >= 10000 {
        (code / 10000, code % 10000)
    } else {
        (code / 1000, code % 1000)
    };
    format!("{major}.{}.{}", rest / 100, rest % 100)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dist::{Single, ThreadComm};

    #[test]
    fn versions_read_like_nccl_prints_them() {
        assert_eq!(nccl_version_string(22703), "2.27.3");
        assert_eq!(nccl_version_string(21903), "2.19.3");
        assert_eq!(nccl_version_string(2804), "2.8.4");
    }

    #[test]
    fn off_a_gpu_the_transport_is_staged() {
        if !crate::backend::emu::emu_built() {
            eprintln!("skipped: the emulator was not built");
            return;
        }
        let dev = crate::backend::emu::EmuDevice::new(1).unwrap();
        for want in [false, true] {
            let dc = device_comm_for(&Single, &dev, want).unwrap();
            assert_eq!((dc.rank(), dc.world_size()), (0, 1));
            assert!(dc.describe().contains("staged"), "{}", dc.describe());
        }
        let described = ThreadComm::run(2, |c| {
            let dev = crate::backend::emu::EmuDevice::new(1).unwrap();
            let dc = device_comm_for(c, &dev, true).unwrap();
            (dc.rank(), dc.world_size(), dc.describe())
        });
        for (r, (rank, world, d)) in described.into_iter().enumerate() {
            assert_eq!((rank, world), (r, 2));
            assert!(d.contains("thread rank") && d.contains("staged"), "{d}");
        }
    }
}
