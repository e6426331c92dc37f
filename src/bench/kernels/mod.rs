//! `rlvr bench kernels`: every CUDA kernel at training shapes, timed with CUDA events, against
//! a baseline measured in the same run (cuBLAS for GEMMs and the log-prob products, the measured
//! copy bandwidth for memory-bound kernels, the card's bf16 peak for attention). On the emulator
//! the same entries run at tiny shapes to exercise the code, with no baselines.
//!
//! One file per kernels/X.cu (named X) holds that op's entries; `counts`, `cublas`, `record`,
//! `roofline`, `shapes`, `timing` and `track` are the harness.
pub mod attention;
pub mod attn_decode;
pub mod bias;
pub mod cast;
pub mod counts;
pub mod cublas;
pub mod embedding;
pub mod fill;
pub mod gemm;
pub mod logprob;
pub mod mlp;
pub mod norm;
pub mod optim;
pub mod record;
pub mod reduce;
pub mod roofline;
pub mod rope;
pub mod sampling;
pub mod shapes;
pub mod softmax;
pub mod sum_parts;
pub mod timing;
pub mod track;

use crate::backend::cuda::device::DevBuf;
use anyhow::Result;
use half::bf16;
use record::{Record, Report};
use shapes::Plan;
use timing::Bencher;

/// What the ratios are taken against, measured (or looked up) once per run.
pub struct Roofs {
    /// Device-to-device copy bandwidth, GB/s (GPU only).
    pub bandwidth_gbps: Option<f64>,
    /// Dense bf16 peak of the card, TFLOP/s.
    pub peak_tflops: Option<f64>,
    pub cublas: Option<cublas::Cublas>,
    /// Median ms of a sort-based top-p (torch.sort + cumsum) timed outside this binary.
    pub topp_sort_ms: Option<f64>,
}

/// The memory-bound kernels' goal: a fraction of the copy bandwidth.
pub const BANDWIDTH_GOAL: f64 = 0.8;

impl Roofs {
    /// Ratio to the measured bandwidth; the goal is ≥ 80%.
    pub fn vs_bandwidth(&self, mut r: Record, with_goal: bool) -> Record {
        if with_goal {
            r.goal = "≥ 0.80 of d2d bandwidth".into();
        }
        if let (Some(bw), Some(g)) = (self.bandwidth_gbps, r.gbps) {
            r.baseline = Some(format!("d2d copy {bw:.0} GB/s"));
            r.ratio = Some(g / bw);
            if with_goal {
                r.met = Some(g / bw >= BANDWIDTH_GOAL);
            }
        }
        r
    }

    /// Ratio to the bf16 peak, and the absolute TFLOP/s goal.
    pub fn vs_peak(&self, mut r: Record, goal_tflops: f64, gpu: bool) -> Record {
        r.goal = format!("≥ {goal_tflops:.0} TFLOP/s");
        if let (Some(p), Some(t)) = (self.peak_tflops, r.tflops) {
            r.baseline = Some(format!("bf16 peak {p:.0} TF/s"));
            r.ratio = Some(t / p);
        }
        if gpu {
            r.met = r.tflops.map(|t| t >= goal_tflops);
        }
        r
    }
}

/// Uniform bf16 values in [-1, 1) on the device.
pub fn random_bf16(b: &mut Bencher, n: usize) -> Result<DevBuf<bf16>> {
    b.random::<bf16>(n, |u| bf16::from_f64(2.0 * u - 1.0))
}

/// Times `f` and pushes a memory-bound record of `group` for `kernel` (its launches and its ratio
/// to the copy bandwidth).
pub fn bandwidth_entry(
    b: &Bencher,
    roofs: &Roofs,
    out: &mut Vec<Record>,
    group: &'static str,
    (kernel, shape, bytes, note): (&str, String, u64, &str),
    f: &mut dyn FnMut() -> Result<()>,
) -> Result<()> {
    b.dev.take_launched();
    let t = b.time(f)?;
    let mut r = Record::new(group, kernel, shape)
        .timed(t, None, Some(bytes))
        .note(note);
    r.launches = b.dev.take_launched();
    out.push(roofs.vs_bandwidth(r, true));
    Ok(())
}

/// Runs every entry group (one per kernel file); a group that fails adds an ERROR record and the
/// others still run.
pub fn run_all(b: &mut Bencher, plan: &Plan, roofs: &Roofs) -> Vec<Record> {
    type Group = fn(&mut Bencher, &Plan, &Roofs, &mut Vec<Record>) -> Result<()>;
    // The slowest group (the fused log-prob, seconds per pass) goes last.
    let groups: [(&str, Group); 16] = [
        ("gemm", gemm::run),
        ("attention", attention::run),
        ("attn_decode", attn_decode::run),
        ("norm", norm::run),
        ("rope", rope::run),
        ("mlp", mlp::run),
        ("cast", cast::run),
        ("embedding", embedding::run),
        ("bias", bias::run),
        ("sum_parts", sum_parts::run),
        ("fill", fill::run),
        ("softmax", softmax::run),
        ("optim", optim::run),
        ("reduce", reduce::run),
        ("sampling", sampling::run),
        ("logprob", logprob::run),
    ];
    let mut out = Vec::new();
    for (name, run) in groups {
        let first = out.len();
        let result = run(b, plan, roofs, &mut out);
        // Progress on stderr: a run cut short by a timeout still leaves its finished entries.
        for r in &out[first..] {
            eprintln!(
                "bench kernels: {} {} {} ms",
                r.kernel,
                r.shape,
                r.median_ms.map_or("-".into(), |m| format!("{m:.4}"))
            );
        }
        if let Err(e) = result {
            out.push(
                Record::new("error", &format!("{name} (group)"), String::new())
                    .note(&format!("ERROR: {e:#}")),
            );
        }
        // Later groups get the memory this one cached back (GPU pool).
        if let Some(g) = b.gpu() {
            if let Err(e) = g.trim_pool() {
                out.push(
                    Record::new("error", "trim_pool", String::new()).note(&format!("ERROR: {e:#}")),
                );
            }
        }
    }
    out
}

/// The bandwidth baseline itself: a device-to-device copy of `bytes`.
pub fn measure_bandwidth(b: &Bencher, bytes: usize) -> Result<Record> {
    let t = b.time_copy(bytes)?;
    b.dev.take_launched();
    let shape = if bytes >= 1 << 20 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} B")
    };
    Ok(Record::new("baseline", "memcpy_dtod", shape)
        .timed(t, None, Some(counts::copy_bytes(bytes)))
        .goal("(the element-wise roofline)"))
}

/// Builds the whole report: bandwidth first, then every group.
pub fn report(b: &mut Bencher, plan: &Plan, mut roofs: Roofs, cublas_status: String) -> Report {
    let mut records = Vec::new();
    let bandwidth = match measure_bandwidth(b, plan.copy_bytes) {
        Ok(r) => {
            let bw = r.gbps;
            records.push(r);
            bw
        }
        Err(e) => {
            records.push(
                Record::new("error", "memcpy_dtod", String::new()).note(&format!("ERROR: {e:#}")),
            );
            None
        }
    };
    if b.is_gpu() {
        roofs.bandwidth_gbps = bandwidth;
    }
    records.extend(run_all(b, plan, &roofs));
    let gpu = b.is_gpu();
    Report {
        device: b.dev_name(),
        gpu_numbers: gpu,
        timing: if gpu {
            format!(
                "CUDA events around each repeat, median after warm-up (up to {} repeats, ~{:.1} s \
                 per entry), L2 flushed by a {} MiB memset before every repeat",
                b.policy.max_repeats,
                b.policy.budget_s,
                b.flush_bytes() >> 20
            )
        } else {
            "host wall clock of the emulator (NOT GPU numbers)".into()
        },
        l2_flush_bytes: b.flush_bytes(),
        bandwidth_gbps: roofs.bandwidth_gbps,
        peak_bf16_tflops: roofs.peak_tflops,
        peak_source: None,
        cublas: cublas_status,
        records,
    }
}
