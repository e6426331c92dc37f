//! The RL policy update on the device: `rl::update::policy_update` with the forward, the fused
//! head and the backward on a [`DeviceModel`], gradients accumulated over micro-batches in f32,
//! the global grad-norm clip and AdamW as kernels on f32 master weights and moments (the bf16
//! weights the forward reads are written by the AdamW kernel). The per-token coefficients are
//! computed on the host by `rl::loss::token_coefficients`, exactly as on the CPU path.
//! `DeviceUpdater::coefficient_step` is one such step with coefficients the caller gives (SFT's
//! −1/N on every response token), through the same micro-batch and reduce-and-apply code.
use super::dp::ShardGrads;
use super::{DeviceBatch, DeviceModel, Grads};
use crate::backend::cuda::cast::cast_f32_to_bf16;
use crate::backend::cuda::device::{
    alloc, alloc_arena, copy_to_device, download, DevBuf, KernelDevice,
};
use crate::backend::cuda::fill::fill_f32;
use crate::backend::cuda::optim::{adamw_step_f32, AdamW as AdamWStep};
use crate::backend::cuda::reduce::grad_norm_f32;
use crate::dist::device_comm::{DeviceComm, Slice, Staged};
use crate::model::forward::suffix_rows;
use crate::model::{Batch, Model};
use crate::optim::AdamWConfig;
use crate::rl::config::TrainConfig;
use crate::rl::dp::DataParallel;
use crate::rl::loss::token_coefficients;
use crate::rl::update::{micro_loss_inputs, UpdateInputs, UpdateStats};
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
    pub cfg: AdamWConfig,
    /// AdamW steps taken (the bias corrections use it).
    pub step: u32,
    /// Recompute each layer's activations in the backward (`--activation-checkpointing`).
    pub activation_checkpointing: bool,
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
            cfg,
            step: 0,
            activation_checkpointing: false,
        })
    }

    /// Whether this rank keeps every tensor's optimizer state.
    fn owns_all(&self) -> bool {
        self.owned == (0..self.model.params.len())
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
        self.ensure_shards(dev, my_shards.len())?;
        let ckpt = self.activation_checkpointing;
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
                    let scored = Scored {
                        seqs: &mi.seqs,
                        suffix: &mi.suffix,
                        temperature: cfg.temperature,
                        checkpoint: ckpt,
                    };
                    micro_backward(&self.model, dev, &scored, grads, have_grads, |lp, ent| {
                        let c = token_coefficients(&micro_loss_inputs(
                            &mi, lp, ent, cfg, x.kl_coef, mb_tokens, scale,
                        ));
                        stats.extend([
                            c.pg_loss,
                            c.clipped_tokens as f64,
                            c.ppo_kl_sum,
                            c.kl_sum,
                            mi.adv.len() as f64,
                        ]);
                        (c.g_logp, c.g_entropy)
                    })?;
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
            st.grad_norm += self.reduce_and_apply(dev, dp, comm, cfg.grad_clip, lr)? as f64;
            st.optimizer_steps += 1;
            mb_start = mb_end;
        }
        Ok(st.finish())
    }

    /// One optimizer step with caller-given per-token coefficients on log π (none on the
    /// entropy), e.g. SFT's −1/N on every response token: this rank's gradient shards of the
    /// batch (`dp.shard_micro_batches` packed by `b.max_tokens_per_micro_batch`), summed in
    /// shard order over `comm`, then the clip and AdamW step of `policy_update_dp`. Returns the
    /// log-probs of the scored tokens of this rank's sequences (one vector per sequence, in
    /// batch order) and the gradient norm before clipping.
    pub fn coefficient_step(
        &mut self,
        dev: &dyn KernelDevice,
        b: &CoefficientBatch<'_>,
        dp: &DataParallel<'_>,
        comm: &dyn DeviceComm,
        clip: f32,
        lr: f32,
    ) -> Result<(Vec<Vec<f32>>, f32)> {
        if b.seqs.len() != b.g_logp.len() {
            bail!(
                "{} sequences with {} coefficient vectors",
                b.seqs.len(),
                b.g_logp.len()
            );
        }
        let suffix: Vec<usize> = b.g_logp.iter().map(Vec::len).collect();
        let lens: Vec<usize> = b.seqs.iter().map(Vec::len).collect();
        let my_shards = dp.my_shards();
        self.ensure_shards(dev, my_shards.len())?;
        let mut logprobs = Vec::new();
        for (k, shard) in my_shards.clone().enumerate() {
            let grads = &mut self.grads.shards[k];
            let mut have_grads = false;
            for m in dp.shard_micro_batches(&lens, b.max_tokens_per_micro_batch, shard) {
                if suffix[m.clone()].iter().all(|&s| s == 0) {
                    continue;
                }
                let scored = Scored {
                    seqs: &b.seqs[m.clone()],
                    suffix: &suffix[m.clone()],
                    temperature: b.temperature,
                    checkpoint: self.activation_checkpointing,
                };
                let g_logp = b.g_logp[m.clone()].concat();
                let lp =
                    micro_backward_known(&self.model, dev, &scored, grads, have_grads, &g_logp)?;
                let mut rest = lp.as_slice();
                for &s in &suffix[m.clone()] {
                    let (seq, tail) = rest.split_at(s);
                    logprobs.push(seq.to_vec());
                    rest = tail;
                }
                have_grads = true;
            }
            if !have_grads {
                grads.zero(dev)?;
            }
        }
        if my_shards.is_empty() {
            self.grads.shards[0].zero(dev)?;
        }
        let norm = self.reduce_and_apply(dev, dp, comm, clip, lr)?;
        Ok((logprobs, norm))
    }

    /// Room for this rank's `local` gradient shards.
    fn ensure_shards(&mut self, dev: &dyn KernelDevice, local: usize) -> Result<()> {
        if self.grads.local() < local {
            self.grads = ShardGrads::alloc(dev, &self.model, local)?;
        }
        Ok(())
    }

    /// The shards' sum over every rank, the clip and AdamW step on this rank's tensors, and
    /// under ZeRO-1 the other owners' updates; returns the norm before clipping.
    fn reduce_and_apply(
        &mut self,
        dev: &dyn KernelDevice,
        dp: &DataParallel<'_>,
        comm: &dyn DeviceComm,
        clip: f32,
        lr: f32,
    ) -> Result<f32> {
        self.grads.all_reduce(dev, comm, dp.shards.max(1))?;
        let norm = self.apply_gradients(dev, clip, lr)?;
        if !self.owns_all() {
            self.gather_weights(dev, dp, comm)?;
        }
        Ok(norm)
    }

    /// ZeRO-1: every owner's updated master weights to every rank (into `gathered`), and the
    /// bf16 copies of the tensors this rank does not own from them (the owner's AdamW kernel
    /// rounded its own the same way).
    fn gather_weights(
        &mut self,
        dev: &dyn KernelDevice,
        dp: &DataParallel<'_>,
        comm: &dyn DeviceComm,
    ) -> Result<()> {
        let sizes: Vec<usize> = self.model.params.iter().map(|p| p.len()).collect();
        let (all, parts) = alloc_arena::<f32>(dev, &sizes)?;
        let owners = crate::optim::zero::partition_tensors(&sizes, dp.world());
        let ranges = crate::optim::zero::element_ranges(&sizes, &owners);
        if owners[dp.rank()] != self.owned {
            bail!(
                "rank {} owns tensors {:?}, the partition says {:?}",
                dp.rank(),
                self.owned,
                owners[dp.rank()]
            );
        }
        let world = dp.world();
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
        for (k, i) in self.owned.clone().enumerate() {
            adamw_step_f32(
                dev,
                &self.master[k],
                &self.m[k],
                &self.v[k],
                Some(&self.model.params[i]),
                &self.grads.shards[0].bufs[i],
                Some((&norm_coef, 1)),
                &h,
            )?;
        }
        Ok(norm)
    }
}

/// The sequences of one `DeviceUpdater::coefficient_step`.
pub struct CoefficientBatch<'a> {
    /// Token ids of each sequence.
    pub seqs: &'a [Vec<u32>],
    /// Per sequence, the coefficient on log π of each of its last `g_logp[i].len()` tokens.
    pub g_logp: &'a [Vec<f32>],
    /// Token budget of one forward within a shard (`usize::MAX`: a shard is one forward).
    pub max_tokens_per_micro_batch: usize,
    pub temperature: f32,
}

/// [`micro_backward`] for coefficients on log π known before the forward (none on the entropy):
/// the head's forward and backward run at once (three LM-head GEMMs instead of four). Returns the
/// scored tokens' log-probs.
fn micro_backward_known(
    model: &DeviceModel,
    dev: &dyn KernelDevice,
    m: &Scored<'_>,
    grads: &mut Grads,
    accumulate: bool,
    g_logp: &[f32],
) -> Result<Vec<f32>> {
    let batch = Batch::from_sequences(m.seqs);
    let (rows, targets) = suffix_rows(&batch, m.suffix)?;
    let db = DeviceBatch::from_batch(dev, &batch)?;
    let acts = model.forward_opts(dev, &db, m.checkpoint)?;
    let g_h = vec![0.0; g_logp.len()];
    let head_i = model.layout.lm_head_index();
    let (head, dhidden) = model.head_with_backward(
        dev,
        &acts,
        (&rows, &targets),
        m.temperature,
        (g_logp, &g_h),
        &grads.bufs[head_i],
        accumulate,
    )?;
    let (lp, _) = head.download(dev)?;
    model.backward_below_head(dev, &db, &acts, &dhidden, grads, accumulate)?;
    Ok(lp)
}

/// One micro-batch: the sequences and how many tokens at the end of each are scored.
struct Scored<'a> {
    seqs: &'a [Vec<u32>],
    suffix: &'a [usize],
    temperature: f32,
    checkpoint: bool,
}

/// Forward, fused head and backward of one micro-batch into `grads` (added to them when
/// `accumulate`); `coefficients` turns the head's per-token log-probs and entropies into the
/// loss's gradients with respect to them.
fn micro_backward(
    model: &DeviceModel,
    dev: &dyn KernelDevice,
    m: &Scored<'_>,
    grads: &mut Grads,
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
