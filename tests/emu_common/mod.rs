//! What the emulator tests share: the emulated device (or a skip message when the binary was
//! built without it; with REQUIRE_NVCC=1 a missing emulator is a failure, not a skip) and running
//! the `rlvr` binary.
#![allow(dead_code)]
use rlvr::backend::emu::EmuDevice;
use std::process::Command;

/// Whether the emulator is available; prints why the test is skipped when it is not.
pub fn emu_available() -> bool {
    if !rlvr::backend::emu::emu_built() && std::env::var("REQUIRE_NVCC").as_deref() != Ok("1") {
        eprintln!("skipped: the emulator was not built (run scripts/setup-cuda.sh)");
        return false;
    }
    true
}

/// The emulated device with block/thread order `seed`, or `None` (test skipped).
pub fn emu_or_skip(seed: u64) -> Option<EmuDevice> {
    emu_available().then(|| EmuDevice::new(seed).expect("the emulator is built"))
}

/// Runs `rlvr ARGS`, asserts success, and returns stdout followed by stderr.
pub fn rlvr_cmd(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_rlvr"))
        .args(args)
        .output()
        .expect("run rlvr");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "rlvr {args:?}: {text}");
    text
}

/// Runs `rlvr ARGS` and returns (exit code, stdout, stderr), for tests of failures.
pub fn rlvr_run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rlvr"))
        .args(args)
        .output()
        .expect("run rlvr");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
