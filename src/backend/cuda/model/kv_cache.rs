//! The bf16 KV cache of device generation: per layer, K and V as [slots · max_len, Hkv · D],
//! slot s owning rows [s · max_len, (s + 1) · max_len) — the packed layout the decode attention
//! (`attn_decode`) reads. Rows are written by copies (prefill K/V, or a prompt shared between the
//! samples of a request) and by the decode step's `attn_decode_append_bf16`. The cache also holds
//! the decode attention's rung and, for the split rungs, their partial-state scratch for every
//! slot.
use super::super::attn_decode::{Rung, SplitScratch};
use super::super::device::{alloc, filled, DevBuf, KernelArgs, KernelDevice, LaunchCfg};
use super::DeviceModel;
use anyhow::{bail, Result};
use half::bf16;

/// K and V of every layer for a fixed number of sequence slots.
pub struct KvCache {
    pub k: Vec<DevBuf<bf16>>,
    pub v: Vec<DevBuf<bf16>>,
    /// Rows reserved per slot (prompt + most new tokens).
    pub max_len: usize,
    /// Row width Hkv · D.
    pub width: usize,
    /// bf16 zeros, the second operand of the copy (`x + 0` rounds back to x exactly).
    zeros: DevBuf<bf16>,
    /// The decode attention's rung: rung 3, whose bits are the training forward's (attention
    /// rung 5), so the sampler's log-probs are the trainer's.
    pub rung: Rung,
    /// The split rung's partial states for every slot at `max_len` keys (None for rung 1 or
    /// where rung 2 does not apply to the head layout).
    pub split: Option<SplitScratch>,
    slots: usize,
}

impl KvCache {
    pub fn alloc(
        dev: &dyn KernelDevice,
        dm: &DeviceModel,
        slots: usize,
        max_len: usize,
    ) -> Result<Self> {
        let width = dm.config.kv_dim();
        let n = slots * max_len * width;
        let layers = dm.layout.layers.len();
        let k = (0..layers)
            .map(|_| alloc(dev, n))
            .collect::<Result<Vec<_>>>()?;
        let v = (0..layers)
            .map(|_| alloc(dev, n))
            .collect::<Result<Vec<_>>>()?;
        let cache = KvCache {
            k,
            v,
            max_len,
            width,
            zeros: filled(dev, max_len * width, bf16::ZERO)?,
            rung: Rung::PerHead,
            split: None,
            slots,
        };
        cache.with_rung(dev, dm, Rung::TilesFold)
    }

    /// This cache with the decode attention `rung` and its scratch (rung 2 falls back to rung 1
    /// where the head layout does not allow it). Only rungs 3 and 4 give the training forward's bits.
    pub fn with_rung(
        mut self,
        dev: &dyn KernelDevice,
        dm: &DeviceModel,
        rung: Rung,
    ) -> Result<Self> {
        let dims = dm.attn_dims();
        let rung = if rung.supports(dims) {
            rung
        } else {
            Rung::PerHead
        };
        self.split = match rung {
            Rung::PerHead => None,
            r => Some(SplitScratch::alloc_for(
                dev,
                r,
                self.slots,
                self.max_len,
                dims,
            )?),
        };
        self.rung = rung;
        Ok(self)
    }

    /// Copies `rows` rows of `src` starting at row `src_row` into `dst` (this cache's K or V of
    /// one layer), slot `slot`, from position `pos`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn store(
        &self,
        dev: &dyn KernelDevice,
        dst: &DevBuf<bf16>,
        src: &DevBuf<bf16>,
        src_row: usize,
        slot: usize,
        pos: usize,
        rows: usize,
    ) -> Result<()> {
        if pos + rows > self.max_len {
            bail!(
                "KV cache: {rows} rows at position {pos} overflow the {} reserved per sequence",
                self.max_len
            );
        }
        let n = rows * self.width;
        if (src_row + rows) * self.width > src.len() {
            bail!(
                "KV cache: source rows {src_row}..{} out of range",
                src_row + rows
            );
        }
        // There is no device-to-device copy launcher: out = src + 0 with the elementwise add,
        // addressed into the cache with a pointer offset.
        let mut a = KernelArgs::new();
        a.buf_at(dst, (slot * self.max_len + pos) * self.width)?
            .buf_at(src, src_row * self.width)?
            .buf(&self.zeros)
            .i64(n as i64);
        let blocks = n.div_ceil(256).clamp(1, 4096) as u32;
        dev.launch(
            "residual_add_bf16",
            &LaunchCfg::linear(blocks, 256, 0),
            &mut a,
        )
    }

    /// Copies positions [0, rows) of slot `src_slot` of `src` (every layer, K and V) into slot
    /// `slot` of this cache: a prompt prefilled once, shared by another sample.
    pub(crate) fn copy_prefix(
        &self,
        dev: &dyn KernelDevice,
        src: &KvCache,
        src_slot: usize,
        slot: usize,
        rows: usize,
    ) -> Result<()> {
        if src.width != self.width || src.k.len() != self.k.len() || rows > src.max_len {
            bail!(
                "KV cache: cannot copy {rows} rows between caches of different shapes \
                 ({} vs {} layers, width {} vs {}, {} rows per slot in the source)",
                src.k.len(),
                self.k.len(),
                src.width,
                self.width,
                src.max_len
            );
        }
        let src_row = src_slot * src.max_len;
        for (li, (k, v)) in self.k.iter().zip(&self.v).enumerate() {
            self.store(dev, k, &src.k[li], src_row, slot, 0, rows)?;
            self.store(dev, v, &src.v[li], src_row, slot, 0, rows)?;
        }
        Ok(())
    }
}
