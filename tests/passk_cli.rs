//! `rlvr passk` end to end through the binary.

use rlvr::eval::passk::pass_at_k;
use std::path::Path;
use std::process::{Command, Output};

fn rlvr(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rlvr"))
        .args(args)
        .output()
        .expect("running rlvr")
}

/// Question q has 8 samples in the paper's format (int ids, bool labels), `correct[q]` true.
fn write_samples(dir: &Path, correct: &[usize]) -> std::path::PathBuf {
    let mut text = String::new();
    for g in 0..8 {
        // Interleave questions so grouping has to follow question_id, not line order.
        for (q, &c) in correct.iter().enumerate() {
            let label = g < c;
            text.push_str(&format!(
                "{{\"prompt\": \"p{q}\", \"question\": \"q\", \"answer\": \"1\", \"question_id\": {q}, \"generation_id\": {g}, \"response\": \"r\", \"label\": {label}, \"gold_answer\": \"1\", \"pred_answer\": null}}\n"
            ));
        }
    }
    let path = dir.join("samples.jsonl");
    std::fs::write(&path, text).unwrap();
    path
}

fn stdout_json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "rlvr failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is JSON")
}

#[test]
fn prints_unbiased_passk_per_k() {
    let dir = tempfile::tempdir().unwrap();
    let correct = [0, 1, 3, 8];
    let path = write_samples(dir.path(), &correct);
    let v = stdout_json(&rlvr(&["passk", "--input", path.to_str().unwrap()]));
    assert_eq!(v["n_problems"], 4);
    assert_eq!(v["n_samples_per_problem"], 8);
    let passk = v["passk"].as_object().unwrap();
    assert_eq!(
        passk.keys().map(String::as_str).collect::<Vec<_>>().len(),
        4
    ); // 1, 2, 4, 8
    for k in [1usize, 2, 4, 8] {
        let want = correct.iter().map(|&c| pass_at_k(8, c, k)).sum::<f64>() / 4.0;
        let got = passk[&k.to_string()].as_f64().unwrap();
        assert!((got - want).abs() < 1e-12, "k={k}: {got} vs {want}");
    }
    // Pass@1 = mean fraction correct = (0 + 1 + 3 + 8) / 32.
    assert!((passk["1"].as_f64().unwrap() - 12.0 / 32.0).abs() < 1e-12);
    // Keys come out in increasing k.
    let text =
        String::from_utf8(rlvr(&["passk", "--input", path.to_str().unwrap()]).stdout).unwrap();
    assert!(text.find("\"2\"").unwrap() < text.find("\"8\"").unwrap());
}

#[test]
fn k_list_and_first_n() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_samples(dir.path(), &[2, 5]);
    let p = path.to_str().unwrap();
    let v = stdout_json(&rlvr(&["passk", "--input", p, "--k", "1,3"]));
    let keys: Vec<&String> = v["passk"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["1", "3"]);
    // First 4 generations: correct counts become 2 and 4.
    let v = stdout_json(&rlvr(&["passk", "--input", p, "--n", "4", "--k", "1,2"]));
    assert_eq!(v["n_samples_per_problem"], 4);
    let want = (pass_at_k(4, 2, 2) + pass_at_k(4, 4, 2)) / 2.0;
    assert!((v["passk"]["2"].as_f64().unwrap() - want).abs() < 1e-12);
    // A k above the sample count is reported as excluded, with a warning.
    let out = rlvr(&["passk", "--input", p, "--k", "1,16"]);
    let v = stdout_json(&out);
    assert_eq!(v["excluded"]["16"], 2);
    assert!(v["passk"].get("16").is_none());
    assert!(String::from_utf8_lossy(&out.stderr).contains("k=16"));
}

#[test]
fn errors_exit_nonzero_and_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.jsonl");
    std::fs::write(
        &path,
        "{\"question_id\": 0, \"label\": true}\n{\"question_id\": 0, \"label\": tru}\n",
    )
    .unwrap();
    let out = rlvr(&["passk", "--input", path.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:2", path.display())), "{err}");
    assert!(out.stdout.is_empty());

    std::fs::write(
        &path,
        "{\"question_id\": 0, \"label\": true}\n\n{\"question_id\": 0}\n",
    )
    .unwrap();
    let out = rlvr(&["passk", "--input", path.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}:3", path.display())) && err.contains("label"),
        "{err}"
    );

    let good = write_samples(dir.path(), &[1]);
    let out = rlvr(&["passk", "--input", good.to_str().unwrap(), "--n", "9"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("fewer than --n 9"));

    let out = rlvr(&[
        "passk",
        "--input",
        dir.path().join("missing.jsonl").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
}

#[test]
fn help_documents_fractions() {
    let out = rlvr(&["passk", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--input") && help.contains("--k") && help.contains("--n"));
    assert!(help.contains("[0, 1]"), "{help}");
}
