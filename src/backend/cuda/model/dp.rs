//! Data parallelism on the device: the gradient shards a rank computes live in one arena
//! ([`ShardGrads`]), and their sum over every rank is the ordered reduce-scatter of
//! `dist::reduce` done with device collectives ([`DeviceComm`]) and the `sum_parts_f32` kernel:
//!
//! 1. exchange: rank q receives, from every rank, that rank's shards restricted to q's balanced
//!    block of the flat gradient, into a [S, block] buffer in global shard order;
//! 2. `sum_parts_f32` folds the S rows left to right into q's block of shard 0;
//! 3. all-gather: every rank receives every other rank's summed block.
//!
//! Shard 0 then holds, on every rank, exactly the sum one process computes with the same number
//! of shards (same kernels, same order of additions), so the AdamW step is identical everywhere.
use super::{DeviceModel, Grads};
use crate::backend::cuda::device::{alloc, alloc_arena, DevBuf, KernelDevice};
use crate::backend::cuda::sum_parts::sum_parts_f32;
use crate::dist::block;
use crate::dist::device_comm::{DeviceComm, Slice};
use anyhow::{bail, Result};
use std::ops::Range;

pub struct ShardGrads {
    /// Every local shard's gradients, shard after shard, each in layout order.
    whole: DevBuf<f32>,
    /// Per-tensor buffers of each local shard (views into `whole`); the sum lands in `shards[0]`.
    pub shards: Vec<Grads>,
    /// Elements of one shard (all parameters).
    total: usize,
    /// Receive buffer of the exchange, kept between steps.
    recv: Option<DevBuf<f32>>,
}

impl ShardGrads {
    /// Room for `local` shards (at least one: a rank without shards still receives the sum).
    pub fn alloc(dev: &dyn KernelDevice, model: &DeviceModel, local: usize) -> Result<Self> {
        let sizes: Vec<usize> = model.params.iter().map(|p| p.len()).collect();
        let local = local.max(1);
        let all: Vec<usize> = (0..local).flat_map(|_| sizes.iter().copied()).collect();
        let (whole, parts) = alloc_arena::<f32>(dev, &all)?;
        let mut parts = parts.into_iter();
        let shards = (0..local)
            .map(|_| Grads {
                bufs: parts.by_ref().take(sizes.len()).collect(),
            })
            .collect();
        Ok(ShardGrads {
            whole,
            shards,
            total: sizes.iter().sum(),
            recv: None,
        })
    }

    pub fn local(&self) -> usize {
        self.shards.len()
    }

    /// Sums the `shards` gradient shards of all ranks (this rank holds its contiguous block of
    /// them, `block(shards, world, rank)`, in `self.shards`) into `self.shards[0]` on every rank.
    pub fn all_reduce(
        &mut self,
        dev: &dyn KernelDevice,
        comm: &dyn DeviceComm,
        shards: usize,
    ) -> Result<()> {
        let (world, me, n) = (comm.world_size(), comm.rank(), self.total);
        let held = |q: usize| block(shards, world, q);
        if held(me).len() > self.local() {
            bail!(
                "rank {me} computes {} gradient shards but has room for {}",
                held(me).len(),
                self.local()
            );
        }
        if world == 1 && !comm.exchange_alone() {
            let local = held(0).len();
            if local > 1 {
                let out = self.whole.view(0, n)?;
                sum_parts_f32(dev, &out, &self.whole, local, n)?;
            }
            return Ok(());
        }
        let ranges: Vec<Range<usize>> = (0..world).map(|q| block(n, world, q)).collect();
        let mine = ranges[me].clone();
        let m = mine.len();
        if self.recv.as_ref().is_none_or(|r| r.len() < shards * m) {
            self.recv = Some(alloc(dev, (shards * m).max(1))?);
        }
        let Some(recv) = self.recv.as_ref() else {
            bail!("no receive buffer");
        };
        // 1. each rank's shards, cut to the receiver's block, into [S, m] in shard order
        let sends: Vec<Vec<Slice<'_>>> = ranges
            .iter()
            .map(|r| {
                non_empty(
                    (0..held(me).len())
                        .map(|k| Slice::new(&self.whole, k * n + r.start, r.len()))
                        .collect(),
                )
            })
            .collect();
        let recvs: Vec<Vec<Slice<'_>>> = (0..world)
            .map(|q| non_empty(held(q).map(|g| Slice::new(recv, g * m, m)).collect()))
            .collect();
        comm.exchange_f32(dev, &sends, &recvs)?;
        // 2. the left fold over all S shards, into this rank's block of shard 0
        if m > 0 && shards > 0 {
            let out = self.whole.view(mine.start, m)?;
            sum_parts_f32(dev, &out, recv, shards, m)?;
        }
        // 3. all-gather the summed blocks into shard 0
        let sends: Vec<Vec<Slice<'_>>> = (0..world)
            .map(|q| {
                let s = Slice::new(&self.whole, mine.start, m);
                non_empty(if q == me { vec![] } else { vec![s] })
            })
            .collect();
        let recvs: Vec<Vec<Slice<'_>>> = (0..world)
            .map(|q| {
                let r = &ranges[q];
                non_empty(if q == me {
                    vec![]
                } else {
                    vec![Slice::new(&self.whole, r.start, r.len())]
                })
            })
            .collect();
        comm.exchange_f32(dev, &sends, &recvs)
    }
}

/// Zero-length transfers are left out on both sides alike (a block can be empty).
fn non_empty(v: Vec<Slice<'_>>) -> Vec<Slice<'_>> {
    v.into_iter().filter(|s| s.len > 0).collect()
}
