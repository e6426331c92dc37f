//! The data-parallel trainer with ranks as threads (no MPI needed): two ranks produce exactly
//! the weights, optimizer state and metrics of one process with the same `dp_shards`, with and
//! without ZeRO-1, on the CPU and (with the policy update on the emulated device) on a kernel
//! device. `tests/dist_mpi.rs` runs the same path over MPI.
mod emu_common;
mod tiny_task;

use rlvr::dist::{Comm, ThreadComm};
use rlvr::rl::dp::ZeroStage::{Off, One};
use rlvr::rl::trainer::{train, train_with};
use rlvr::rl::ObjectiveKind::{Grpo, Nsr, Psr};
use rlvr::rl::PsrNsrMode::{Filter, Mask};
use rlvr::rl::TrainConfig;
use std::path::Path;

fn setup(dir: &Path) -> TrainConfig {
    TrainConfig {
        val_data: vec![dir.join("train.jsonl")],
        val_every: 1,
        val_max_problems: 5,
        max_tokens_per_micro_batch: 40,
        ..tiny_task::rl_config(dir)
    }
}

#[test]
fn thread_ranks_match_one_process() {
    for (objective, mode, zero) in [(Psr, Filter, Off), (Grpo, Filter, One)] {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = setup(dir.path());
        cfg.objective = objective;
        cfg.psr_nsr_mode = mode;
        cfg.zero = zero;
        let mut one = cfg.clone();
        one.output = dir.path().join("one");
        one.dp_shards = 2;
        train(&one, false, false).unwrap();
        let mut two = cfg.clone();
        two.output = dir.path().join("two");
        let out = ThreadComm::run(2, |c| {
            train_with(&two, false, false, c, None).map(|s| s.steps_run)
        });
        for o in out {
            assert_eq!(o.unwrap(), 2);
        }
        let what = format!("{objective} zero={zero}");
        let m = tiny_task::metrics(&two.output);
        assert!(m[0].get("val//accuracy").is_some(), "{what}: {m:?}");
        assert!(
            tiny_task::step_lines(&m).all(|l| l["actor/optimizer_steps"].as_u64() >= Some(1)),
            "{what}: no update ran: {m:?}"
        );
        assert_eq!(
            tiny_task::metrics(&one.output),
            tiny_task::metrics(&two.output),
            "{what}"
        );
        for f in ["model.safetensors", "optimizer.safetensors"] {
            let a = std::fs::read(one.output.join("checkpoints/step-000002").join(f)).unwrap();
            let b = std::fs::read(two.output.join("checkpoints/step-000002").join(f)).unwrap();
            assert!(a == b, "{what}: {f} differs");
        }
    }
}

/// The device update (`--device emu`): two ranks, each with its own device, exchanging gradient
/// shards through the device collectives, give the checkpoints and metrics of one device process
/// with two shards, byte for byte; with ZeRO-1 (each rank keeping half the master weights and
/// moments on its device) as well.
#[test]
fn device_thread_ranks_match_one_device_process() {
    let Some(dev) = emu_common::emu_or_skip(0) else {
        return;
    };
    for (objective, mode, zero) in [(Nsr, Mask, Off), (Grpo, Filter, One)] {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = setup(dir.path());
        cfg.objective = objective;
        cfg.psr_nsr_mode = mode;
        cfg.zero = zero;
        // off a GPU, --nccl falls back to the staged transport: same run
        cfg.nccl = zero == One;
        cfg.steps = 1;
        // validation answers sampled on each rank's device, each rank its block of problems
        cfg.val_every = 1;
        let mut one = cfg.clone();
        one.output = dir.path().join("one");
        one.dp_shards = 2;
        train_with(&one, false, false, &rlvr::dist::Single, Some(&dev)).unwrap();
        let mut two = cfg.clone();
        two.output = dir.path().join("two");
        let out = ThreadComm::run(2, |c| {
            let dev = emu_common::emu_or_skip(c.rank() as u64 + 1).unwrap();
            train_with(&two, false, false, c, Some(&dev)).map(|s| s.steps_run)
        });
        for o in out {
            assert_eq!(o.unwrap(), 1);
        }
        let what = format!("device {objective} zero={zero}");
        let m = tiny_task::metrics(&two.output);
        assert!(m[0].get("val//accuracy").is_some(), "{what}: {m:?}");
        assert!(
            tiny_task::step_lines(&m).all(|l| l["actor/optimizer_steps"].as_u64() >= Some(1)),
            "{what}: no update ran: {m:?}"
        );
        assert_eq!(tiny_task::metrics(&one.output), m, "{what}");
        for f in ["model.safetensors", "optimizer.safetensors"] {
            let a = std::fs::read(one.output.join("checkpoints/step-000001").join(f)).unwrap();
            let b = std::fs::read(two.output.join("checkpoints/step-000001").join(f)).unwrap();
            assert!(a == b, "{what}: {f} differs");
        }
    }
}

/// `rlvr train` with a launcher's rank variables but no usable MPI fails before doing anything,
/// saying how to launch or build.
#[test]
fn launch_problems_are_clear_errors() {
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_rlvr"))
            .args(["train", "--model", "m", "--data", "d.jsonl", "--output"])
            .arg(std::env::temp_dir().join("rlvr-never-written"))
            .args(args)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} {env:?} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let e = run(&[], &[("RANK", "1"), ("WORLD_SIZE", "2")]);
    assert!(e.contains("mpirun or srun"), "{e}");
    let e = run(&["--nccl"], &[]);
    assert!(e.contains("--nccl") && e.contains("--device cuda"), "{e}");
    let e = run(&["--nproc", "0"], &[]);
    assert!(e.contains("--nproc must be at least 1"), "{e}");
    if !cfg!(feature = "mpi") {
        let e = run(&["--nproc", "2"], &[]);
        assert!(e.contains("--features mpi"), "{e}");
        let e = run(
            &[],
            &[("OMPI_COMM_WORLD_RANK", "0"), ("OMPI_COMM_WORLD_SIZE", "2")],
        );
        assert!(
            e.contains("rank 0 of 2") && e.contains("--features mpi"),
            "{e}"
        );
    }
}
