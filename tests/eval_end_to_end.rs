//! `rlvr eval` end to end on the CPU with tiny models made here: output files, the evaluation
//! JSONL format, passk.json against Pass@k recomputed from the labels, plots, and resuming after
//! a simulated kill (identical lines to an uninterrupted run).
mod eval_common;
use eval_common::*;
use std::path::Path;

fn binom(n: u64, k: u64) -> f64 {
    (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
}

struct Setup {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    tiny_model(&root.join("m1"), 1);
    tiny_model(&root.join("m2"), 2);
    write_problems(&root.join("d1.jsonl"), "a", 4);
    write_problems(&root.join("d2.jsonl"), "b", 4);
    Setup { _dir: dir, root }
}

fn eval(root: &Path, out: &str, extra: &[&str]) -> std::process::Output {
    eval_nb(root, out, "6", "5", extra)
}

fn eval_nb(root: &Path, out: &str, n: &str, batch: &str, extra: &[&str]) -> std::process::Output {
    let p = |s: &str| root.join(s).to_string_lossy().into_owned();
    let (m1, m2, d1, d2, o) = (p("m1"), p("m2"), p("d1.jsonl"), p("d2.jsonl"), p(out));
    let mut args = vec![
        "eval",
        "--model",
        &m1,
        "--model",
        &m2,
        "--data",
        &d1,
        &d2,
        "--output",
        &o,
        "--n",
        n,
        "--temperature",
        "1.0",
        "--top-p",
        "0.95",
        "--max-tokens",
        "10",
        "--max-problems",
        "3",
        "--seed",
        "7",
        "--batch",
        batch,
    ];
    args.extend_from_slice(extra);
    rlvr(&args)
}

const PAIRS: [(&str, &str); 4] = [("m1", "d1"), ("m1", "d2"), ("m2", "d1"), ("m2", "d2")];

#[test]
fn eval_writes_samples_passk_and_plots() {
    let s = setup();
    ok(&eval(&s.root, "out", &[]));
    let out = s.root.join("out");
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["n"], 6);
    assert_eq!(run["max_tokens"], 10);
    let passk: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("passk.json")).unwrap()).unwrap();
    let mut total_correct = 0;
    for (m, d) in PAIRS {
        let rows = lines(&out.join(m).join(format!("{d}.jsonl")));
        assert_eq!(rows.len(), 18, "{m}/{d}");
        let prefix = if d == "d1" { "a" } else { "b" };
        let mut counts = Vec::new();
        for (qi, group) in rows.chunks(6).enumerate() {
            let mut c = 0u64;
            for (g, r) in group.iter().enumerate() {
                assert_eq!(r["question_id"], format!("{prefix}{qi}"));
                assert_eq!(r["generation_id"], g);
                for key in ["prompt", "response", "answer", "gold_answer"] {
                    assert!(r[key].is_string(), "{key} in {r}");
                }
                assert!(r["pred_answer"].is_string() || r["pred_answer"].is_null());
                assert!(r["prompt"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("What is {}+", qi % 5)));
                assert!(["stop", "length"].contains(&r["finish"].as_str().unwrap()));
                assert!(r["num_tokens"].as_u64().unwrap() <= 10);
                // The label is the verifier's decision on this response.
                let grade = rlvr::verify::grade(
                    r["response"].as_str().unwrap(),
                    r["answer"].as_str().unwrap(),
                    rlvr::verify::Mode::Correct,
                );
                assert_eq!(r["label"].as_bool().unwrap(), grade.correct);
                c += u64::from(grade.correct);
            }
            counts.push(c);
        }
        total_correct += counts.iter().sum::<u64>();
        let rep = &passk[m][d];
        assert_eq!(rep["n_problems"], 3);
        assert_eq!(rep["n_samples_per_problem"], 6);
        let keys: Vec<&String> = rep["passk"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["1", "2", "4", "6"]);
        for k in [1u64, 2, 4, 6] {
            let want: f64 = counts
                .iter()
                .map(|&c| 1.0 - binom(6 - c, k) / binom(6, k))
                .sum::<f64>()
                / 3.0;
            let got = rep["passk"][k.to_string()].as_f64().unwrap();
            assert!((got - want).abs() < 1e-12, "{m}/{d} k={k}: {got} vs {want}");
        }
    }
    // Some samples are correct (the seeds are fixed), so Pass@k is not trivially 0.
    assert!(total_correct > 0);
    for d in ["d1", "d2"] {
        let svg = std::fs::read_to_string(out.join(format!("passk_{d}.svg"))).unwrap();
        assert!(svg.contains("<svg") && svg.contains("m1") && svg.contains("m2"));
        let png = std::fs::read(out.join(format!("passk_{d}.png"))).unwrap();
        assert!(png.len() > 100 && png.starts_with(b"\x89PNG"));
    }
}

#[test]
fn killed_run_resumes_to_identical_lines() {
    let s = setup();
    ok(&eval(&s.root, "full", &[]));
    ok(&eval(&s.root, "cut", &[]));
    let cut = s.root.join("cut");
    // m1/d1: a kill in the middle of a line of the last problem.
    let f = cut.join("m1/d1.jsonl");
    let text = std::fs::read_to_string(&f).unwrap();
    std::fs::write(&f, &text[..text.len() - 40]).unwrap();
    // m1/d2: the last problem's lines gone entirely.
    let f = cut.join("m1/d2.jsonl");
    let text = std::fs::read_to_string(&f).unwrap();
    let keep: Vec<&str> = text.lines().take(12).collect();
    std::fs::write(&f, keep.join("\n") + "\n").unwrap();
    // m2/d1: half of a problem, ending mid-line.
    let f = cut.join("m2/d1.jsonl");
    let text = std::fs::read_to_string(&f).unwrap();
    let at = text.match_indices('\n').nth(8).unwrap().0 + 20;
    std::fs::write(&f, &text[..at]).unwrap();
    // m2/d2: never started.
    std::fs::remove_file(cut.join("m2/d2.jsonl")).unwrap();
    std::fs::remove_file(cut.join("passk.json")).unwrap();
    // A different batch size does not change the samples.
    ok(&eval_nb(&s.root, "cut", "6", "3", &[]));
    for (m, d) in PAIRS {
        let name = format!("{m}/{d}.jsonl");
        let a = std::fs::read_to_string(s.root.join("full").join(&name)).unwrap();
        let b = std::fs::read_to_string(cut.join(&name)).unwrap();
        assert_eq!(a, b, "{name}");
    }
    assert_eq!(
        std::fs::read_to_string(s.root.join("full/passk.json")).unwrap(),
        std::fs::read_to_string(cut.join("passk.json")).unwrap()
    );
}

#[test]
fn other_settings_need_overwrite() {
    let s = setup();
    ok(&eval(&s.root, "o", &[]));
    let bad = eval_nb(&s.root, "o", "4", "5", &[]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("run.json") && err.contains("--overwrite") && err.contains("n: 6"),
        "{err}"
    );
    ok(&eval_nb(&s.root, "o", "4", "5", &["--overwrite"]));
    assert_eq!(lines(&s.root.join("o/m1/d1.jsonl")).len(), 12);
    // Bad sampling flags are one-line errors naming the flag.
    let p = |x: &str| s.root.join(x).to_string_lossy().into_owned();
    let (m1, d1, o2) = (p("m1"), p("d1.jsonl"), p("o2"));
    let bad = rlvr(&[
        "eval",
        "--model",
        &m1,
        "--data",
        &d1,
        "--output",
        &o2,
        "--temperature",
        "0",
    ]);
    assert!(!bad.status.success());
    assert!(!s.root.join("o2").exists());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--greedy"));
}

/// The verl parquet path on real data (AMC23), when the shared data directory is present.
#[test]
fn eval_reads_verl_parquet() {
    let candidates = [
        std::env::var_os("RLVR_SHARED_DATA").map(std::path::PathBuf::from),
        Some(std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data")),
    ];
    let Some(data) = candidates
        .into_iter()
        .flatten()
        .map(|d| d.join("amc23/test.parquet"))
        .find(|p| p.exists())
    else {
        eprintln!("SKIP: ../shared/data (or $RLVR_SHARED_DATA) with amc23/test.parquet not found");
        return;
    };
    let s = setup();
    let p = |x: &str| s.root.join(x).to_string_lossy().into_owned();
    let (m1, out) = (p("m1"), p("pq"));
    let d = data.to_string_lossy().into_owned();
    ok(&rlvr(&[
        "eval",
        "--model",
        &m1,
        "--data",
        &d,
        "--output",
        &out,
        "--n",
        "2",
        "--max-tokens",
        "4",
        "--max-problems",
        "2",
        "--template",
        "plain",
        "--protocol",
        "qwen3",
    ]));
    let rows = lines(&s.root.join("pq/m1/amc23.jsonl"));
    assert_eq!(rows.len(), 4);
    assert!(rows[0]["question_id"]
        .as_str()
        .unwrap()
        .starts_with("TianHongZXY/amc23/"));
    assert!(!rows[0]["answer"].as_str().unwrap().is_empty());
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(s.root.join("pq/run.json")).unwrap())
            .unwrap();
    // The qwen3 protocol's top-k and top-p, with --n overriding its 64.
    assert_eq!(
        (run["top_k"].as_u64(), run["n"].as_u64()),
        (Some(20), Some(2))
    );
    assert!((run["top_p"].as_f64().unwrap() - 0.8).abs() < 1e-6);
    assert!(s.root.join("pq/passk_amc23.svg").exists());
}

/// `--weights bf16`: samples from bf16-stored weights (the same files and counts), recorded in
/// run.json, so resuming with f32 weights is refused; refused with a device; a bad value names
/// the flag.
#[test]
fn bf16_weights_are_recorded_and_must_match_on_resume() {
    let s = setup();
    ok(&eval(&s.root, "o", &["--weights", "bf16"]));
    for (m, d) in PAIRS {
        assert_eq!(lines(&s.root.join(format!("o/{m}/{d}.jsonl"))).len(), 18);
    }
    let run = std::fs::read_to_string(s.root.join("o/run.json")).unwrap();
    assert!(run.contains("\"weights\"") && run.contains("bf16"), "{run}");
    // The same command again resumes (nothing to do); with f32 weights it is another run.
    ok(&eval(&s.root, "o", &["--weights", "bf16"]));
    let bad = eval(&s.root, "o", &[]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("run.json") && err.contains("weights"), "{err}");
    // f32 (the default) records nothing, so runs made before the flag existed still resume.
    ok(&eval(&s.root, "f", &[]));
    let run = std::fs::read_to_string(s.root.join("f/run.json")).unwrap();
    assert!(!run.contains("\"weights\""), "{run}");
    let bad = eval(&s.root, "e", &["--weights", "bf16", "--device", "emu"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--weights"));
    let bad = eval(&s.root, "g", &["--weights", "f16"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--weights"));
}
