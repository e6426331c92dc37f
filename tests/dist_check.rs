//! `rlvr dist-check` on the emulator: one process, and two processes started torchrun-style
//! (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT; no MPI), which meet through the TCP
//! store and exchange device buffers staged through it.
mod emu_common;

use emu_common::{emu_available, rlvr_cmd};
use std::process::{Command, Stdio};

/// Launcher variables of the environment this test runs in, which would confuse the ranks.
const LAUNCHER_VARS: &[&str] = &[
    "OMPI_COMM_WORLD_RANK",
    "OMPI_COMM_WORLD_SIZE",
    "OMPI_COMM_WORLD_LOCAL_RANK",
    "PMI_RANK",
    "PMI_SIZE",
    "PMIX_RANK",
    "SLURM_STEP_NUM_TASKS",
    "SLURM_LOCALID",
    "RANK",
    "WORLD_SIZE",
    "LOCAL_RANK",
    "MASTER_ADDR",
    "MASTER_PORT",
    "TORCHELASTIC_USE_AGENT_STORE",
    "RLVR_STORE_PORT",
];

#[test]
fn one_rank_exchanges_with_itself() {
    if !emu_available() {
        return;
    }
    let out = rlvr_cmd(&["dist-check", "--device", "emu", "--floats", "33"]);
    assert!(
        out.contains("single process, staged through the host: exchange ok (33 floats)"),
        "{out}"
    );
    // --nccl off a GPU takes the staged path too.
    let out = rlvr_cmd(&["dist-check", "--device", "emu", "--nccl", "--repeats", "0"]);
    assert!(out.contains("exchange ok (4096 floats)"), "{out}");
}

#[test]
fn the_cpu_device_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_rlvr"))
        .args(["dist-check", "--device", "cpu"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--device cuda or --device emu"), "{err}");
}

#[test]
fn two_torchrun_style_ranks_meet_over_tcp() {
    if !emu_available() {
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port()
        .to_string();
    let ranks: Vec<_> = (0..2)
        .map(|r| {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_rlvr"));
            for v in LAUNCHER_VARS {
                cmd.env_remove(v);
            }
            cmd.args(["dist-check", "--device", "emu", "--floats", "50"])
                .env("RANK", r.to_string())
                .env("LOCAL_RANK", r.to_string())
                .env("WORLD_SIZE", "2")
                .env("MASTER_ADDR", "127.0.0.1")
                .env("MASTER_PORT", &port)
                .env("RLVR_STORE_TIMEOUT_S", "60")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (r, child) in ranks.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "rank {r}: {text}");
        let want = format!("TCP rank {r} of 2 (store at ");
        assert!(text.contains(&want), "rank {r}: {text}");
        assert!(
            text.contains("exchange ok (100 floats)"),
            "rank {r}: {text}"
        );
    }
}

#[test]
fn a_lone_rank_without_its_peer_fails_clearly() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port()
        .to_string();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rlvr"));
    for v in LAUNCHER_VARS {
        cmd.env_remove(v);
    }
    let out = cmd
        .args(["dist-check", "--device", "emu"])
        .env("RANK", "1")
        .env("WORLD_SIZE", "2")
        .env("MASTER_ADDR", "127.0.0.1")
        .env("MASTER_PORT", &port)
        .env("RLVR_STORE_TIMEOUT_S", "0.5")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("127.0.0.1:{port}")) && err.contains("MASTER_ADDR"),
        "{err}"
    );
}
