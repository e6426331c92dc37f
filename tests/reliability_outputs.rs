//! Output safety of every command that writes: a device node or FIFO given as the output is
//! written in place (never replaced by a regular file), a symlink is written through, a
//! non-empty output directory is refused without --resume/--force, and a resumed run or
//! evaluation refuses inputs or settings that changed since it began.
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
    err
}

fn fails(out: &Output) -> String {
    assert!(!out.status.success(), "unexpectedly succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A character device like /dev/null (made with mknod), or None with a message when this
/// machine does not allow mknod (not root, or a restricted container).
fn fake_null(dir: &Path) -> Option<PathBuf> {
    let p = dir.join("fakenull");
    let made = Command::new("mknod")
        .args([p.to_str().unwrap(), "c", "1", "3"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !made {
        eprintln!("skipping the device-node case: mknod is not permitted here");
        return None;
    }
    Some(p)
}

fn fifo(dir: &Path) -> PathBuf {
    let p = dir.join("fifo");
    let o = Command::new("mkfifo").arg(&p).output().unwrap();
    assert!(o.status.success());
    p
}

/// Runs `run(output)` with a device node, a FIFO (read by a thread) and a symlink as the
/// output; checks each is still what it was and received the output.
fn check_special_outputs(dir: &Path, run: impl Fn(&Path) -> Output, expect: &str) {
    if let Some(dev) = fake_null(dir) {
        ok(&run(&dev));
        let t = std::fs::metadata(&dev).unwrap().file_type();
        assert!(t.is_char_device(), "the device node was replaced");
    }
    let f = fifo(dir);
    let reader = {
        let f = f.clone();
        std::thread::spawn(move || std::fs::read_to_string(f).unwrap())
    };
    ok(&run(&f));
    let got = reader.join().unwrap();
    assert!(got.contains(expect), "FIFO got {got:?}");
    assert!(std::fs::metadata(&f).unwrap().file_type().is_fifo());
    let target = dir.join("real-output");
    std::fs::write(&target, "old").unwrap();
    let link = dir.join("link");
    std::os::unix::fs::symlink("real-output", &link).unwrap();
    ok(&run(&link));
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(std::fs::read_to_string(&target).unwrap().contains(expect));
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn grade_writes_devices_fifos_and_symlinks_in_place() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("in.jsonl"),
        "{\"response\": \"\\\\boxed{2}\", \"answer\": \"2\"}\n",
    )
    .unwrap();
    let run = |out: &Path| {
        rlvr(
            d.path(),
            &[
                "grade",
                "--input",
                "in.jsonl",
                "--output",
                out.to_str().unwrap(),
            ],
        )
    };
    check_special_outputs(d.path(), run, "\"answer\"");
}

#[test]
fn make_task_writes_devices_fifos_and_symlinks_in_place() {
    let d = tempfile::tempdir().unwrap();
    let run = |out: &Path| {
        let o = out.to_str().unwrap();
        rlvr(
            d.path(),
            &[
                "make-task",
                "--task",
                "arithmetic",
                "--n",
                "3",
                "--output",
                o,
            ],
        )
    };
    check_special_outputs(d.path(), run, "\"prompt\"");
}

#[test]
fn logprobs_and_generate_write_devices_fifos_and_symlinks_in_place() {
    let d = tempfile::tempdir().unwrap();
    ok(&rlvr(d.path(), &["new-model", "--output", "m"]));
    std::fs::write(d.path().join("t.jsonl"), "{\"tokens\": [5, 6, 7]}\n").unwrap();
    let run = |out: &Path| {
        let o = out.to_str().unwrap();
        rlvr(
            d.path(),
            &[
                "logprobs", "--model", "m", "--input", "t.jsonl", "--output", o,
            ],
        )
    };
    check_special_outputs(d.path(), run, "\"logprobs\"");
    let g = tempfile::tempdir().unwrap();
    ok(&rlvr(g.path(), &["new-model", "--output", "m"]));
    std::fs::write(
        g.path().join("p.jsonl"),
        "{\"prompt\": \"1+1=\", \"answer\": \"2\"}\n",
    )
    .unwrap();
    let run = |out: &Path| {
        let o = out.to_str().unwrap();
        rlvr(
            g.path(),
            &[
                "generate",
                "--model",
                "m",
                "--prompts",
                "p.jsonl",
                "--n",
                "1",
                "--max-tokens",
                "2",
                "--output",
                o,
            ],
        )
    };
    check_special_outputs(g.path(), run, "\"response\"");
}

#[test]
fn absurd_counts_and_long_sequences_are_errors_not_aborts() {
    let d = tempfile::tempdir().unwrap();
    ok(&rlvr(d.path(), &["new-model", "--output", "m"]));
    std::fs::write(
        d.path().join("p.jsonl"),
        "{\"prompt\": \"1+1=\", \"answer\": \"2\"}\n",
    )
    .unwrap();
    let e = fails(&rlvr(
        d.path(),
        &[
            "generate",
            "--model",
            "m",
            "--prompts",
            "p.jsonl",
            "--n",
            "100000000000",
            "--output",
            "o.jsonl",
        ],
    ));
    assert!(e.contains("--n must be in 1..=65536"), "{e}");
    let e = fails(&rlvr(
        d.path(),
        &[
            "eval",
            "--model",
            "m",
            "--data",
            "p.jsonl",
            "--n",
            "100000000000",
            "--output",
            "ev",
        ],
    ));
    assert!(e.contains("--n must be in 1..=65536"), "{e}");
    let long: Vec<String> = (0..5000).map(|i| (i % 20 + 3).to_string()).collect();
    std::fs::write(
        d.path().join("t.jsonl"),
        format!("{{\"tokens\": [{}]}}\n", long.join(",")),
    )
    .unwrap();
    let e = fails(&rlvr(
        d.path(),
        &[
            "logprobs", "--model", "m", "--input", "t.jsonl", "--output", "o",
        ],
    ));
    assert!(
        e.contains("record 1 has 5000 tokens, more than the model's context"),
        "{e}"
    );
}

#[test]
fn directory_commands_refuse_non_empty_outputs_and_files() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("full")).unwrap();
    std::fs::write(d.path().join("full/mine.txt"), "user data").unwrap();
    std::fs::write(d.path().join("afile"), "user data").unwrap();
    let e = fails(&rlvr(d.path(), &["new-model", "--output", "full"]));
    assert!(e.contains("exists and is not empty"), "{e}");
    let e = fails(&rlvr(d.path(), &["new-model", "--output", "afile"]));
    assert!(e.contains("not a directory"), "{e}");
    ok(&rlvr(d.path(), &["new-model", "--output", "m"]));
    std::fs::write(
        d.path().join("p.jsonl"),
        "{\"prompt\": \"1+1=\", \"answer\": \"2\"}\n",
    )
    .unwrap();
    let e = fails(&rlvr(
        d.path(),
        &[
            "eval",
            "--model",
            "m",
            "--data",
            "p.jsonl",
            "--n",
            "1",
            "--max-tokens",
            "2",
            "--output",
            "full",
        ],
    ));
    assert!(e.contains("not empty; pass --overwrite"), "{e}");
    let e = fails(&rlvr(
        d.path(),
        &[
            "sft", "--model", "m", "--data", "p.jsonl", "--output", "full",
        ],
    ));
    assert!(e.contains("not empty; pass --force"), "{e}");
    let e = fails(&rlvr(
        d.path(),
        &[
            "convert",
            "--from-gguf",
            "x.gguf",
            "--output",
            "afile",
            "--force",
        ],
    ));
    assert!(e.contains("not a directory"), "{e}");
    assert_eq!(
        std::fs::read_to_string(d.path().join("full/mine.txt")).unwrap(),
        "user data"
    );
    assert_eq!(
        std::fs::read_to_string(d.path().join("afile")).unwrap(),
        "user data"
    );
}

fn write_task(dir: &Path) {
    ok(&rlvr(dir, &["new-model", "--output", "m"]));
    ok(&rlvr(
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
    ));
}

fn train(dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
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
        "--n",
        "2",
        "--max-response-tokens",
        "4",
        "--save-every",
        "1",
    ];
    args.extend_from_slice(extra);
    rlvr(dir, &args)
}

#[test]
fn train_keeps_runs_apart_and_resume_checks_the_fingerprint() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    write_task(p);
    ok(&train(p, &["--steps", "1"]));
    let metrics = std::fs::read_to_string(p.join("run/metrics.jsonl")).unwrap();
    // A second run into the same directory is refused and loses nothing.
    let e = fails(&train(p, &["--steps", "1"]));
    assert!(
        e.contains("not empty; pass --resume to continue its run or --force"),
        "{e}"
    );
    assert_eq!(
        std::fs::read_to_string(p.join("run/metrics.jsonl")).unwrap(),
        metrics
    );
    // A resume with a changed setting or changed data names it, and continues only if allowed.
    let e = fails(&train(p, &["--steps", "2", "--resume", "--lr", "0.5"]));
    assert!(
        e.contains("lr was 0.0001") && e.contains("--allow-changes lr"),
        "{e}"
    );
    let text = std::fs::read_to_string(p.join("d.jsonl")).unwrap();
    std::fs::write(
        p.join("d.jsonl"),
        text.replacen("\"answer\":\"", "\"answer\":\"9", 1),
    )
    .unwrap();
    let e = fails(&train(p, &["--steps", "2", "--resume"]));
    assert!(e.contains("the contents of the data files changed"), "{e}");
    ok(&train(
        p,
        &["--steps", "2", "--resume", "--allow-changes", "data"],
    ));
    let history = std::fs::read_to_string(p.join("run/history.jsonl")).unwrap();
    assert!(
        history.lines().count() == 2 && history.contains("\"changed\":{\"data\""),
        "{history}"
    );
    let e = fails(&train(p, &["--steps", "2", "--resume"]));
    assert!(e.contains("the run is complete at step 2"), "{e}");
    // Debris of a killed checkpoint write is removed and never resumed from.
    let debris = p.join("run/checkpoints/.tmp-step-000003-999999999");
    std::fs::create_dir_all(&debris).unwrap();
    std::fs::write(debris.join("trainer_state.json"), "{}").unwrap();
    ok(&train(p, &["--steps", "3", "--resume"]));
    assert!(!debris.exists());
    ok(&train(p, &["--steps", "1", "--force"]));
    assert_eq!(
        std::fs::read_to_string(p.join("run/metrics.jsonl"))
            .unwrap()
            .lines()
            .count(),
        1
    );
}

/// `rlvr eval` of model m on d.jsonl (one sample of at most 2 tokens) into `output`.
fn eval_into(dir: &Path, output: &str) -> Output {
    rlvr(
        dir,
        &[
            "eval",
            "--model",
            "m",
            "--data",
            "d.jsonl",
            "--n",
            "1",
            "--max-tokens",
            "2",
            "--output",
            output,
        ],
    )
}

#[test]
fn eval_resume_refuses_changed_gold_answers_and_models() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    write_task(p);
    let eval = || eval_into(p, "ev");
    ok(&eval());
    let text = std::fs::read_to_string(p.join("d.jsonl")).unwrap();
    std::fs::write(
        p.join("d.jsonl"),
        text.replacen("\"answer\":\"", "\"answer\":\"9", 1),
    )
    .unwrap();
    let e = fails(&eval());
    assert!(e.contains("other settings") && e.contains("data"), "{e}");
    std::fs::write(p.join("d.jsonl"), &text).unwrap();
    ok(&eval());
    ok(&rlvr(p, &["new-model", "--output", "m2", "--seed", "9"]));
    std::fs::remove_dir_all(p.join("m")).unwrap();
    std::fs::rename(p.join("m2"), p.join("m")).unwrap();
    let e = fails(&eval());
    assert!(e.contains("other settings") && e.contains("models"), "{e}");
}

#[test]
fn eval_killed_while_writing_run_json_starts_again() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    write_task(p);
    // What a run killed inside the atomic write of run.json leaves: the directory and the
    // writer's temporary file, nothing else. Pid 999999999 is above any pid Linux hands out.
    let debris = p.join("ev/.run.json.tmp-999999999");
    std::fs::create_dir_all(p.join("ev")).unwrap();
    std::fs::write(&debris, "{\"n\": ").unwrap();
    let eval = |out: &str| eval_into(p, out);
    ok(&eval("ev"));
    assert!(!debris.exists() && p.join("ev/run.json").exists());
    // A file the user put there is still theirs: refused, not deleted.
    std::fs::create_dir_all(p.join("ev2")).unwrap();
    std::fs::write(p.join("ev2/notes.txt"), "mine").unwrap();
    let e = fails(&eval("ev2"));
    assert!(e.contains("exists and is not empty"), "{e}");
    assert!(p.join("ev2/notes.txt").exists());
}
