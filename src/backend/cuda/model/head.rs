//! The LM head on chosen rows: gather the final hidden states of the (row, target) pairs, then
//! the fused log-prob kernels (never a [N, V] logits tensor); the backward scatters dH back.
//! With coefficients known before the forward, [`DeviceModel::head_with_backward`] runs the
//! forward and backward at once (three GEMMs instead of four).
use super::super::device::{alloc, upload, DevBuf, KernelDevice};
use super::super::logprob::{
    fused_logprob_bwd, fused_logprob_fwd, fused_logprob_fwd_bwd, FusedInputs, LogprobDev,
};
use super::super::{cast, embedding};
use super::forward::Activations;
use super::DeviceModel;
use anyhow::{bail, Result};
use half::bf16;

/// The scored rows (as ids), their targets on the device, their final hidden states [rows, d]
/// and 1 / temperature.
type Gathered = (Vec<i32>, DevBuf<i32>, DevBuf<bf16>, f32);

/// Logits budget of the fused head (f32 elements per chunk), as on the GPU.
pub const HEAD_BUDGET_FLOATS: usize = super::super::logprob::GPU_FUSED_BUDGET_FLOATS;

/// log π(target) and entropy per scored row, with what the backward needs.
pub struct HeadOut {
    /// rows of the batch that are scored, in output order
    pub rows: Vec<i32>,
    pub targets: DevBuf<i32>,
    /// gathered final hidden states [rows, d]
    pub hs: DevBuf<bf16>,
    pub lp: LogprobDev,
    pub inv_temp: f32,
}

impl HeadOut {
    pub fn len(&self) -> usize {
        self.rows.len()
    }
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
    /// (log π, entropy) on the host.
    pub fn download(&self, dev: &dyn KernelDevice) -> Result<(Vec<f32>, Vec<f32>)> {
        Ok((
            super::super::device::download(dev, &self.lp.logp)?,
            super::super::device::download(dev, &self.lp.entropy)?,
        ))
    }
}

impl DeviceModel {
    /// log π(targets[i] | row rows[i]) and the entropy there, at `temperature`.
    pub fn head(
        &self,
        dev: &dyn KernelDevice,
        acts: &Activations,
        rows: &[usize],
        targets: &[u32],
        temperature: f32,
    ) -> Result<HeadOut> {
        let (rows, targets, hs, inv_temp) = self.gather(dev, acts, rows, targets, temperature)?;
        let lp = fused_logprob_fwd(
            dev,
            &hs,
            self.lm_head(),
            self.hidden(),
            &targets,
            inv_temp,
            HEAD_BUDGET_FLOATS,
        )?;
        Ok(HeadOut {
            rows,
            targets,
            hs,
            lp,
            inv_temp,
        })
    }

    /// [`DeviceModel::head`] and its backward at once, for ∂L/∂logπ = g.0 and ∂L/∂H = g.1 known
    /// before the forward (e.g. SFT's −1/N per response token): the LM-head gradient is written
    /// into `dw_head` (added to it when `accumulate`) and ∂L/∂(final hidden) [N, d] is returned.
    #[allow(clippy::too_many_arguments)]
    pub fn head_with_backward(
        &self,
        dev: &dyn KernelDevice,
        acts: &Activations,
        (rows, targets): (&[usize], &[u32]),
        temperature: f32,
        g: (&[f32], &[f32]),
        dw_head: &DevBuf<f32>,
        accumulate: bool,
    ) -> Result<(HeadOut, DevBuf<bf16>)> {
        if g.0.len() != rows.len() || g.1.len() != rows.len() {
            bail!(
                "head: {} log-prob and {} entropy coefficients for {} scored tokens",
                g.0.len(),
                g.1.len(),
                rows.len()
            );
        }
        let n = acts.hidden.len() / self.hidden();
        let (rows, targets, hs, inv_temp) = self.gather(dev, acts, rows, targets, temperature)?;
        let (g_lp, g_h) = (upload(dev, g.0)?, upload(dev, g.1)?);
        let dh_sel = alloc::<f32>(dev, rows.len() * self.hidden())?;
        let x = FusedInputs {
            hidden: &hs,
            weight: self.lm_head(),
            d: self.hidden(),
            targets: &targets,
            inv_temp,
        };
        let lp = fused_logprob_fwd_bwd(
            dev,
            &x,
            (&g_lp, &g_h),
            (&dh_sel, dw_head),
            accumulate,
            HEAD_BUDGET_FLOATS,
        )?;
        let head = HeadOut {
            rows,
            targets,
            hs,
            lp,
            inv_temp,
        };
        let dhidden = self.scatter_rows(dev, &head, n, &dh_sel)?;
        Ok((head, dhidden))
    }

    /// Checks the scored (row, target) pairs and gathers their final hidden states.
    fn gather(
        &self,
        dev: &dyn KernelDevice,
        acts: &Activations,
        rows: &[usize],
        targets: &[u32],
        temperature: f32,
    ) -> Result<Gathered> {
        let (d, vocab) = (self.hidden(), self.config.vocab_size);
        let n = acts.hidden.len() / d;
        if rows.len() != targets.len() || rows.is_empty() {
            bail!(
                "head: {} rows for {} targets (need at least one)",
                rows.len(),
                targets.len()
            );
        }
        if !(temperature > 0.0 && temperature.is_finite()) {
            bail!("temperature must be > 0, got {temperature}");
        }
        if let Some(r) = rows.iter().find(|&&r| r >= n) {
            bail!("head: row {r} is outside the batch of {n} tokens");
        }
        if let Some(t) = targets.iter().find(|&&t| t as usize >= vocab) {
            bail!("head: target {t} is outside the vocabulary of {vocab}");
        }
        let rows: Vec<i32> = rows.iter().map(|&r| r as i32).collect();
        let ti: Vec<i32> = targets.iter().map(|&t| t as i32).collect();
        let targets = upload(dev, &ti)?;
        let hs = alloc::<bf16>(dev, rows.len() * d)?;
        // a gather is an embedding lookup with the hidden states as the table
        embedding::embedding_fwd_bf16(dev, &hs, &acts.hidden, &upload(dev, &rows)?, d)?;
        Ok((rows, targets, hs, 1.0 / temperature))
    }

    /// Backward of the head for ∂L/∂logπ = g_lp and ∂L/∂H = g_h per scored row: adds the LM-head
    /// gradient into `dw_head` and returns ∂L/∂(final hidden) [N, d] (bf16, zero on rows that
    /// are not scored).
    pub(crate) fn head_backward(
        &self,
        dev: &dyn KernelDevice,
        head: &HeadOut,
        n: usize,
        g: (&[f32], &[f32]),
        dw_head: &DevBuf<f32>,
    ) -> Result<DevBuf<bf16>> {
        let d = self.hidden();
        let r = head.len();
        if g.0.len() != r || g.1.len() != r {
            bail!(
                "backward: {} log-prob and {} entropy coefficients for {r} scored tokens",
                g.0.len(),
                g.1.len()
            );
        }
        let (g_lp, g_h) = (upload(dev, g.0)?, upload(dev, g.1)?);
        let dh_sel = alloc::<f32>(dev, r * d)?;
        fused_logprob_bwd(
            dev,
            &head.hs,
            self.lm_head(),
            d,
            &head.targets,
            head.inv_temp,
            &head.lp,
            &g_lp,
            &g_h,
            &dh_sel,
            dw_head,
            HEAD_BUDGET_FLOATS,
        )?;
        self.scatter_rows(dev, head, n, &dh_sel)
    }

    /// ∂L/∂(final hidden) [n, d] (bf16) from the scored rows' dH [rows, d] (f32): zero on rows
    /// that are not scored.
    fn scatter_rows(
        &self,
        dev: &dyn KernelDevice,
        head: &HeadOut,
        n: usize,
        dh_sel: &DevBuf<f32>,
    ) -> Result<DevBuf<bf16>> {
        let d = self.hidden();
        let dh_sel_bf = alloc::<bf16>(dev, dh_sel.len())?;
        cast::cast_f32_to_bf16(dev, &dh_sel_bf, dh_sel)?;
        // scatter: the embedding backward with the rows as ids (each row appears once)
        let full = alloc::<f32>(dev, n * d)?;
        super::super::fill::fill_f32(dev, &full, 0.0)?;
        embedding::embedding_bwd_f32(dev, &full, &dh_sel_bf, &head.rows, d)?;
        let out = alloc::<bf16>(dev, n * d)?;
        cast::cast_f32_to_bf16(dev, &out, &full)?;
        Ok(out)
    }
}
