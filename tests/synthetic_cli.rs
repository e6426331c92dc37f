//! `rlvr make-task` end to end through the binary.

use std::process::Command;

fn rlvr(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rlvr"))
        .args(args)
        .output()
        .expect("running rlvr")
}

#[test]
fn writes_jsonl_deterministically() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.jsonl");
    let b = dir.path().join("sub/b.jsonl");
    for path in [&a, &b] {
        let out = rlvr(&[
            "make-task",
            "--task",
            "mixed",
            "--n",
            "30",
            "--difficulty",
            "2",
            "--seed",
            "9",
            "--output",
            path.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = std::fs::read_to_string(&a).unwrap();
    assert_eq!(text, std::fs::read_to_string(&b).unwrap());
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 30);
    let mut ids = std::collections::HashSet::new();
    for (i, v) in lines.iter().enumerate() {
        assert!(v["prompt"].as_str().is_some_and(|s| !s.is_empty()));
        assert!(v["answer"].as_str().unwrap().parse::<i128>().is_ok());
        assert_eq!(v["id"], format!("mixed-9-{i}"));
        assert!(["arithmetic", "linear", "word"].contains(&v["task"].as_str().unwrap()));
        assert!(ids.insert(v["id"].as_str().unwrap().to_string()));
    }
    // The library gives the same items.
    let items = rlvr::data::synthetic::generate(
        rlvr::data::synthetic::TaskSpec {
            kind: rlvr::data::synthetic::TaskKind::Mixed,
            difficulty: 2,
            seed: 9,
        },
        30,
    );
    assert_eq!(lines[17]["prompt"], items[17].question);
    assert_eq!(lines[17]["answer"], items[17].answer);
}

#[test]
fn bad_flags_fail() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("x.jsonl");
    let p = out_path.to_str().unwrap();
    let out = rlvr(&["make-task", "--task", "algebra", "--output", p]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("algebra"));
    let out = rlvr(&[
        "make-task",
        "--task",
        "word",
        "--difficulty",
        "0",
        "--output",
        p,
    ]);
    assert!(!out.status.success());
    assert!(!out_path.exists());
}
