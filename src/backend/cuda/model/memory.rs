//! Device-memory accounting of a training step, the evidence for activation checkpointing:
//! [`MemoryMeter`] wraps a device and counts the bytes of its live allocations and their peak;
//! [`ShapeDevice`] allocates and computes nothing, so a large model's byte counts (e.g. the
//! SmolLM2-135M shape) come from the very code that allocates on a GPU, in milliseconds.
use super::super::device::{alloc, KernelArgs, KernelDevice, LaunchCfg, RawBuf, TensorMapArg};
use super::{DeviceBatch, DeviceModel, Grads, HeadOut};
use crate::backend::emu::hopper::TensorMapSpec;
use crate::model::forward::suffix_rows;
use crate::model::{Batch, ModelConfig, ParamLayout};
use anyhow::{bail, Result};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

#[derive(Default)]
struct Counters {
    live: AtomicUsize,
    peak: AtomicUsize,
}

/// Gives its bytes back to the counters when the buffer it rides with is freed.
struct Metered {
    _inner: RawBuf,
    counters: Arc<Counters>,
    bytes: usize,
}

impl Drop for Metered {
    fn drop(&mut self) {
        self.counters.live.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

/// `inner` with every allocation made through it counted (live bytes and their peak).
pub struct MemoryMeter<'a> {
    inner: &'a dyn KernelDevice,
    counters: Arc<Counters>,
}

impl<'a> MemoryMeter<'a> {
    pub fn new(inner: &'a dyn KernelDevice) -> Self {
        MemoryMeter {
            inner,
            counters: Arc::default(),
        }
    }

    /// Bytes of the buffers allocated through this meter and not yet freed.
    pub fn live(&self) -> usize {
        self.counters.live.load(Ordering::Relaxed)
    }

    /// The most bytes live at once since the last [`MemoryMeter::reset_peak`].
    pub fn peak(&self) -> usize {
        self.counters.peak.load(Ordering::Relaxed)
    }

    pub fn reset_peak(&self) {
        self.counters.peak.store(self.live(), Ordering::Relaxed);
    }
}

impl KernelDevice for MemoryMeter<'_> {
    fn has_sm90a(&self) -> bool {
        self.inner.has_sm90a()
    }

    fn sm_count(&self) -> usize {
        self.inner.sm_count()
    }

    fn max_smem_per_block(&self) -> usize {
        self.inner.max_smem_per_block()
    }

    fn tensor_map(&self, spec: &TensorMapSpec) -> Result<TensorMapArg> {
        self.inner.tensor_map(spec)
    }

    fn name(&self) -> String {
        format!("{} (memory metered)", self.inner.name())
    }

    fn alloc_bytes(&self, bytes: usize) -> Result<RawBuf> {
        let inner = self.inner.alloc_bytes(bytes)?;
        let live = self.counters.live.fetch_add(bytes, Ordering::Relaxed) + bytes;
        self.counters.peak.fetch_max(live, Ordering::Relaxed);
        Ok(RawBuf {
            ptr: inner.ptr,
            bytes,
            _owner: Box::new(Metered {
                _inner: inner,
                counters: self.counters.clone(),
                bytes,
            }),
        })
    }

    fn htod_bytes(&self, src: &[u8], dst: &RawBuf) -> Result<()> {
        self.inner.htod_bytes(src, dst)
    }

    fn dtoh_bytes(&self, src: &RawBuf, dst: &mut [u8]) -> Result<()> {
        self.inner.dtoh_bytes(src, dst)
    }

    fn launch(&self, kernel: &str, cfg: &LaunchCfg, args: &mut KernelArgs) -> Result<()> {
        self.inner.launch(kernel, cfg, args)
    }

    fn synchronize(&self) -> Result<()> {
        self.inner.synchronize()
    }
}

/// A device for counting allocations only: buffers have addresses but no memory, launches do
/// nothing, downloads read zeros. Every result computed on it is meaningless.
#[derive(Default)]
pub struct ShapeDevice {
    next: AtomicU64,
}

impl KernelDevice for ShapeDevice {
    fn name(&self) -> String {
        "shape-only (no memory, no compute)".into()
    }

    fn alloc_bytes(&self, bytes: usize) -> Result<RawBuf> {
        // distinct, aligned, never-dereferenced addresses
        let ptr = 0x1000 + self.next.fetch_add(bytes as u64 + 256, Ordering::Relaxed);
        Ok(RawBuf {
            ptr: ptr & !255,
            bytes,
            _owner: Box::new(()),
        })
    }

    fn htod_bytes(&self, src: &[u8], dst: &RawBuf) -> Result<()> {
        if src.len() > dst.bytes {
            bail!(
                "copy of {} bytes into a {}-byte buffer",
                src.len(),
                dst.bytes
            );
        }
        Ok(())
    }

    fn dtoh_bytes(&self, src: &RawBuf, dst: &mut [u8]) -> Result<()> {
        if dst.len() > src.bytes {
            bail!(
                "copy of {} bytes from a {}-byte buffer",
                dst.len(),
                src.bytes
            );
        }
        dst.fill(0);
        Ok(())
    }

    fn launch(&self, _kernel: &str, _cfg: &LaunchCfg, _args: &mut KernelArgs) -> Result<()> {
        Ok(())
    }

    fn synchronize(&self) -> Result<()> {
        Ok(())
    }
}

/// Device bytes of one forward → head → backward.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepMemory {
    /// What the forward keeps for the backward ([`super::Activations::bytes`]).
    pub kept: usize,
    /// The most bytes live at once during the step beyond the weights and gradients
    /// (activations, the head's buffers, the backward's temporaries).
    pub peak: usize,
}

/// A model of `cfg`'s shape on `dev` with unset weights (for [`ShapeDevice`] accounting).
pub fn shape_model(dev: &dyn KernelDevice, cfg: &ModelConfig) -> Result<DeviceModel> {
    let layout = ParamLayout::new(cfg);
    let (params, packs) = super::packed::alloc_params(dev, &layout)?;
    Ok(DeviceModel {
        config: cfg.clone(),
        layout,
        params,
        packs,
        inv_freq: alloc(dev, cfg.inv_freq().len())?,
    })
}

/// One forward → head → backward measured through a [`MemoryMeter`].
pub struct MeteredStep {
    pub memory: StepMemory,
    pub acts: super::Activations,
    pub head: HeadOut,
    pub grads: Grads,
}

/// One training step of `model` on `batch` (the last `suffix[i]` tokens of each sequence
/// scored at `temperature`, coefficients `coef` = (∂L/∂logπ, ∂L/∂H) per scored token) through
/// `meter`, with or without activation checkpointing.
pub fn metered_step(
    meter: &MemoryMeter<'_>,
    model: &DeviceModel,
    batch: &Batch,
    suffix: &[usize],
    temperature: f32,
    coef: (&[f32], &[f32]),
    checkpoint: bool,
) -> Result<MeteredStep> {
    let (rows, targets) = suffix_rows(batch, suffix)?;
    let mut grads = Grads::alloc(meter, model)?;
    let db = DeviceBatch::from_batch(meter, batch)?;
    let base = meter.live();
    meter.reset_peak();
    let acts = model.forward_opts(meter, &db, checkpoint)?;
    let kept = acts.bytes();
    let head = model.head(meter, &acts, &rows, &targets, temperature)?;
    model.backward(meter, &db, &acts, &head, coef.0, coef.1, &mut grads, false)?;
    let memory = StepMemory {
        kept,
        peak: meter.peak() - base,
    };
    Ok(MeteredStep {
        memory,
        acts,
        head,
        grads,
    })
}

/// [`metered_step`]'s memory for a model of `cfg`'s shape on a [`ShapeDevice`]: `seqs` sequences of
/// `seq_len` tokens, all scored but the first.
pub fn shape_step_memory(
    cfg: &ModelConfig,
    seqs: usize,
    seq_len: usize,
    checkpoint: bool,
) -> Result<StepMemory> {
    if seqs == 0 || seq_len < 2 {
        bail!("shape_step_memory: need sequences of at least 2 tokens, got {seqs} × {seq_len}");
    }
    let shape = ShapeDevice::default();
    let meter = MemoryMeter::new(&shape);
    let model = shape_model(&meter, cfg)?;
    let tokens: Vec<Vec<u32>> = (0..seqs)
        .map(|s| {
            (0..seq_len)
                .map(|t| ((s + t) % cfg.vocab_size) as u32)
                .collect()
        })
        .collect();
    let g = vec![0.0; seqs * (seq_len - 1)];
    let batch = Batch::from_sequences(&tokens);
    let suffix = vec![seq_len - 1; seqs];
    let step = metered_step(&meter, &model, &batch, &suffix, 1.0, (&g, &g), checkpoint)?;
    Ok(step.memory)
}
