//! `rlvr profile` end to end: one decode step of SmolLM2-135M at its real layer shapes on the
//! emulator with counters, as JSON.
mod emu_common;

use serde_json::Value;

#[test]
fn decode_step_profile_reports_every_kernel_with_its_estimate() {
    if !emu_common::emu_available() {
        return;
    }
    let out = emu_common::rlvr_cmd(&[
        "profile",
        "--shape",
        "smollm2-135m",
        "--step",
        "decode",
        "--batch",
        "2",
        "--seq-len",
        "16",
        "--max-blocks",
        "8",
        "--json",
    ]);
    let json = &out[out.find('{').expect("JSON object")..];
    let v: Value = serde_json::Deserializer::from_str(json)
        .into_iter::<Value>()
        .next()
        .expect("one value")
        .expect("valid JSON");
    assert_eq!(v["model"], "SmolLM2-135M");
    assert_eq!(v["tokens"], 2);
    let kernels = v["kernels"].as_array().expect("kernels");
    let launches: u64 = kernels
        .iter()
        .map(|k| k["launches"].as_u64().unwrap())
        .sum();
    assert_eq!(launches, v["launches"].as_u64().unwrap());
    // 30 layers: at least the q/k/v, o, gate/up and down products and the attention per layer.
    assert!(launches > 30 * 5, "{launches} launches");
    let shares: f64 = kernels.iter().map(|k| k["share"].as_f64().unwrap()).sum();
    assert!((shares - 1.0).abs() < 1e-9, "shares sum to {shares}");
    for k in kernels {
        for field in [
            "tc_flop_share",
            "global_sector_efficiency",
            "global_bytes_over_compulsory",
            "smem_wavefronts_per_request",
            "launches",
            "sass",
            "est_h100_us",
            "est_bound",
        ] {
            assert!(k.get(field).is_some(), "{}: no {field}", k["name"]);
        }
        assert!(k["est_h100_us"].as_f64().unwrap() > 0.0);
        let e = k["global_sector_efficiency"].as_f64().unwrap_or(1.0);
        assert!(e > 0.0 && e <= 1.0, "{}: sector efficiency {e}", k["name"]);
    }
    // Every GEMM has 2 rows, computed in 64- or 128-row tiles: the tensor cores do many times
    // the product's FLOPs (what a small-batch GEMV would save).
    let gemm_shares: Vec<f64> = kernels
        .iter()
        .filter(|k| {
            k["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("gemm_bf16_"))
        })
        .filter_map(|k| k["tc_flop_share"].as_f64())
        .collect();
    assert!(
        gemm_shares.iter().any(|&s| s >= 32.0),
        "GEMM tensor-core shares {gemm_shares:?}"
    );
    // Decode attention runs on FP32 FMAs today; its share is known and reported.
    let attn = kernels
        .iter()
        .find(|k| k["name"] == "attn_decode_split_bf16" || k["name"] == "attn_decode_bf16")
        .expect("decode attention");
    assert!(attn["tc_flop_share"].as_f64().is_some());
    let mfu = v["mfu_h100"].as_f64().unwrap();
    assert!(mfu > 0.0 && mfu < 1.0, "MFU {mfu}");
    assert!(v["est_a100_us"].as_f64().unwrap() > v["est_h100_us"].as_f64().unwrap());
}
