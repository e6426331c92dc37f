//! MPI ranks (cargo feature `mpi`, the `mpi` crate over the system's MPI, e.g. Debian's Open
//! MPI). Only the personalised exchange and the gathers are native; the sums built on them are
//! ordered (see `reduce`), so no result depends on MPI's reduction order.
use super::Comm;
use anyhow::{bail, Result};
use mpi::datatype::{Partition, PartitionMut};
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use mpi::Count;

pub struct Mpi {
    world: SimpleCommunicator,
    // Dropped last: finalises MPI.
    _universe: Universe,
}

impl Mpi {
    pub fn init() -> Result<Mpi> {
        // Rayon threads compute, only the main thread talks to MPI.
        let Some((universe, _)) = mpi::initialize_with_threading(mpi::Threading::Funneled) else {
            bail!("MPI was already initialised in this process");
        };
        Ok(Mpi {
            world: universe.world(),
            _universe: universe,
        })
    }
}

fn count(n: usize) -> Result<Count> {
    Count::try_from(n).map_err(|_| anyhow::anyhow!("MPI message of {n} elements is too large"))
}

fn displacements(counts: &[Count]) -> Vec<Count> {
    counts
        .iter()
        .scan(0, |acc, &c| {
            let d = *acc;
            *acc += c;
            Some(d)
        })
        .collect()
}

impl Mpi {
    fn exchange<T: Equivalence + Default + Clone>(&self, send: &[Vec<T>]) -> Result<Vec<Vec<T>>> {
        let world = self.world_size();
        if send.len() != world {
            bail!("all_to_all: {} buffers for a world of {world}", send.len());
        }
        let send_counts: Vec<Count> = send.iter().map(|v| count(v.len())).collect::<Result<_>>()?;
        let mut recv_counts: Vec<Count> = vec![0; world];
        self.world
            .all_to_all_into(&send_counts[..], &mut recv_counts[..]);
        let flat: Vec<T> = send.concat();
        let total: usize = recv_counts.iter().map(|&c| c as usize).sum();
        count(flat.len())?;
        count(total)?;
        let mut recv = vec![T::default(); total];
        {
            let sp = Partition::new(&flat[..], &send_counts[..], displacements(&send_counts));
            let rd = displacements(&recv_counts);
            let mut rp = PartitionMut::new(&mut recv[..], &recv_counts[..], rd);
            self.world.all_to_all_varcount_into(&sp, &mut rp);
        }
        let mut out = Vec::with_capacity(world);
        let mut at = 0;
        for &c in &recv_counts {
            out.push(recv[at..at + c as usize].to_vec());
            at += c as usize;
        }
        Ok(out)
    }

    fn gather_all<T: Equivalence + Default + Clone>(&self, local: &[T]) -> Result<Vec<Vec<T>>> {
        let world = self.world_size();
        let mine = count(local.len())?;
        let mut counts: Vec<Count> = vec![0; world];
        self.world.all_gather_into(&mine, &mut counts[..]);
        let total: usize = counts.iter().map(|&c| c as usize).sum();
        count(total)?;
        let mut recv = vec![T::default(); total];
        {
            let displs = displacements(&counts);
            let mut rp = PartitionMut::new(&mut recv[..], &counts[..], displs);
            self.world.all_gather_varcount_into(local, &mut rp);
        }
        let mut out = Vec::with_capacity(world);
        let mut at = 0;
        for &c in &counts {
            out.push(recv[at..at + c as usize].to_vec());
            at += c as usize;
        }
        Ok(out)
    }
}

impl Comm for Mpi {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }
    fn world_size(&self) -> usize {
        self.world.size() as usize
    }
    fn barrier(&self) -> Result<()> {
        self.world.barrier();
        Ok(())
    }
    fn all_to_all_bytes(&self, send: &[Vec<u8>]) -> Result<Vec<Vec<u8>>> {
        self.exchange(send)
    }
    fn all_gather_bytes(&self, local: &[u8]) -> Result<Vec<Vec<u8>>> {
        self.gather_all(local)
    }
    fn broadcast_bytes(&self, root: usize, data: &mut Vec<u8>) -> Result<()> {
        super::check_rank(root, self.world_size())?;
        let root_proc = self.world.process_at_rank(root as mpi::Rank);
        let mut len = data.len() as u64;
        root_proc.broadcast_into(&mut len);
        data.resize(len as usize, 0);
        count(data.len())?;
        root_proc.broadcast_into(&mut data[..]);
        Ok(())
    }
    fn all_to_all_f32(&self, send: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
        self.exchange(send)
    }
    fn all_gather_f32(&self, local: &[f32]) -> Result<Vec<Vec<f32>>> {
        self.gather_all(local)
    }
    fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }
    fn describe(&self) -> String {
        format!(
            "MPI rank {} of {} ({})",
            self.rank(),
            self.world_size(),
            mpi::environment::library_version()
                .unwrap_or_default()
                .split(',')
                .next()
                .unwrap_or("")
                .trim()
        )
    }
}
