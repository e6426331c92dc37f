//! Attention entries: causal forward and backward of packed sequences (seq 4096 on a GPU) at each
//! model's head layout, on every rung of the ladder (the note says what the rung adds and, on a
//! GPU, its speed-up over rung 1 in the same run), against the card's bf16 peak. The FLOPs are
//! the op's (rung 4's forward executes 2x them: P·V three times); the backward rows skip rung 4,
//! whose backward is rung 3's. Ladders `attn_fwd` (rungs 1-6) and `attn_bwd` (rungs 1-3; the
//! forward-only rungs 4-6 run rung 3's backward), so `--kernel attn_fwd:5,6` compares rung 6
//! (sm_90a wgmma) with rung 5 in one run. The backward's row statistic has its own ladder
//! (`attn_bwd_delta`, against the copy bandwidth).
use super::counts::{attn_bwd_flops, attn_fwd_flops};
use super::record::Record;
use super::shapes::{LayerShape, Plan};
use super::timing::{Bencher, Timing};
use super::{bandwidth_ladder, random_bf16, Ladder, Roofs};
use crate::backend::cpu::attention::AttnDims;
use crate::backend::cuda::attention::{
    attn_bwd_bf16_rung, attn_bwd_delta_rung, attn_fwd_bf16_rung, delta_rung, AttnRung, AttnSeqs,
};
use crate::backend::cuda::device::alloc;
use anyhow::Result;
use half::bf16;

/// Goals: FlashAttention-2 level at head dim 128, seq 4096, causal.
pub const FWD_GOAL_TFLOPS: f64 = 300.0;
pub const BWD_GOAL_TFLOPS: f64 = 200.0;

pub const FWD_LADDER: Ladder = Ladder {
    op: "attn_fwd",
    rungs: &[
        (1, AttnRung::Simt.summary()),
        (2, AttnRung::Mma.summary()),
        (3, AttnRung::Fa2.summary()),
        (4, AttnRung::Fa2Split.summary()),
        (5, AttnRung::Fa2Merge.summary()),
        (6, AttnRung::Wgmma.summary()),
    ],
    best: AttnRung::FORWARD.number(),
};

pub const BWD_LADDER: Ladder = Ladder {
    op: "attn_bwd",
    rungs: &[
        (1, AttnRung::Simt.summary()),
        (2, AttnRung::Mma.summary()),
        (3, AttnRung::Fa2.summary()),
    ],
    best: AttnRung::BACKWARD.number(),
};

/// The rungs the entries of `op` run: the `--kernel` selection of `ladder`, when the filter
/// passes `op`.
pub fn rungs_wanted(b: &Bencher, op: &str, ladder: &Ladder) -> Vec<AttnRung> {
    if !b.wants(op) {
        return Vec::new();
    }
    b.rungs
        .rungs(ladder)
        .into_iter()
        .filter_map(AttnRung::from_number)
        .collect()
}

/// On the emulator the tiny model's head dim (16) only reaches the 64 bucket of the tensor-core
/// kernels; this layout adds the 128 bucket.
pub(crate) const EMU_WIDE_HEADS: LayerShape = LayerShape {
    model: "tiny-d128",
    short: "tiny-d128",
    head_dim: 128,
    n_q_heads: 2,
    n_kv_heads: 1,
    ..super::shapes::TINY
};

/// Rung 6 runs at head dims 64 and 128 only (other rungs bucket any d up to 128): this emulator
/// layout gives it a GQA entry at 64.
pub(crate) const EMU_D64_HEADS: LayerShape = LayerShape {
    model: "tiny-d64",
    short: "tiny-d64",
    head_dim: 64,
    n_q_heads: 4,
    n_kv_heads: 2,
    ..super::shapes::TINY
};

/// Pushes one timed rung record; rung 1's time (the first rung run) is the speed-up's base.
fn rung_record(
    roofs: &Roofs,
    gpu: bool,
    (op, shape, rung, flops, goal): (&str, &str, AttnRung, u64, f64),
    (t, base): (Timing, &mut Option<f64>),
    launches: Vec<String>,
    out: &mut Vec<Record>,
) {
    let median_ms = t.median_ms;
    let mut r = Record::new("attention", op, format!("{shape} rung {}", rung.number())).timed(
        t,
        Some(flops),
        None,
    );
    r.launches = launches;
    // emulator wall times say nothing about GPU speed: no ratio there
    let speedup = match *base {
        Some(b) if gpu && rung != AttnRung::Simt => format!("; {:.2}x rung 1", b / median_ms),
        _ => String::new(),
    };
    if rung == AttnRung::Simt {
        *base = Some(median_ms);
    }
    r.note = format!("rung {}: {}{speedup}", rung.number(), rung.summary());
    out.push(roofs.vs_peak(r, goal, gpu));
}

/// Forward and backward of `m`'s head layout on every wanted rung.
fn training_entries(
    b: &mut Bencher,
    plan: &Plan,
    roofs: &Roofs,
    m: &LayerShape,
    out: &mut Vec<Record>,
) -> Result<()> {
    let gpu = b.is_gpu();
    let dims = AttnDims {
        n_q_heads: m.n_q_heads,
        n_kv_heads: m.n_kv_heads,
        head_dim: m.head_dim,
    };
    let (hq, hkv, d) = (m.n_q_heads, m.n_kv_heads, m.head_dim);
    let (len, nseq) = (plan.attn_seq_len, plan.attn_seqs);
    let n = len * nseq;
    let lens = vec![len; nseq];
    let shape = format!("{} {nseq}x{len} causal {hq}/{hkv}x{d}", m.short);
    let fwd_rungs = rungs_wanted(b, "attn_fwd_bf16", &FWD_LADDER);
    // a rung without backward kernels of its own would time another rung's again
    let bwd_rungs: Vec<AttnRung> = rungs_wanted(b, "attn_bwd_bf16", &BWD_LADDER)
        .into_iter()
        .filter(|r| r.own_backward())
        .collect();
    if fwd_rungs.is_empty() && bwd_rungs.is_empty() {
        return Ok(());
    }
    let seqs: Vec<(usize, usize)> = (0..nseq).map(|i| (i * len, len)).collect();
    let seqs = AttnSeqs::upload(&b.dev, &seqs)?;
    let q = random_bf16(b, n * hq * d)?;
    let k = random_bf16(b, n * hkv * d)?;
    let v = random_bf16(b, n * hkv * d)?;
    let o = alloc::<bf16>(&b.dev, n * hq * d)?;
    let lse = alloc::<f32>(&b.dev, n * hq)?;
    let fwd_flops = attn_fwd_flops(&lens, hq, d);
    let mut base = None;
    for &rung in &fwd_rungs {
        b.dev.take_launched();
        let t =
            b.time(&mut || attn_fwd_bf16_rung(rung, &b.dev, &o, &lse, &q, &k, &v, &seqs, dims))?;
        let spec = (
            "attn_fwd_bf16",
            shape.as_str(),
            rung,
            fwd_flops,
            FWD_GOAL_TFLOPS,
        );
        rung_record(roofs, gpu, spec, (t, &mut base), b.dev.take_launched(), out);
        let ran = rung.fwd_rung_on(&b.dev, d);
        if let (true, Some(r)) = (ran != rung, out.last_mut()) {
            r.note.push_str(&format!(
                " (launches rung {}'s kernel here: rung {} needs sm_90a and d 64 or 128)",
                ran.number(),
                rung.number()
            ));
        }
    }
    if bwd_rungs.is_empty() {
        return Ok(());
    }
    // the backward differentiates a real forward's outputs
    attn_fwd_bf16_rung(AttnRung::BEST, &b.dev, &o, &lse, &q, &k, &v, &seqs, dims)?;
    let dout = random_bf16(b, n * hq * d)?;
    let dq = alloc::<bf16>(&b.dev, n * hq * d)?;
    let dk = alloc::<bf16>(&b.dev, n * hkv * d)?;
    let dv = alloc::<bf16>(&b.dev, n * hkv * d)?;
    let bwd_flops = attn_bwd_flops(&lens, hq, d);
    let mut base = None;
    for &rung in &bwd_rungs {
        b.dev.take_launched();
        let t = b.time(&mut || {
            attn_bwd_bf16_rung(
                rung, &b.dev, &dq, &dk, &dv, &dout, &q, &k, &v, &o, &lse, &seqs, dims,
            )
        })?;
        let spec = (
            "attn_bwd_bf16",
            shape.as_str(),
            rung,
            bwd_flops,
            BWD_GOAL_TFLOPS,
        );
        rung_record(roofs, gpu, spec, (t, &mut base), b.dev.take_launched(), out);
    }
    Ok(())
}

pub const DELTA_LADDER: Ladder = Ladder {
    op: "attn_bwd_delta",
    rungs: &[
        (1, "one warp per row, lanes strided over D, 2-byte loads"),
        (
            2,
            "8 columns per lane as 16-byte loads, 256 / D rows per warp",
        ),
    ],
    best: 2,
};

/// The backward's row statistic delta = Σ dO·O on [tokens, Hq, D]: dO and O read once, one f32
/// written per row.
fn delta_entry(
    b: &mut Bencher,
    plan: &Plan,
    roofs: &Roofs,
    m: &LayerShape,
    out: &mut Vec<Record>,
) -> Result<()> {
    const KERNEL: &str = "attn_bwd_delta_bf16";
    if !b.wants(KERNEL) {
        return Ok(());
    }
    let (t, hq, d) = (plan.tokens, m.n_q_heads, m.head_dim);
    let dout = random_bf16(b, t * hq * d)?;
    let o = random_bf16(b, t * hq * d)?;
    let delta = alloc::<f32>(&b.dev, t * hq)?;
    let bytes = (t * hq * (2 * d * 2 + 4)) as u64;
    let spec = (KERNEL, format!("{} [{t}, {hq}, {d}]", m.short), bytes, "");
    let ladder = ("attention", &DELTA_LADDER, delta_rung(d));
    bandwidth_ladder(b, roofs, out, ladder, spec, &mut |rung| {
        attn_bwd_delta_rung(&b.dev, rung, &delta, &dout, &o, d)
    })
}

pub fn run(b: &mut Bencher, plan: &Plan, roofs: &Roofs, out: &mut Vec<Record>) -> Result<()> {
    for m in &plan.models {
        training_entries(b, plan, roofs, m, out)?;
        delta_entry(b, plan, roofs, m, out)?;
    }
    // Not in a count-only run: that one keeps to the GPU run's entries, whose heads are 128 wide.
    if !b.is_gpu() && !b.dev.is_count_only() {
        training_entries(b, plan, roofs, &EMU_WIDE_HEADS, out)?;
        training_entries(b, plan, roofs, &EMU_D64_HEADS, out)?;
    }
    Ok(())
}
