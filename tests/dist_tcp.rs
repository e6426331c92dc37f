//! Data parallelism without MPI: two `rlvr train` processes started torchrun-style (RANK,
//! WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT) meet through the TCP store and train a tiny
//! model on the CPU to exactly the weights, optimizer state and metrics of one process with the
//! same `dp_shards` (as `tests/dist_mpi.rs` checks under mpirun).
mod tiny_task;
use std::path::Path;
use std::process::{Command, Stdio};

/// Launcher variables that must not leak in from the environment running the tests.
const LAUNCHER_VARS: &[&str] = &[
    "OMPI_COMM_WORLD_RANK",
    "OMPI_COMM_WORLD_SIZE",
    "PMI_RANK",
    "PMI_SIZE",
    "PMIX_RANK",
    "SLURM_STEP_NUM_TASKS",
    "RANK",
    "WORLD_SIZE",
    "MASTER_ADDR",
    "MASTER_PORT",
    "TORCHELASTIC_USE_AGENT_STORE",
    "RLVR_STORE_PORT",
];

fn setup(dir: &Path) -> std::path::PathBuf {
    tiny_task::write(dir);
    let cfg = format!(
        "model = {:?}\ndata = [{:?}]\nsteps = 2\nprompts_per_step = 4\nn = 4\n\
         mini_batch_prompts = 2\nlr = 1e-3\nmax_prompt_tokens = 64\nmax_response_tokens = 6\n\
         template = \"plain\"\nsave_every = 2\nrollout_batch = 8\n\
         max_tokens_per_micro_batch = 40\nobjective = \"grpo\"\nzero = 1\n",
        dir.join("model"),
        dir.join("train.jsonl"),
    );
    let path = dir.join("run.toml");
    std::fs::write(&path, cfg).unwrap();
    path
}

fn train_cmd(config: &Path, output: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rlvr"));
    for v in LAUNCHER_VARS {
        cmd.env_remove(v);
    }
    cmd.args(["train", "--quiet", "--config"])
        .arg(config)
        .arg("--output")
        .arg(output);
    cmd
}

#[test]
fn two_tcp_ranks_train_exactly_like_one_process() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path());
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    let out = train_cmd(&cfg, &one)
        .args(["--dp-shards", "2"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port()
        .to_string();
    let ranks: Vec<_> = (0..2)
        .map(|r| {
            train_cmd(&cfg, &two)
                .env("RANK", r.to_string())
                .env("LOCAL_RANK", r.to_string())
                .env("WORLD_SIZE", "2")
                .env("MASTER_ADDR", "127.0.0.1")
                .env("MASTER_PORT", &port)
                .env("RLVR_STORE_TIMEOUT_S", "120")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (r, child) in ranks.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "rank {r}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let (ma, mb) = (tiny_task::metrics(&one), tiny_task::metrics(&two));
    assert_eq!(ma.len(), 2);
    assert_eq!(ma, mb, "metrics differ");
    assert!(
        mb.iter()
            .all(|l| l["actor/optimizer_steps"].as_u64() >= Some(1)),
        "no update ran: {mb:?}"
    );
    for f in ["model.safetensors", "optimizer.safetensors"] {
        let a = std::fs::read(one.join("checkpoints/step-000002").join(f)).unwrap();
        let b = std::fs::read(two.join("checkpoints/step-000002").join(f)).unwrap();
        assert!(a == b, "{f} differs after 2 steps");
    }
    let log = std::fs::read_to_string(two.join("log.txt")).unwrap();
    assert!(log.contains("2 process(es)"), "{log}");
}
