//! Data parallelism for the trainer. What a run computes is a function of its data, seed and
//! `dp_shards`, never of the number of processes:
//!
//! - rollouts: rank r samples a contiguous block of the step's prompts, with the per-prompt
//!   seeds of a one-process run; the samples are gathered, so every rank holds the whole batch
//!   and computes advantages (GRPO groups, PPO whitening), token-mean denominators and metrics
//!   on it, exactly as one process does;
//! - scoring (old, reference log-probs, values): the packs a one-process run would form are
//!   split among ranks in contiguous blocks and the results gathered;
//! - the update: each mini-batch's sequences are split into `dp_shards` contiguous shards, each
//!   packed into micro-batches by the token budget (one shard: the one-process micro-batches);
//!   a shard's gradient is accumulated micro-batch by micro-batch, and the mini-batch gradient
//!   is the left-to-right sum of the shard gradients (an ordered reduce-scatter). Ranks hold
//!   contiguous runs of shards, so one process with `dp_shards = 2` adds exactly what two
//!   processes add;
//! - every rank then takes the same AdamW step, or with ZeRO-1 updates its own tensors and
//!   all-gathers the weights.
use super::rollout::{PromptItem, Sample};
use super::update::{apply_gradients, micro_batches};
use crate::dist::{block, gather_f64, gather_u32, reduce_scatter_sum_f32, wire, Comm, Single};
use crate::model::score::{score_suffixes, SeqScores};
use crate::model::Model;
use crate::optim::{clip_coefficient, global_norm, scale_grads, zero, AdamW, AdamWConfig};
use crate::tensor::Tensor;
use anyhow::{bail, Result};
use std::ops::Range;
use std::path::Path;

/// ZeRO stage of the data-parallel optimizer, written `0` or `1` in config files and on the
/// command line: 0 keeps every tensor's AdamW state on every rank, 1 (ZeRO-1) gives each rank
/// the moments and master-weight updates of its share of the tensors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ZeroStage {
    #[default]
    #[value(name = "0")]
    Off,
    #[value(name = "1")]
    One,
}

impl ZeroStage {
    /// Whether the optimizer state is sharded across ranks.
    pub fn is_sharded(self) -> bool {
        self == ZeroStage::One
    }
}

impl std::fmt::Display for ZeroStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.is_sharded() as u8)
    }
}

impl serde::Serialize for ZeroStage {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_u8(self.is_sharded() as u8)
    }
}

impl<'de> serde::Deserialize<'de> for ZeroStage {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        match i64::deserialize(d)? {
            0 => Ok(ZeroStage::Off),
            1 => Ok(ZeroStage::One),
            n => Err(serde::de::Error::custom(format!(
                "zero must be 0 or 1 (ZeRO-1), got {n}"
            ))),
        }
    }
}

pub struct DataParallel<'a> {
    pub comm: &'a dyn Comm,
    /// Gradient shards per mini-batch: the grouping of the gradient sum.
    pub shards: usize,
    /// ZeRO-1: shard the AdamW moments and master-weight updates across ranks.
    pub zero: bool,
}

impl DataParallel<'static> {
    /// One process, one shard: the plain single-process trainer.
    pub fn single() -> Self {
        DataParallel {
            comm: &Single,
            shards: 1,
            zero: false,
        }
    }
}

impl<'a> DataParallel<'a> {
    /// From command-line settings: `dp_shards` 0 means one shard per rank.
    pub fn new(comm: &'a dyn Comm, dp_shards: usize, zero: ZeroStage) -> Self {
        DataParallel {
            comm,
            shards: if dp_shards == 0 {
                comm.world_size()
            } else {
                dp_shards
            },
            zero: zero.is_sharded(),
        }
    }
}

impl DataParallel<'_> {
    /// Whether anything differs from the plain one-process run.
    pub fn is_parallel(&self) -> bool {
        self.world() > 1 || self.shards > 1 || self.zero
    }

    /// For logs: "2 process(es) (MPI rank 0 of 2), 2 gradient shard(s), ZeRO-1 off".
    pub fn describe(&self) -> String {
        format!(
            "{} process(es) ({}), {} gradient shard(s), ZeRO-1 {}",
            self.world(),
            self.comm.describe(),
            self.shards,
            if self.zero { "on" } else { "off" }
        )
    }

    pub fn rank(&self) -> usize {
        self.comm.rank()
    }
    pub fn world(&self) -> usize {
        self.comm.world_size()
    }
    pub fn is_root(&self) -> bool {
        self.rank() == 0
    }

    /// This rank's contiguous block of `n` work items.
    pub fn my_block(&self, n: usize) -> Range<usize> {
        block(n, self.world(), self.rank())
    }

    /// The gradient shards this rank computes.
    pub fn my_shards(&self) -> Range<usize> {
        self.my_block(self.shards.max(1))
    }

    /// The micro-batches of gradient shard `s` of a mini-batch whose sequences have token
    /// lengths `lens`: the shard is a contiguous block of the sequences, packed by `budget`.
    /// Indices are into the mini-batch. With one shard these are the one-process micro-batches.
    pub fn shard_micro_batches(
        &self,
        lens: &[usize],
        budget: usize,
        s: usize,
    ) -> Vec<Range<usize>> {
        let b = block(lens.len(), self.shards.max(1), s);
        micro_batches(&lens[b.clone()], budget)
            .into_iter()
            .map(|m| m.start + b.start..m.end + b.start)
            .collect()
    }

    /// The tensors whose optimizer state this rank holds.
    pub fn owned(&self, params: &[Tensor]) -> Range<usize> {
        if self.zero {
            self.owners(params)[self.rank()].clone()
        } else {
            0..params.len()
        }
    }

    fn owners(&self, params: &[Tensor]) -> Vec<Range<usize>> {
        let numels: Vec<usize> = params.iter().map(|p| p.numel()).collect();
        zero::partition_tensors(&numels, self.world())
    }

    /// AdamW over the tensors this rank owns.
    pub fn optimizer(&self, cfg: AdamWConfig, params: &[Tensor]) -> AdamW {
        AdamW::new(cfg, &params[self.owned(params)])
    }

    /// Load a checkpoint's (full) optimizer state into this rank's optimizer.
    pub fn load_optimizer(&self, opt: &mut AdamW, path: &Path, params: &[Tensor]) -> Result<()> {
        if self.zero {
            zero::load_shard(opt, path, params, self.owned(params))
        } else {
            opt.load(path)
        }
    }

    /// The full optimizer state on rank 0 for a checkpoint (collective under ZeRO-1; None on
    /// other ranks, and None without ZeRO-1, where `opt` already is the full state).
    pub fn gather_optimizer(&self, opt: &AdamW, params: &[Tensor]) -> Result<Option<AdamW>> {
        if !self.zero {
            return Ok(None);
        }
        let numels: Vec<usize> = params.iter().map(|p| p.numel()).collect();
        let full = zero::gather_state(self.comm, 0, opt, &self.owners(params), &numels)?;
        Ok(full)
    }

    /// Sum the gradient shards this rank computed (`partials`, in shard order) with every other
    /// rank's, clip by the global norm and step. Returns the norm before clipping.
    pub fn apply_gradients(
        &self,
        params: &mut [Tensor],
        opt: &mut AdamW,
        partials: Vec<Vec<Option<Tensor>>>,
        names: &[String],
        clip: f32,
        lr: f32,
    ) -> Result<f32> {
        let numels: Vec<usize> = params.iter().map(|p| p.numel()).collect();
        if self.world() == 1 && !self.zero && partials.len() <= 1 {
            // One shard: the single-process path as it always was.
            let acc = partials
                .into_iter()
                .next()
                .unwrap_or_else(|| vec![None; params.len()]);
            return apply_gradients(params, opt, acc, names, clip, lr);
        }
        let flat: Vec<Vec<f32>> = partials
            .into_iter()
            .map(|p| {
                p.iter()
                    .zip(&numels)
                    .flat_map(|(g, &n)| match g {
                        Some(g) => g.data().to_vec(),
                        None => vec![0.0; n],
                    })
                    .collect()
            })
            .collect();
        let total: usize = numels.iter().sum();
        if !self.zero {
            // Ordered all-reduce: reduce-scatter over balanced blocks, all-gather, then the
            // unsharded step on every rank.
            let ranges: Vec<Range<usize>> = (0..self.world())
                .map(|q| block(total, self.world(), q))
                .collect();
            let mine = reduce_scatter_sum_f32(self.comm, &flat, &ranges)?;
            let full: Vec<f32> = self.comm.all_gather_f32(&mine)?.concat();
            let grads = split(&full, params)?;
            return apply_gradients(
                params,
                opt,
                grads.into_iter().map(Some).collect(),
                names,
                clip,
                lr,
            );
        }
        let owners = self.owners(params);
        let ranges = zero::element_ranges(&numels, &owners);
        let mine = reduce_scatter_sum_f32(self.comm, &flat, &ranges)?;
        let owned = owners[self.rank()].clone();
        let mut grads = split(&mine, &params[owned.clone()])?;
        let first_bad = |ts: &[Tensor]| -> u32 {
            ts.iter()
                .position(|g| g.has_non_finite())
                .map_or(u32::MAX, |i| (owned.start + i) as u32)
        };
        let bad = gather_u32(self.comm, &[first_bad(&grads)])?.concat();
        if let Some(&i) = bad.iter().filter(|&&i| i != u32::MAX).min() {
            bail!(
                "non-finite gradient in {}; the update was not applied",
                names[i as usize]
            );
        }
        let sq: Vec<f64> = grads.iter().map(|g| g.sq_norm()).collect();
        let norm = global_norm(&gather_f64(self.comm, &sq)?.concat());
        if let Some(coef) = clip_coefficient(norm, clip) {
            scale_grads(&mut grads, coef);
        }
        opt.update(&mut params[owned.clone()], &grads, lr);
        let bad = gather_u32(self.comm, &[first_bad(&params[owned.clone()])])?.concat();
        if let Some(&i) = bad.iter().filter(|&&i| i != u32::MAX).min() {
            bail!(
                "parameter {} became non-finite after the update",
                names[i as usize]
            );
        }
        let local: Vec<f32> = params[owned]
            .iter()
            .flat_map(|p| p.data().iter().copied())
            .collect();
        for (q, buf) in self.comm.all_gather_f32(&local)?.into_iter().enumerate() {
            let r = owners[q].clone();
            let updated = split(&buf, &params[r.clone()])?;
            for (p, u) in params[r].iter_mut().zip(updated) {
                *p = u;
            }
        }
        Ok(norm)
    }

    /// Per-micro-batch statistics of this rank, gathered in global micro-batch order.
    pub fn gather_stats(&self, local: &[f64], width: usize) -> Result<Vec<f64>> {
        let all = gather_f64(self.comm, local)?.concat();
        if !all.len().is_multiple_of(width.max(1)) {
            bail!("statistics of {} values are not rows of {width}", all.len());
        }
        Ok(all)
    }

    /// The sequences of the score packs (as `score_suffixes` forms them over `lens`) that this
    /// rank computes: a contiguous block of whole packs.
    pub fn my_packs(&self, lens: &[usize], budget: usize) -> Range<usize> {
        let packs = micro_batches(lens, budget);
        let b = self.my_block(packs.len());
        if b.is_empty() {
            let at = packs.get(b.start).map_or(lens.len(), |p| p.start);
            return at..at;
        }
        packs[b.start].start..packs[b.end - 1].end
    }

    /// `score_suffixes` over all sequences, each rank scoring its block of packs.
    pub fn score_suffixes(
        &self,
        model: &Model,
        seqs: &[Vec<u32>],
        suffix_lens: &[usize],
        temperature: f32,
        budget: usize,
    ) -> Result<Vec<SeqScores>> {
        self.score_with(seqs, suffix_lens, budget, |s, l| {
            score_suffixes(model, s, l, temperature, budget)
        })
    }

    /// Scores of all sequences from `score`, a scorer that packs by `budget` as
    /// `score_suffixes` does (the CPU model's or the device model's): each rank scores its
    /// contiguous block of whole packs and the results are gathered in order.
    pub fn score_with(
        &self,
        seqs: &[Vec<u32>],
        suffix_lens: &[usize],
        budget: usize,
        score: impl Fn(&[Vec<u32>], &[usize]) -> Result<Vec<SeqScores>>,
    ) -> Result<Vec<SeqScores>> {
        if self.world() == 1 {
            return score(seqs, suffix_lens);
        }
        let lens: Vec<usize> = seqs.iter().map(|s| s.len()).collect();
        let r = self.my_packs(&lens, budget);
        let local = score(&seqs[r.clone()], &suffix_lens[r])?;
        let mut flat = Vec::with_capacity(2 * local.len());
        for s in local {
            flat.push(s.logprobs);
            flat.push(s.entropy);
        }
        let all = self.gather_vectors(&flat)?;
        if all.len() != 2 * seqs.len() {
            bail!(
                "gathered {} score vectors for {} sequences",
                all.len() / 2,
                seqs.len()
            );
        }
        let mut out = Vec::with_capacity(seqs.len());
        let mut it = all.into_iter();
        while let (Some(logprobs), Some(entropy)) = (it.next(), it.next()) {
            out.push(SeqScores { logprobs, entropy });
        }
        Ok(out)
    }

    /// Every rank's list of f32 vectors, concatenated in rank order.
    pub fn gather_vectors(&self, local: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
        if self.world() == 1 {
            return Ok(local.to_vec());
        }
        let mut w = wire::Writer::default();
        w.u64(local.len() as u64);
        for v in local {
            w.f32s(v);
        }
        let mut out = Vec::new();
        for buf in self.comm.all_gather_bytes(&w.buf)? {
            let mut r = wire::Reader::new(&buf);
            for _ in 0..r.u64()? {
                out.push(r.f32s()?);
            }
        }
        Ok(out)
    }

    /// Every rank's rollout samples, in rank order (prompt order when ranks sampled contiguous
    /// blocks of the prompts).
    pub fn gather_samples(
        &self,
        local: Vec<Sample>,
        prompts: &[PromptItem],
    ) -> Result<Vec<Sample>> {
        if self.world() == 1 {
            return Ok(local);
        }
        let mut w = wire::Writer::default();
        w.u64(local.len() as u64);
        for s in &local {
            w.u64(s.group as u64)
                .u32s(&s.response)
                .f32s(&s.sampler_logp)
                .str(&s.text)
                .u64(s.pred.is_some() as u64)
                .str(s.pred.as_deref().unwrap_or(""))
                .f32(s.reward)
                .u64(s.truncated as u64);
        }
        let mut out = Vec::new();
        for buf in self.comm.all_gather_bytes(&w.buf)? {
            let mut r = wire::Reader::new(&buf);
            for _ in 0..r.u64()? {
                let group = r.u64()? as usize;
                let Some(p) = prompts.get(group) else {
                    bail!(
                        "a gathered sample names prompt {group} of {}",
                        prompts.len()
                    );
                };
                let response = r.u32s()?;
                let sampler_logp = r.f32s()?;
                let text = r.str()?;
                let has_pred = r.u64()? != 0;
                let pred = r.str()?;
                out.push(Sample {
                    group,
                    prompt: p.tokens.clone(),
                    response,
                    sampler_logp,
                    text,
                    pred: has_pred.then_some(pred),
                    reward: r.f32()?,
                    truncated: r.u64()? != 0,
                });
            }
        }
        Ok(out)
    }
}

/// Cut a flat vector into tensors shaped like `like`.
fn split(flat: &[f32], like: &[Tensor]) -> Result<Vec<Tensor>> {
    let want: usize = like.iter().map(|t| t.numel()).sum();
    if flat.len() != want {
        bail!("{} values for tensors of {want}", flat.len());
    }
    let mut at = 0;
    like.iter()
        .map(|t| {
            let n = t.numel();
            at += n;
            Tensor::from_vec(flat[at - n..at].to_vec(), t.dims())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_sequences_then_pack_and_one_shard_is_the_plain_packing() {
        let lens = [5, 5, 5, 20, 1, 1, 7];
        let one = DataParallel::single();
        assert_eq!(
            one.shard_micro_batches(&lens, 10, 0),
            micro_batches(&lens, 10)
        );
        let two = DataParallel {
            shards: 2,
            ..DataParallel::single()
        };
        assert_eq!(two.shard_micro_batches(&lens, 10, 0), vec![0..2, 2..3]);
        assert_eq!(two.shard_micro_batches(&lens, 10, 1), vec![3..4, 4..7]);
        // More shards than sequences: some shards are empty.
        let many = DataParallel {
            shards: 9,
            ..DataParallel::single()
        };
        let all: Vec<Range<usize>> = (0..9)
            .flat_map(|s| many.shard_micro_batches(&lens, 10, s))
            .collect();
        assert_eq!(all.len(), lens.len());
        assert_eq!(one.my_shards(), 0..1);
        assert_eq!(one.my_packs(&lens, 10), 0..7);
    }
}
