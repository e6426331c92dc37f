//! The device model's weight allocation: each layer's q/k/v projections (with their biases) and
//! its gate/up projections are cut from one allocation each, end to end, so the decode step can
//! run q/k/v as one GEMM and gate/up as one batched GEMM over the very bits that training reads
//! and the optimizer updates tensor by tensor. A group is packed only when every tensor of it is
//! a whole number of 256-byte blocks, so each tensor starts exactly as aligned as an allocation
//! of its own would (the GEMM picks its rung by alignment; packing must not change any result).
use super::super::device::{alloc, alloc_arena, DevBuf, KernelDevice};
use crate::model::ParamLayout;
use anyhow::{Context, Result};
use half::bf16;

/// Allocation granularity a packed tensor keeps (what `alloc` guarantees).
const ALIGN_BYTES: usize = 256;

/// One layer's packed groups (None where a group could not be packed).
#[derive(Default)]
pub struct LayerPacks {
    /// [q; k; v] weights as one [Hq·D + 2·Hkv·D, d] matrix.
    pub qkv: Option<DevBuf<bf16>>,
    /// Their biases end to end, where the model has q/k/v biases.
    pub qkv_bias: Option<DevBuf<bf16>>,
    /// [gate; up] weights as [2, f, d], where the MLP has no bias.
    pub gate_up: Option<DevBuf<bf16>>,
}

/// Buffers for every tensor of `layout` (unset), in layout order, and each layer's packs.
pub fn alloc_params(
    dev: &dyn KernelDevice,
    layout: &ParamLayout,
) -> Result<(Vec<DevBuf<bf16>>, Vec<LayerPacks>)> {
    let sizes: Vec<usize> = layout
        .specs
        .iter()
        .map(|(_, dims)| dims.iter().product())
        .collect();
    let mut bufs: Vec<Option<DevBuf<bf16>>> = (0..sizes.len()).map(|_| None).collect();
    let mut packs = Vec::with_capacity(layout.layers.len());
    for l in &layout.layers {
        let mut pack = LayerPacks {
            qkv: pack_group(dev, &sizes, &mut bufs, &[Some(l.q), Some(l.k), Some(l.v)])?,
            ..LayerPacks::default()
        };
        let biases = [l.q_bias, l.k_bias, l.v_bias];
        if biases.iter().any(Option::is_some) {
            pack.qkv_bias = pack_group(dev, &sizes, &mut bufs, &biases)?;
            if pack.qkv_bias.is_none() {
                pack.qkv = None;
            }
        }
        if l.gate_bias.is_none() && l.up_bias.is_none() {
            pack.gate_up = pack_group(dev, &sizes, &mut bufs, &[Some(l.gate), Some(l.up)])?;
        }
        packs.push(pack);
    }
    let params = bufs
        .into_iter()
        .zip(&sizes)
        .map(|(b, &n)| match b {
            Some(b) => Ok(b),
            None => alloc(dev, n),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((params, packs))
}

/// Packs the tensors `idx` (all present, gate and up of equal size) into one allocation and
/// returns the whole of it; None (nothing allocated) when a tensor is absent or would start
/// less aligned than on its own.
fn pack_group(
    dev: &dyn KernelDevice,
    sizes: &[usize],
    bufs: &mut [Option<DevBuf<bf16>>],
    idx: &[Option<usize>],
) -> Result<Option<DevBuf<bf16>>> {
    let Some(idx) = idx.iter().copied().collect::<Option<Vec<usize>>>() else {
        return Ok(None);
    };
    let elem = std::mem::size_of::<bf16>();
    let group: Vec<usize> = idx.iter().map(|&i| sizes[i]).collect();
    if group
        .iter()
        .any(|&n| n == 0 || !(n * elem).is_multiple_of(ALIGN_BYTES))
    {
        return Ok(None);
    }
    let (whole, parts) = alloc_arena(dev, &group).context("packing a layer's weights")?;
    for (&i, part) in idx.iter().zip(parts) {
        bufs[i] = Some(part);
    }
    Ok(Some(whole))
}

#[cfg(test)]
mod tests {
    use super::super::memory::ShapeDevice;
    use super::*;
    use crate::model::init::llama_config_json;
    use crate::model::ModelConfig;

    fn layout(d: usize, f: usize, heads: usize, kv: usize) -> ParamLayout {
        let json = llama_config_json(300, d, f, 1, heads, kv, false, 1, 0);
        ParamLayout::new(&ModelConfig::from_json(json).unwrap())
    }

    #[test]
    fn packs_only_whole_aligned_groups() {
        let dev = ShapeDevice::default();
        // d 64, 4/2 heads of 16, f 176: every tensor a whole number of 256-byte blocks
        let lay = layout(64, 176, 4, 2);
        let (params, packs) = alloc_params(&dev, &lay).unwrap();
        assert_eq!(params.len(), lay.specs.len());
        let (l, p) = (&lay.layers[0], &packs[0]);
        let qkv = p.qkv.as_ref().expect("q/k/v packed");
        assert_eq!(qkv.len(), (64 + 2 * 32) * 64);
        let ptr = |i: usize| params[i].raw().device_ptr();
        assert_eq!(qkv.raw().device_ptr(), ptr(l.q));
        assert_eq!(ptr(l.k), ptr(l.q) + 2 * 64 * 64);
        assert_eq!(ptr(l.v), ptr(l.k) + 2 * 32 * 64);
        let gate_up = p.gate_up.as_ref().expect("gate/up packed");
        assert_eq!(gate_up.len(), 2 * 176 * 64);
        assert_eq!(ptr(l.up), ptr(l.gate) + 2 * 176 * 64);
        assert!(p.qkv_bias.is_none());
        // d 40, f 100: the q weight (40 x 40 x 2 B) and gate (100 x 40 x 2 B) are not whole blocks
        let lay = layout(40, 100, 5, 1);
        let (params, packs) = alloc_params(&dev, &lay).unwrap();
        assert_eq!(params.len(), lay.specs.len());
        assert!(packs[0].qkv.is_none() && packs[0].gate_up.is_none());
    }
}
