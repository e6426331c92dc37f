//! A packed varlen batch on the device: token ids, positions and the sequence spans.
use super::super::attention::AttnSeqs;
use super::super::device::{upload, DevBuf, KernelDevice};
use crate::model::Batch;
use anyhow::{bail, Result};

pub struct DeviceBatch {
    /// Token ids on the host (the embedding backward groups positions by id there).
    pub tokens: Vec<i32>,
    pub ids: DevBuf<i32>,
    pub pos: DevBuf<i32>,
    pub seqs: AttnSeqs,
}

impl DeviceBatch {
    /// From packed tokens and cumulative sequence lengths (cu_seqlens = [0, l0, l0 + l1, ...,
    /// tokens.len()]); positions restart at 0 in every sequence.
    pub fn from_cu_seqlens(
        dev: &dyn KernelDevice,
        tokens: &[u32],
        cu_seqlens: &[usize],
    ) -> Result<Self> {
        if cu_seqlens.first() != Some(&0) || cu_seqlens.last() != Some(&tokens.len()) {
            bail!(
                "cu_seqlens must run from 0 to the token count {}, got {:?}",
                tokens.len(),
                cu_seqlens
            );
        }
        let mut b = Batch::default();
        for w in cu_seqlens.windows(2) {
            if w[1] <= w[0] {
                bail!("cu_seqlens must be strictly increasing, got {cu_seqlens:?}");
            }
            b.seqs.push((w[0], w[1] - w[0]));
            b.positions.extend(0..(w[1] - w[0]) as u32);
        }
        b.tokens = tokens.to_vec();
        Self::from_batch(dev, &b)
    }

    pub fn from_batch(dev: &dyn KernelDevice, b: &Batch) -> Result<Self> {
        if b.tokens.is_empty() {
            bail!("empty batch");
        }
        if b.tokens.len() > i32::MAX as usize {
            bail!("{} tokens exceed int32 indexing", b.tokens.len());
        }
        let tokens: Vec<i32> = b.tokens.iter().map(|&t| t as i32).collect();
        let pos: Vec<i32> = b.positions.iter().map(|&p| p as i32).collect();
        Ok(DeviceBatch {
            ids: upload(dev, &tokens)?,
            pos: upload(dev, &pos)?,
            seqs: AttnSeqs::upload(dev, &b.seqs)?,
            tokens,
        })
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }
}
