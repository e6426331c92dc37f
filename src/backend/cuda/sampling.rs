//! Token sampling on the device (kernels/sampling.cu): one block per row of f32 logits, the
//! semantics of `backend::cpu::sampling::sample_row` with the uniform of
//! `rng::philox_uniform(seed, stream, step, lane)` drawn on the device.
use super::device::{alloc, download, DevBuf, KernelArgs, KernelDevice, LaunchCfg};
use crate::backend::cpu::sampling::{Sampled, SamplingParams};
use anyhow::{bail, Result};

/// Per-row outputs, on the device. `token` is -1 for a row with a NaN/Inf logit.
pub struct SampledDev {
    pub token: DevBuf<i32>,
    pub logprob: DevBuf<f32>,
    pub logprob_truncated: DevBuf<f32>,
}

impl SampledDev {
    pub fn alloc(dev: &dyn KernelDevice, rows: usize) -> Result<Self> {
        Ok(SampledDev {
            token: alloc(dev, rows)?,
            logprob: alloc(dev, rows)?,
            logprob_truncated: alloc(dev, rows)?,
        })
    }

    /// Downloads the results; a row whose logits were not finite is an error naming the row.
    pub fn download(&self, dev: &dyn KernelDevice) -> Result<Vec<Sampled>> {
        let tok = download(dev, &self.token)?;
        let lp = download(dev, &self.logprob)?;
        let lpt = download(dev, &self.logprob_truncated)?;
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

fn threads(vocab: usize) -> u32 {
    (vocab.div_ceil(32) * 32).clamp(32, 256) as u32
}

/// Samples one token per row of `logits` [rows, vocab] into `out`.
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
    if keys.len() != 4 * rows
        || out.token.len() < rows
        || out.logprob.len() < rows
        || out.logprob_truncated.len() < rows
    {
        bail!(
            "sample_rows: {rows} rows need 4 x {rows} keys (got {}) and {rows} outputs",
            keys.len()
        );
    }
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
        "sample_rows_f32",
        &LaunchCfg::linear(rows as u32, threads(vocab), 0),
        &mut a,
    )
}
