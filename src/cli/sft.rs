//! `rlvr sft`: supervised fine-tuning on (prompt, answer) pairs.
use super::device::DeviceArg;
use super::ranks::{or_abort_all, start_ranks};
use crate::rl::dp::{DataParallel, ZeroStage};
use crate::rl::sft::{sft_on, SftConfig};
use crate::tokenizer::ChatTemplate;
use anyhow::{bail, Context, Result};
use std::path::PathBuf;

/// Supervised fine-tuning (or pretraining from scratch) on (prompt, answer) pairs through the
/// fused log-prob path: token-mean negative log-likelihood of the response (the formatted answer
/// followed by the model's EOS token). Data parallel like `rlvr train` (`--nproc`, `--dp-shards`,
/// `--zero`); rank 0 writes the output. With `--device cuda|emu` each step runs on the device
/// like `rlvr train`'s policy update.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Where each step runs: cpu, cuda (our kernels: bf16 weights and activations, f32 master
    /// weights, gradients and AdamW moments; one GPU per process) or emu (the same kernels on
    /// the host emulator, for checking). The output is written from the f32 master weights.
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    pub device: DeviceArg,
    /// Model directory to start from.
    #[arg(long)]
    pub model: PathBuf,
    /// verl parquet or JSONL (`prompt`, `answer`); repeatable.
    #[arg(long, num_args = 1.., required = true)]
    pub data: Vec<PathBuf>,
    /// Output model directory.
    #[arg(long)]
    pub output: PathBuf,
    /// Optimizer steps.
    #[arg(long, default_value_t = 200)]
    pub steps: usize,
    /// Sequences per step.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// AdamW learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f32,
    /// AdamW weight decay.
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f32,
    /// Seed for example order.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Chat template.
    #[arg(long, value_enum, default_value_t = ChatTemplate::Plain)]
    pub template: ChatTemplate,
    /// Response text; `{answer}` is replaced by the gold answer.
    #[arg(long, default_value = "\\boxed{{answer}}")]
    pub response_format: String,
    /// Skip examples longer than this (prompt + response tokens).
    #[arg(long, default_value_t = 512)]
    pub max_tokens: usize,
    /// Keep only each layer's input on the tape and recompute the layer in the backward:
    /// bit-identical gradients, far less activation memory, about 1.1–1.2× the step time.
    #[arg(long)]
    pub activation_checkpointing: bool,
    /// Data-parallel processes on this machine: re-runs this command under
    /// `mpirun -np N` (needs a build with `--features mpi`). Under mpirun/srun, omit it.
    #[arg(long)]
    pub nproc: Option<usize>,
    /// Gradient shards per step, summed in order (0 = the number of processes). A run with S
    /// shards gives the same weights on any number of processes.
    #[arg(long, default_value_t = 0)]
    pub dp_shards: usize,
    /// 1 = ZeRO-1: shard AdamW moments and master-weight updates across the processes.
    #[arg(long, value_enum, default_value_t = ZeroStage::Off)]
    pub zero: ZeroStage,
    /// With --device cuda: gradient shards move between GPUs with NCCL (a build with
    /// `--features nccl`); without it they are staged through the host collectives.
    #[arg(long)]
    pub nccl: bool,
}

pub fn run(a: Args) -> Result<()> {
    let cfg = SftConfig {
        model: a.model,
        data: a.data,
        output: a.output.clone(),
        steps: a.steps,
        batch_size: a.batch_size.max(1),
        lr: a.lr,
        weight_decay: a.weight_decay,
        grad_clip: 1.0,
        seed: a.seed,
        template: a.template,
        response_format: a.response_format,
        max_tokens: a.max_tokens,
        activation_checkpointing: a.activation_checkpointing,
        nccl: a.nccl,
    };
    if a.nccl && matches!(a.device, DeviceArg::Cpu) {
        bail!("--nccl moves the device update's buffers between GPUs: it needs --device cuda");
    }
    let Some(comm) = start_ranks(a.nproc)? else {
        return Ok(());
    };
    // A rank that cannot open its device ends them all (the others would wait in a collective).
    let dev = or_abort_all(comm.as_ref(), a.device.kernel_device(cfg.seed))?;
    let dp = DataParallel::new(comm.as_ref(), a.dp_shards, a.zero);
    let root = dp.is_root();
    let out = (|| {
        if root {
            std::fs::create_dir_all(&a.output)
                .with_context(|| format!("creating {}", a.output.display()))?;
            if dp.is_parallel() {
                eprintln!("data parallel: {}", dp.describe());
            }
            if let Some(d) = dev.as_deref() {
                eprintln!("sft steps on {}", d.name());
            }
        }
        let log = a.output.join("sft_log.jsonl");
        sft_on(&cfg, Some(&log), &dp, dev.as_deref())
    })();
    let losses = or_abort_all(comm.as_ref(), out)?;
    if root {
        println!(
            "{}",
            serde_json::json!({"first_loss": losses.first(), "last_loss": losses.last(), "steps": losses.len(), "dp_shards": dp.shards})
        );
    }
    Ok(())
}
