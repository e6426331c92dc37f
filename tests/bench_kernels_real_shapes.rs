//! `rlvr bench kernels --device emu --shapes real --counters`: the entries counted at the GPU
//! run's training shapes, untimed, under the keys (group, kernel, rung, shape) the GPU run gives
//! them, which is what scripts/calibrate.py joins the estimate and the measurement on.
mod emu_common;

use rlvr::backend::emu::EmuDevice;
use rlvr::bench::kernels::gemm;
use rlvr::bench::kernels::shapes::Plan;
use rlvr::bench::kernels::timing::{Backend, Bencher, RepeatPolicy};
use rlvr::bench::kernels::{Roofs, RungFilter};
use serde_json::Value;
use std::process::Command;

type Key = (String, String, Option<u64>, String);

fn real_counted(args: &[&str]) -> Vec<Value> {
    let mut all = vec![
        "bench",
        "kernels",
        "--device",
        "emu",
        "--shapes",
        "real",
        "--counters",
        "--json",
    ];
    all.extend_from_slice(args);
    let out = emu_common::rlvr_cmd(&all);
    let json = &out[out.find('{').expect("JSON object")..];
    let v: Value = serde_json::Deserializer::from_str(json)
        .into_iter::<Value>()
        .next()
        .expect("one value")
        .expect("valid JSON");
    v["records"].as_array().expect("records").clone()
}

fn key(r: &Value) -> Key {
    (
        r["group"].as_str().unwrap_or_default().to_string(),
        r["kernel"].as_str().unwrap_or_default().to_string(),
        r["rung"].as_u64(),
        r["shape"].as_str().unwrap_or_default().to_string(),
    )
}

/// Every non-baseline record is counted at a positive estimate and carries no time.
fn assert_counted_untimed(records: &[Value]) {
    for r in records.iter().filter(|r| r["group"] != "baseline") {
        assert!(r["median_ms"].is_null(), "{r}");
        assert_eq!(r["repeats"], 0, "{r}");
        let est = r["efficiency"]["est_h100_us"].as_f64().unwrap_or(0.0);
        assert!(est > 0.0, "{}: est {est}", key(r).3);
    }
}

#[test]
fn rmsnorm_entries_are_counted_at_the_gpu_plans_keys() {
    if !emu_common::emu_available() {
        return;
    }
    let records = real_counted(&["--filter", "rmsnorm"]);
    assert_counted_untimed(&records);
    // [8192, hidden] is far more blocks than a launch runs when counted
    for r in records.iter().filter(|r| r["group"] == "norm") {
        assert_eq!(r["efficiency"]["sampled"], true, "{r}");
    }
    let plan = Plan::gpu(32768);
    let mut want: Vec<Key> = vec![(
        "baseline".into(),
        "memcpy_dtod".into(),
        None,
        format!("{} MiB", plan.copy_bytes >> 20),
    )];
    for m in &plan.models {
        let shape = format!("{} [{}, {}]", m.short, plan.tokens, m.hidden);
        // Both rungs of each (every hidden size of the plan is a multiple of 8).
        for k in ["rmsnorm_fwd_bf16", "rmsnorm_bwd_bf16"] {
            for rung in [1, 2] {
                want.push(("norm".into(), k.into(), Some(rung), shape.clone()));
            }
        }
    }
    let got: Vec<Key> = records.iter().map(key).collect();
    assert_eq!(got, want);
}

/// The square GEMMs of the GPU plan (its per-model cases take a second or two each here, so the
/// plan keeps none of its models' layers), counted through the library as the CLI does.
#[test]
fn gemm_entries_are_counted_at_the_gpu_plans_keys() {
    if !emu_common::emu_available() {
        return;
    }
    let emu = EmuDevice::with_lazy_memory(0).expect("the emulator is built");
    let policy = RepeatPolicy {
        warmup: 0,
        max_repeats: 0,
        budget_s: 1.0,
    };
    let mut b = Bencher::new(Backend::Emu(&emu), policy, Some("gemm_bf16".into()), 0).unwrap();
    b.rungs = RungFilter::parse(&["gemm:4".to_string()]).unwrap();
    b.count_only(64);
    let gpu = Plan::gpu(32768);
    let plan = Plan {
        models: Vec::new(),
        ..gpu.clone()
    };
    let roofs = Roofs {
        bandwidth_gbps: None,
        peak_tflops: None,
        cublas: None,
        topp_sort_ms: None,
    };
    let mut out = Vec::new();
    gemm::run(&mut b, &plan, &roofs, &mut out).unwrap();
    let records: Vec<Value> = out
        .iter()
        .map(|r| serde_json::to_value(r).unwrap())
        .collect();
    assert_counted_untimed(&records);
    let got: Vec<Key> = records.iter().map(key).collect();
    let square = format!("{0}x{0}x{0}", gpu.square_gemm);
    let want: Vec<Key> = gemm::case_labels(&gpu)
        .into_iter()
        .filter(|s| s.starts_with(&square))
        .map(|s| ("gemm".into(), "gemm_bf16".into(), Some(4), s))
        .collect();
    assert_eq!(want.len(), 3);
    assert_eq!(got[..3], want[..]);
    // Every FLOP of the product on tensor cores, counted from a sample of its 1024 tiles.
    for r in &records[..3] {
        let e = &r["efficiency"];
        assert!(e["tc_flop_share"].as_f64().unwrap_or(0.0) >= 1.0, "{r}");
        assert_eq!(e["sampled"], true, "{r}");
    }
}

#[test]
fn real_shapes_need_the_counters_and_tiny_shapes_the_emulator() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_rlvr"))
            .args(["bench", "kernels"])
            .args(args)
            .output()
            .expect("run rlvr");
        assert!(!out.status.success(), "{args:?} should fail");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let e = run(&["--device", "emu", "--shapes", "real"]);
    assert!(e.contains("needs --counters"), "{e}");
    let e = run(&["--device", "cuda", "--shapes", "tiny", "--allow-no-gpu"]);
    assert!(e.contains("--shapes tiny is for --device emu"), "{e}");
}
