//! `rlvr bench kernels`: every CUDA kernel at training shapes, timed with CUDA events, against
//! a baseline measured in the same run (cuBLAS for GEMMs and the log-prob products, the measured
//! copy bandwidth for memory-bound kernels, the card's bf16 peak for attention). On the emulator
//! the same entries run at tiny shapes to exercise the code, with no baselines.
//!
//! One file per kernels/X.cu (named X) holds that op's entries; `counts`, `cublas`, `record`,
//! `roofline`, `shapes`, `timing` and `track` are the harness.
//!
//! Kernel ladders: an op whose kernels went through several versions declares a [`Ladder`] in its
//! bench file (rung 1 the first kernel, each higher rung one more idea) and runs its entries once
//! per selected rung; `--kernel OP:1,2,3` ([`RungFilter`]) picks ops and rungs, so the table shows
//! what each idea is worth against the rung below, measured in the same run.
pub mod attention;
pub mod attn_decode;
pub mod bias;
pub mod cast;
pub mod counts;
pub mod cublas;
pub mod embedding;
pub mod fill;
pub mod gemm;
pub mod gemm_sm90;
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
use anyhow::{bail, Result};
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

/// One op's kernel ladder: rung 1 is the first implementation, each higher rung adds one idea;
/// the device model runs `best`.
#[derive(Debug)]
pub struct Ladder {
    /// The op name `--kernel` uses (e.g. `gemm`).
    pub op: &'static str,
    /// (rung number, the idea it adds), ascending from 1.
    pub rungs: &'static [(u32, &'static str)],
    pub best: u32,
}

/// The two rungs of the element-wise ladders.
pub const VEC_RUNGS: &[(u32, &str)] = &[
    (1, "one element per thread and step, 2- or 4-byte accesses"),
    (2, "8 bf16 or 4 f32 per thread and step, 16-byte accesses"),
];

/// An element-wise op's ladder ([`VEC_RUNGS`], best rung 2).
pub const fn vec_ladder(op: &'static str) -> Ladder {
    Ladder {
        op,
        rungs: VEC_RUNGS,
        best: 2,
    }
}

/// Every op with a ladder, by bench group (kernel file).
pub const LADDERS: &[(&str, &Ladder)] = &[
    ("gemm", &gemm::LADDER),
    ("logprob", &logprob::LADDER),
    ("sampling", &sampling::LADDER),
    ("attention", &attention::FWD_LADDER),
    ("attention", &attention::BWD_LADDER),
    ("attention", &attention::DELTA_LADDER),
    ("norm", &norm::LADDER),
    ("mlp", &mlp::LADDER),
    ("cast", &cast::CAST_LADDER),
    ("cast", &cast::RESIDUAL_LADDER),
    ("rope", &rope::LADDER),
    ("embedding", &embedding::LADDER),
    ("bias", &bias::BIAS_ADD_LADDER),
    ("bias", &bias::COLSUM_LADDER),
];

/// What `--kernel OP[:N,N..]` selects: no selection runs every entry and every rung; otherwise
/// only the named ops run, each on its listed rungs (all of them when none are listed).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RungFilter {
    picks: Vec<(&'static str, Vec<u32>)>,
}

impl RungFilter {
    /// Parses `--kernel` values against the known ladders (an unknown op or rung is an error that
    /// lists what exists).
    pub fn parse(specs: &[String]) -> Result<Self> {
        let mut picks: Vec<(&'static str, Vec<u32>)> = Vec::new();
        for spec in specs {
            let (op, list) = match spec.split_once(':') {
                Some((op, list)) => (op.trim(), Some(list)),
                None => (spec.trim(), None),
            };
            let Some(ladder) = LADDERS.iter().map(|l| l.1).find(|l| l.op == op) else {
                let ops: Vec<&str> = LADDERS.iter().map(|l| l.1.op).collect();
                bail!(
                    "--kernel {spec}: no kernel ladder named {op:?} (ladders: {})",
                    ops.join(", ")
                );
            };
            let all: Vec<u32> = ladder.rungs.iter().map(|r| r.0).collect();
            let rungs = match list {
                None => all.clone(),
                Some(list) => list
                    .split(',')
                    .map(|n| {
                        let n = n.trim();
                        match n.parse::<u32>() {
                            Ok(r) if all.contains(&r) => Ok(r),
                            _ => bail!(
                                "--kernel {spec}: {op} has no rung {n:?} (rungs: {})",
                                all.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
                            ),
                        }
                    })
                    .collect::<Result<Vec<u32>>>()?,
            };
            match picks.iter_mut().find(|p| p.0 == ladder.op) {
                Some(p) => p.1.extend(rungs),
                None => picks.push((ladder.op, rungs)),
            }
        }
        for p in &mut picks {
            p.1.sort_unstable();
            p.1.dedup();
        }
        Ok(RungFilter { picks })
    }

    /// Whether any op was named (then groups without a named ladder are skipped).
    pub fn is_selective(&self) -> bool {
        !self.picks.is_empty()
    }

    /// The rungs of `ladder` to run, ascending (empty: skip the op).
    pub fn rungs(&self, ladder: &Ladder) -> Vec<u32> {
        if !self.is_selective() {
            return ladder.rungs.iter().map(|r| r.0).collect();
        }
        self.picks
            .iter()
            .find(|p| p.0 == ladder.op)
            .map_or_else(Vec::new, |p| p.1.clone())
    }

    /// Whether the bench group `group` (a kernel file) has anything to run.
    pub fn runs_group(&self, group: &str) -> bool {
        !self.is_selective()
            || LADDERS
                .iter()
                .any(|(g, l)| *g == group && !self.rungs(l).is_empty())
    }
}

/// `r` (a timed record of `rung`) with its speed-up over the same entry's rung 1 record, if that
/// ran in this run (`rung1_ms`).
pub fn against_rung1(mut r: Record, rung: u32, rung1_ms: Option<f64>) -> Record {
    r.rung = Some(rung);
    if let (Some(base), Some(t), true) = (rung1_ms, r.median_ms, rung > 1) {
        let gain = format!("{:.2}x rung 1", base / t);
        r.note = if r.note.is_empty() {
            gain
        } else {
            format!("{gain}; {}", r.note)
        };
    }
    r
}

/// Uniform bf16 values in [-1, 1) on the device.
pub fn random_bf16(b: &mut Bencher, n: usize) -> Result<DevBuf<bf16>> {
    b.random::<bf16>(n, |u| bf16::from_f64(2.0 * u - 1.0))
}

/// Times `f` into a memory-bound record of `group` for `kernel`: its launches and its ratio to
/// the copy bandwidth.
fn bandwidth_record(
    b: &Bencher,
    roofs: &Roofs,
    group: &'static str,
    (kernel, shape, bytes, note): (&str, String, u64, &str),
    f: &mut dyn FnMut() -> Result<()>,
) -> Result<Record> {
    b.dev.take_launched();
    let t = b.time(f)?;
    let mut r = Record::new(group, kernel, shape)
        .timed(t, None, Some(bytes))
        .note(note);
    r.launches = b.dev.take_launched();
    Ok(roofs.vs_bandwidth(r, true))
}

/// Times `f` and pushes a memory-bound record of `group` for `kernel` (see [`bandwidth_record`]).
pub fn bandwidth_entry(
    b: &Bencher,
    roofs: &Roofs,
    out: &mut Vec<Record>,
    group: &'static str,
    spec: (&str, String, u64, &str),
    f: &mut dyn FnMut() -> Result<()>,
) -> Result<()> {
    out.push(bandwidth_record(b, roofs, group, spec, f)?);
    Ok(())
}

/// One bandwidth-bound op on each rung of `ladder` that `--kernel` selects, up to `top` (the
/// highest rung that runs at this shape), in turn in the same run: each record carries its rung
/// and launches, the first `first_note`, the others their speed-up over rung 1.
#[allow(clippy::too_many_arguments)]
pub fn bandwidth_ladder(
    b: &Bencher,
    roofs: &Roofs,
    out: &mut Vec<Record>,
    (group, ladder, top): (&'static str, &Ladder, u32),
    (kernel, shape, bytes, first_note): (&str, String, u64, &str),
    f: &mut dyn FnMut(u32) -> Result<()>,
) -> Result<()> {
    let rungs: Vec<u32> = b
        .rungs
        .rungs(ladder)
        .into_iter()
        .filter(|&r| r <= top)
        .collect();
    let mut rung1_ms = None;
    for (i, &rung) in rungs.iter().enumerate() {
        let note = if i == 0 { first_note } else { "" };
        let spec = (kernel, shape.clone(), bytes, note);
        let r = bandwidth_record(b, roofs, group, spec, &mut || f(rung))?;
        if rung == 1 {
            rung1_ms = r.median_ms;
        }
        out.push(against_rung1(r, rung, rung1_ms));
    }
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
        if !b.rungs.runs_group(name) {
            continue;
        }
        let first = out.len();
        let result = run(b, plan, roofs, &mut out);
        // Progress on stderr: a run cut short by a timeout still leaves its finished entries.
        for r in &out[first..] {
            if r.median_ms.is_none() && r.efficiency.is_some() {
                eprintln!(
                    "bench kernels: {}{} {} counted, est H100 {:.1} us",
                    r.kernel,
                    r.rung.map_or(String::new(), |n| format!(" #{n}")),
                    r.shape,
                    r.efficiency.as_ref().map_or(0.0, |e| e.est_h100_us)
                );
                continue;
            }
            eprintln!(
                "bench kernels: {}{} {} {} ms",
                r.kernel,
                r.rung.map_or(String::new(), |n| format!(" #{n}")),
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
    let r = Record::new("baseline", "memcpy_dtod", shape)
        .timed(t, None, Some(counts::copy_bytes(bytes)))
        .goal("(the element-wise roofline)");
    Ok(if b.dev.is_count_only() {
        r.note("not run: a count-only run times nothing")
    } else {
        r
    })
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
        } else if b.dev.is_count_only() {
            "none: training shapes counted once per entry (sampled blocks, shortened K loops, \
             lazily mapped zeros); no timed repeats, no median"
                .into()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(specs: &[&str]) -> Result<RungFilter> {
        RungFilter::parse(&specs.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn no_kernel_flag_runs_every_group_and_rung() {
        let f = parse(&[]).unwrap();
        assert!(!f.is_selective());
        assert_eq!(f.rungs(&gemm::LADDER), vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert!(f.runs_group("gemm") && f.runs_group("norm"));
    }

    #[test]
    fn the_kernel_flag_picks_ops_and_rungs() {
        let f = parse(&["gemm:3, 1", "gemm:3", "logprob"]).unwrap();
        assert_eq!(f.rungs(&gemm::LADDER), vec![1, 3]);
        assert_eq!(f.rungs(&logprob::LADDER), vec![1, 2, 3, 4]);
        assert!(f.runs_group("gemm") && f.runs_group("logprob"));
        assert!(!f.runs_group("norm"));
        let only = parse(&["logprob:4"]).unwrap();
        assert!(only.rungs(&gemm::LADDER).is_empty() && !only.runs_group("gemm"));
    }

    #[test]
    fn the_attention_ladders_pick_forward_and_backward_rungs() {
        let f = parse(&["attn_fwd:6,5"]).unwrap();
        assert_eq!(f.rungs(&attention::FWD_LADDER), vec![5, 6]);
        assert!(f.rungs(&attention::BWD_LADDER).is_empty());
        assert!(f.runs_group("attention") && !f.runs_group("gemm"));
        // the backward ladder stops at rung 3: rungs 4-6 are forward-only
        let e = format!("{:#}", parse(&["attn_bwd:4"]).unwrap_err());
        assert!(e.contains("1,2,3"), "{e}");
    }

    #[test]
    fn unknown_ops_and_rungs_are_errors_that_list_what_exists() {
        let e = format!("{:#}", parse(&["gemmm:1"]).unwrap_err());
        assert!(e.contains("gemm, logprob"), "{e}");
        let e = format!("{:#}", parse(&["gemm:11"]).unwrap_err());
        assert!(
            e.contains("no rung \"11\"") && e.contains("1,2,3,4,5,6,7,8,9,10"),
            "{e}"
        );
        assert!(parse(&["gemm:x"]).is_err());
    }

    #[test]
    fn every_ladder_starts_at_rung_1_and_names_its_best_rung() {
        for (_, l) in LADDERS {
            let nums: Vec<u32> = l.rungs.iter().map(|r| r.0).collect();
            assert_eq!(
                nums,
                (1..=nums.len() as u32).collect::<Vec<_>>(),
                "{}",
                l.op
            );
            assert!(nums.contains(&l.best), "{}", l.op);
        }
    }
}
