//! `rlvr selftest` as a command: exit codes and output on the emulator and without a GPU.
use std::process::Command;

fn rlvr(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rlvr"))
        .args(args)
        .output()
        .expect("run rlvr");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn selftest_on_the_emulator_prints_a_passing_table() {
    if !rlvr::backend::emu::emu_built() && std::env::var("REQUIRE_NVCC").as_deref() != Ok("1") {
        eprintln!("skipped: the emulator was not built");
        return;
    }
    let (code, text) = rlvr(&[
        "selftest", "--device", "emu", "--seed", "7", "--filter", "rmsnorm",
    ]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("rmsnorm_bwd_bf16 dw") && text.contains("PASS") && !text.contains("FAIL"),
        "{text}"
    );
    let (code, text) = rlvr(&["selftest", "--device", "emu", "--filter", "no_such_kernel"]);
    assert_ne!(code, 0, "{text}");
}

#[test]
fn selftest_on_cuda_without_a_gpu_needs_allow_no_gpu() {
    if rlvr::backend::cuda::detect::cuda_available().is_ok() {
        eprintln!("skipped: this machine has a GPU");
        return;
    }
    let (code, text) = rlvr(&["selftest", "--device", "cuda"]);
    assert_ne!(code, 0, "{text}");
    assert!(text.contains("no GPU here"), "{text}");
    let (code, text) = rlvr(&["selftest", "--device", "cuda", "--allow-no-gpu"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("skipped"), "{text}");
}

#[test]
fn report_lists_the_build() {
    let (code, text) = rlvr(&["selftest", "--report"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("kernels compiled by nvcc"), "{text}");
    if rlvr::backend::cuda::kernels::KERNELS_COMPILED {
        assert!(
            text.contains("gemm_bf16_mma_kc") && text.contains("sm_90a"),
            "{text}"
        );
    }
}
