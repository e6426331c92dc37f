//! Data-parallel SFT with ranks as threads (no MPI needed): two ranks produce exactly the
//! weights and losses of one process with the same `dp_shards`, with and without ZeRO-1.
//! `tests/dist_mpi.rs` runs `rlvr sft` the same way over MPI.
mod tiny_task;
use rlvr::dist::ThreadComm;
use rlvr::rl::dp::{DataParallel, ZeroStage};
use rlvr::rl::sft::{sft, sft_with, SftConfig};
use std::path::Path;

fn setup(dir: &Path) -> SftConfig {
    tiny_task::sft_config(dir, 3)
}

/// Losses, the log and the weights of a finished SFT run.
fn outcome(cfg: &SftConfig, losses: &[f64]) -> (Vec<u64>, String, Vec<u8>) {
    (
        losses.iter().map(|l| l.to_bits()).collect(),
        std::fs::read_to_string(cfg.output.join("sft_log.jsonl")).unwrap(),
        std::fs::read(cfg.output.join("model.safetensors")).unwrap(),
    )
}

fn run_one(cfg: &SftConfig, shards: usize) -> (Vec<u64>, String, Vec<u8>) {
    std::fs::create_dir_all(&cfg.output).unwrap();
    let dp = DataParallel {
        shards,
        ..DataParallel::single()
    };
    let losses = sft_with(cfg, Some(&cfg.output.join("sft_log.jsonl")), &dp).unwrap();
    outcome(cfg, &losses)
}

#[test]
fn thread_ranks_match_one_process_with_the_same_shards() {
    let dir = tempfile::tempdir().unwrap();
    let base = setup(dir.path());
    let mut one = base.clone();
    one.output = dir.path().join("one");
    let reference = run_one(&one, 2);
    assert_eq!(reference.0.len(), 3);
    assert!(reference.1.lines().count() == 3, "{}", reference.1);
    for zero in [ZeroStage::Off, ZeroStage::One] {
        let mut two = base.clone();
        two.output = dir.path().join(format!("two-zero{zero}"));
        std::fs::create_dir_all(&two.output).unwrap();
        let log = two.output.join("sft_log.jsonl");
        let out = ThreadComm::run(2, |c| {
            sft_with(&two, Some(&log), &DataParallel::new(c, 0, zero))
        });
        let losses: Vec<Vec<f64>> = out.into_iter().map(|r| r.unwrap()).collect();
        // Every rank reports the whole batch's losses.
        assert_eq!(losses[0], losses[1], "zero={zero}");
        let got = outcome(&two, &losses[0]);
        assert_eq!(got.0, reference.0, "zero={zero}: losses differ");
        assert_eq!(got.1, reference.1, "zero={zero}: logs differ");
        assert!(got.2 == reference.2, "zero={zero}: weights differ");
    }
    // The unsharded default is still the one-process path, and training moved the weights.
    let mut plain = base.clone();
    plain.output = dir.path().join("plain");
    std::fs::create_dir_all(&plain.output).unwrap();
    let losses = sft(&plain, None).unwrap();
    assert_eq!(losses.len(), 3);
    let init = std::fs::read(base.model.join("model.safetensors")).unwrap();
    assert!(reference.2 != init, "the weights did not change");
}

/// `rlvr sft`'s data-parallel flags fail clearly before doing any work.
#[test]
fn sft_launch_problems_are_clear_errors() {
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_rlvr"))
            .args(["sft", "--model", "m", "--data", "d.jsonl", "--output"])
            .arg(std::env::temp_dir().join("rlvr-sft-never-written"))
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let e = run(&["--nproc", "0"]);
    assert!(e.contains("--nproc must be at least 1"), "{e}");
    let e = run(&["--zero", "2"]);
    assert!(
        e.contains("--zero") && e.contains("[possible values: 0, 1]"),
        "{e}"
    );
    let e = run(&["--nccl"]);
    assert!(e.contains("--nccl") && e.contains("--device cuda"), "{e}");
    if !cfg!(feature = "mpi") {
        let e = run(&["--nproc", "2"]);
        assert!(e.contains("--features mpi"), "{e}");
    }
}
