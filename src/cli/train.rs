//! `rlvr train`: RL on verifiable problems with PSR, NSR, W-REINFORCE, REINFORCE, GRPO or PPO.
use super::device::DeviceArg;
use crate::rl::config::{Preset, RolloutWeights, Rollouts, TrainConfig};
use crate::rl::dp::ZeroStage;
use crate::rl::opening::Opening;
use crate::rl::{ObjectiveKind, PsrNsrMode};
use crate::tokenizer::ChatTemplate;
use crate::verify::Mode as Verifier;
use anyhow::{anyhow, Context, Result};
use std::path::PathBuf;

/// Train a policy with one of the paper's objectives. Settings come from (later wins): the
/// defaults, `--preset`, `--config run.toml` (every flag is also a key, with `_` for `-`), and the
/// flags given here. Writes RUN_DIR/metrics.jsonl (one line per RL step), RUN_DIR/log.txt,
/// RUN_DIR/config.toml and Hugging Face checkpoints under RUN_DIR/checkpoints/step-N.
#[derive(clap::Args, Debug, Default)]
pub struct Args {
    /// Where the policy update runs (command line only): cpu, cuda (our kernels: bf16 weights
    /// and activations, f32 master weights, gradients and AdamW moments) or emu (the same kernels
    /// on the host emulator, for checking); old and reference log-probs are scored there too.
    /// Rollouts and the PPO critic stay on the CPU. With RLVR_GEMM_WGMMA=1 the GEMMs take the
    /// sm_90a wgmma + TMA kernel (GEMM rung 5) on compute capability 9.0 GPUs and on emu; it has not
    /// run on a GPU yet, so the mma.sync kernels stay the default.
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    pub device: DeviceArg,
    /// Preset with the paper's values.
    #[arg(long, value_enum)]
    pub preset: Option<Preset>,
    /// TOML file with any of the keys below.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Continue from the newest checkpoint in the output directory (bit-for-bit). The run's
    /// fingerprint (model and data contents, settings that change results) must match the one
    /// it started with; `steps`, `save_every`, `val_every` and the paths may change.
    #[arg(long)]
    pub resume: bool,
    /// With --resume: continue although these fingerprint keys changed (e.g. `lr data model`);
    /// each change is recorded in RUN_DIR/history.jsonl.
    #[arg(long, num_args = 1.., value_name = "KEY")]
    pub allow_changes: Vec<String>,
    /// Delete an existing, non-empty run directory and start over (without it, or --resume, a
    /// non-empty run directory is refused).
    #[arg(long)]
    pub force: bool,
    /// Hugging Face model directory (with tokenizer.json).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Training data: verl parquet or JSONL (`prompt`, `answer`); repeatable. Problems with an
    /// empty prompt or gold answer are named in a warning (they can only score 0); a file with
    /// nothing else is an error.
    #[arg(long, num_args = 1..)]
    pub data: Vec<PathBuf>,
    /// Validation data (greedy accuracy every --val-every steps); repeatable.
    #[arg(long, num_args = 1..)]
    pub val_data: Vec<PathBuf>,
    /// Run directory.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// The RL objective.
    #[arg(long, value_enum)]
    pub objective: Option<ObjectiveKind>,
    /// W-REINFORCE's weight on positive samples (paper: 0.1).
    #[arg(long)]
    pub lambda: Option<f32>,
    /// How PSR/NSR leave out the other class.
    #[arg(long, value_enum)]
    pub psr_nsr_mode: Option<PsrNsrMode>,
    /// RL steps.
    #[arg(long)]
    pub steps: Option<usize>,
    /// Prompts per RL step (paper: 1024).
    #[arg(long)]
    pub prompts_per_step: Option<usize>,
    /// Samples per prompt (paper: 8).
    #[arg(long)]
    pub n: Option<usize>,
    /// Prompts per mini-batch, one optimizer step each (paper: 256).
    #[arg(long)]
    pub mini_batch_prompts: Option<usize>,
    /// PPO clip ε (paper: 0.2).
    #[arg(long)]
    pub clip_eps: Option<f32>,
    /// Actor learning rate (paper: 1e-6, constant).
    #[arg(long)]
    pub lr: Option<f32>,
    /// AdamW weight decay (paper code: 0.01).
    #[arg(long)]
    pub weight_decay: Option<f32>,
    /// Global gradient-norm clip (paper: 1.0).
    #[arg(long)]
    pub grad_clip: Option<f32>,
    /// Rollout temperature (paper: 1.0); log-probs use logits divided by it.
    #[arg(long)]
    pub temperature: Option<f32>,
    /// Rollout top-p (paper: 1.0).
    #[arg(long)]
    pub top_p: Option<f32>,
    /// Rollout top-k (0 = off).
    #[arg(long)]
    pub top_k: Option<usize>,
    /// Prompts with more tokens are dropped (counted in log.txt).
    #[arg(long)]
    pub max_prompt_tokens: Option<usize>,
    /// Response token limit.
    #[arg(long)]
    pub max_response_tokens: Option<usize>,
    /// Entropy bonus coefficient [default 1e-3, as the paper's released scripts run; its text
    /// says 1e-4]. Every metrics line records it (`actor/entropy_coef`).
    #[arg(long)]
    pub entropy_coef: Option<f32>,
    /// GRPO k3 KL-loss coefficient to the frozen initial policy (paper: 1e-3).
    #[arg(long)]
    pub kl_coef: Option<f32>,
    /// PPO k1 KL penalty in the reward (paper: 1e-3).
    #[arg(long)]
    pub ppo_kl_coef: Option<f32>,
    /// PPO critic learning rate (paper: 1e-5).
    #[arg(long)]
    pub critic_lr: Option<f32>,
    /// Seed for data order and rollouts.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Chat template; default by model family.
    #[arg(long, value_enum)]
    pub template: Option<ChatTemplate>,
    /// Checkpoint every N RL steps (and at the end).
    #[arg(long)]
    pub save_every: Option<usize>,
    /// Validate every N RL steps, and after the last one (greedy; Qwen3 sampled at T 0.7,
    /// top-p 0.8, top-k 20, as the paper's protocol).
    #[arg(long)]
    pub val_every: Option<usize>,
    /// Validate on at most this many problems (0 = all).
    #[arg(long)]
    pub val_max_problems: Option<usize>,
    /// Token budget (prompt + response) of one micro-batch; gradients are accumulated.
    #[arg(long)]
    pub max_tokens_per_micro_batch: Option<usize>,
    /// Sequences decoded at once during rollouts.
    #[arg(long)]
    pub rollout_batch: Option<usize>,
    /// Weight storage of rollouts sampled on the CPU: f32 (default: exactly the trained policy)
    /// or bf16 (half the bytes per decode step: faster only while decoding is bound by memory
    /// bandwidth, i.e. small --rollout-batch on few cores — on 2 cores and a 135M model, about
    /// 1.7× at 1 sequence and slower than f32 from 16 on; samples come from the bf16-rounded
    /// policy, while old log-probs are still scored in f32). Validation keeps f32 weights.
    #[arg(long, value_enum)]
    pub rollout_weights: Option<RolloutWeights>,
    /// Reproduce the released code's scheduler quirk: the whole first RL step runs at lr 0 for
    /// the policy and the PPO critic (Adam moments still advance), to compare runs step for step.
    #[arg(long)]
    pub lr_zero_first_step: bool,
    /// Do not shrink the gradient of a short mini-batch (verl does, by len/nominal).
    #[arg(long)]
    pub no_short_minibatch_downweight: bool,
    /// Which verifier decides correctness.
    #[arg(long, value_enum)]
    pub verifier: Option<Verifier>,
    /// Keep only each layer's input (on the CPU tape, or on the device with --device cuda|emu)
    /// and recompute the layer in the backward: bit-identical gradients, far less activation
    /// memory, about 1.1–1.2× the update time.
    #[arg(long)]
    pub activation_checkpointing: bool,
    /// With --device cuda|emu: where rollouts and validation answers are sampled (default:
    /// device).
    #[arg(long, value_enum)]
    pub rollouts: Option<Rollouts>,
    /// With --device cuda: gradient shards and ZeRO-1 weights move between GPUs with NCCL
    /// (needs a build with `--features nccl`; with one rank it still runs the NCCL exchange).
    /// Without it they are staged through the host collectives.
    #[arg(long)]
    pub nccl: bool,
    /// Hide the progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Data-parallel processes on this machine: re-runs this command under
    /// `mpirun -np N` (needs a build with `--features mpi`). Under mpirun/srun, omit it.
    #[arg(long)]
    pub nproc: Option<usize>,
    /// Gradient shards per mini-batch, summed in order (0 = the number of processes). A run
    /// with S shards gives the same weights on any number of processes.
    #[arg(long)]
    pub dp_shards: Option<usize>,
    /// 1 = ZeRO-1: shard AdamW moments and master-weight updates across the processes.
    #[arg(long, value_enum)]
    pub zero: Option<ZeroStage>,
}

/// Overlay a TOML table onto a config (keys as in `TrainConfig`).
fn overlay(base: TrainConfig, table: toml::Table, source: &str) -> Result<TrainConfig> {
    let mut v = toml::Table::try_from(&base)?;
    for (k, default) in crate::rl::config::KEYS_OMITTED_AT_DEFAULT {
        v.entry(*k)
            .or_insert_with(|| toml::Value::String((*default).into()));
    }
    for (k, val) in table {
        if !v.contains_key(&k) {
            return Err(anyhow!("{source}: unknown key `{k}`"));
        }
        v.insert(k, val);
    }
    toml::Value::Table(v)
        .try_into()
        .map_err(|e| anyhow!("{source}: {e}"))
}

pub fn resolve(a: &Args) -> Result<TrainConfig> {
    let mut cfg = match &a.preset {
        Some(p) => TrainConfig::preset(*p),
        None => TrainConfig::default(),
    };
    if let Some(path) = &a.config {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let table: toml::Table = text
            .parse()
            .map_err(|e| anyhow!("{}: malformed TOML: {e}", path.display()))?;
        cfg = overlay(cfg, table, &path.display().to_string())?;
    }
    macro_rules! set {
        ($($f:ident),*) => { $( if let Some(v) = a.$f.clone() { cfg.$f = v; } )* };
    }
    set!(
        model,
        output,
        objective,
        lambda,
        psr_nsr_mode,
        steps,
        prompts_per_step,
        n,
        mini_batch_prompts,
        clip_eps,
        lr,
        weight_decay,
        grad_clip,
        temperature,
        top_p,
        top_k,
        max_prompt_tokens,
        max_response_tokens,
        entropy_coef,
        kl_coef,
        ppo_kl_coef,
        critic_lr,
        seed,
        save_every,
        val_every,
        val_max_problems,
        max_tokens_per_micro_batch,
        rollout_batch,
        rollout_weights,
        verifier,
        dp_shards,
        zero,
        rollouts
    );
    if let Some(t) = a.template {
        cfg.template = Some(t);
    }
    if !a.data.is_empty() {
        cfg.data = a.data.clone();
    }
    if !a.val_data.is_empty() {
        cfg.val_data = a.val_data.clone();
    }
    if a.lr_zero_first_step {
        cfg.lr_zero_first_step = true;
    }
    if a.no_short_minibatch_downweight {
        cfg.short_minibatch_downweight = false;
    }
    if a.activation_checkpointing {
        cfg.activation_checkpointing = true;
    }
    if a.nccl {
        cfg.nccl = true;
    }
    cfg.validate()?;
    Ok(cfg)
}

pub fn run(a: Args) -> Result<()> {
    let cfg = resolve(&a)?;
    if cfg.nccl && matches!(a.device, DeviceArg::Cpu) {
        return Err(anyhow!(
            "--nccl moves the device update's buffers between GPUs: it needs --device cuda"
        ));
    }
    let Some(comm) = super::ranks::start_ranks(a.nproc)? else {
        return Ok(());
    };
    // A rank that cannot open its device ends them all (the others would wait in a collective).
    let dev = super::ranks::or_abort_all(comm.as_ref(), a.device.kernel_device(cfg.seed))?;
    let opening = Opening {
        resume: a.resume,
        force: a.force,
        allow_changes: a.allow_changes.clone(),
    };
    let out =
        crate::rl::trainer::train_with(&cfg, opening, !a.quiet, comm.as_ref(), dev.as_deref());
    let s = super::ranks::or_abort_all(comm.as_ref(), out)?;
    if comm.rank() == 0 {
        println!("{}", serde_json::to_string_pretty(&s.last_metrics)?);
        if let Some(c) = s.final_checkpoint {
            eprintln!("final checkpoint: {}", c.display());
        }
    }
    Ok(())
}
