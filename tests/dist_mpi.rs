//! Data parallelism over MPI on the CPU (`cargo test --features mpi --test dist_mpi`): two ranks
//! started by `mpirun -np 2` train a tiny model to exactly the weights, optimizer state and
//! metrics of one process on the combined batch (same seed, same `dp_shards`), for PSR
//! (filter), NSR (mask), GRPO and PPO, with and without ZeRO-1; and a 2-rank checkpoint resumes
//! on one rank with identical metrics. `rlvr sft` likewise: 2 ranks (under mpirun, and through
//! `--nproc 2` with ZeRO-1) write exactly the weights and losses of one process.
#![cfg(feature = "mpi")]
mod tiny_task;

use std::path::{Path, PathBuf};
use std::process::Command;

fn rlvr() -> &'static str {
    env!("CARGO_BIN_EXE_rlvr")
}

fn have_mpirun() -> bool {
    let ok = Command::new("mpirun")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!(
            "SKIPPED: `mpirun` is not on PATH (Debian: apt-get install openmpi-bin libopenmpi-dev)"
        );
    }
    ok
}

/// A tiny model, a synthetic task and a run config with several mini-batches and micro-batches.
fn setup(dir: &Path, extra: &str) -> PathBuf {
    tiny_task::write(dir);
    let cfg = format!(
        "model = {:?}\ndata = [{:?}]\nsteps = 2\nprompts_per_step = 4\nn = 4\n\
         mini_batch_prompts = 2\nlr = 1e-3\nmax_prompt_tokens = 64\nmax_response_tokens = 6\n\
         template = \"plain\"\nsave_every = 1\nrollout_batch = 8\n\
         max_tokens_per_micro_batch = 40\nval_data = [{:?}]\nval_every = 1\n\
         val_max_problems = 6\n{extra}",
        dir.join("model"),
        dir.join("train.jsonl"),
        dir.join("train.jsonl")
    );
    let path = dir.join("run.toml");
    std::fs::write(&path, cfg).unwrap();
    path
}

/// `rlvr train` on 1 process, or on `np` ranks under mpirun.
fn train(np: usize, config: &Path, output: &Path, extra: &[&str]) {
    let mut cmd = if np == 1 {
        Command::new(rlvr())
    } else {
        let mut c = Command::new("mpirun");
        c.args(["--allow-run-as-root", "--oversubscribe", "-np"])
            .arg(np.to_string())
            .arg(rlvr());
        c
    };
    cmd.args(["train", "--quiet", "--config"])
        .arg(config)
        .arg("--output")
        .arg(output)
        .args(extra);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{np} rank(s) failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Weights and optimizer state of a checkpoint, byte for byte.
fn state(run: &Path, step: usize) -> Vec<(String, Vec<u8>)> {
    let dir = run.join(format!("checkpoints/step-{step:06}"));
    let mut files = vec![];
    for f in [
        "model.safetensors",
        "optimizer.safetensors",
        "critic/model.safetensors",
        "critic/value_head.safetensors",
        "critic/optimizer.safetensors",
    ] {
        if let Ok(b) = std::fs::read(dir.join(f)) {
            files.push((f.to_string(), b));
        }
    }
    assert!(
        files.len() >= 2,
        "{} lacks weights or optimizer",
        dir.display()
    );
    files
}

fn assert_same_run(a: &Path, b: &Path, step: usize, what: &str) {
    let (ma, mb) = (tiny_task::metrics(a), tiny_task::metrics(b));
    // one line per step (a final validation line may follow)
    assert_eq!(tiny_task::step_lines(&ma).count(), step, "{what}");
    assert_eq!(ma, mb, "{what}: metrics differ");
    let (sa, sb) = (state(a, step), state(b, step));
    assert_eq!(sa.len(), sb.len(), "{what}");
    for ((fa, ba), (_, bb)) in sa.iter().zip(&sb) {
        assert!(ba == bb, "{what}: {fa} differs at step {step}");
    }
}

#[test]
fn two_ranks_train_exactly_like_one_rank_on_the_combined_batch() {
    if !have_mpirun() {
        return;
    }
    for (name, extra) in [
        (
            "psr-filter",
            "objective = \"psr\"\npsr_nsr_mode = \"filter\"\n",
        ),
        ("nsr-mask", "objective = \"nsr\"\npsr_nsr_mode = \"mask\"\n"),
        ("grpo-zero1", "objective = \"grpo\"\nzero = 1\n"),
        ("ppo-zero1", "objective = \"ppo\"\nzero = 1\n"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = setup(dir.path(), extra);
        let (one, two) = (dir.path().join("one"), dir.path().join("two"));
        train(1, &cfg, &one, &["--dp-shards", "2"]);
        train(2, &cfg, &two, &[]);
        assert_same_run(&one, &two, 2, name);
        let m = tiny_task::metrics(&two);
        assert!(
            tiny_task::step_lines(&m).all(|l| l["actor/optimizer_steps"].as_u64() >= Some(1)),
            "{name}: no update ran: {m:?}"
        );
        let log = std::fs::read_to_string(two.join("log.txt")).unwrap();
        assert!(log.contains("2 process(es)"), "{name}: {log}");
    }
}

#[test]
fn two_rank_checkpoints_resume_on_one_rank() {
    if !have_mpirun() {
        return;
    }
    // GRPO unsharded; PPO under ZeRO-1, resumed without it (checkpoints hold the full state).
    for (name, extra, resume_flags) in [
        ("grpo", "objective = \"grpo\"\n", vec![]),
        (
            "ppo-zero1",
            "objective = \"ppo\"\nzero = 1\n",
            vec!["--zero", "0"],
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = setup(dir.path(), extra);
        let (one, two) = (dir.path().join("one"), dir.path().join("two"));
        train(1, &cfg, &one, &["--dp-shards", "2", "--steps", "4"]);
        train(2, &cfg, &two, &[]);
        let reference = tiny_task::metrics(&one);
        // the 2-step run's steps are the 4-step run's first two (its final validation line aside)
        let two_steps: Vec<_> = tiny_task::step_lines(&tiny_task::metrics(&two))
            .cloned()
            .collect();
        let first_two: Vec<_> = tiny_task::step_lines(&reference).take(2).cloned().collect();
        assert_eq!(two_steps, first_two, "{name}");
        // The 2-rank checkpoint (dp_shards = 2 recorded in it) continues on one process.
        let mut flags = vec!["--resume", "--steps", "4"];
        flags.extend(resume_flags);
        train(1, &cfg, &two, &flags);
        assert_same_run(&one, &two, 4, &format!("{name} resumed on 1 rank"));
    }
}

/// `rlvr sft` on one process with `--dp-shards 2`, or on 2 ranks under mpirun (`via_nproc`:
/// `rlvr sft --nproc 2`, which re-runs itself under mpirun). Returns stderr.
fn sft(dir: &Path, output: &Path, ranks: usize, via_nproc: bool, extra: &[&str]) -> String {
    let mut cmd = if ranks == 1 || via_nproc {
        Command::new(rlvr())
    } else {
        let mut c = Command::new("mpirun");
        c.args(["--allow-run-as-root", "--oversubscribe", "-np", "2"])
            .arg(rlvr());
        c
    };
    cmd.arg("sft")
        .arg("--model")
        .arg(dir.join("model"))
        .arg("--data")
        .arg(dir.join("train.jsonl"))
        .arg("--output")
        .arg(output)
        .args(["--steps", "3", "--batch-size", "5", "--lr", "3e-3"])
        .args(["--template", "plain", "--max-tokens", "128"])
        .args(extra);
    if ranks == 1 {
        cmd.args(["--dp-shards", "2"]);
    } else if via_nproc {
        cmd.args(["--nproc", "2"]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "sft on {ranks} rank(s) failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn two_rank_sft_writes_exactly_the_one_process_model() {
    if !have_mpirun() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), "");
    let one = dir.path().join("one");
    sft(dir.path(), &one, 1, false, &[]);
    let read = |run: &Path| {
        (
            std::fs::read_to_string(run.join("sft_log.jsonl")).unwrap(),
            std::fs::read(run.join("model.safetensors")).unwrap(),
        )
    };
    let reference = read(&one);
    assert_eq!(reference.0.lines().count(), 3, "{}", reference.0);
    for (name, via_nproc, extra) in [
        ("mpirun", false, vec![]),
        ("nproc-zero1", true, vec!["--zero", "1"]),
    ] {
        let two = dir.path().join(name);
        let err = sft(dir.path(), &two, 2, via_nproc, &extra);
        assert!(err.contains("2 process(es)"), "{name}: {err}");
        let got = read(&two);
        assert_eq!(got.0, reference.0, "{name}: losses differ");
        assert!(got.1 == reference.1, "{name}: weights differ");
    }
}
