//! Fused LM head + token log-probabilities on the device (kernels/logprob.cu): the host loops over token
//! chunks; per chunk a GEMM writes f32 logits [chunk, V] (H·Wᵀ), a row kernel turns them into
//! logp / entropy / lse (forward) or into ∂L/∂z (backward, per-token g_lp, g_H folded in), and two
//! GEMMs give dH = ∂z·W and dW += ∂zᵀ·H. At most `chunk × V` logits exist at once, never T × V.
//! The math is that of `backend::cpu::logprob` (module docs there).
//!
//! The ladder ([`LogprobRung`]): the forward and backward as separate passes (four GEMMs, the
//! logits computed twice) on the first GEMM kernels, then on the best GEMM rung, then with
//! vectorised row kernels; and, when the coefficients are known before the forward,
//! [`fused_logprob_fwd_bwd`]: three GEMMs, ∂z made from the same logits chunk as the statistics,
//! dW accumulated once per group of rows the memory plan holds ([`FusedPlan`]).
use super::device::{alloc, DevBuf, KernelArgs, KernelDevice, LaunchCfg};
use super::gemm::{gemm_bf16_with, Gemm, GemmOffsets, GemmOpts, GemmRung, Strides};
use crate::backend::cpu::logprob::chunk_rows;
use anyhow::{bail, Result};
use half::bf16;

/// Per-token outputs of the forward, on the device.
pub struct LogprobDev {
    pub logp: DevBuf<f32>,
    pub entropy: DevBuf<f32>,
    pub lse: DevBuf<f32>,
}

impl LogprobDev {
    pub fn alloc(dev: &dyn KernelDevice, rows: usize) -> Result<Self> {
        Ok(LogprobDev {
            logp: alloc(dev, rows)?,
            entropy: alloc(dev, rows)?,
            lse: alloc(dev, rows)?,
        })
    }
}

/// The log-prob ladder: each rung adds one idea to the one below.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogprobRung {
    /// Forward and backward passes (four GEMMs) on GEMM rung 1, scalar row kernels.
    First = 1,
    /// The same on the best GEMM rung (dH = ∂z·W and dW = ∂zᵀ·H on the transposed fast path).
    BestGemm = 2,
    /// Row kernels with 16-byte accesses and base-2 exponentials.
    VectorRows = 3,
    /// Coefficients known before the forward: three GEMMs, dW once per group of rows.
    FusedBackward = 4,
}

impl LogprobRung {
    pub const ALL: [LogprobRung; 4] = [
        LogprobRung::First,
        LogprobRung::BestGemm,
        LogprobRung::VectorRows,
        LogprobRung::FusedBackward,
    ];
    /// The best rung for a separate forward or backward (rung 4 needs both at once).
    pub const BEST_SEPARATE: LogprobRung = LogprobRung::VectorRows;

    pub const fn number(self) -> u32 {
        self as u32
    }

    pub fn from_number(n: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.number() == n)
    }

    pub const fn idea(self) -> &'static str {
        match self {
            LogprobRung::First => "fwd + bwd passes, 4 GEMMs on GEMM rung 1, scalar row kernels",
            LogprobRung::BestGemm => "the same on the best GEMM rung",
            LogprobRung::VectorRows => "16-byte row kernels, exp2 with the scale folded in",
            LogprobRung::FusedBackward => {
                "known coefficients: 3 GEMMs, dz from the forward's logits, dW once per row group"
            }
        }
    }

    fn gemm(self) -> GemmRung {
        if self == LogprobRung::First {
            GemmRung::Strided
        } else {
            GemmRung::model_default()
        }
    }

    fn vector_rows(self) -> bool {
        self >= LogprobRung::VectorRows
    }
}

/// Threads per row block: enough for the row, at most 256 (a vocabulary row has ~1e5 entries).
fn row_threads(vocab: usize) -> u32 {
    (vocab.div_ceil(32) * 32).clamp(32, 256) as u32
}

fn check_per_token(what: &str, need: usize, bufs: &[(&str, usize)]) -> Result<()> {
    for (name, len) in bufs {
        if *len < need {
            bail!("{what}: {name} has {len} entries, need {need}");
        }
    }
    Ok(())
}

/// Statistics of `rows` rows of `z` [rows, vocab] (f32) into `out[row0..row0 + rows]`;
/// targets are read from `targets[row0..]`. A target outside the vocabulary gives logp = NaN.
/// `vector`: the 16-byte kernel (rung 3 on), else the first one.
#[allow(clippy::too_many_arguments)]
pub fn logprob_fwd_rows(
    dev: &dyn KernelDevice,
    out: &LogprobDev,
    z: &DevBuf<f32>,
    rows: usize,
    vocab: usize,
    targets: &DevBuf<i32>,
    row0: usize,
    inv_temp: f32,
    vector: bool,
) -> Result<()> {
    if rows * vocab > z.len() {
        bail!(
            "logprob_fwd_rows: {rows} x {vocab} logits but the buffer has {}",
            z.len()
        );
    }
    check_per_token(
        "logprob_fwd_rows",
        row0 + rows,
        &[
            ("targets", targets.len()),
            ("logp", out.logp.len()),
            ("entropy", out.entropy.len()),
            ("lse", out.lse.len()),
        ],
    )?;
    if rows == 0 {
        return Ok(());
    }
    let mut a = KernelArgs::new();
    a.buf_at(&out.logp, row0)?
        .buf_at(&out.entropy, row0)?
        .buf_at(&out.lse, row0)?
        .buf(z)
        .buf_at(targets, row0)?
        .i32(vocab as i32)
        .f32(inv_temp);
    let kernel = if vector {
        "logprob_fwd_rows_vec"
    } else {
        "logprob_fwd_rows_f32"
    };
    dev.launch(
        kernel,
        &LaunchCfg::linear(rows as u32, row_threads(vocab), 0),
        &mut a,
    )
}

/// ∂L/∂z of `rows` rows of `z` into `dz_f32` (may be `z` itself) and/or `dz_bf16`; per-token
/// inputs (targets, forward statistics, g_lp, g_h) are read from index `row0` on. `vector`: the
/// 16-byte kernel (rung 3 on), else the first one.
#[allow(clippy::too_many_arguments)]
pub fn logprob_bwd_rows(
    dev: &dyn KernelDevice,
    dz_f32: Option<&DevBuf<f32>>,
    dz_bf16: Option<&DevBuf<bf16>>,
    z: &DevBuf<f32>,
    rows: usize,
    vocab: usize,
    targets: &DevBuf<i32>,
    fwd: &LogprobDev,
    g_lp: &DevBuf<f32>,
    g_h: &DevBuf<f32>,
    row0: usize,
    inv_temp: f32,
    vector: bool,
) -> Result<()> {
    let n = rows * vocab;
    if n > z.len() || dz_f32.is_some_and(|b| n > b.len()) || dz_bf16.is_some_and(|b| n > b.len()) {
        bail!("logprob_bwd_rows: a buffer is shorter than {rows} x {vocab}");
    }
    if dz_f32.is_none() && dz_bf16.is_none() {
        bail!("logprob_bwd_rows: no output buffer");
    }
    check_per_token(
        "logprob_bwd_rows",
        row0 + rows,
        &[
            ("targets", targets.len()),
            ("lse", fwd.lse.len()),
            ("entropy", fwd.entropy.len()),
            ("g_lp", g_lp.len()),
            ("g_h", g_h.len()),
        ],
    )?;
    if rows == 0 {
        return Ok(());
    }
    let mut a = KernelArgs::new();
    a.opt_buf(dz_f32)
        .opt_buf(dz_bf16)
        .buf(z)
        .buf_at(targets, row0)?
        .buf_at(&fwd.lse, row0)?
        .buf_at(&fwd.entropy, row0)?
        .buf_at(g_lp, row0)?
        .buf_at(g_h, row0)?
        .i32(vocab as i32)
        .f32(inv_temp);
    let kernel = if vector {
        "logprob_bwd_rows_vec"
    } else {
        "logprob_bwd_rows_f32"
    };
    dev.launch(
        kernel,
        &LaunchCfg::linear(rows as u32, row_threads(vocab), 0),
        &mut a,
    )
}

/// Shape of a fused problem: hidden [rows, d] (bf16), weight [vocab, d] (bf16, HF layout).
fn fused_shape(
    what: &str,
    hidden: &DevBuf<bf16>,
    weight: &DevBuf<bf16>,
    d: usize,
    targets: &DevBuf<i32>,
) -> Result<(usize, usize)> {
    if d == 0 || !weight.len().is_multiple_of(d) || weight.is_empty() {
        bail!(
            "{what}: weight has {} elements, not whole rows of d = {d}",
            weight.len()
        );
    }
    let rows = targets.len();
    if hidden.len() != rows * d {
        bail!(
            "{what}: hidden has {} elements, expected {rows} tokens x d = {d}",
            hidden.len()
        );
    }
    Ok((rows, weight.len() / d))
}

/// Default logits budget of the fused path on a GPU: 2^27 f32 (512 MiB; 882 rows at V = 152064).
pub const GPU_FUSED_BUDGET_FLOATS: usize = 1 << 27;

/// Rows per chunk for a logits budget of `budget_floats` f32 (the backward also holds a bf16 copy
/// of the chunk, i.e. 1.5x the budget in bytes/4).
pub fn fused_chunk_rows(vocab: usize, rows: usize, budget_floats: usize) -> usize {
    chunk_rows(vocab, rows, budget_floats)
}

/// Logits of tokens [start, start + n) into `z`: z = H[start..] · Wᵀ, on `rung`.
fn chunk_logits(
    dev: &dyn KernelDevice,
    z: &DevBuf<f32>,
    hidden: &DevBuf<bf16>,
    weight: &DevBuf<bf16>,
    (start, n, d, vocab): (usize, usize, usize, usize),
    rung: GemmRung,
) -> Result<()> {
    let g = Gemm {
        batch: 1,
        m: n,
        n: vocab,
        k: d,
        a: Strides::rows(n, d),
        b: Strides::rows(vocab, d),
        alpha: 1.0,
        beta: 0.0,
    };
    let opts = GemmOpts {
        off: GemmOffsets {
            a: start * d,
            b: 0,
            c: 0,
        },
        rung,
        ..GemmOpts::default()
    };
    gemm_bf16_with(dev, Some(z), None, hidden, weight, &g, &opts)
}

/// dH[start..start + n] (f32, written) = ∂z · W, ∂z [n, vocab] bf16 with leading dimension `ld`.
fn chunk_dh(
    dev: &dyn KernelDevice,
    dh: &DevBuf<f32>,
    dz: &DevBuf<bf16>,
    weight: &DevBuf<bf16>,
    (start, n, d, vocab, ld): (usize, usize, usize, usize, usize),
    rung: GemmRung,
) -> Result<()> {
    let g = Gemm {
        batch: 1,
        m: n,
        n: d,
        k: vocab,
        a: Strides {
            outer: ld,
            k: 1,
            batch: n * ld,
        },
        b: Strides::cols(d, vocab),
        alpha: 1.0,
        beta: 0.0,
    };
    let opts = GemmOpts {
        off: GemmOffsets {
            a: 0,
            b: 0,
            c: start * d,
        },
        rung,
        ..GemmOpts::default()
    };
    gemm_bf16_with(dev, Some(dh), None, dz, weight, &g, &opts)
}

/// dW (+)= ∂zᵀ · H[start..start + n] (f32 [vocab, d]; added when `accumulate`), ∂z as in
/// [`chunk_dh`]. A weight gradient: rung 4 may split K.
fn chunk_dw(
    dev: &dyn KernelDevice,
    dw: &DevBuf<f32>,
    dz: &DevBuf<bf16>,
    hidden: &DevBuf<bf16>,
    (start, n, d, vocab, ld): (usize, usize, usize, usize, usize),
    rung: GemmRung,
    accumulate: bool,
) -> Result<()> {
    let g = Gemm {
        batch: 1,
        m: vocab,
        n: d,
        k: n,
        a: Strides {
            outer: 1,
            k: ld,
            batch: n * ld,
        },
        b: Strides::cols(d, n),
        alpha: 1.0,
        beta: if accumulate { 1.0 } else { 0.0 },
    };
    let opts = GemmOpts {
        off: GemmOffsets {
            a: 0,
            b: start * d,
            c: 0,
        },
        rung,
        split_k: true,
        ..GemmOpts::default()
    };
    gemm_bf16_with(dev, Some(dw), None, dz, hidden, &g, &opts)
}

/// Forward: logp, entropy and lse of every token, chunk by chunk, on the best rung.
pub fn fused_logprob_fwd(
    dev: &dyn KernelDevice,
    hidden: &DevBuf<bf16>,
    weight: &DevBuf<bf16>,
    d: usize,
    targets: &DevBuf<i32>,
    inv_temp: f32,
    budget_floats: usize,
) -> Result<LogprobDev> {
    fused_logprob_fwd_on(
        dev,
        hidden,
        weight,
        d,
        targets,
        inv_temp,
        budget_floats,
        LogprobRung::BEST_SEPARATE,
    )
}

/// [`fused_logprob_fwd`] on `rung` (rung 4 has no separate forward: it runs rung 3's).
#[allow(clippy::too_many_arguments)]
pub fn fused_logprob_fwd_on(
    dev: &dyn KernelDevice,
    hidden: &DevBuf<bf16>,
    weight: &DevBuf<bf16>,
    d: usize,
    targets: &DevBuf<i32>,
    inv_temp: f32,
    budget_floats: usize,
    rung: LogprobRung,
) -> Result<LogprobDev> {
    let (rows, vocab) = fused_shape("fused_logprob_fwd", hidden, weight, d, targets)?;
    let out = LogprobDev::alloc(dev, rows)?;
    let c = fused_chunk_rows(vocab, rows, budget_floats);
    let z = alloc::<f32>(dev, c * vocab)?;
    for start in (0..rows).step_by(c.max(1)) {
        let n = c.min(rows - start);
        chunk_logits(dev, &z, hidden, weight, (start, n, d, vocab), rung.gemm())?;
        logprob_fwd_rows(
            dev,
            &out,
            &z,
            n,
            vocab,
            targets,
            start,
            inv_temp,
            rung.vector_rows(),
        )?;
    }
    Ok(out)
}

/// Backward on the best rung: recomputes each chunk's logits, turns them into ∂L/∂z (bf16, the
/// GEMM operand), writes dH [rows, d] (f32) and adds into dW [vocab, d] (f32, accumulated: zero
/// it first for a fresh gradient).
#[allow(clippy::too_many_arguments)]
pub fn fused_logprob_bwd(
    dev: &dyn KernelDevice,
    hidden: &DevBuf<bf16>,
    weight: &DevBuf<bf16>,
    d: usize,
    targets: &DevBuf<i32>,
    inv_temp: f32,
    fwd: &LogprobDev,
    g_lp: &DevBuf<f32>,
    g_h: &DevBuf<f32>,
    dh: &DevBuf<f32>,
    dw: &DevBuf<f32>,
    budget_floats: usize,
) -> Result<()> {
    let x = FusedInputs {
        hidden,
        weight,
        d,
        targets,
        inv_temp,
    };
    fused_logprob_bwd_on(
        dev,
        &x,
        fwd,
        (g_lp, g_h),
        (dh, dw),
        budget_floats,
        LogprobRung::BEST_SEPARATE,
    )
}

/// The operands every fused entry point shares: hidden [rows, d] and weight [vocab, d] (bf16), the
/// targets (one per row) and 1 / temperature.
#[derive(Clone, Copy)]
pub struct FusedInputs<'a> {
    pub hidden: &'a DevBuf<bf16>,
    pub weight: &'a DevBuf<bf16>,
    pub d: usize,
    pub targets: &'a DevBuf<i32>,
    pub inv_temp: f32,
}

impl FusedInputs<'_> {
    fn shape(&self, what: &str) -> Result<(usize, usize)> {
        fused_shape(what, self.hidden, self.weight, self.d, self.targets)
    }
}

fn check_grads(
    what: &str,
    rows: usize,
    vocab: usize,
    d: usize,
    dh: &DevBuf<f32>,
    dw: &DevBuf<f32>,
) -> Result<()> {
    if dh.len() != rows * d || dw.len() != vocab * d {
        bail!(
            "{what}: dh has {} elements (need {}), dw {} (need {})",
            dh.len(),
            rows * d,
            dw.len(),
            vocab * d
        );
    }
    Ok(())
}

/// [`fused_logprob_bwd`] on `rung` (rung 4 has no separate backward: it runs rung 3's).
pub fn fused_logprob_bwd_on(
    dev: &dyn KernelDevice,
    x: &FusedInputs<'_>,
    fwd: &LogprobDev,
    (g_lp, g_h): (&DevBuf<f32>, &DevBuf<f32>),
    (dh, dw): (&DevBuf<f32>, &DevBuf<f32>),
    budget_floats: usize,
    rung: LogprobRung,
) -> Result<()> {
    let (rows, vocab) = x.shape("fused_logprob_bwd")?;
    let d = x.d;
    check_grads("fused_logprob_bwd", rows, vocab, d, dh, dw)?;
    let c = fused_chunk_rows(vocab, rows, budget_floats);
    let z = alloc::<f32>(dev, c * vocab)?;
    let dz = alloc::<bf16>(dev, c * vocab)?;
    for start in (0..rows).step_by(c.max(1)) {
        let n = c.min(rows - start);
        chunk_logits(
            dev,
            &z,
            x.hidden,
            x.weight,
            (start, n, d, vocab),
            rung.gemm(),
        )?;
        logprob_bwd_rows(
            dev,
            None,
            Some(&dz),
            &z,
            n,
            vocab,
            x.targets,
            fwd,
            g_lp,
            g_h,
            start,
            x.inv_temp,
            rung.vector_rows(),
        )?;
        let dims = (start, n, d, vocab, vocab);
        chunk_dh(dev, dh, &dz, x.weight, dims, rung.gemm())?;
        chunk_dw(dev, dw, &dz, x.hidden, dims, rung.gemm(), true)?;
    }
    Ok(())
}

/// Rows of the fused forward + backward's two buffers: f32 logits of `chunk` rows, bf16 ∂z of
/// `group` rows (a multiple of `chunk`); dH and dW are made once per group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FusedPlan {
    pub chunk: usize,
    pub group: usize,
}

impl FusedPlan {
    /// For `rows` tokens in the bytes the separate backward holds at `budget_floats` (f32 logits
    /// plus their bf16 ∂z: 6 bytes per float of budget): a quarter of its logits rows (a multiple
    /// of 128, the GEMM tile, when that is at least one tile) and as many ∂z rows as the rest of
    /// the bytes hold — every row at once when they fit, so dW is written once.
    pub fn new(vocab: usize, rows: usize, budget_floats: usize) -> Self {
        let rows = rows.max(1);
        let quarter = fused_chunk_rows(vocab, rows, budget_floats) / 4;
        let chunk = if quarter >= 128 {
            quarter / 128 * 128
        } else {
            quarter.max(1)
        }
        .min(rows);
        let bytes = 6 * budget_floats;
        let free = bytes.saturating_sub(4 * chunk * vocab.max(1));
        let fit = free / (2 * vocab.max(1));
        let group = (fit / chunk * chunk).clamp(chunk, rows.div_ceil(chunk) * chunk);
        FusedPlan { chunk, group }
    }
}

/// Forward and backward at once, for coefficients known before the forward (rung 4): per group of
/// rows, per chunk of it, the logits GEMM and one row kernel that writes the statistics and the
/// bf16 ∂z into the group's buffer; then dH = ∂z·W and dW (+)= ∂zᵀ·H for the whole group. Three
/// GEMMs instead of four, and dW is read-modify-written once per group (never when the rows fit
/// one group and `accumulate` is false: then it is only written).
#[allow(clippy::too_many_arguments)]
pub fn fused_logprob_fwd_bwd(
    dev: &dyn KernelDevice,
    x: &FusedInputs<'_>,
    (g_lp, g_h): (&DevBuf<f32>, &DevBuf<f32>),
    (dh, dw): (&DevBuf<f32>, &DevBuf<f32>),
    accumulate: bool,
    budget_floats: usize,
) -> Result<LogprobDev> {
    let (rows, vocab) = x.shape("fused_logprob_fwd_bwd")?;
    let d = x.d;
    check_grads("fused_logprob_fwd_bwd", rows, vocab, d, dh, dw)?;
    check_per_token(
        "fused_logprob_fwd_bwd",
        rows,
        &[("g_lp", g_lp.len()), ("g_h", g_h.len())],
    )?;
    let out = LogprobDev::alloc(dev, rows)?;
    let plan = FusedPlan::new(vocab, rows, budget_floats);
    let z = alloc::<f32>(dev, plan.chunk * vocab)?;
    let dz = alloc::<bf16>(dev, plan.group.min(rows) * vocab)?;
    let gemm = GemmRung::model_default();
    for g0 in (0..rows).step_by(plan.group) {
        let gn = plan.group.min(rows - g0);
        for c0 in (g0..g0 + gn).step_by(plan.chunk) {
            let n = plan.chunk.min(g0 + gn - c0);
            chunk_logits(dev, &z, x.hidden, x.weight, (c0, n, d, vocab), gemm)?;
            let mut a = KernelArgs::new();
            a.buf_at(&out.logp, c0)?
                .buf_at(&out.entropy, c0)?
                .buf_at(&out.lse, c0)?
                .buf_at(&dz, (c0 - g0) * vocab)?
                .i64(vocab as i64)
                .buf(&z)
                .buf_at(x.targets, c0)?
                .buf_at(g_lp, c0)?
                .buf_at(g_h, c0)?
                .i32(vocab as i32)
                .f32(x.inv_temp);
            dev.launch(
                "logprob_fwd_bwd_rows",
                &LaunchCfg::linear(n as u32, row_threads(vocab), 0),
                &mut a,
            )?;
        }
        let dims = (g0, gn, d, vocab, vocab);
        chunk_dh(dev, dh, &dz, x.weight, dims, gemm)?;
        chunk_dw(dev, dw, &dz, x.hidden, dims, gemm, accumulate || g0 > 0)?;
    }
    Ok(out)
}

/// Device bytes of the fused path's buffers (the separate backward's f32 logits + bf16 ∂z chunk,
/// the forward + backward's logits chunk and ∂z group) against the naive path (f32 logits and f32
/// gradient, T × V each), for the plan printed by `selftest --report`.
pub fn fused_memory_plan(tokens: usize, vocab: usize, d: usize, budget_floats: usize) -> String {
    let c = fused_chunk_rows(vocab, tokens, budget_floats);
    let fused = c * vocab * (4 + 2);
    let naive = tokens * vocab * (4 + 4);
    let p = FusedPlan::new(vocab, tokens, budget_floats);
    let both = p.chunk * vocab * 4 + p.group.min(tokens) * vocab * 2;
    let gib = |b: usize| b as f64 / (1u64 << 30) as f64;
    format!(
        "fused log-prob T={tokens} V={vocab} d={d}: chunk {c} rows, {:.3} GiB of chunk buffers \
         (f32 logits + bf16 dz) vs naive {:.1} GiB (f32 logits + f32 grad, T x V): {:.0}x less; \
         {} chunks (GEMM + row kernel each) per pass; with known coefficients {} logits rows + \
         {} dz rows ({:.3} GiB): dW updated {} times instead of {}",
        gib(fused),
        gib(naive),
        naive as f64 / fused.max(1) as f64,
        tokens.div_ceil(c.max(1)),
        p.chunk,
        p.group,
        gib(both),
        tokens.div_ceil(p.group),
        tokens.div_ceil(c.max(1))
    )
}
