//! Fused LM head + token log-probabilities on the device (kernels/logprob.cu): the host loops over token
//! chunks; per chunk a GEMM writes f32 logits [chunk, V] (H·Wᵀ), a row kernel turns them into
//! logp / entropy / lse (forward) or into ∂L/∂z (backward, per-token g_lp, g_H folded in), and two
//! GEMMs give dH = ∂z·W and dW += ∂zᵀ·H. At most `chunk × V` logits exist at once, never T × V.
//! The math is that of `backend::cpu::logprob` (module docs there).
use super::device::{alloc, DevBuf, KernelArgs, KernelDevice, LaunchCfg};
use super::gemm::{gemm_bf16_at, Gemm, GemmOffsets, Strides};
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
    dev.launch(
        "logprob_fwd_rows_f32",
        &LaunchCfg::linear(rows as u32, row_threads(vocab), 0),
        &mut a,
    )
}

/// ∂L/∂z of `rows` rows of `z` into `dz_f32` (may be `z` itself) and/or `dz_bf16`; per-token
/// inputs (targets, forward statistics, g_lp, g_h) are read from index `row0` on.
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
    dev.launch(
        "logprob_bwd_rows_f32",
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

/// Logits of tokens [start, start + n) into `z`: z = H[start..] · Wᵀ.
fn chunk_logits(
    dev: &dyn KernelDevice,
    z: &DevBuf<f32>,
    hidden: &DevBuf<bf16>,
    weight: &DevBuf<bf16>,
    (start, n, d, vocab): (usize, usize, usize, usize),
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
    let off = GemmOffsets {
        a: start * d,
        b: 0,
        c: 0,
    };
    gemm_bf16_at(dev, Some(z), None, hidden, weight, &g, off)
}

/// Forward: logp, entropy and lse of every token, chunk by chunk.
pub fn fused_logprob_fwd(
    dev: &dyn KernelDevice,
    hidden: &DevBuf<bf16>,
    weight: &DevBuf<bf16>,
    d: usize,
    targets: &DevBuf<i32>,
    inv_temp: f32,
    budget_floats: usize,
) -> Result<LogprobDev> {
    let (rows, vocab) = fused_shape("fused_logprob_fwd", hidden, weight, d, targets)?;
    let out = LogprobDev::alloc(dev, rows)?;
    let c = fused_chunk_rows(vocab, rows, budget_floats);
    let z = alloc::<f32>(dev, c * vocab)?;
    for start in (0..rows).step_by(c.max(1)) {
        let n = c.min(rows - start);
        chunk_logits(dev, &z, hidden, weight, (start, n, d, vocab))?;
        logprob_fwd_rows(dev, &out, &z, n, vocab, targets, start, inv_temp)?;
    }
    Ok(out)
}

/// Backward: recomputes each chunk's logits, turns them into ∂L/∂z (bf16, the GEMM operand),
/// writes dH [rows, d] (f32) and adds into dW [vocab, d] (f32, accumulated: zero it first for a
/// fresh gradient).
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
    let (rows, vocab) = fused_shape("fused_logprob_bwd", hidden, weight, d, targets)?;
    if dh.len() != rows * d || dw.len() != vocab * d {
        bail!(
            "fused_logprob_bwd: dh has {} elements (need {}), dw {} (need {})",
            dh.len(),
            rows * d,
            dw.len(),
            vocab * d
        );
    }
    let c = fused_chunk_rows(vocab, rows, budget_floats);
    let z = alloc::<f32>(dev, c * vocab)?;
    let dz = alloc::<bf16>(dev, c * vocab)?;
    for start in (0..rows).step_by(c.max(1)) {
        let n = c.min(rows - start);
        chunk_logits(dev, &z, hidden, weight, (start, n, d, vocab))?;
        logprob_bwd_rows(
            dev,
            None,
            Some(&dz),
            &z,
            n,
            vocab,
            targets,
            fwd,
            g_lp,
            g_h,
            start,
            inv_temp,
        )?;
        // dH[start..start + n] = ∂z · W
        let g = Gemm {
            batch: 1,
            m: n,
            n: d,
            k: vocab,
            a: Strides::rows(n, vocab),
            b: Strides::cols(d, vocab),
            alpha: 1.0,
            beta: 0.0,
        };
        let off = GemmOffsets {
            a: 0,
            b: 0,
            c: start * d,
        };
        gemm_bf16_at(dev, Some(dh), None, &dz, weight, &g, off)?;
        // dW += ∂zᵀ · H[start..start + n]
        let g = Gemm {
            batch: 1,
            m: vocab,
            n: d,
            k: n,
            a: Strides::cols(vocab, n),
            b: Strides::cols(d, n),
            alpha: 1.0,
            beta: 1.0,
        };
        let off = GemmOffsets {
            a: 0,
            b: start * d,
            c: 0,
        };
        gemm_bf16_at(dev, Some(dw), None, &dz, hidden, &g, off)?;
    }
    Ok(())
}

/// Device bytes of the fused path's chunk buffers (f32 logits + bf16 ∂z) against the naive path
/// (f32 logits and f32 gradient, T × V each), for the plan printed by `selftest --report`.
pub fn fused_memory_plan(tokens: usize, vocab: usize, d: usize, budget_floats: usize) -> String {
    let c = fused_chunk_rows(vocab, tokens, budget_floats);
    let fused = c * vocab * (4 + 2);
    let naive = tokens * vocab * (4 + 4);
    let gib = |b: usize| b as f64 / (1u64 << 30) as f64;
    format!(
        "fused log-prob T={tokens} V={vocab} d={d}: chunk {c} rows, {:.3} GiB of chunk buffers \
         (f32 logits + bf16 dz) vs naive {:.1} GiB (f32 logits + f32 grad, T x V): {:.0}x less; \
         {} chunks (GEMM + row kernel each) per pass",
        gib(fused),
        gib(naive),
        naive as f64 / fused.max(1) as f64,
        tokens.div_ceil(c.max(1))
    )
}
