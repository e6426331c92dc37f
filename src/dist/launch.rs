//! How a process learns its rank: from the launcher's environment (mpirun, srun, or
//! torchrun-style RANK/WORLD_SIZE, the last only as a cross-check), and `--nproc N`, which
//! re-launches this very command under `mpirun -np N`.
use super::{Comm, Single};
use anyhow::{bail, Context, Result};

/// Rank and world size as a launcher announced them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaunchEnv {
    pub rank: usize,
    pub world: usize,
    /// Which variables said so.
    pub source: &'static str,
    /// Whether an MPI launcher (not only torchrun-style variables) set them.
    pub mpi: bool,
}

const SOURCES: &[(&str, &str, &str, bool)] = &[
    (
        "OMPI_COMM_WORLD_RANK",
        "OMPI_COMM_WORLD_SIZE",
        "mpirun (Open MPI)",
        true,
    ),
    ("PMI_RANK", "PMI_SIZE", "PMI (MPICH, srun --mpi=pmi2)", true),
    ("PMIX_RANK", "SLURM_STEP_NUM_TASKS", "srun --mpi=pmix", true),
    ("RANK", "WORLD_SIZE", "RANK/WORLD_SIZE", false),
];

/// Every launcher announcement in `get`'s environment; they must agree.
pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Option<LaunchEnv>> {
    let mut found: Vec<LaunchEnv> = Vec::new();
    for &(rk, sz, source, mpi) in SOURCES {
        let (Some(r), Some(s)) = (get(rk), get(sz)) else {
            continue;
        };
        let parse = |name: &str, v: &str| -> Result<usize> {
            v.trim()
                .parse()
                .with_context(|| format!("environment variable {name}={v:?} is not a number"))
        };
        let (rank, world) = (parse(rk, &r)?, parse(sz, &s)?);
        if world == 0 || rank >= world {
            bail!("{rk}={rank} and {sz}={world} do not describe a rank of a world");
        }
        found.push(LaunchEnv {
            rank,
            world,
            source,
            mpi,
        });
    }
    if let Some(first) = found.first() {
        for other in &found[1..] {
            if (other.rank, other.world) != (first.rank, first.world) {
                bail!(
                    "launcher variables disagree: {} says rank {} of {}, {} says rank {} of {}",
                    first.source,
                    first.rank,
                    first.world,
                    other.source,
                    other.rank,
                    other.world
                );
            }
        }
    }
    Ok(found.first().cloned().map(|f| LaunchEnv {
        mpi: found.iter().any(|e| e.mpi),
        ..f
    }))
}

pub fn from_env() -> Result<Option<LaunchEnv>> {
    from_vars(|k| std::env::var(k).ok())
}

/// Whether this binary was built with MPI support (`--features mpi`).
pub const HAS_MPI: bool = cfg!(feature = "mpi");

const BUILD_HINT: &str = "this rlvr was built without MPI: install Open MPI (Debian: apt-get install \
     openmpi-bin libopenmpi-dev libclang-dev) and rebuild with `cargo build --release --features mpi`";

/// The communicator of this process: MPI when a launcher started several ranks, else `Single`.
/// `nproc` is what `--nproc` asked for (checked against the launcher's world size).
pub fn init(nproc: Option<usize>) -> Result<Box<dyn Comm>> {
    let env = from_env()?;
    let world = env.as_ref().map_or(1, |e| e.world);
    if let Some(n) = nproc {
        if env.is_some() && n != world {
            bail!("--nproc {n}, but the launcher started {world} ranks");
        }
    }
    let Some(env) = env.filter(|e| e.world > 1) else {
        return Ok(Box::new(Single));
    };
    if !env.mpi {
        bail!(
            "{} says rank {} of {}, but no MPI launcher is present: start the ranks with mpirun or \
             srun (see README, Data parallel); a rendezvous over MASTER_ADDR/MASTER_PORT is not \
             supported",
            env.source,
            env.rank,
            env.world
        );
    }
    init_mpi(&env)
}

#[cfg(feature = "mpi")]
fn init_mpi(env: &LaunchEnv) -> Result<Box<dyn Comm>> {
    let c = super::mpi::Mpi::init()?;
    if (c.rank(), c.world_size()) != (env.rank, env.world) {
        bail!(
            "MPI says rank {} of {}, but {} says rank {} of {}",
            c.rank(),
            c.world_size(),
            env.source,
            env.rank,
            env.world
        );
    }
    Ok(Box::new(c))
}

#[cfg(not(feature = "mpi"))]
fn init_mpi(env: &LaunchEnv) -> Result<Box<dyn Comm>> {
    bail!(
        "started as rank {} of {} by {}, but {BUILD_HINT}",
        env.rank,
        env.world,
        env.source
    )
}

/// Run this same command line as `nproc` ranks under mpirun on this machine and return its exit
/// code. Called when `--nproc N > 1` is given outside a launcher.
pub fn relaunch_under_mpirun(nproc: usize) -> Result<i32> {
    if !HAS_MPI {
        bail!("--nproc {nproc}: {BUILD_HINT}");
    }
    let version = std::process::Command::new("mpirun")
        .arg("--version")
        .output()
        .context(
            "--nproc needs `mpirun` on PATH (Debian: apt-get install openmpi-bin libopenmpi-dev)",
        )?;
    let mut cmd = std::process::Command::new("mpirun");
    // Open MPI refuses root and more ranks than cores unless told; other MPIs lack the flags.
    if String::from_utf8_lossy(&version.stdout).contains("Open MPI") {
        cmd.args(["--allow-run-as-root", "--oversubscribe"]);
    }
    let exe = std::env::current_exe().context("locating the rlvr executable")?;
    cmd.arg("-np")
        .arg(nproc.to_string())
        .arg(exe)
        .args(std::env::args_os().skip(1));
    let status = cmd.status().context("running mpirun")?;
    Ok(status.code().unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Result<Option<LaunchEnv>> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        from_vars(|k| m.get(k).cloned())
    }

    #[test]
    fn launchers_are_recognised_and_cross_checked() {
        assert_eq!(env(&[]).unwrap(), None);
        let e = env(&[("OMPI_COMM_WORLD_RANK", "1"), ("OMPI_COMM_WORLD_SIZE", "2")])
            .unwrap()
            .unwrap();
        assert_eq!((e.rank, e.world, e.mpi), (1, 2, true));
        let t = env(&[("RANK", "0"), ("WORLD_SIZE", "4")]).unwrap().unwrap();
        assert!(!t.mpi);
        // torchrun-style variables consistent with mpirun's are accepted (and mark MPI).
        let both = env(&[
            ("OMPI_COMM_WORLD_RANK", "1"),
            ("OMPI_COMM_WORLD_SIZE", "2"),
            ("RANK", "1"),
            ("WORLD_SIZE", "2"),
        ])
        .unwrap()
        .unwrap();
        assert!(both.mpi && both.source.contains("Open MPI"));
        let err = env(&[
            ("OMPI_COMM_WORLD_RANK", "1"),
            ("OMPI_COMM_WORLD_SIZE", "2"),
            ("RANK", "0"),
            ("WORLD_SIZE", "2"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("disagree"), "{err}");
        assert!(env(&[("PMI_RANK", "2"), ("PMI_SIZE", "2")]).is_err());
        assert!(env(&[("PMI_RANK", "x"), ("PMI_SIZE", "2")]).is_err());
    }
}
