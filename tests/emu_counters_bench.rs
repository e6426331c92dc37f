//! `rlvr bench kernels --device emu --counters`: every timed entry carries its counted efficiency
//! against the entry's own FLOP and byte counts.
mod emu_common;

use serde_json::Value;

fn bench_json(filter: &str) -> Value {
    let out = emu_common::rlvr_cmd(&[
        "bench",
        "kernels",
        "--device",
        "emu",
        "--counters",
        "--json",
        "--filter",
        filter,
    ]);
    let json = &out[out.find('{').expect("JSON object")..];
    serde_json::Deserializer::from_str(json)
        .into_iter::<Value>()
        .next()
        .expect("one value")
        .expect("valid JSON")
}

#[test]
fn gemm_entries_count_their_tensor_core_share() {
    if !emu_common::emu_available() {
        return;
    }
    let v = bench_json("gemm");
    let records = v["records"].as_array().expect("records");
    let gemms: Vec<&Value> = records.iter().filter(|r| r["group"] == "gemm").collect();
    assert!(!gemms.is_empty());
    for r in gemms {
        let e = &r["efficiency"];
        let kernel = e["kernels"][0].as_str().unwrap_or_default();
        assert!(kernel.starts_with("gemm_bf16_"), "{}: {kernel}", r["shape"]);
        // one launch, two where rung 4 splits K (the split products, then their sum)
        let launches = e["launches"].as_u64().unwrap_or(0);
        assert!((1..=2).contains(&launches), "{}: {launches}", r["shape"]);
        // Every FLOP of the product runs on the tensor cores; partial tiles add padded ones.
        let share = e["tc_flop_share"]
            .as_f64()
            .expect("a GEMM has matrix FLOPs");
        assert!(share >= 1.0, "{}: tc share {share}", r["shape"]);
        let eff = e["global_sector_efficiency"]
            .as_f64()
            .expect("global loads");
        assert!(
            eff > 0.0 && eff <= 1.0,
            "{}: sector efficiency {eff}",
            r["shape"]
        );
        assert!(e["est_h100_us"].as_f64().unwrap() > 0.0);
        assert!(e["est_bound"].is_string());
    }
}

#[test]
fn memory_entries_compare_their_traffic_with_compulsory_bytes() {
    if !emu_common::emu_available() {
        return;
    }
    let v = bench_json("rmsnorm");
    let records = v["records"].as_array().expect("records");
    let norms: Vec<&Value> = records
        .iter()
        .filter(|r| r["kernel"].as_str().is_some_and(|k| k.contains("rmsnorm")))
        .collect();
    assert!(!norms.is_empty());
    for r in norms {
        let e = &r["efficiency"];
        // No matrix product: no tensor-core share to report.
        assert!(e["tc_flop_share"].is_null(), "{}", r["kernel"]);
        let over = e["global_bytes_over_compulsory"]
            .as_f64()
            .expect("bytes known");
        assert!(over > 0.0, "{}: {over}", r["kernel"]);
        if r["kernel"] == "rmsnorm_fwd_bf16" {
            // Reading each input and writing each output once moves at least the compulsory
            // bytes (whole 32-byte sectors, so a little more at tiny shapes).
            assert!(over >= 0.99, "forward: {over}");
        }
    }
    // The baseline copy is timed without a kernel: nothing counted, no efficiency.
    let copy = records
        .iter()
        .find(|r| r["kernel"] == "memcpy_dtod")
        .expect("the copy baseline");
    assert!(copy.get("efficiency").is_none());
}

#[test]
fn counters_need_the_emulator() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rlvr"))
        .args(["bench", "kernels", "--device", "cuda", "--counters"])
        .output()
        .expect("run rlvr");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--counters needs --device emu"), "{err}");
}
