//! Full disk: `train` (its checkpoint), `eval`, `grade --output` and `convert` run with their
//! writes failing part-way. Anywhere, without root or mounts, that is a file-size limit
//! (RLIMIT_FSIZE with SIGXFSZ ignored, so a write past it returns EFBIG after a short write);
//! where the machine allows a private mount namespace, `grade` and `convert` also run on a real
//! tmpfs too small for their output (ENOSPC), and otherwise that case says it is skipped.
//!
//! Every failure must exit non-zero with an error naming the file, leave the previous output
//! exactly as it was (no partial or corrupt file in its place, no half line in an appended
//! file), leave no temporary file, and a rerun without the limit must give what an uninterrupted
//! run gives.
mod support;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use support::outputs::{debris, metrics, snapshot};

fn rlvr(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rlvr"));
    c.current_dir(dir).args(args);
    c
}

/// Runs `args` in `dir`; it must succeed.
fn run_ok(dir: &Path, args: &[&str]) {
    let out = rlvr(dir, args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `args` with every file it writes limited to `limit` bytes; it must fail, without a
/// panic, naming `culprit` and the reason.
fn fails_at_limit(dir: &Path, args: &[&str], limit: u64, culprit: &str) {
    let mut c = rlvr(dir, args);
    // SAFETY: only async-signal-safe calls (signal, setrlimit) between fork and exec.
    unsafe {
        c.pre_exec(move || {
            if libc::signal(libc::SIGXFSZ, libc::SIG_IGN) == libc::SIG_ERR {
                return Err(std::io::Error::last_os_error());
            }
            let lim = libc::rlimit {
                rlim_cur: limit as libc::rlim_t,
                rlim_max: limit as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "succeeded under a {limit}-byte limit"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains(culprit) && err.contains("File too large"),
        "expected an error naming {culprit}: {err}"
    );
}

fn size(p: &Path) -> u64 {
    std::fs::metadata(p).unwrap().len()
}

fn no_debris(dir: &Path) {
    let left = debris(dir);
    assert!(left.is_empty(), "{left:?}");
}

/// A model and an 8-problem task in `dir`.
fn model_and_task(dir: &Path) {
    run_ok(dir, &["new-model", "--output", "m"]);
    run_ok(
        dir,
        &[
            "make-task",
            "--task",
            "arithmetic",
            "--n",
            "8",
            "--output",
            "d.jsonl",
        ],
    );
}

fn train_args<'a>(out: &'a str, steps: &'a str, resume: bool) -> Vec<&'a str> {
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
        out,
        "--prompts-per-step",
        "2",
        "--mini-batch-prompts",
        "2",
        "--n",
        "2",
        "--max-response-tokens",
        "6",
        "--steps",
        steps,
        "--save-every",
        "1",
    ];
    if resume {
        a.push("--resume");
    }
    a
}

#[test]
fn train_keeps_its_last_checkpoint_when_the_next_one_does_not_fit() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    model_and_task(p);
    run_ok(p, &train_args("ref", "3", false));
    run_ok(p, &train_args("run", "1", false));
    let first = p.join("run/checkpoints/step-000001");
    let before = snapshot(&first);
    // Half a checkpoint's weights: the metrics, logs and settings fit, the next checkpoint not.
    let limit = size(&first.join("model.safetensors")) / 2;
    fails_at_limit(p, &train_args("run", "3", true), limit, "model.safetensors");
    assert_eq!(snapshot(&first), before, "the last checkpoint changed");
    assert!(!p.join("run/checkpoints/step-000002").exists());
    no_debris(p);
    let m = std::fs::read_to_string(p.join("run/metrics.jsonl")).unwrap();
    assert!(
        m.lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()),
        "{m}"
    );
    run_ok(p, &train_args("run", "3", true));
    assert_eq!(metrics(&p.join("run")), metrics(&p.join("ref")));
    let last = |run: &str| snapshot(&p.join(run).join("checkpoints/step-000003"));
    assert_eq!(last("run"), last("ref"));
    no_debris(p);
}

#[test]
fn eval_keeps_whole_problems_when_the_disk_fills() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    model_and_task(p);
    // --batch 1: one problem (n = 2 samples) per append, so the limit falls between appends.
    let eval = |out: &'static str| {
        [
            "eval",
            "--model",
            "m",
            "--data",
            "d.jsonl",
            "--n",
            "2",
            "--max-tokens",
            "8",
            "--batch",
            "1",
            "--output",
            out,
        ]
    };
    run_ok(p, &eval("ev-ref"));
    // Half the samples: the settings file written before them fits.
    let limit = size(&p.join("ev-ref/m/d.jsonl")) / 2;
    fails_at_limit(p, &eval("ev"), limit, "d.jsonl");
    let text = std::fs::read_to_string(p.join("ev/m/d.jsonl")).unwrap();
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "half a line: {text}"
    );
    assert!(
        text.lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()),
        "{text}"
    );
    assert_eq!(text.lines().count() % 2, 0, "half a problem: {text}");
    assert!(
        !text.is_empty(),
        "the limit should fall after the first problem"
    );
    no_debris(p);
    run_ok(p, &eval("ev"));
    for f in ["m/d.jsonl", "passk.json"] {
        assert_eq!(
            std::fs::read(p.join("ev").join(f)).unwrap(),
            std::fs::read(p.join("ev-ref").join(f)).unwrap(),
            "{f}"
        );
    }
    no_debris(p);
}

/// 2000 responses to grade: an output of about 100 KB.
fn grade_input(dir: &Path) {
    let lines: String = (0..2000)
        .map(|i| {
            format!(
                "{{\"response\": \"\\\\boxed{{{i}}}\", \"answer\": \"{}\"}}\n",
                i % 7
            )
        })
        .collect();
    std::fs::write(dir.join("g.jsonl"), &lines).unwrap();
    let head: String = lines.lines().take(10).map(|l| format!("{l}\n")).collect();
    std::fs::write(dir.join("g-small.jsonl"), head).unwrap();
}

const GRADE: [&str; 5] = ["grade", "--input", "g.jsonl", "--output", "g-out.jsonl"];

#[test]
fn grade_leaves_the_old_output_when_the_new_one_does_not_fit() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    grade_input(p);
    run_ok(
        p,
        &["grade", "--input", "g.jsonl", "--output", "g-ref.jsonl"],
    );
    run_ok(
        p,
        &[
            "grade",
            "--input",
            "g-small.jsonl",
            "--output",
            "g-out.jsonl",
        ],
    );
    let old = std::fs::read(p.join("g-out.jsonl")).unwrap();
    let limit = size(&p.join("g-ref.jsonl")) / 2;
    fails_at_limit(p, &GRADE, limit, "g-out.jsonl");
    assert_eq!(std::fs::read(p.join("g-out.jsonl")).unwrap(), old);
    no_debris(p);
    run_ok(p, &GRADE);
    assert_eq!(
        std::fs::read(p.join("g-out.jsonl")).unwrap(),
        std::fs::read(p.join("g-ref.jsonl")).unwrap()
    );
}

/// The tiny llama (reference) and qwen2 (an older, different output) GGUF models.
fn ggufs(dir: &Path) {
    support::tiny_gguf::tiny_model("llama")
        .0
        .write(&dir.join("t.gguf"));
    support::tiny_gguf::tiny_model("qwen2")
        .0
        .write(&dir.join("q.gguf"));
}

const CONVERT: [&str; 6] = [
    "convert",
    "--from-gguf",
    "t.gguf",
    "--output",
    "conv",
    "--force",
];

#[test]
fn convert_leaves_the_old_model_when_the_new_one_does_not_fit() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    ggufs(p);
    run_ok(p, &["convert", "--from-gguf", "t.gguf", "--output", "ref"]);
    run_ok(p, &["convert", "--from-gguf", "q.gguf", "--output", "conv"]);
    let old = snapshot(&p.join("conv"));
    let limit = size(&p.join("ref/model.safetensors")) / 2;
    fails_at_limit(p, &CONVERT, limit, "model.safetensors");
    assert_eq!(snapshot(&p.join("conv")), old, "the old model changed");
    no_debris(p);
    run_ok(p, &CONVERT);
    assert_eq!(snapshot(&p.join("conv")), snapshot(&p.join("ref")));
}

/// How this machine lets a process mount a private tmpfs: `unshare` with a mount namespace (as
/// root), or with a user namespace as well; None when neither works.
fn private_mounts(probe: &Path) -> Option<Vec<&'static str>> {
    std::fs::create_dir_all(probe).unwrap();
    for how in [
        vec!["--mount"],
        vec!["--user", "--map-root-user", "--mount"],
    ] {
        let works = Command::new("unshare")
            .args(&how)
            .args(["sh", "-c", "mount -t tmpfs -o size=64k tmpfs \"$0\""])
            .arg(probe)
            .output()
            .is_ok_and(|o| o.status.success());
        if works {
            return Some(how);
        }
    }
    None
}

/// Runs `args` in `work`, a tmpfs of `bytes` bytes (holding a copy of `seed`'s contents) in a
/// private mount namespace; copies what it left into `after` and returns the command's status
/// and stderr.
fn on_small_tmpfs(
    how: &[&str],
    work: &Path,
    bytes: u64,
    seed: &Path,
    after: &Path,
    args: &[&str],
) -> (bool, String) {
    std::fs::create_dir_all(work).unwrap();
    std::fs::create_dir_all(after).unwrap();
    let err = work.with_extension("stderr");
    let script = r#"set -e
work=$1 size=$2 seed=$3 after=$4 err=$5; shift 5
mount -t tmpfs -o "size=$size" tmpfs "$work"
cp -a "$seed/." "$work/"
cd "$work"
rc=0; "$@" 2>"$err" >/dev/null || rc=$?
cp -a "$work/." "$after/"
exit $rc"#;
    let out = Command::new("unshare")
        .args(how)
        .args(["sh", "-c", script, "sh"])
        .arg(work)
        .arg(bytes.to_string())
        .args([seed, after, err.as_path()])
        .arg(env!("CARGO_BIN_EXE_rlvr"))
        .args(args)
        .output()
        .unwrap();
    let stderr = std::fs::read_to_string(&err).unwrap_or_default();
    (
        out.status.success(),
        format!("{stderr}{}", String::from_utf8_lossy(&out.stderr)),
    )
}

/// Bytes the files under `dir` take on a tmpfs (whole 4 KiB pages).
fn pages(dir: &Path) -> u64 {
    snapshot(dir)
        .values()
        .map(|b| (b.len() as u64).div_ceil(4096) * 4096)
        .sum()
}

#[test]
fn grade_and_convert_on_a_full_tmpfs() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let Some(how) = private_mounts(&p.join("probe")) else {
        eprintln!(
            "skipping the tmpfs case: this machine allows no private mount namespace (unshare --mount)"
        );
        return;
    };
    grade_input(p);
    ggufs(p);
    let abs = |f: &str| p.join(f).display().to_string();
    // grade: the old output on a tmpfs with room for it and half the new one.
    let seed = p.join("grade-seed");
    std::fs::create_dir(&seed).unwrap();
    let (g, small, gref) = (abs("g.jsonl"), abs("g-small.jsonl"), abs("g-ref.jsonl"));
    run_ok(
        &seed,
        &["grade", "--input", &small, "--output", "g-out.jsonl"],
    );
    run_ok(p, &["grade", "--input", &g, "--output", &gref]);
    let bytes = pages(&seed) + size(&p.join("g-ref.jsonl")) / 2;
    let after = p.join("grade-after");
    let (passed, err) = on_small_tmpfs(
        &how,
        &p.join("grade-fs"),
        bytes,
        &seed,
        &after,
        &["grade", "--input", &g, "--output", "g-out.jsonl"],
    );
    assert!(!passed, "grade fitted in {bytes} bytes");
    assert!(
        err.contains("g-out.jsonl") && err.contains("No space left") && !err.contains("panicked"),
        "{err}"
    );
    assert_eq!(snapshot(&after), snapshot(&seed));
    no_debris(&after);
    run_ok(&after, &["grade", "--input", &g, "--output", "g-out.jsonl"]);
    assert_eq!(
        std::fs::read(after.join("g-out.jsonl")).unwrap(),
        std::fs::read(&gref).unwrap()
    );

    // convert: the old model directory, and room for half the new one's weights.
    let seed = p.join("convert-seed");
    std::fs::create_dir(&seed).unwrap();
    let (t, q) = (abs("t.gguf"), abs("q.gguf"));
    run_ok(&seed, &["convert", "--from-gguf", &q, "--output", "conv"]);
    run_ok(p, &["convert", "--from-gguf", &t, "--output", "ref"]);
    let bytes = pages(&seed) + size(&p.join("ref/model.safetensors")) / 2;
    let after = p.join("convert-after");
    let args: [&str; 6] = ["convert", "--from-gguf", &t, "--output", "conv", "--force"];
    let (passed, err) = on_small_tmpfs(&how, &p.join("convert-fs"), bytes, &seed, &after, &args);
    assert!(!passed, "convert fitted in {bytes} bytes");
    assert!(
        err.contains("conv") && err.contains("No space left") && !err.contains("panicked"),
        "{err}"
    );
    assert_eq!(snapshot(&after), snapshot(&seed));
    no_debris(&after);
    run_ok(&after, &args);
    assert_eq!(snapshot(&after.join("conv")), snapshot(&p.join("ref")));
}
