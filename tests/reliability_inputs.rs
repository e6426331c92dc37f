//! Crafted inputs that once misbehaved and are built here rather than stored (the stored ones
//! are in `tests/fixtures/bad/`, run by `reliability_fixtures.rs`): a GGUF with a NaN weight,
//! a resume onto another architecture, duplicate k in passk, and meaningless settings given as
//! flags.
mod support;

use std::path::Path;
use std::process::{Command, Output};
use support::tiny_gguf::tiny_model;

fn rlvr(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rlvr"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn fails(out: &Output) -> String {
    assert!(!out.status.success(), "unexpectedly succeeded");
    let e = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!e.contains("panicked"), "{e}");
    e
}

#[test]
fn a_gguf_with_a_nan_weight_fails_before_writing() {
    let d = tempfile::tempdir().unwrap();
    let (mut w, _) = tiny_model("llama");
    let t = w.tensors.iter_mut().find(|t| t.type_id == 0).unwrap();
    t.data[..4].copy_from_slice(&f32::NAN.to_le_bytes());
    let name = t.name.clone();
    w.write(&d.path().join("nanw.gguf"));
    let e = fails(&rlvr(
        d.path(),
        &["convert", "--from-gguf", "nanw.gguf", "--output", "out"],
    ));
    assert!(
        e.contains(&format!("tensor {name} holds a non-finite value")),
        "{e}"
    );
    assert!(!d.path().join("out").exists());
    let debris: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(debris.is_empty(), "{debris:?}");
}

#[test]
fn passk_counts_a_repeated_k_once() {
    let d = tempfile::tempdir().unwrap();
    let lines: String = (0..4)
        .map(|g| {
            format!(
                "{{\"question_id\": \"a\", \"generation_id\": {g}, \"label\": {}}}\n",
                g == 0
            )
        })
        .collect();
    std::fs::write(d.path().join("e.jsonl"), lines).unwrap();
    let out = ok(&rlvr(
        d.path(),
        &["passk", "--input", "e.jsonl", "--k", "2,2,1"],
    ));
    assert_eq!(out.matches("\"2\"").count(), 1, "{out}");
}

#[test]
fn meaningless_settings_and_another_architecture_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    ok(&rlvr(p, &["new-model", "--output", "m"]));
    ok(&rlvr(
        p,
        &[
            "make-task",
            "--task",
            "arithmetic",
            "--n",
            "8",
            "--output",
            "d.jsonl",
        ],
    ));
    let train = |extra: &[&str]| {
        let mut a = vec![
            "train",
            "--quiet",
            "--preset",
            "tiny-cpu",
            "--model",
            "m",
            "--data",
            "d.jsonl",
            "--output",
            "run",
            "--prompts-per-step",
            "2",
            "--mini-batch-prompts",
            "2",
        ];
        a.extend_from_slice(extra);
        rlvr(p, &a)
    };
    for (flag, value, want) in [
        (
            "--lr",
            "-1e-3",
            "lr must be a finite number >= 0, got -0.001",
        ),
        (
            "--weight-decay",
            "-5",
            "weight_decay must be a finite number >= 0, got -5",
        ),
        (
            "--lambda",
            "NaN",
            "lambda must be a finite number >= 0, got NaN",
        ),
        (
            "--grad-clip",
            "0",
            "grad_clip must be a finite number > 0, got 0",
        ),
        (
            "--max-response-tokens",
            "0",
            "max_response_tokens must be in 1..=",
        ),
        ("--n", "100000000000", "n must be in 1..=65536"),
    ] {
        let e = fails(&train(&[&format!("{flag}={value}")]));
        assert!(e.contains(want), "{flag} {value}: {e}");
    }
    assert!(!p.join("run").exists());
    ok(&train(&["--steps", "1"]));
    ok(&rlvr(
        p,
        &[
            "new-model",
            "--output",
            "wide",
            "--hidden",
            "96",
            "--heads",
            "4",
        ],
    ));
    std::fs::remove_dir_all(p.join("m")).unwrap();
    std::fs::rename(p.join("wide"), p.join("m")).unwrap();
    let e = fails(&train(&[
        "--steps",
        "2",
        "--resume",
        "--allow-changes",
        "model",
    ]));
    assert!(
        e.contains("architecture differs")
            && e.contains("hidden_size 64 in the checkpoint, 96 in the model"),
        "{e}"
    );
}
