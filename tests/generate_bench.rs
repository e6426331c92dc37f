//! `rlvr bench generate` on a tiny model: the JSON report has one consistent row per batch size.
#[path = "eval_common/mod.rs"]
mod eval_common;
use eval_common::*;

#[test]
fn bench_generate_reports_each_batch() {
    let dir = tempfile::tempdir().unwrap();
    let m = tiny_model(&dir.path().join("m"), 4);
    let m = m.to_string_lossy().into_owned();
    let out = rlvr(&[
        "bench",
        "generate",
        "--model",
        &m,
        "--batch",
        "1,3",
        "--tokens",
        "2",
        "--context",
        "4",
        "--memcpy-mib",
        "4",
        "--json",
    ]);
    ok(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["memcpy_gbps"].as_f64().unwrap() > 0.0);
    let rows = v["results"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for (r, b) in rows.iter().zip([1.0, 3.0]) {
        assert_eq!(r["batch"].as_f64().unwrap(), b);
        let step_s = r["step_ms"].as_f64().unwrap() / 1e3;
        let tps = r["tokens_per_s"].as_f64().unwrap();
        assert!((tps * step_s - b).abs() < 1e-6 * b.max(tps * step_s));
        assert!(r["bytes_per_step"].as_f64().unwrap() > r["kv_bytes_per_step"].as_f64().unwrap());
    }
    let bad = rlvr(&["bench", "generate", "--model", &m, "--synthetic-135m"]);
    assert!(!bad.status.success());
}
