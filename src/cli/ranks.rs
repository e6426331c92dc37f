//! Starting the ranks of a data-parallel command (`train`, `sft`) and ending them together.
use crate::dist::Comm;
use anyhow::{anyhow, Result};

/// The ranks of a data-parallel command (`train`, `sft`). Outside a launcher, `--nproc N > 1`
/// re-runs this very command line under `mpirun -np N` and returns None once those ranks are
/// done; otherwise this process's communicator (MPI under a launcher, else one process).
pub fn start_ranks(nproc: Option<usize>) -> Result<Option<Box<dyn Comm>>> {
    let launched = crate::dist::launch::from_env()?.is_some();
    if let (Some(n), false) = (nproc, launched) {
        if n == 0 {
            return Err(anyhow!("--nproc must be at least 1"));
        }
        if n > 1 {
            let code = crate::dist::launch::relaunch_under_mpirun(n)?;
            if code != 0 {
                return Err(anyhow!("mpirun exited with code {code}"));
            }
            return Ok(None);
        }
    }
    crate::dist::launch::init(nproc).map(Some)
}

/// This rank's result. An error on one of several ranks ends them all: the others would wait
/// in a collective forever.
pub fn or_abort_all<T>(comm: &dyn Comm, out: Result<T>) -> Result<T> {
    match out {
        Err(e) if comm.world_size() > 1 => {
            eprintln!("error on rank {}: {e:#}", comm.rank());
            comm.abort(1)
        }
        out => out,
    }
}
