//! How a process learns its rank: from the launcher's environment (mpirun, srun, or
//! torchrun-style RANK/WORLD_SIZE with MASTER_ADDR/MASTER_PORT), and `--nproc N`, which
//! re-launches this very command under `mpirun -np N`.
use super::store::StoreAddr;
use super::tcp::TcpComm;
use super::{Comm, Single};
use anyhow::{bail, Context, Result};
use std::time::Duration;

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

/// How long ranks wait for each other at a TCP rendezvous unless RLVR_STORE_TIMEOUT_S says.
const STORE_TIMEOUT: Duration = Duration::from_secs(300);

/// Where rank 0's TCP store listens under a torchrun-style launch: MASTER_ADDR and MASTER_PORT
/// (None when either is missing). torchrun's agent already serves its own store on MASTER_PORT
/// when it sets TORCHELASTIC_USE_AGENT_STORE=True, so ours then takes the next port;
/// RLVR_STORE_PORT overrides both.
pub fn store_addr(get: &dyn Fn(&str) -> Option<String>) -> Result<Option<StoreAddr>> {
    let port_var = |name: &str| -> Result<Option<u16>> {
        get(name)
            .map(|v| {
                v.trim().parse::<u16>().with_context(|| {
                    format!("environment variable {name}={v:?} is not a port number")
                })
            })
            .transpose()
    };
    let (Some(host), Some(master_port)) = (get("MASTER_ADDR"), port_var("MASTER_PORT")?) else {
        return Ok(None);
    };
    let port = match port_var("RLVR_STORE_PORT")? {
        Some(p) => p,
        None if get("TORCHELASTIC_USE_AGENT_STORE")
            .is_some_and(|v| v.eq_ignore_ascii_case("true")) =>
        {
            master_port.checked_add(1).with_context(|| {
                format!(
                    "MASTER_PORT={master_port}: no next port for rlvr's store; set RLVR_STORE_PORT"
                )
            })?
        }
        None => master_port,
    };
    // An IPv6 address may come bracketed ("[fd00::1]").
    let host = host.trim().trim_start_matches('[').trim_end_matches(']');
    Ok(Some(StoreAddr {
        host: host.to_string(),
        port,
    }))
}

fn store_timeout(get: &dyn Fn(&str) -> Option<String>) -> Result<Duration> {
    match get("RLVR_STORE_TIMEOUT_S") {
        None => Ok(STORE_TIMEOUT),
        Some(v) => {
            let s: f64 = v.trim().parse().ok().filter(|s: &f64| s.is_finite() && *s > 0.0).with_context(|| {
                format!("environment variable RLVR_STORE_TIMEOUT_S={v:?} is not a positive number of seconds")
            })?;
            Ok(Duration::from_secs_f64(s))
        }
    }
}

/// The communicator of this process: MPI when an MPI launcher started several ranks, the TCP
/// store under a torchrun-style launch (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT), else
/// `Single`. `nproc` is what `--nproc` asked for (checked against the launcher's world size).
pub fn init(nproc: Option<usize>) -> Result<Box<dyn Comm>> {
    init_with(&|k| std::env::var(k).ok(), nproc)
}

/// `init` with the environment given by `get`.
pub fn init_with(
    get: &dyn Fn(&str) -> Option<String>,
    nproc: Option<usize>,
) -> Result<Box<dyn Comm>> {
    let env = from_vars(get)?;
    let world = env.as_ref().map_or(1, |e| e.world);
    if let Some(n) = nproc {
        if env.is_some() && n != world {
            bail!("--nproc {n}, but the launcher started {world} ranks");
        }
    }
    let Some(env) = env.filter(|e| e.world > 1) else {
        return Ok(Box::new(Single));
    };
    if env.mpi {
        return init_mpi(&env);
    }
    let Some(addr) = store_addr(get)? else {
        bail!(
            "{} says rank {} of {}, but neither an MPI launcher nor MASTER_ADDR and MASTER_PORT \
             (torchrun's rendezvous) are present: start the ranks with torchrun, mpirun or srun \
             (see README, Data parallel)",
            env.source,
            env.rank,
            env.world
        );
    };
    let comm = TcpComm::connect(&addr, env.rank, env.world, store_timeout(get)?)?;
    Ok(Box::new(comm))
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

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn the_store_address_follows_torchrun() {
        assert_eq!(store_addr(&vars(&[("MASTER_ADDR", "h")])).unwrap(), None);
        let a = store_addr(&vars(&[("MASTER_ADDR", "node1"), ("MASTER_PORT", "29500")]))
            .unwrap()
            .unwrap();
        assert_eq!((a.host.as_str(), a.port), ("node1", 29500));
        let v6 = vars(&[("MASTER_ADDR", "[::1]"), ("MASTER_PORT", "29500")]);
        assert_eq!(store_addr(&v6).unwrap().unwrap().host, "::1");
        // torchrun's agent holds MASTER_PORT itself: take the next one.
        let agent = vars(&[
            ("MASTER_ADDR", "node1"),
            ("MASTER_PORT", "29500"),
            ("TORCHELASTIC_USE_AGENT_STORE", "True"),
        ]);
        assert_eq!(store_addr(&agent).unwrap().unwrap().port, 29501);
        let over = vars(&[
            ("MASTER_ADDR", "node1"),
            ("MASTER_PORT", "29500"),
            ("TORCHELASTIC_USE_AGENT_STORE", "True"),
            ("RLVR_STORE_PORT", "40000"),
        ]);
        assert_eq!(store_addr(&over).unwrap().unwrap().port, 40000);
        let bad = vars(&[("MASTER_ADDR", "h"), ("MASTER_PORT", "http")]);
        assert!(format!("{:#}", store_addr(&bad).unwrap_err()).contains("MASTER_PORT"));
        let t = vars(&[("RLVR_STORE_TIMEOUT_S", "2.5")]);
        assert_eq!(store_timeout(&t).unwrap(), Duration::from_millis(2500));
        assert!(store_timeout(&vars(&[("RLVR_STORE_TIMEOUT_S", "-1")])).is_err());
    }

    #[test]
    fn torchrun_variables_without_a_rendezvous_are_refused() {
        let err = init_with(&vars(&[("RANK", "0"), ("WORLD_SIZE", "2")]), None)
            .err()
            .unwrap();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("MASTER_ADDR") && msg.contains("torchrun"),
            "{msg}"
        );
        // One rank needs nothing.
        let one = init_with(&vars(&[("RANK", "0"), ("WORLD_SIZE", "1")]), None).unwrap();
        assert_eq!(one.world_size(), 1);
        assert!(init_with(&vars(&[("RANK", "0"), ("WORLD_SIZE", "1")]), Some(2)).is_err());
    }

    #[test]
    fn torchrun_variables_with_a_rendezvous_give_tcp_ranks() {
        let port = crate::dist::store::tests::free_port().to_string();
        let out: Vec<(usize, usize, String, Vec<Vec<u8>>)> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..2)
                .map(|r| {
                    let port = port.clone();
                    s.spawn(move || {
                        let rank = r.to_string();
                        let get = vars(&[
                            ("RANK", &rank),
                            ("WORLD_SIZE", "2"),
                            ("LOCAL_RANK", &rank),
                            ("MASTER_ADDR", "127.0.0.1"),
                            ("MASTER_PORT", &port),
                            ("RLVR_STORE_TIMEOUT_S", "30"),
                        ]);
                        let c = init_with(&get, Some(2)).unwrap();
                        let got = c.all_gather_bytes(&[r as u8]).unwrap();
                        (c.rank(), c.world_size(), c.describe(), got)
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (r, (rank, world, describe, got)) in out.into_iter().enumerate() {
            assert_eq!((rank, world), (r, 2));
            assert!(describe.starts_with("TCP rank"), "{describe}");
            assert_eq!(got, vec![vec![0], vec![1]]);
        }
    }
}
