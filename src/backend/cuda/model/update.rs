//! The RL policy update on the device: `rl::update::policy_update` with the forward, the fused
//! head and the backward on a [`DeviceModel`], gradients accumulated over micro-batches in f32,
//! the global grad-norm clip and AdamW as kernels on f32 master weights and moments (the bf16
//! weights the forward reads are written by the AdamW kernel). The per-token coefficients are
//! computed on the host by `rl::loss::token_coefficients`, exactly as on the CPU path.
use super::dp::ShardGrads;
use super::{DeviceBatch, DeviceModel};
use crate::backend::cuda::comm::{DeviceComm, Staged};
use crate::backend::cuda::device::{alloc, copy_to_device, download, upload, DevBuf, KernelDevice};
use crate::backend::cuda::fill::fill_f32;
use crate::backend::cuda::launch::{adamw_step_f32, grad_norm_f32, AdamW as AdamWStep};
use crate::model::forward::suffix_rows;
use crate::model::{Batch, Model};
use crate::optim::AdamWConfig;
use crate::rl::config::TrainConfig;
use crate::rl::dp::DataParallel;
use crate::rl::loss::token_coefficients;
use crate::rl::update::{micro_loss_inputs, UpdateInputs, UpdateStats};
use anyhow::{bail, Result};

pub struct DeviceUpdater {
    pub model: DeviceModel,
    master: Vec<DevBuf<f32>>,
    m: Vec<DevBuf<f32>>,
    v: Vec<DevBuf<f32>>,
    /// This rank's gradient shards; their sum over all ranks ends in shard 0.
    grads: ShardGrads,
    pub cfg: AdamWConfig,
    /// AdamW steps taken (the bias corrections use it).
    pub step: u32,
}

impl DeviceUpdater {
    /// Uploads `model` (f32 masters and their bf16 copy) with zero moments.
    pub fn new(dev: &dyn KernelDevice, model: &Model, cfg: AdamWConfig) -> Result<Self> {
        let dm = DeviceModel::upload(dev, model)?;
        let master = model
            .params
            .iter()
            .map(|p| upload(dev, p.data()))
            .collect::<Result<Vec<_>>>()?;
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
            master,
            m,
            v,
            grads,
            cfg,
            step: 0,
        })
    }

    /// Takes over a CPU optimizer's moments and step count (e.g. after `--resume`).
    pub fn load_moments(
        &mut self,
        dev: &dyn KernelDevice,
        opt: &crate::optim::AdamW,
    ) -> Result<()> {
        if opt.m.len() != self.m.len() {
            bail!(
                "optimizer state has {} tensors, the model {}",
                opt.m.len(),
                self.m.len()
            );
        }
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
        if opt.m.len() != self.m.len() {
            bail!(
                "optimizer state has {} tensors, the model {}",
                opt.m.len(),
                self.m.len()
            );
        }
        for i in 0..self.m.len() {
            opt.m[i] = download(dev, &self.m[i])?;
            opt.v[i] = download(dev, &self.v[i])?;
        }
        opt.step = self.step as u64;
        Ok(())
    }

    /// The f32 master weights in layout order; fails on a non-finite value.
    pub fn download_params(&self, dev: &dyn KernelDevice) -> Result<Vec<Vec<f32>>> {
        let out: Vec<Vec<f32>> = self
            .master
            .iter()
            .map(|b| download(dev, b))
            .collect::<Result<_>>()?;
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

    /// One mini-batch after another, as `rl::update::policy_update` (one process, one shard).
    pub fn policy_update(
        &mut self,
        dev: &dyn KernelDevice,
        x: &UpdateInputs<'_>,
        cfg: &TrainConfig,
        lr: f32,
    ) -> Result<UpdateStats> {
        let single = DataParallel::single();
        let staged = Staged { comm: single.comm };
        self.policy_update_dp(dev, x, cfg, lr, &single, &staged)
    }

    /// As `rl::update::policy_update_dp`: each mini-batch's `dp.shards` gradient shards, this
    /// rank computing its block of them, summed in shard order over `comm` (see `dp`), then the
    /// same clip and AdamW step on every rank. Statistics are gathered in global micro-batch
    /// order, so every rank reports what one process does.
    pub fn policy_update_dp(
        &mut self,
        dev: &dyn KernelDevice,
        x: &UpdateInputs<'_>,
        cfg: &TrainConfig,
        lr: f32,
        dp: &DataParallel<'_>,
        comm: &dyn DeviceComm,
    ) -> Result<UpdateStats> {
        const STATS: usize = 5;
        let my_shards = dp.my_shards();
        if self.grads.local() < my_shards.len() {
            self.grads = ShardGrads::alloc(dev, &self.model, my_shards.len())?;
        }
        let mut st = UpdateStats::default();
        let n = x.samples.len();
        let mut mb_start = 0;
        while mb_start < n {
            let mb_end = (mb_start + x.mb_seqs).min(n);
            let mb = mb_start..mb_end;
            let mb_tokens = x.tokens(mb.clone());
            let scale = x.scale(cfg, mb.len());
            let lens = x.lens(mb.clone());
            let mut stats: Vec<f64> = Vec::new();
            for (k, shard) in my_shards.clone().enumerate() {
                let grads = &mut self.grads.shards[k];
                let mut have_grads = false;
                for micro in dp.shard_micro_batches(&lens, cfg.max_tokens_per_micro_batch, shard) {
                    let idx: Vec<usize> = micro.map(|i| mb_start + i).collect();
                    let mi = x.micro(&idx);
                    if mi.adv.is_empty() {
                        continue;
                    }
                    let batch = Batch::from_sequences(&mi.seqs);
                    let (rows, targets) = suffix_rows(&batch, &mi.suffix)?;
                    let db = DeviceBatch::from_batch(dev, &batch)?;
                    let acts = self.model.forward(dev, &db)?;
                    let head = self
                        .model
                        .head(dev, &acts, &rows, &targets, cfg.temperature)?;
                    let (lp, ent) = head.download(dev)?;
                    let c = token_coefficients(&micro_loss_inputs(
                        &mi, &lp, &ent, cfg, x.kl_coef, mb_tokens, scale,
                    ));
                    stats.extend([
                        c.pg_loss,
                        c.clipped_tokens as f64,
                        c.ppo_kl_sum,
                        c.kl_sum,
                        mi.adv.len() as f64,
                    ]);
                    self.model.backward(
                        dev,
                        &db,
                        &acts,
                        &head,
                        &c.g_logp,
                        &c.g_entropy,
                        grads,
                        have_grads,
                    )?;
                    have_grads = true;
                }
                if !have_grads {
                    grads.zero(dev)?;
                }
            }
            if my_shards.is_empty() {
                self.grads.shards[0].zero(dev)?;
            }
            for s in dp.gather_stats(&stats, STATS)?.chunks_exact(STATS) {
                st.pg_loss += s[0];
                st.clip_frac += s[1];
                st.approx_kl += s[2];
                st.kl += s[3];
                st.tokens += s[4] as usize;
            }
            self.grads.all_reduce(dev, comm, dp.shards.max(1))?;
            st.grad_norm += self.apply_gradients(dev, cfg.grad_clip, lr)? as f64;
            st.optimizer_steps += 1;
            mb_start = mb_end;
        }
        Ok(st.finish())
    }

    /// Global-norm clip and one AdamW step on every parameter; returns the norm before clipping.
    pub fn apply_gradients(&mut self, dev: &dyn KernelDevice, clip: f32, lr: f32) -> Result<f32> {
        let refs: Vec<&DevBuf<f32>> = self.grads.shards[0].bufs.iter().collect();
        let norm_coef = grad_norm_f32(dev, &refs, clip)?;
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
        for i in 0..self.master.len() {
            adamw_step_f32(
                dev,
                &self.master[i],
                &self.m[i],
                &self.v[i],
                Some(&self.model.params[i]),
                &self.grads.shards[0].bufs[i],
                Some((&norm_coef, 1)),
                &h,
            )?;
        }
        Ok(norm)
    }
}
