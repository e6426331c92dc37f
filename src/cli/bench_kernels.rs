//! `rlvr bench kernels`: every CUDA kernel at training shapes against same-run baselines
//! (`bench::kernels`); `--device emu` runs the same entries at tiny shapes on the emulator.
use crate::backend::cuda::{detect, gpu::Gpu};
use crate::backend::emu::{CountPolicy, EmuDevice};
use crate::bench::kernels::cublas::Cublas;
use crate::bench::kernels::roofline::peak_bf16_tflops;
use crate::bench::kernels::shapes::{Plan, ShapeSet};
use crate::bench::kernels::timing::{Backend, Bencher, RepeatPolicy};
use crate::bench::kernels::{report, Roofs, RungFilter};
use anyhow::{bail, Context, Result};
use std::path::PathBuf;

/// Most blocks of one launch `--counters` runs (a larger grid is sampled and extrapolated).
const COUNTED_BLOCKS: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum KernelBenchDevice {
    /// The GPU through cudarc: training shapes, CUDA-event timing, cuBLAS and roofline baselines.
    Cuda,
    /// The host emulator: tiny shapes (or, with `--shapes real --counters`, the training shapes
    /// counted without timing), wall-clock times that are NOT GPU numbers, no baselines.
    Emu,
}

#[derive(clap::Args, Debug)]
pub struct KernelsArgs {
    /// Where to run the kernels.
    #[arg(long, value_enum, default_value_t = KernelBenchDevice::Cuda)]
    pub device: KernelBenchDevice,
    /// Print one JSON object (the same records as the table) instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Also write the JSON report to this file.
    #[arg(long)]
    pub json_out: Option<PathBuf>,
    /// With `--device cuda` on a machine without a usable GPU: say so and exit 0.
    #[arg(long)]
    pub allow_no_gpu: bool,
    /// Most timed repeats per measurement (the median is reported; the emulator uses at most 2).
    #[arg(long, default_value_t = 10)]
    pub repeats: usize,
    /// Untimed warm-up calls before the timed repeats (fewer when one call exceeds the budget).
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Seconds one measurement may take: repeats are cut to fit, down to 3.
    #[arg(long, default_value_t = 1.0)]
    pub entry_budget_s: f64,
    /// Only run entries whose kernel name contains this text (e.g. gemm, attn, rmsnorm).
    #[arg(long)]
    pub filter: Option<String>,
    /// Only run these ops of the kernel ladders, on these rungs: `OP` (every rung) or
    /// `OP:N,N..` (e.g. `gemm:1,3`, `logprob:4`); repeat the flag for several ops. Rung 1 is an
    /// op's first kernel, each higher rung adds one idea (README, "Benchmarking kernels"). Without
    /// it every entry runs on every rung. `gemm:5` is the sm_90a wgmma + TMA kernel (on devices
    /// other than sm_90 its entries run rung 3); `attn_fwd:5,6` compares the sm_90a attention
    /// forward (rung 6; rung 5 off sm_90 and at head dims other than 64 and 128) with rung 5.
    #[arg(long = "kernel", value_name = "OP[:RUNGS]")]
    pub kernels: Vec<String>,
    /// Tokens T of the fused log-prob entry at training shapes (its goal is stated at 32768).
    #[arg(long, default_value_t = 32768)]
    pub logprob_tokens: usize,
    /// Median ms of a sort-based top-p on the same GPU (scripts/topp_sort_baseline.py), for the
    /// sampling entry's ratio.
    #[arg(long)]
    pub topp_sort_baseline_ms: Option<f64>,
    /// Seed of the random inputs (and of the emulator's thread order).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// With `--device emu`: run each entry once more with the efficiency counters on and add the
    /// counted efficiency (tensor-core share, sector efficiency, bytes over compulsory, shared
    /// wavefronts per request) and an ESTIMATED H100 time to every record.
    #[arg(long)]
    pub counters: bool,
    /// The shapes the entries run at: `tiny` (the emulator's default) exercises the code paths in
    /// seconds; `real` is the GPU run's training shapes (the only set on cuda). On the emulator
    /// `real` needs `--counters` and times nothing: each entry's launches run once, counted with
    /// sampled blocks and shortened K loops on lazily mapped zeros, so every record carries the
    /// ESTIMATED H100 time under the same (group, kernel, rung, shape) as the GPU run's
    /// (scripts/calibrate.py joins the two) and no median.
    #[arg(long, value_enum)]
    pub shapes: Option<ShapeSet>,
}

pub fn run(a: KernelsArgs) -> Result<()> {
    if a.repeats == 0
        || a.entry_budget_s.is_nan()
        || a.entry_budget_s <= 0.0
        || a.logprob_tokens == 0
    {
        bail!("--repeats, --entry-budget-s and --logprob-tokens must be positive");
    }
    if a.topp_sort_baseline_ms
        .is_some_and(|ms| ms.is_nan() || ms <= 0.0)
    {
        bail!("--topp-sort-baseline-ms must be a positive time");
    }
    if a.counters && a.device != KernelBenchDevice::Emu {
        bail!("--counters needs --device emu (the counters are the emulator's)");
    }
    let shapes = a.shapes.unwrap_or(match a.device {
        KernelBenchDevice::Cuda => ShapeSet::Real,
        KernelBenchDevice::Emu => ShapeSet::Tiny,
    });
    let count_only = match (a.device, shapes) {
        (KernelBenchDevice::Cuda, ShapeSet::Tiny) => {
            bail!("--shapes tiny is for --device emu; a GPU runs the training shapes (real)")
        }
        (KernelBenchDevice::Emu, ShapeSet::Real) if !a.counters => bail!(
            "--shapes real on the emulator needs --counters (it counts the entries instead of \
             timing them: timed repeats at training shapes would take the emulator hours)"
        ),
        (KernelBenchDevice::Emu, ShapeSet::Real) => true,
        _ => false,
    };
    let rungs = RungFilter::parse(&a.kernels)?;
    let (gpu, emu);
    let (backend, plan, max_repeats) = match a.device {
        KernelBenchDevice::Cuda => {
            if let Err(e) = detect::cuda_available() {
                if a.allow_no_gpu {
                    println!("bench kernels: no GPU here ({e}); nothing measured (--allow-no-gpu)");
                    return Ok(());
                }
                bail!(
                    "bench kernels: no GPU here ({e}); use --device emu to exercise the code on the \
                     emulator, or pass --allow-no-gpu to accept that"
                );
            }
            gpu = Gpu::new(0)?;
            (Backend::Gpu(&gpu), Plan::gpu(a.logprob_tokens), a.repeats)
        }
        KernelBenchDevice::Emu => {
            if count_only {
                emu = EmuDevice::with_lazy_memory(a.seed)?;
                (Backend::Emu(&emu), Plan::gpu(a.logprob_tokens), 0)
            } else {
                emu = EmuDevice::new(a.seed)?;
                (Backend::Emu(&emu), Plan::tiny(), a.repeats.min(2))
            }
        }
    };
    let policy = RepeatPolicy {
        warmup: if matches!(backend, Backend::Emu(_)) {
            a.warmup.min(1)
        } else {
            a.warmup
        },
        max_repeats,
        budget_s: a.entry_budget_s,
    };
    let mut bencher = Bencher::new(backend, policy, a.filter.clone(), a.seed)?;
    if count_only {
        bencher.count_only(COUNTED_BLOCKS);
    } else if a.counters {
        bencher.count = Some(CountPolicy::sampled(COUNTED_BLOCKS));
    }
    bencher.rungs = rungs;
    let (cublas, cublas_status) = match backend {
        Backend::Gpu(g) => match Cublas::new(g) {
            Ok(c) => (Some(c), "cublasGemmEx bf16, f32 accumulate".to_string()),
            Err(e) => (None, format!("unavailable: {e:#}")),
        },
        Backend::Emu(_) => (None, "not on the emulator".to_string()),
    };
    let name = bencher.dev_name();
    let peak = match backend {
        Backend::Gpu(_) => peak_bf16_tflops(&name),
        Backend::Emu(_) => None,
    };
    let roofs = Roofs {
        bandwidth_gbps: None,
        peak_tflops: peak.map(|p| p.0),
        cublas,
        topp_sort_ms: a.topp_sort_baseline_ms,
    };
    let mut rep = report(&mut bencher, &plan, roofs, cublas_status);
    rep.peak_source = peak.map(|p| p.1.to_string());
    let json = serde_json::to_string_pretty(&rep).context("serialising the report")?;
    if let Some(p) = &a.json_out {
        crate::util::write_atomic(p, json.as_bytes())
            .with_context(|| format!("writing {}", p.display()))?;
    }
    if a.json {
        println!("{json}");
    } else {
        rep.print_table();
    }
    let errors: Vec<&str> = rep
        .records
        .iter()
        .filter(|r| r.group == "error")
        .map(|r| r.note.as_str())
        .collect();
    if !errors.is_empty() {
        bail!(
            "{} bench groups failed: {}",
            errors.len(),
            errors.join(" | ")
        );
    }
    if rep.records.len() <= 1 {
        bail!("no bench entry matched the filter");
    }
    Ok(())
}
