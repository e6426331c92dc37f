//! Collectives over device buffers, for the data-parallel device update: one primitive, a
//! grouped point-to-point exchange of f32 ranges ([`DeviceComm::exchange_f32`]), on which the
//! ordered reduce-scatter and the all-gather of the device model's data parallelism are built.
//! Two transports, chosen by [`device_comm_for`]:
//!
//! - [`Staged`]: through the host and any [`Comm`] (MPI, thread ranks, one process). It runs on
//!   the emulator, so the whole device data-parallel path is tested without a GPU;
//! - `dist::nccl::Nccl` (cargo feature `nccl`): NCCL send/recv on the GPU's stream, when asked
//!   for and the device is a GPU.
use super::{wire, Comm};
use crate::backend::cuda::device::{download, DevBuf, KernelDevice};
use anyhow::{bail, Result};

/// Elements `offset..offset + len` of a device buffer.
#[derive(Clone, Copy)]
pub struct Slice<'a> {
    pub buf: &'a DevBuf<f32>,
    pub offset: usize,
    pub len: usize,
}

impl<'a> Slice<'a> {
    pub fn new(buf: &'a DevBuf<f32>, offset: usize, len: usize) -> Self {
        Slice { buf, offset, len }
    }
}

pub trait DeviceComm {
    fn rank(&self) -> usize;
    fn world_size(&self) -> usize;
    /// Every slice of `sends[q]` goes to rank q and every slice of `recvs[q]` is filled from
    /// rank q, in order: the k-th slice this rank sends to q is as long as q's k-th receive slice
    /// from this rank. Sending to oneself is allowed (receive slices must not overlap the send
    /// slices). On return the received data is in place for the next kernel on the device.
    fn exchange_f32(
        &self,
        dev: &dyn KernelDevice,
        sends: &[Vec<Slice<'_>>],
        recvs: &[Vec<Slice<'_>>],
    ) -> Result<()>;
    /// A short description for logs.
    fn describe(&self) -> String;
    /// Whether the data-parallel update exchanges its buffers even with one rank (NCCL, so a
    /// one-GPU run exercises the transport it would use on many); otherwise one rank sums its
    /// shards in place, without the extra receive buffer.
    fn exchange_alone(&self) -> bool {
        false
    }
}

/// Device collectives staged through host memory and a host [`Comm`].
pub struct Staged<'a> {
    pub comm: &'a dyn Comm,
}

impl DeviceComm for Staged<'_> {
    fn rank(&self) -> usize {
        self.comm.rank()
    }
    fn world_size(&self) -> usize {
        self.comm.world_size()
    }

    fn exchange_f32(
        &self,
        dev: &dyn KernelDevice,
        sends: &[Vec<Slice<'_>>],
        recvs: &[Vec<Slice<'_>>],
    ) -> Result<()> {
        let world = self.world_size();
        if sends.len() != world || recvs.len() != world {
            bail!(
                "exchange: {} send and {} receive lists for a world of {world}",
                sends.len(),
                recvs.len()
            );
        }
        let mut out = Vec::with_capacity(world);
        for list in sends {
            let mut host = Vec::new();
            for s in list {
                let v = s.buf.view(s.offset, s.len)?;
                host.extend(download(dev, &v)?);
            }
            out.push(wire::f32_bytes(&host));
        }
        let got = self.comm.all_to_all_bytes(&out)?;
        for (q, (bytes, list)) in got.iter().zip(recvs).enumerate() {
            let data = wire::bytes_f32(bytes)?;
            let want: usize = list.iter().map(|s| s.len).sum();
            if data.len() != want {
                bail!(
                    "exchange: rank {q} sent {} values, this rank expects {want}",
                    data.len()
                );
            }
            let mut at = 0;
            for s in list {
                let v = s.buf.view(s.offset, s.len)?;
                dev.htod_bytes(bytemuck::cast_slice(&data[at..at + s.len]), v.raw())?;
                at += s.len;
            }
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!("{}, staged through the host", self.comm.describe())
    }
}

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
    bail!(NO_NCCL_BUILD)
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
