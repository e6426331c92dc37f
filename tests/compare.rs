//! `rlvr compare` on small synthetic `rlvr eval` output directories (no model): the report, the
//! JSON and the verdicts match the demo's evidence computed from the same counts, and
//! directories that cannot be paired are refused with an error naming them.
use rlvr::eval::compare::{run_compare, CompareSettings, RecipeDirs};
use rlvr::eval::evidence::claim_lines;
use rlvr::eval::recipe::{EvalRow, ModelEval};
use rlvr::eval::stats::Verdict;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;

const N: usize = 8;
const PROBLEMS: usize = 120;

/// Evaluation settings as `rlvr eval` records them; `tweak` edits them.
fn run_json(n: usize, tweak: impl Fn(&mut serde_json::Value)) -> serde_json::Value {
    let mut v = json!({
        "models": [{"label": "m", "path": "/models/m", "fingerprint": "model-fp"}],
        "data": [{"label": "eval", "path": "/data/eval.jsonl", "fingerprint": "data-fp"}],
        "n": n, "temperature": 0.6, "top_p": 0.95, "top_k": 0, "min_p": 0.0, "greedy": false,
        "max_tokens": 16, "seed": 7, "template": "smollm2", "max_problems": null,
        "max_prompt_tokens": null, "verifier": "correct",
    });
    tweak(&mut v);
    v
}

/// An evaluation directory whose problem i has `correct[i]` right samples of `n`.
fn eval_dir(root: &Path, name: &str, correct: &[usize], run: serde_json::Value) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(dir.join("m")).unwrap();
    std::fs::write(
        dir.join("run.json"),
        serde_json::to_string_pretty(&run).unwrap(),
    )
    .unwrap();
    let n = run["n"].as_u64().unwrap() as usize;
    let mut lines = String::new();
    for (i, &c) in correct.iter().enumerate() {
        for g in 0..n {
            let l = json!({"question_id": format!("q{i}"), "generation_id": g,
                           "label": g < c, "num_tokens": 4 + g % 3});
            lines.push_str(&format!("{l}\n"));
        }
    }
    std::fs::write(dir.join("m").join("eval.jsonl"), lines).unwrap();
    dir
}

/// Base solves every problem now and then; PSR solves the easy half always and the hard half
/// never (with both seeds); NSR is the base; W-REINFORCE gets one more sample right everywhere.
fn counts() -> (Vec<usize>, Vec<usize>, Vec<usize>) {
    let base: Vec<usize> = (0..PROBLEMS)
        .map(|i| if i % 2 == 0 { 4 } else { 2 })
        .collect();
    let psr: Vec<usize> = (0..PROBLEMS)
        .map(|i| if i % 2 == 0 { 8 } else { 0 })
        .collect();
    let w: Vec<usize> = base.iter().map(|c| c + 1).collect();
    (base, psr, w)
}

fn rlvr(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rlvr"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn compare_reports_the_demo_evidence() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (base, psr, w) = counts();
    let same = |_: &mut serde_json::Value| {};
    let b = eval_dir(root, "base", &base, run_json(N, same));
    let p1 = eval_dir(root, "psr-1", &psr, run_json(N, same));
    let p2 = eval_dir(root, "psr-2", &psr, run_json(N, same));
    let n1 = eval_dir(root, "nsr-1", &base, run_json(N, same));
    let w1 = eval_dir(root, "w-1", &w, run_json(N, same));
    let out = root.join("out");
    let s = |p: &Path| p.display().to_string();
    let o = rlvr(&[
        "compare",
        "--base",
        &s(&b),
        "--model",
        &format!("psr={},{}", s(&p1), s(&p2)),
        "--model",
        &format!("nsr={}", s(&n1)),
        "--model",
        &format!("w-reinforce={}", s(&w1)),
        "--output",
        &s(&out),
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert_eq!(stdout, report);
    assert!(report.contains("| psr | 2 |"), "{report}");
    assert!(report.contains("ΔPass@8 [95%]"), "{report}");
    assert!(
        report.contains("- PSR loses Pass@8: supported at 95%"),
        "{report}"
    );
    assert!(
        report.contains("- NSR keeps Pass@8: supported at 95%"),
        "{report}"
    );
    // PSR loses the 60 hard problems with both seeds.
    assert!(report.contains("| 60.0 (60–60) | 0.0 (0–0) |"), "{report}");
    assert!(out.join("passk.svg").exists() && out.join("passk.png").exists());

    // The verdicts are the demo's evidence on the same counts.
    let row = |c: &[usize]| EvalRow {
        name: String::new(),
        passk: vec![],
        mean_response_tokens: 0.0,
        token_nll: None,
        correct: c.to_vec(),
    };
    let recipe = |name: &str, seeds: Vec<EvalRow>| ModelEval {
        name: name.into(),
        seeds,
    };
    let models = vec![
        recipe("base", vec![row(&base)]),
        recipe("psr", vec![row(&psr), row(&psr)]),
        recipe("nsr", vec![row(&base)]),
        recipe("w-reinforce", vec![row(&w)]),
    ];
    let want = claim_lines(&models, N, 1).unwrap();
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("compare.json")).unwrap()).unwrap();
    let claims = j["claims"].as_array().unwrap();
    assert_eq!(claims.len(), want.len());
    for (got, want) in claims.iter().zip(&want) {
        assert_eq!(got["claim"], want.claim.as_str());
        assert_eq!(got["verdict"], want.verdict.to_string().as_str());
        assert_eq!(got["evidence"], want.evidence.as_str());
    }
    assert_eq!(j["problems"], PROBLEMS);
    assert_eq!(j["n"], N);
    assert_eq!(j["comparisons"][0]["coverage"][0]["lost"], 60);
    // Pass@1 of the base: (4 + 2) / 2 / 8.
    let pass1 = &j["models"][0]["passk"][0];
    assert_eq!(
        (pass1["k"].as_u64(), pass1["mean"].as_f64()),
        (Some(1), Some(0.375))
    );

    // The library call gives the same outcome.
    let lib = run_compare(&CompareSettings {
        base: b.clone(),
        recipes: vec![RecipeDirs {
            name: "psr".into(),
            dirs: vec![p1.clone(), p2.clone()],
        }],
        dataset: None,
        output: root.join("out-lib"),
        seed: 1,
    })
    .unwrap();
    assert_eq!(lib.claims.len(), 1);
    assert_eq!(lib.claims[0].verdict, Verdict::Supported);
    assert_eq!((lib.n, lib.problems), (N, PROBLEMS));
}

fn compare_err(base: &Path, model: &Path, out: &Path) -> String {
    let o = rlvr(&[
        "compare",
        "--base",
        &base.display().to_string(),
        "--model",
        &format!("psr={}", model.display()),
        "--output",
        &out.display().to_string(),
    ]);
    assert!(!o.status.success());
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn directories_that_cannot_be_paired_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let out = root.join("out");
    let (base, psr, _) = counts();
    let b = eval_dir(root, "base", &base, run_json(N, |_| {}));

    // Another n.
    let other_n = eval_dir(root, "n4", &vec![1; PROBLEMS], run_json(4, |_| {}));
    let e = compare_err(&b, &other_n, &out);
    assert!(e.contains("n4") && e.contains("cannot be paired"), "{e}");
    assert!(e.contains("n: 8 in the base, 4 here"), "{e}");

    // Another sample seed: the samples are not paired.
    let seed = eval_dir(root, "seed", &psr, run_json(N, |v| v["seed"] = json!(8)));
    let e = compare_err(&b, &seed, &out);
    assert!(e.contains("seed: 7 in the base, 8 here"), "{e}");

    // Other problems: fewer of them, under the same settings.
    let fewer = eval_dir(root, "fewer", &psr[..PROBLEMS - 1], run_json(N, |_| {}));
    let e = compare_err(&b, &fewer, &out);
    assert!(e.contains("fewer") && e.contains("other problems"), "{e}");

    // Another data file.
    let data = eval_dir(
        root,
        "data",
        &psr,
        run_json(N, |v| v["data"][0]["fingerprint"] = json!("other")),
    );
    let e = compare_err(&b, &data, &out);
    assert!(e.contains("data:"), "{e}");

    // Several models in one directory.
    let two = eval_dir(
        root,
        "two",
        &psr,
        run_json(
            N,
            |v| v["models"] = json!([{"label": "m", "path": "a"}, {"label": "m2", "path": "b"}]),
        ),
    );
    let e = compare_err(&b, &two, &out);
    assert!(e.contains("holds 2 models"), "{e}");

    // A folder that is no evaluation.
    let e = compare_err(&b, &root.join("nothing"), &out);
    assert!(e.contains("nothing") && e.contains("run.json"), "{e}");

    // An unfinished evaluation (a problem with fewer than n samples).
    let cut = eval_dir(root, "cut", &psr, run_json(N, |_| {}));
    let file = cut.join("m").join("eval.jsonl");
    let text = std::fs::read_to_string(&file).unwrap();
    let kept: Vec<&str> = text.lines().take(PROBLEMS * N - 3).collect();
    std::fs::write(&file, kept.join("\n") + "\n").unwrap();
    let e = compare_err(&b, &cut, &out);
    assert!(e.contains("has 5 samples, not n = 8"), "{e}");

    // Malformed --model.
    let o = rlvr(&["compare", "--base", "x", "--model", "psr"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("NAME=DIR"));
}
