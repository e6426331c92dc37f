//! Token sampling on the device (kernels/sampling.cu): one block per row of f32 logits, the
//! semantics of `backend::cpu::sampling::sample_row` with the uniform of
//! `rng::philox_uniform(seed, stream, step, lane)` drawn on the device; [`sample_rows_params`]
//! takes each row's seed and parameters from the device, one launch for rows of several requests.
//!
//! Two rungs ([`SampleRung`]) draw the same tokens and log-probabilities bit for bit: rung 1 finds
//! the top-k / top-p thresholds by bisection on the logits' order key (~70 passes over a row),
//! rung 2 by radix select (at most 6). [`sample_rows`] and [`sample_rows_params`] run the best.
use super::device::{alloc_arena, download, upload, DevBuf, KernelArgs, KernelDevice, LaunchCfg};
use crate::backend::cpu::sampling::{Sampled, SamplingParams};
use anyhow::{bail, Context, Result};

/// Per-row outputs, on the device. `token` is -1 for a row with a NaN/Inf logit.
pub struct SampledDev {
    pub token: DevBuf<i32>,
    pub logprob: DevBuf<f32>,
    pub logprob_truncated: DevBuf<f32>,
    /// The three above as one allocation of 4-byte words (token, log-prob, truncated log-prob
    /// per row, in that order) when [`alloc`](Self::alloc) made them: read back in one copy, the
    /// decode step's only wait on the device.
    pub whole: Option<DevBuf<u32>>,
}

impl SampledDev {
    pub fn alloc(dev: &dyn KernelDevice, rows: usize) -> Result<Self> {
        let (whole, parts) = alloc_arena::<u32>(dev, &[rows, rows, rows])?;
        let [token, logprob, logprob_truncated]: [DevBuf<u32>; 3] = parts
            .try_into()
            .map_err(|_| anyhow::anyhow!("SampledDev: three parts expected"))?;
        Ok(SampledDev {
            token: token.retype()?,
            logprob: logprob.retype()?,
            logprob_truncated: logprob_truncated.retype()?,
            whole: Some(whole),
        })
    }

    /// Downloads the results (one copy when allocated as one); a row whose logits were not
    /// finite is an error naming the row.
    pub fn download(&self, dev: &dyn KernelDevice) -> Result<Vec<Sampled>> {
        let (tok, lp, lpt) = match &self.whole {
            Some(w) => {
                let words = download(dev, w)?;
                let n = self.token.len();
                let f = |r: &[u32]| r.iter().map(|&x| f32::from_bits(x)).collect::<Vec<_>>();
                let tok = words[..n].iter().map(|&x| x as i32).collect::<Vec<_>>();
                (tok, f(&words[n..2 * n]), f(&words[2 * n..3 * n]))
            }
            None => (
                download(dev, &self.token)?,
                download(dev, &self.logprob)?,
                download(dev, &self.logprob_truncated)?,
            ),
        };
        let mut out = Vec::with_capacity(tok.len());
        for (r, ((&t, &a), &b)) in tok.iter().zip(&lp).zip(&lpt).enumerate() {
            if t < 0 {
                bail!("row {r}: NaN/Inf in logits");
            }
            out.push(Sampled {
                token: t as u32,
                logprob: a,
                logprob_truncated: b,
            });
        }
        Ok(out)
    }
}

/// The per-row Philox counters the kernel reads: [rows, 4] u32 = (stream lo, stream hi, step lo,
/// step hi), so row r draws `philox_uniform(seed, streams[r], steps[r], lane)`.
pub fn sample_keys(streams: &[u64], steps: &[u64]) -> Result<Vec<u32>> {
    if streams.len() != steps.len() {
        bail!(
            "sample_keys: {} streams but {} steps",
            streams.len(),
            steps.len()
        );
    }
    Ok(streams
        .iter()
        .zip(steps)
        .flat_map(|(&s, &t)| [s as u32, (s >> 32) as u32, t as u32, (t >> 32) as u32])
        .collect())
}

/// The sampler's kernel ladder (`rlvr bench kernels --kernel sampling:1,2`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SampleRung {
    /// Thresholds by bisection on the order key: one count or mass pass per step.
    Bisection = 1,
    /// Thresholds by radix select (11/11/10-bit histograms), confirmed with rung 1's sums; top-k
    /// candidates finished in shared memory.
    Radix = 2,
}

impl SampleRung {
    pub const ALL: [SampleRung; 2] = [SampleRung::Bisection, SampleRung::Radix];
    pub const BEST: SampleRung = SampleRung::Radix;

    pub const fn number(self) -> u32 {
        self as u32
    }

    pub fn from_number(n: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.number() == n)
    }

    pub const fn idea(self) -> &'static str {
        match self {
            SampleRung::Bisection => "bisection on the order key, one pass per step (~70 passes)",
            SampleRung::Radix => {
                "radix select: 3 histogram passes, exact-sum confirmation, top-k in shared memory"
            }
        }
    }

    /// The kernels of this rung: (one parameter set per launch, parameters per row).
    pub const fn kernels(self) -> (&'static str, &'static str) {
        match self {
            SampleRung::Bisection => ("sample_rows_f32", "sample_rows_params_f32"),
            SampleRung::Radix => ("sample_rows_radix_f32", "sample_rows_params_radix_f32"),
        }
    }
}

fn threads(vocab: usize) -> u32 {
    (vocab.div_ceil(32) * 32).clamp(32, 256) as u32
}

/// Each row draws from its own 4-word Philox key and writes one token and two log-probs.
fn check_keys_and_outputs(
    what: &str,
    rows: usize,
    keys: &DevBuf<u32>,
    out: &SampledDev,
) -> Result<()> {
    if keys.len() != 4 * rows
        || out.token.len() < rows
        || out.logprob.len() < rows
        || out.logprob_truncated.len() < rows
    {
        bail!(
            "{what}: {rows} rows need 4 x {rows} keys (got {}) and {rows} outputs",
            keys.len()
        );
    }
    Ok(())
}

/// Samples one token per row of `logits` [rows, vocab] into `out` (the best rung).
#[allow(clippy::too_many_arguments)]
pub fn sample_rows(
    dev: &dyn KernelDevice,
    out: &SampledDev,
    logits: &DevBuf<f32>,
    vocab: usize,
    keys: &DevBuf<u32>,
    seed: u64,
    lane: u32,
    p: &SamplingParams,
) -> Result<()> {
    sample_rows_on(
        SampleRung::BEST,
        dev,
        out,
        logits,
        vocab,
        keys,
        seed,
        lane,
        p,
    )
}

/// [`sample_rows`] on the given rung.
#[allow(clippy::too_many_arguments)]
pub fn sample_rows_on(
    rung: SampleRung,
    dev: &dyn KernelDevice,
    out: &SampledDev,
    logits: &DevBuf<f32>,
    vocab: usize,
    keys: &DevBuf<u32>,
    seed: u64,
    lane: u32,
    p: &SamplingParams,
) -> Result<()> {
    p.validate()?;
    if vocab == 0 || !logits.len().is_multiple_of(vocab) {
        bail!(
            "sample_rows: {} logits are not whole rows of {vocab}",
            logits.len()
        );
    }
    if vocab > i32::MAX as usize {
        bail!("sample_rows: vocabulary of {vocab} exceeds the kernel's int indices");
    }
    let rows = logits.len() / vocab;
    check_keys_and_outputs("sample_rows", rows, keys, out)?;
    if rows == 0 {
        return Ok(());
    }
    let mut a = KernelArgs::new();
    a.buf(&out.token)
        .buf(&out.logprob)
        .buf(&out.logprob_truncated)
        .buf(logits)
        .buf(keys)
        .i32(vocab as i32)
        .i64(seed as i64)
        .u32(lane)
        .f32(p.temperature)
        .i32(p.top_k.min(vocab) as i32)
        .f32(p.top_p)
        .f32(p.min_p)
        .i32(p.greedy as i32);
    dev.launch(
        rung.kernels().0,
        &LaunchCfg::linear(rows as u32, threads(vocab), 0),
        &mut a,
    )
}

/// [`sample_rows`] with each row's own seed and parameters (`rows[i]` for row i of `logits`),
/// so the rows of several requests take one launch; the same draw per row as [`sample_rows`]
/// (the best rung).
pub fn sample_rows_params(
    dev: &dyn KernelDevice,
    out: &SampledDev,
    logits: &DevBuf<f32>,
    vocab: usize,
    keys: &DevBuf<u32>,
    rows: &[(u64, SamplingParams)],
    lane: u32,
) -> Result<()> {
    sample_rows_params_on(SampleRung::BEST, dev, out, logits, vocab, keys, rows, lane)
}

/// [`sample_rows_params`] on the given rung.
#[allow(clippy::too_many_arguments)]
pub fn sample_rows_params_on(
    rung: SampleRung,
    dev: &dyn KernelDevice,
    out: &SampledDev,
    logits: &DevBuf<f32>,
    vocab: usize,
    keys: &DevBuf<u32>,
    rows: &[(u64, SamplingParams)],
    lane: u32,
) -> Result<()> {
    let w = rung.kernels().1;
    if vocab == 0 || vocab > i32::MAX as usize || logits.len() != rows.len() * vocab {
        bail!(
            "{w}: {} logits are not {} rows of a vocabulary of {vocab} (at most {})",
            logits.len(),
            rows.len(),
            i32::MAX
        );
    }
    let n = rows.len();
    check_keys_and_outputs(w, n, keys, out)?;
    let mut params = Vec::with_capacity(8 * n);
    for (i, (seed, p)) in rows.iter().enumerate() {
        p.validate().with_context(|| format!("{w}: row {i}"))?;
        params.extend([
            *seed as u32,
            (*seed >> 32) as u32,
            p.temperature.to_bits(),
            p.top_k.min(vocab) as u32,
            p.top_p.to_bits(),
            p.min_p.to_bits(),
            p.greedy as u32,
            0,
        ]);
    }
    if n == 0 {
        return Ok(());
    }
    let params = upload(dev, &params)?;
    let mut a = KernelArgs::new();
    a.buf(&out.token)
        .buf(&out.logprob)
        .buf(&out.logprob_truncated)
        .buf(logits)
        .buf(keys)
        .i32(vocab as i32)
        .buf(&params)
        .u32(lane);
    dev.launch(w, &LaunchCfg::linear(n as u32, threads(vocab), 0), &mut a)
}
