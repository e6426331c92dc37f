//! Fault injection: SIGKILL at random points of `train`, `eval`, `grade` and `convert` (several
//! seeds), then the same command again (`--resume` for train). Nothing may be lost or mixed: the
//! resumed run's metrics equal an uninterrupted run's, the outputs equal the uninterrupted ones,
//! and no temporary file or directory is left behind. CI runs a few seeds;
//! `RLVR_KILL_SEEDS=50 cargo test --test reliability_kill -- --nocapture` runs more and prints
//! where the kills landed: during a write (the process, stopped just before its kill, had a
//! temporary file or directory open), elsewhere, or after the command had already finished.
mod support;

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;
use support::outputs::{debris, metrics};

fn seeds() -> u64 {
    std::env::var("RLVR_KILL_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
}

fn cmd(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rlvr"));
    c.current_dir(dir).args(args);
    c
}

fn ok(out: Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs a command that must succeed; returns its wall time in ms.
fn timed(f: impl FnOnce() -> Output) -> u64 {
    let t = std::time::Instant::now();
    ok(f());
    (t.elapsed().as_millis() as u64).max(1)
}

/// A delay in 0..max_ms from `seed` (splitmix64).
fn delay(seed: u64, max_ms: u64) -> Duration {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    Duration::from_millis((z ^ (z >> 31)) % max_ms)
}

/// Where the kills of one command landed.
#[derive(Default)]
struct Landed {
    /// A temporary file or directory of the command existed when it was stopped.
    writing: usize,
    elsewhere: usize,
    /// The command had exited before the kill.
    finished: usize,
}

/// Starts `args` in `dir`, and after the seed's delay stops it (SIGSTOP, so the files show what
/// it was doing), notes whether a temporary file or directory of it exists under `dir`, and
/// sends SIGKILL (or finds it already finished).
fn kill_at(dir: &Path, args: &[&str], seed: u64, max_ms: u64, landed: &mut Landed) {
    let before = debris(dir);
    let mut child = cmd(dir, args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(delay(seed, max_ms));
    // SAFETY: kill(2) on our own child, not yet waited for, so its pid is still its own.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGSTOP);
    }
    let writing = debris(dir).iter().any(|d| !before.contains(d));
    let _ = child.kill();
    let status = child.wait().unwrap();
    if status.signal() != Some(libc::SIGKILL) {
        landed.finished += 1;
    } else if writing {
        landed.writing += 1;
    } else {
        landed.elsewhere += 1;
    }
}

#[test]
fn killed_commands_lose_nothing_and_leave_no_debris() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    ok(cmd(p, &["new-model", "--output", "m"]).output().unwrap());
    ok(cmd(
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
    )
    .output()
    .unwrap());
    let train = |out: &str, resume: bool| {
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
            "3",
            "--save-every",
            "1",
        ];
        if resume {
            a.push("--resume");
        }
        a.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let eval = |out: &str| {
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
            "--output",
            out,
        ]
        .map(String::from)
        .to_vec()
    };
    let strs = |v: &[String]| {
        v.iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\u{0}")
    };
    let run = |v: &[String]| {
        cmd(p, &strs(v).split('\u{0}').collect::<Vec<_>>())
            .output()
            .unwrap()
    };
    // Each kill lands somewhere in the uninterrupted command's run time.
    let train_ms = timed(|| run(&train("ref", false)));
    let eval_ms = timed(|| run(&eval("ev-ref")));
    let (gguf, _) = support::tiny_gguf::tiny_model("llama");
    gguf.write(&p.join("t.gguf"));
    let conv_ms = timed(|| {
        cmd(
            p,
            &["convert", "--from-gguf", "t.gguf", "--output", "conv-ref"],
        )
        .output()
        .unwrap()
    });
    std::fs::write(
        p.join("g.jsonl"),
        (0..2000)
            .map(|i| {
                format!(
                    "{{\"response\": \"\\\\boxed{{{i}}}\", \"answer\": \"{}\"}}\n",
                    i % 7
                )
            })
            .collect::<String>(),
    )
    .unwrap();
    let grade_ms = timed(|| {
        cmd(
            p,
            &["grade", "--input", "g.jsonl", "--output", "g-ref.jsonl"],
        )
        .output()
        .unwrap()
    });
    let reference = std::fs::read(p.join("g-ref.jsonl")).unwrap();

    let mut landed: [(&str, Landed); 4] = [
        ("train", Landed::default()),
        ("eval", Landed::default()),
        ("grade", Landed::default()),
        ("convert", Landed::default()),
    ];
    for seed in 0..seeds() {
        let name = format!("run{seed}");
        let args = strs(&train(&name, true));
        let at = &mut landed[0].1;
        kill_at(
            p,
            &args.split('\u{0}').collect::<Vec<_>>(),
            seed,
            train_ms,
            at,
        );
        // A kill after the last step leaves a finished run, which a resume refuses to redo.
        if !p.join(&name).join("checkpoints/step-000003").exists() {
            ok(run(&train(&name, true)));
        }
        assert_eq!(
            metrics(&p.join(&name)),
            metrics(&p.join("ref")),
            "seed {seed}"
        );

        let ev = format!("ev{seed}");
        let args = strs(&eval(&ev));
        let at = &mut landed[1].1;
        kill_at(
            p,
            &args.split('\u{0}').collect::<Vec<_>>(),
            seed,
            eval_ms,
            at,
        );
        ok(run(&eval(&ev)));
        let samples = |dir: &str| std::fs::read(p.join(dir).join("m/d.jsonl")).unwrap();
        assert_eq!(samples(&ev), samples("ev-ref"), "seed {seed}");

        let g = format!("g{seed}.jsonl");
        kill_at(
            p,
            &["grade", "--input", "g.jsonl", "--output", &g],
            seed,
            grade_ms,
            &mut landed[2].1,
        );
        ok(cmd(p, &["grade", "--input", "g.jsonl", "--output", &g])
            .output()
            .unwrap());
        assert_eq!(std::fs::read(p.join(&g)).unwrap(), reference, "seed {seed}");

        let c = format!("conv{seed}");
        kill_at(
            p,
            &["convert", "--from-gguf", "t.gguf", "--output", &c],
            seed,
            conv_ms,
            &mut landed[3].1,
        );
        ok(cmd(
            p,
            &[
                "convert",
                "--from-gguf",
                "t.gguf",
                "--output",
                &c,
                "--force",
            ],
        )
        .output()
        .unwrap());
        let st = |dir: &str| std::fs::read(p.join(dir).join("model.safetensors")).unwrap();
        assert_eq!(st(&c), st("conv-ref"), "seed {seed}");
    }
    assert!(debris(p).is_empty(), "{:?}", debris(p));
    let mut total = Landed::default();
    for (name, l) in &landed {
        eprintln!(
            "{name}: {} kills ({} during a write, {} elsewhere); finished before the kill: {}",
            l.writing + l.elsewhere,
            l.writing,
            l.elsewhere,
            l.finished
        );
        total.writing += l.writing;
        total.elsewhere += l.elsewhere;
        total.finished += l.finished;
    }
    eprintln!(
        "all: {} kills survived ({} during a write, {} elsewhere); finished before the kill: {}; data lost: 0",
        total.writing + total.elsewhere,
        total.writing,
        total.elsewhere,
        total.finished
    );
}
