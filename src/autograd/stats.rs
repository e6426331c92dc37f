//! What a tape keeps alive for its backward: the bytes of saved activations, counted once per
//! storage (ops share tensors: q/k/v projections save the same normed input) and leaving out
//! leaves and constants (parameters and inputs exist with or without the tape). Storages are
//! identified by address: a leaf dropped before [`Tape::stats`] could in principle have its
//! address reused by a later activation and hide it; tapes live for one step and their leaves
//! outlive them, so this does not happen in the trainer or the benchmarks.
use super::Tape;
use crate::tensor::Tensor;
use std::collections::HashSet;

/// The tensors (and other buffers, in bytes) an op's backward closure holds.
#[derive(Default)]
pub struct Saved {
    pub tensors: Vec<Tensor>,
    /// Non-tensor state (e.g. RMSNorm's 1/rms per row, attention's log-sum-exp).
    pub extra_bytes: usize,
}

impl Saved {
    pub fn tensors(tensors: &[&Tensor]) -> Saved {
        Saved {
            tensors: tensors.iter().map(|&t| t.clone()).collect(),
            extra_bytes: 0,
        }
    }

    /// Adds `floats` f32 values of non-tensor state.
    pub fn plus_floats(mut self, floats: usize) -> Saved {
        self.extra_bytes += 4 * floats;
        self
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TapeStats {
    /// Recorded ops not yet consumed by a backward.
    pub nodes: usize,
    /// Bytes of activations held for the backward (distinct storages, no leaves/constants).
    pub saved_bytes: usize,
    /// Largest `saved_bytes` of a checkpointed segment re-run during a backward so far: the
    /// backward's peak is about the forward's `saved_bytes` plus this.
    pub recompute_peak_bytes: usize,
}

/// Identity of a tensor's storage (clones and reshapes share it).
pub(crate) fn storage_addr(t: &Tensor) -> usize {
    t.data().as_ptr() as usize
}

impl Tape {
    pub fn stats(&self) -> TapeStats {
        let inner = self.inner.borrow();
        let mut seen: HashSet<usize> = HashSet::new();
        let mut saved_bytes = 0;
        for node in &inner.nodes {
            saved_bytes += node.saved.extra_bytes;
            for t in &node.saved.tensors {
                let addr = storage_addr(t);
                if t.numel() > 0 && !inner.external.contains(&addr) && seen.insert(addr) {
                    saved_bytes += 4 * t.numel();
                }
            }
        }
        TapeStats {
            nodes: inner.nodes.len(),
            saved_bytes,
            recompute_peak_bytes: inner.recompute_peak.get(),
        }
    }
}
