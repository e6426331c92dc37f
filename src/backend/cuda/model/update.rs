//! The device side of a training step on a [`DeviceModel`]: f32 master weights, AdamW moments
//! and gradient shards; one micro-batch's forward, fused head and backward into a shard; the
//! shards' ordered sum over ranks, the global grad-norm clip and AdamW as kernels (the bf16
//! weights the forward reads are written by the AdamW kernel). The loss is the caller's: it
//! turns the head's per-token log π and entropy into the coefficients the backward takes.
//!
//! A step: `begin_step` with this rank's number of gradient shards, `backward_micro_batch` for
//! each micro-batch of each shard and `end_shard` after each shard, then `apply_step`.
use super::dp::ShardGrads;
use super::{DeviceBatch, DeviceModel};
use crate::backend::cuda::cast::cast_f32_to_bf16;
use crate::backend::cuda::device::{
    alloc, alloc_arena, copy_to_device, download, DevBuf, KernelDevice,
};
use crate::backend::cuda::fill::fill_f32;
use crate::backend::cuda::optim::{adamw_multi_f32, AdamW as AdamWStep, AdamwTable, AdamwTensor};
use crate::backend::cuda::reduce::{grad_norm_f32, grad_norm_multi_f32, SumsqTable};
use crate::dist::device_comm::{DeviceComm, Slice};
use crate::model::forward::suffix_rows;
use crate::model::{Batch, Model};
use crate::optim::AdamWConfig;
use anyhow::{bail, Result};
use std::ops::Range;

pub struct DeviceUpdater {
    pub model: DeviceModel,
    /// The tensors whose master weights and moments this rank keeps (all of them, except under
    /// ZeRO-1, where each rank keeps a contiguous run and the others receive its updates).
    owned: Range<usize>,
    /// f32 master weights of the owned tensors, in one arena (`master_flat`) so that ZeRO-1
    /// sends them in one piece.
    master_flat: DevBuf<f32>,
    master: Vec<DevBuf<f32>>,
    m: Vec<DevBuf<f32>>,
    v: Vec<DevBuf<f32>>,
    /// Under ZeRO-1: every tensor's f32 master after the last update, gathered from the owners
    /// through a transient device buffer and kept on the host (the CPU rollouts read them), so
    /// the device keeps only its own shard of the f32 state.
    gathered: Option<Vec<Vec<f32>>>,
    /// This rank's gradient shards; their sum over all ranks ends in shard 0.
    grads: ShardGrads,
    /// Per local shard of the current step: whether a micro-batch has written its gradients.
    filled: Vec<bool>,
    pub cfg: AdamWConfig,
    /// AdamW steps taken (the bias corrections use it).
    pub step: u32,
    /// Recompute each layer's activations in the backward (`--activation-checkpointing`).
    pub activation_checkpointing: bool,
    /// The device table of the one-launch AdamW step over the owned tensors (built at the first
    /// step, rebuilt if any buffer it names has changed).
    adamw_table: Option<AdamwTable>,
    /// The same for the gradient norm's first stage.
    sumsq_table: Option<SumsqTable>,
}

impl DeviceUpdater {
    /// Uploads `model` (f32 masters and their bf16 copy) with zero moments.
    pub fn new(dev: &dyn KernelDevice, model: &Model, cfg: AdamWConfig) -> Result<Self> {
        Self::with_owned(dev, model, cfg, 0..model.params.len())
    }

    /// As `new`, keeping master weights and moments only for the tensors `owned` (ZeRO-1).
    pub fn with_owned(
        dev: &dyn KernelDevice,
        model: &Model,
        cfg: AdamWConfig,
        owned: Range<usize>,
    ) -> Result<Self> {
        if owned.end > model.params.len() || owned.start > owned.end {
            bail!(
                "owned tensors {owned:?} of a model with {}",
                model.params.len()
            );
        }
        let dm = DeviceModel::upload(dev, model)?;
        let sizes: Vec<usize> = model.params[owned.clone()]
            .iter()
            .map(|p| p.numel())
            .collect();
        let (master_flat, master) = alloc_arena::<f32>(dev, &sizes)?;
        for (b, p) in master.iter().zip(&model.params[owned.clone()]) {
            copy_to_device(dev, p.data(), b)?;
        }
        let zeros = |p: &DevBuf<f32>| -> Result<DevBuf<f32>> {
            let b = alloc(dev, p.len())?;
            fill_f32(dev, &b, 0.0)?;
            Ok(b)
        };
        let m = master.iter().map(zeros).collect::<Result<Vec<_>>>()?;
        let v = master.iter().map(zeros).collect::<Result<Vec<_>>>()?;
        let grads = ShardGrads::alloc(dev, &dm, 1)?;
        Ok(DeviceUpdater {
            model: dm,
            owned,
            master_flat,
            master,
            m,
            v,
            gathered: None,
            grads,
            filled: Vec::new(),
            cfg,
            step: 0,
            activation_checkpointing: false,
            adamw_table: None,
            sumsq_table: None,
        })
    }

    /// Whether this rank keeps every tensor's optimizer state.
    fn owns_all(&self) -> bool {
        self.owned == (0..self.model.params.len())
    }

    /// `opt` holds moments for exactly the tensors this rank keeps.
    fn check_moments(&self, opt: &crate::optim::AdamW) -> Result<()> {
        if opt.m.len() != self.m.len() {
            bail!(
                "optimizer state has {} tensors, this rank keeps {}",
                opt.m.len(),
                self.m.len()
            );
        }
        Ok(())
    }

    /// Takes over a CPU optimizer's moments and step count (e.g. after `--resume`).
    pub fn load_moments(
        &mut self,
        dev: &dyn KernelDevice,
        opt: &crate::optim::AdamW,
    ) -> Result<()> {
        self.check_moments(opt)?;
        for i in 0..self.m.len() {
            copy_to_device(dev, &opt.m[i], &self.m[i])?;
            copy_to_device(dev, &opt.v[i], &self.v[i])?;
        }
        self.step = u32::try_from(opt.step)?;
        Ok(())
    }

    /// Copies the moments and step count into a CPU optimizer (for its checkpoint).
    pub fn store_moments(
        &self,
        dev: &dyn KernelDevice,
        opt: &mut crate::optim::AdamW,
    ) -> Result<()> {
        self.check_moments(opt)?;
        for i in 0..self.m.len() {
            opt.m[i] = download(dev, &self.m[i])?;
            opt.v[i] = download(dev, &self.v[i])?;
        }
        opt.step = self.step as u64;
        Ok(())
    }

    /// The f32 master weights in layout order; fails on a non-finite value.
    pub fn download_params(&self, dev: &dyn KernelDevice) -> Result<Vec<Vec<f32>>> {
        let out: Vec<Vec<f32>> = match (&self.gathered, self.owns_all()) {
            (_, true) => self
                .master
                .iter()
                .map(|b| download(dev, b))
                .collect::<Result<_>>()?,
            (Some(host), false) => host.clone(),
            (None, false) => bail!("the sharded master weights were never gathered"),
        };
        if let Some(i) = out.iter().position(|p| p.iter().any(|v| !v.is_finite())) {
            bail!(
                "parameter {} became non-finite after the update",
                self.model.layout.specs[i].0
            );
        }
        Ok(out)
    }

    /// Copies the master weights into `model.params` (for the CPU rollouts and checkpoints).
    pub fn sync_to_host(&self, dev: &dyn KernelDevice, model: &mut Model) -> Result<()> {
        for (p, v) in model.params.iter_mut().zip(self.download_params(dev)?) {
            p.data_mut().copy_from_slice(&v);
        }
        Ok(())
    }

    /// Starts an optimizer step in which this rank computes `local` gradient shards.
    pub fn begin_step(&mut self, dev: &dyn KernelDevice, local: usize) -> Result<()> {
        self.ensure_shards(dev, local)?;
        self.filled = vec![false; local];
        Ok(())
    }

    /// Forward, fused head and backward of the micro-batch `seqs` (the last `suffix[i]` tokens
    /// of sequence i scored at `temperature`), added into local shard `k`. `coefficients` turns
    /// the head's per-token log-probs and entropies into the loss's gradients with respect to
    /// them.
    pub fn backward_micro_batch(
        &mut self,
        dev: &dyn KernelDevice,
        k: usize,
        seqs: &[Vec<u32>],
        suffix: &[usize],
        temperature: f32,
        coefficients: impl FnOnce(&[f32], &[f32]) -> (Vec<f32>, Vec<f32>),
    ) -> Result<()> {
        let Some(filled) = self.filled.get_mut(k) else {
            bail!("gradient shard {k} of a step with {}", self.filled.len());
        };
        let m = Scored {
            seqs,
            suffix,
            temperature,
            checkpoint: self.activation_checkpointing,
        };
        micro_backward(
            &self.model,
            dev,
            &m,
            &mut self.grads.shards[k],
            *filled,
            coefficients,
        )?;
        *filled = true;
        Ok(())
    }

    /// [`Self::backward_micro_batch`] for coefficients known before the forward (∂L/∂log π =
    /// `g_logp` and ∂L/∂H = `g_entropy` per scored token, e.g. SFT's −1/N): the head's forward and
    /// backward run at once, three LM-head GEMMs instead of four. Returns the scored tokens'
    /// log π.
    #[allow(clippy::too_many_arguments)]
    pub fn backward_micro_batch_known(
        &mut self,
        dev: &dyn KernelDevice,
        k: usize,
        seqs: &[Vec<u32>],
        suffix: &[usize],
        temperature: f32,
        g_logp: &[f32],
        g_entropy: &[f32],
    ) -> Result<Vec<f32>> {
        let Some(filled) = self.filled.get_mut(k) else {
            bail!("gradient shard {k} of a step with {}", self.filled.len());
        };
        let grads = &mut self.grads.shards[k];
        let batch = Batch::from_sequences(seqs);
        let (rows, targets) = suffix_rows(&batch, suffix)?;
        let db = DeviceBatch::from_batch(dev, &batch)?;
        let acts = self
            .model
            .forward_opts(dev, &db, self.activation_checkpointing)?;
        let head_i = self.model.layout.lm_head_index();
        let (head, dhidden) = self.model.head_with_backward(
            dev,
            &acts,
            (&rows, &targets),
            temperature,
            (g_logp, g_entropy),
            &grads.bufs[head_i],
            *filled,
        )?;
        let (lp, _) = head.download(dev)?;
        self.model
            .backward_below_head(dev, &db, &acts, &dhidden, grads, *filled)?;
        *filled = true;
        Ok(lp)
    }

    /// Ends local shard `k`: a shard no micro-batch wrote is zero.
    pub fn end_shard(&mut self, dev: &dyn KernelDevice, k: usize) -> Result<()> {
        if !self.filled.get(k).copied().unwrap_or(true) {
            self.grads.shards[k].zero(dev)?;
        }
        Ok(())
    }

    /// Sums the step's gradient shards (`shards` in all, each rank holding its contiguous block
    /// of them) over every rank of `comm` in shard order, clips by the global norm to `clip` and
    /// takes one AdamW step at `lr` (under ZeRO-1 on this rank's tensors, then gathers the
    /// others' updated weights). Returns the norm before clipping.
    pub fn apply_step(
        &mut self,
        dev: &dyn KernelDevice,
        shards: usize,
        comm: &dyn DeviceComm,
        clip: f32,
        lr: f32,
    ) -> Result<f32> {
        if self.filled.is_empty() {
            // A rank without shards of its own still receives the sum in shard 0.
            self.grads.shards[0].zero(dev)?;
        }
        self.grads.all_reduce(dev, comm, shards.max(1))?;
        let norm = self.apply_gradients(dev, clip, lr)?;
        if !self.owns_all() {
            self.gather_weights(dev, comm)?;
        }
        Ok(norm)
    }

    /// Room for this rank's `local` gradient shards.
    fn ensure_shards(&mut self, dev: &dyn KernelDevice, local: usize) -> Result<()> {
        if self.grads.local() < local {
            self.grads = ShardGrads::alloc(dev, &self.model, local)?;
        }
        Ok(())
    }

    /// ZeRO-1: every owner's updated master weights to every rank (into `gathered`), and the
    /// bf16 copies of the tensors this rank does not own from them (the owner's AdamW kernel
    /// rounded its own the same way).
    fn gather_weights(&mut self, dev: &dyn KernelDevice, comm: &dyn DeviceComm) -> Result<()> {
        let sizes: Vec<usize> = self.model.params.iter().map(|p| p.len()).collect();
        let (all, parts) = alloc_arena::<f32>(dev, &sizes)?;
        let (world, rank) = (comm.world_size(), comm.rank());
        let owners = crate::optim::zero::partition_tensors(&sizes, world);
        let ranges = crate::optim::zero::element_ranges(&sizes, &owners);
        if owners[rank] != self.owned {
            bail!(
                "rank {rank} owns tensors {:?}, the partition says {:?}",
                self.owned,
                owners[rank]
            );
        }
        let mine = Slice::new(&self.master_flat, 0, self.master_flat.len());
        let sends: Vec<Vec<Slice<'_>>> = (0..world)
            .map(|_| if mine.len > 0 { vec![mine] } else { vec![] })
            .collect();
        let recvs: Vec<Vec<Slice<'_>>> = ranges
            .iter()
            .map(|r| {
                if r.is_empty() {
                    vec![]
                } else {
                    vec![Slice::new(&all, r.start, r.len())]
                }
            })
            .collect();
        comm.exchange_f32(dev, &sends, &recvs)?;
        for (i, part) in parts.iter().enumerate() {
            if !self.owned.contains(&i) {
                cast_f32_to_bf16(dev, &self.model.params[i], part)?;
            }
        }
        self.gathered = Some(
            parts
                .iter()
                .map(|b| download(dev, b))
                .collect::<Result<_>>()?,
        );
        Ok(())
    }

    /// Global-norm clip and one AdamW step on every parameter; returns the norm before clipping.
    fn apply_gradients(&mut self, dev: &dyn KernelDevice, clip: f32, lr: f32) -> Result<f32> {
        let refs: Vec<&DevBuf<f32>> = self.grads.shards[0].bufs.iter().collect();
        if !self.sumsq_table.as_ref().is_some_and(|t| t.matches(&refs)) {
            self.sumsq_table = Some(SumsqTable::new(dev, &refs)?);
        }
        let norm_coef = match &self.sumsq_table {
            Some(t) => grad_norm_multi_f32(dev, t, clip)?,
            None => grad_norm_f32(dev, &refs, clip)?,
        };
        let norm = download(dev, &norm_coef)?[0];
        if !norm.is_finite() {
            bail!("non-finite gradient (global norm {norm}); the update was not applied");
        }
        self.step += 1;
        let h = AdamWStep {
            lr,
            beta1: self.cfg.beta1,
            beta2: self.cfg.beta2,
            eps: self.cfg.eps,
            weight_decay: self.cfg.weight_decay,
            step: self.step,
        };
        let parts: Vec<AdamwTensor<'_>> = self
            .owned
            .clone()
            .enumerate()
            .map(|(k, i)| AdamwTensor {
                param: &self.master[k],
                m: &self.m[k],
                v: &self.v[k],
                param_bf16: Some(&self.model.params[i]),
                grad: &self.grads.shards[0].bufs[i],
            })
            .collect();
        if !self.adamw_table.as_ref().is_some_and(|t| t.matches(&parts)) {
            self.adamw_table = Some(AdamwTable::new(dev, &parts)?);
        }
        if let Some(table) = &self.adamw_table {
            adamw_multi_f32(dev, table, Some((&norm_coef, 1)), &h)?;
        }
        Ok(norm)
    }
}

/// One micro-batch: the sequences and how many tokens at the end of each are scored.
struct Scored<'a> {
    seqs: &'a [Vec<u32>],
    suffix: &'a [usize],
    temperature: f32,
    checkpoint: bool,
}

/// Forward, fused head and backward of one micro-batch into `grads` (added to them when
/// `accumulate`).
fn micro_backward(
    model: &DeviceModel,
    dev: &dyn KernelDevice,
    m: &Scored<'_>,
    grads: &mut super::Grads,
    accumulate: bool,
    coefficients: impl FnOnce(&[f32], &[f32]) -> (Vec<f32>, Vec<f32>),
) -> Result<()> {
    let batch = Batch::from_sequences(m.seqs);
    let (rows, targets) = suffix_rows(&batch, m.suffix)?;
    let db = DeviceBatch::from_batch(dev, &batch)?;
    let acts = model.forward_opts(dev, &db, m.checkpoint)?;
    let head = model.head(dev, &acts, &rows, &targets, m.temperature)?;
    let (lp, ent) = head.download(dev)?;
    let (g_logp, g_entropy) = coefficients(&lp, &ent);
    model.backward(
        dev, &db, &acts, &head, &g_logp, &g_entropy, grads, accumulate,
    )
}
