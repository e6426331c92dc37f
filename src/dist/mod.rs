//! Multi-process data parallelism: the collectives the trainer needs, behind one trait.
//!
//! - `Single`: world size 1, no communication (the default build).
//! - `Mpi` (cargo feature `mpi`): MPI collectives over the `mpi` crate, for ranks started by
//!   `mpirun`/`srun` (or `rlvr train --nproc N`, which re-launches itself under mpirun).
//! - `ThreadComm`: ranks as threads of one process, so the data-parallel path is unit-tested in
//!   the default build.
//! - `TcpComm`: ranks started by torchrun (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT) without
//!   MPI, through a small TCP store on rank 0 (`store`).
//!
//! Device buffers move through `device_comm::DeviceComm`; `device_comm::device_comm_for` picks
//! its transport (host-staged, or NCCL with cargo feature `nccl`).
//!
//! Every reduction the trainer relies on is *ordered* (see `reduce`): partial sums are added in
//! rank order, never in whatever order the transport delivers them, so a run is bit-for-bit
//! reproducible and does not depend on the number of processes.
pub mod device_comm;
pub mod launch;
#[cfg(feature = "mpi")]
pub mod mpi;
#[cfg(feature = "nccl")]
pub mod nccl;
pub mod reduce;
pub mod store;
pub mod tcp;
pub mod threads;
pub mod wire;

use anyhow::{bail, Result};
use std::ops::Range;

pub use reduce::{all_reduce_sum_f32, gather_f64, gather_u32, reduce_scatter_sum_f32};
pub use tcp::TcpComm;
pub use threads::ThreadComm;

/// A group of ranks and its collectives. Every rank must call the same collectives in the same
/// order. Required: rank, world size, barrier and the personalised exchange; the rest have
/// generic versions that a transport may replace with native ones.
pub trait Comm {
    fn rank(&self) -> usize;
    fn world_size(&self) -> usize;
    fn barrier(&self) -> Result<()>;
    /// `send[q]` goes to rank q; returns, by rank, what each rank sent to this one.
    fn all_to_all_bytes(&self, send: &[Vec<u8>]) -> Result<Vec<Vec<u8>>>;

    /// Every rank's `local`, by rank.
    fn all_gather_bytes(&self, local: &[u8]) -> Result<Vec<Vec<u8>>> {
        let send: Vec<Vec<u8>> = (0..self.world_size()).map(|_| local.to_vec()).collect();
        self.all_to_all_bytes(&send)
    }

    /// Replace `data` on every rank with root's.
    fn broadcast_bytes(&self, root: usize, data: &mut Vec<u8>) -> Result<()> {
        check_rank(root, self.world_size())?;
        let send: Vec<Vec<u8>> = (0..self.world_size())
            .map(|_| {
                if self.rank() == root {
                    data.clone()
                } else {
                    Vec::new()
                }
            })
            .collect();
        let mut got = self.all_to_all_bytes(&send)?;
        *data = std::mem::take(&mut got[root]);
        Ok(())
    }

    fn all_to_all_f32(&self, send: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
        let bytes: Vec<Vec<u8>> = send.iter().map(|v| wire::f32_bytes(v)).collect();
        self.all_to_all_bytes(&bytes)?
            .iter()
            .map(|b| wire::bytes_f32(b))
            .collect()
    }

    fn all_gather_f32(&self, local: &[f32]) -> Result<Vec<Vec<f32>>> {
        self.all_gather_bytes(&wire::f32_bytes(local))?
            .iter()
            .map(|b| wire::bytes_f32(b))
            .collect()
    }

    /// End every rank of the job now (after an error on this rank only, which would otherwise
    /// leave the others waiting in a collective).
    fn abort(&self, code: i32) -> ! {
        std::process::exit(code)
    }

    /// A short description for logs ("single process", "MPI rank 0 of 2").
    fn describe(&self) -> String;
}

/// World size 1: every collective returns the caller's own data.
#[derive(Clone, Copy, Debug, Default)]
pub struct Single;

impl Comm for Single {
    fn rank(&self) -> usize {
        0
    }
    fn world_size(&self) -> usize {
        1
    }
    fn barrier(&self) -> Result<()> {
        Ok(())
    }
    fn all_to_all_bytes(&self, send: &[Vec<u8>]) -> Result<Vec<Vec<u8>>> {
        if send.len() != 1 {
            bail!("all_to_all: {} buffers for a world of 1", send.len());
        }
        Ok(send.to_vec())
    }
    fn describe(&self) -> String {
        "single process".into()
    }
}

pub(crate) fn check_rank(rank: usize, world: usize) -> Result<()> {
    if rank >= world {
        bail!("rank {rank} out of range for a world of {world}");
    }
    Ok(())
}

/// The `part`-th of `parts` contiguous, balanced blocks of `0..n` (floor boundaries, so the
/// blocks tile `0..n` in order; some are empty when `parts > n`).
pub fn block(n: usize, parts: usize, part: usize) -> Range<usize> {
    let parts = parts.max(1);
    (part * n / parts)..((part + 1) * n / parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_tile_in_order() {
        for n in [0usize, 1, 5, 7, 64] {
            for parts in 1..6 {
                let mut next = 0;
                for p in 0..parts {
                    let b = block(n, parts, p);
                    assert_eq!(b.start, next);
                    next = b.end;
                }
                assert_eq!(next, n);
            }
        }
    }

    #[test]
    fn single_collectives_return_own_data() {
        let c = Single;
        assert_eq!((c.rank(), c.world_size()), (0, 1));
        c.barrier().unwrap();
        assert_eq!(c.all_gather_bytes(b"ab").unwrap(), vec![b"ab".to_vec()]);
        let mut d = b"xyz".to_vec();
        c.broadcast_bytes(0, &mut d).unwrap();
        assert_eq!(d, b"xyz");
        assert!(c.broadcast_bytes(1, &mut d).is_err());
        assert_eq!(
            c.all_to_all_f32(&[vec![1.0, -0.0]]).unwrap(),
            vec![vec![1.0, -0.0]]
        );
        assert!(c.all_to_all_bytes(&[vec![], vec![]]).is_err());
        let mut v = vec![1.5f32, 2.5];
        all_reduce_sum_f32(&c, &mut v).unwrap();
        assert_eq!(v, vec![1.5, 2.5]);
        assert_eq!(gather_f64(&c, &[0.25]).unwrap(), vec![vec![0.25]]);
        assert_eq!(gather_u32(&c, &[7, 8]).unwrap(), vec![vec![7, 8]]);
    }
}
