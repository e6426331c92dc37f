//! `rlvr bench generate --device`: the emulator's estimated decode step per batch size as JSON,
//! and `--device cuda` refusing clearly on a machine without a GPU.
mod emu_common;
use emu_common::rlvr_run;
use serde_json::Value;

#[test]
fn the_emulator_estimates_one_decode_step_per_batch_size() {
    if !emu_common::emu_available() {
        return;
    }
    let args = [
        "bench",
        "generate",
        "--device",
        "emu",
        "--synthetic-135m",
        "--batch",
        "1,4",
        "--context",
        "16",
        "--max-blocks",
        "8",
        "--json",
    ];
    let (code, out, err) = rlvr_run(&args);
    assert_eq!(code, 0, "{out}{err}");
    let v: Value = serde_json::from_str(&out).expect("the output is one JSON object");
    assert_eq!(v["device"], "emu");
    assert_eq!(v["estimate"], true);
    assert_eq!(v["layers"], 30);
    let results = v["results"].as_array().expect("results");
    let batches: Vec<u64> = results
        .iter()
        .map(|r| r["batch"].as_u64().unwrap())
        .collect();
    assert_eq!(batches, [1, 4]);
    for r in results {
        let ms = r["step_ms"].as_f64().unwrap();
        assert!(ms > 0.0, "{r}");
        let batch = r["batch"].as_f64().unwrap();
        let tps = r["tokens_per_s"].as_f64().unwrap();
        assert!((tps * ms / 1e3 / batch - 1.0).abs() < 1e-6, "{r}");
        let roof = r["roofline_fraction"].as_f64().unwrap();
        assert!(roof > 0.0 && roof <= 1.5, "roofline {roof}: {r}");
        // SmolLM2-135M's bf16 weights alone are about 269 MB.
        let must = r["must_read_bytes"].as_f64().unwrap();
        assert!((2.6e8..2.8e8).contains(&must), "{r}");
        assert!(r["label"].as_str().unwrap().contains("ESTIMATE"), "{r}");
    }
    // More sequences share the weights' read: the batch of 4 decodes more tokens per second.
    let tps = |i: usize| results[i]["tokens_per_s"].as_f64().unwrap();
    assert!(tps(1) > tps(0), "{results:?}");
}

#[test]
fn the_table_says_the_numbers_are_estimates() {
    if !emu_common::emu_available() {
        return;
    }
    let out = emu_common::rlvr_cmd(&[
        "bench",
        "generate",
        "--device",
        "emu",
        "--synthetic-135m",
        "--batch",
        "2",
        "--max-blocks",
        "8",
    ]);
    assert!(out.contains("ESTIMATE"), "{out}");
    assert!(out.contains("est ms"), "{out}");
}

#[test]
fn cuda_without_a_gpu_says_so_and_fails() {
    if rlvr::backend::cuda::detect::cuda_available().is_ok() {
        eprintln!("skipped: this machine has a GPU");
        return;
    }
    let (code, out, err) = rlvr_run(&[
        "bench",
        "generate",
        "--device",
        "cuda",
        "--synthetic-135m",
        "--batch",
        "1",
    ]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(err.contains("no GPU here"), "{out}{err}");
    assert!(err.contains("--device emu"), "{out}{err}");
}

#[test]
fn cpu_only_options_are_refused_on_the_device() {
    let (code, out, err) = rlvr_run(&[
        "bench",
        "generate",
        "--device",
        "emu",
        "--synthetic-135m",
        "--weights",
        "bf16",
    ]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(err.contains("--weights"), "{out}{err}");
}
