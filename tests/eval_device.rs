//! `rlvr eval --device emu`: the paper's evaluation with the sampling on our kernels (device KV
//! cache decode under the emulator): the same output format and labels as on the CPU, run.json
//! records the device, and a CPU run cannot resume it by accident.
mod emu_common;
mod eval_common;
use emu_common::emu_available;
use eval_common::*;

#[test]
fn eval_on_the_emulator_writes_graded_samples_and_records_the_device() {
    if !emu_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    tiny_model(&root.join("m"), 3);
    write_problems(&root.join("d.jsonl"), "q", 2);
    let p = |s: &str| root.join(s).to_string_lossy().into_owned();
    let (m, d, o) = (p("m"), p("d.jsonl"), p("out"));
    let args = |device: &'static str| {
        vec![
            "eval".to_string(),
            "--model".into(),
            m.clone(),
            "--data".into(),
            d.clone(),
            "--output".into(),
            o.clone(),
            "--n".into(),
            "2".into(),
            "--temperature".into(),
            "1.0".into(),
            "--max-tokens".into(),
            "6".into(),
            "--seed".into(),
            "5".into(),
            "--device".into(),
            device.into(),
        ]
    };
    let emu: Vec<String> = args("emu");
    ok(&rlvr(&emu.iter().map(String::as_str).collect::<Vec<_>>()));
    let out = root.join("out");
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["device"], "emu");
    let rows = lines(&out.join("m").join("d.jsonl"));
    assert_eq!(rows.len(), 4);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r["question_id"], format!("q{}", i / 2));
        assert_eq!(r["generation_id"], i % 2);
        assert!(r["num_tokens"].as_u64().unwrap() <= 6);
        let grade = rlvr::verify::grade(
            r["response"].as_str().unwrap(),
            r["answer"].as_str().unwrap(),
            rlvr::verify::Mode::Correct,
        );
        assert_eq!(r["label"].as_bool().unwrap(), grade.correct);
    }
    assert!(out.join("passk.json").exists());
    // Resuming on another device would mix bf16 and f32 samples: refused, naming the key.
    let cpu: Vec<String> = args("cpu");
    let r = rlvr(&cpu.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!r.status.success());
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("device"), "{err}");
}
