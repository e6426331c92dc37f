//! Collectives over device buffers, for the data-parallel device update: one primitive, a
//! grouped point-to-point exchange of f32 ranges, on which the ordered reduce-scatter and the
//! all-gather of `model::dp` are built. Two transports:
//!
//! - [`Staged`]: through the host and any [`Comm`] (MPI, thread ranks, one process). It runs on
//!   the emulator, so the whole device data-parallel path is tested without a GPU;
//! - `dist::nccl::Nccl` (cargo feature `nccl`): NCCL send/recv on the GPU's stream.
use super::device::{download, DevBuf, KernelDevice};
use crate::dist::{wire, Comm};
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
