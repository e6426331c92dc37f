//! SFT with each step on the emulated device (`rlvr sft --device emu`): it tracks the CPU run
//! within bf16 tolerance and lowers the loss, and two ranks (threads, each with its own device)
//! give the weights, losses and log of one device process with two shards, byte for byte.
mod emu_common;
mod tiny_task;

use rlvr::dist::{Comm, ThreadComm};
use rlvr::rl::dp::{DataParallel, ZeroStage};
use rlvr::rl::sft::{sft, sft_on, SftConfig};
use std::path::Path;

fn setup(dir: &Path) -> SftConfig {
    tiny_task::sft_config(dir, 4)
}

fn log_losses(path: &Path) -> Vec<f64> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["loss"].as_f64().unwrap()
        })
        .collect()
}

/// The CLI on the emulator against the library on the CPU: same batches, the loss within bf16
/// rounding of the CPU's, falling over the steps; the model written from the device's masters.
#[test]
fn emu_sft_tracks_the_cpu_run() {
    if !emu_common::emu_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut cpu = setup(dir.path());
    cpu.output = dir.path().join("cpu");
    std::fs::create_dir_all(&cpu.output).unwrap();
    let cpu_losses = sft(&cpu, None).unwrap();
    let out = dir.path().join("emu");
    let text = emu_common::rlvr_cmd(&[
        "sft",
        "--device",
        "emu",
        "--model",
        cpu.model.to_str().unwrap(),
        "--data",
        cpu.data[0].to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--steps",
        "4",
        "--batch-size",
        "5",
        "--lr",
        "3e-3",
        "--weight-decay",
        "0.01",
        "--seed",
        "7",
        "--max-tokens",
        "128",
    ]);
    assert!(text.contains("\"steps\":4"), "{text}");
    let emu_losses = log_losses(&out.join("sft_log.jsonl"));
    assert_eq!(emu_losses.len(), 4, "{text}");
    eprintln!("emu losses {emu_losses:?}\ncpu losses {cpu_losses:?}");
    let rel = |a: f64, b: f64| (a - b).abs() / b.abs();
    assert!(
        rel(emu_losses[0], cpu_losses[0]) < 5e-2,
        "first loss: emu {emu_losses:?}, cpu {cpu_losses:?}"
    );
    for (e, c) in emu_losses.iter().zip(&cpu_losses) {
        assert!(rel(*e, *c) < 0.1, "emu {emu_losses:?}, cpu {cpu_losses:?}");
    }
    assert!(
        emu_losses[3] < emu_losses[0],
        "the loss did not fall: {emu_losses:?}"
    );
    let init = std::fs::read(cpu.model.join("model.safetensors")).unwrap();
    let trained = std::fs::read(out.join("model.safetensors")).unwrap();
    assert!(trained != init, "the device run did not change the weights");
    assert!(out.join("tokenizer.json").exists());
}

/// Losses, the log and the weights of a finished SFT run.
fn outcome(cfg: &SftConfig, losses: &[f64]) -> (Vec<u64>, String, Vec<u8>) {
    (
        losses.iter().map(|l| l.to_bits()).collect(),
        std::fs::read_to_string(cfg.output.join("sft_log.jsonl")).unwrap(),
        std::fs::read(cfg.output.join("model.safetensors")).unwrap(),
    )
}

/// Two ranks, each with its own emulated device (and its own thread order), exchanging gradient
/// shards through the staged device collectives, write what one device process with two shards
/// writes; with ZeRO-1 (each rank keeping half the masters and moments) as well, and with
/// activation checkpointing.
#[test]
fn device_thread_ranks_match_one_device_process() {
    let Some(dev) = emu_common::emu_or_skip(0) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut base = setup(dir.path());
    base.steps = 2;
    let mut one = base.clone();
    one.output = dir.path().join("one");
    std::fs::create_dir_all(&one.output).unwrap();
    let dp = DataParallel {
        shards: 2,
        ..DataParallel::single()
    };
    let log = one.output.join("sft_log.jsonl");
    let losses = sft_on(&one, Some(&log), &dp, Some(&dev)).unwrap();
    let reference = outcome(&one, &losses);
    assert_eq!(reference.0.len(), 2);
    // Recomputing each layer in the backward changes nothing.
    let mut ckpt = one.clone();
    ckpt.activation_checkpointing = true;
    ckpt.output = dir.path().join("one-ckpt");
    std::fs::create_dir_all(&ckpt.output).unwrap();
    let log = ckpt.output.join("sft_log.jsonl");
    let losses = sft_on(&ckpt, Some(&log), &dp, Some(&dev)).unwrap();
    assert!(
        outcome(&ckpt, &losses) == reference,
        "activation checkpointing changed the run"
    );
    for zero in [ZeroStage::Off, ZeroStage::One] {
        let mut two = base.clone();
        two.output = dir.path().join(format!("two-zero{zero}"));
        std::fs::create_dir_all(&two.output).unwrap();
        let log = two.output.join("sft_log.jsonl");
        let out = ThreadComm::run(2, |c| {
            let dev = emu_common::emu_or_skip(c.rank() as u64 + 1).unwrap();
            sft_on(&two, Some(&log), &DataParallel::new(c, 0, zero), Some(&dev))
        });
        let losses: Vec<Vec<f64>> = out.into_iter().map(|r| r.unwrap()).collect();
        assert_eq!(losses[0], losses[1], "zero={zero}");
        let got = outcome(&two, &losses[0]);
        assert_eq!(got.0, reference.0, "zero={zero}: losses differ");
        assert_eq!(got.1, reference.1, "zero={zero}: logs differ");
        assert!(got.2 == reference.2, "zero={zero}: weights differ");
    }
}
