//! A minimal tape autograd. Every differentiable op records one node with a backward closure
//! that captures what it needs (cheap `Arc` clones of tensors). `Tape::no_grad()` records
//! nothing, so inference keeps no intermediates alive.
//!
//! Every op in `ops_*.rs` registers a backward for every differentiable input: there is no op
//! that silently stops gradients (a known failure of other Rust frameworks).

mod checkpoint;
mod ops_basic;
mod ops_logprob;
mod ops_nn;
mod stats;

#[cfg(test)]
mod gradcheck;

use crate::tensor::Tensor;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

pub use ops_nn::RopeTables;
pub use stats::{Saved, TapeStats};

/// A value on the tape. `id` is `None` for constants and for everything under `no_grad`.
#[derive(Clone, Debug)]
pub struct Var {
    pub value: Tensor,
    id: Option<usize>,
}

impl Var {
    pub fn id(&self) -> Option<usize> {
        self.id
    }
    pub fn requires_grad(&self) -> bool {
        self.id.is_some()
    }
    pub fn dims(&self) -> &[usize] {
        self.value.dims()
    }
}

/// Backward: given the gradients of the node's outputs (None = zero) and which inputs need a
/// gradient, return one gradient per input (None where not needed).
type BackwardFn = Box<dyn FnOnce(&[Option<Tensor>], &[bool]) -> Vec<Option<Tensor>>>;

struct Node {
    inputs: Vec<Option<usize>>,
    outputs: Vec<usize>,
    backward: BackwardFn,
    /// What the backward keeps alive (for [`Tape::stats`] only).
    saved: Saved,
}

#[derive(Default)]
struct TapeInner {
    nodes: Vec<Node>,
    next_id: usize,
    /// Storage addresses of leaves and constants: inputs, not activations, in [`Tape::stats`].
    external: HashSet<usize>,
    /// Largest activation footprint of a checkpointed segment recomputed during backward.
    recompute_peak: Rc<Cell<usize>>,
}

pub struct Tape {
    enabled: bool,
    inner: RefCell<TapeInner>,
}

/// Gradients by variable id.
#[derive(Default, Debug)]
pub struct Grads {
    map: HashMap<usize, Tensor>,
}

impl Grads {
    pub fn get(&self, v: &Var) -> Option<&Tensor> {
        v.id.and_then(|id| self.map.get(&id))
    }
    pub fn take(&mut self, v: &Var) -> Option<Tensor> {
        v.id.and_then(|id| self.map.remove(&id))
    }
}

impl Default for Tape {
    fn default() -> Self {
        Tape::new()
    }
}

impl Tape {
    /// A tape that records gradients.
    pub fn new() -> Tape {
        Tape {
            enabled: true,
            inner: RefCell::new(TapeInner::default()),
        }
    }

    /// A tape that records nothing (inference).
    pub fn no_grad() -> Tape {
        Tape {
            enabled: false,
            inner: RefCell::new(TapeInner::default()),
        }
    }

    pub fn grad_enabled(&self) -> bool {
        self.enabled
    }

    fn fresh_id(&self) -> usize {
        let mut inner = self.inner.borrow_mut();
        inner.next_id += 1;
        inner.next_id
    }

    /// A trainable leaf (a parameter): gradients flow to it when the tape is enabled.
    pub fn leaf(&self, t: Tensor) -> Var {
        let id = if self.enabled {
            self.note_external(&t);
            Some(self.fresh_id())
        } else {
            None
        };
        Var { value: t, id }
    }

    /// A constant: never receives a gradient.
    pub fn constant(&self, t: Tensor) -> Var {
        if self.enabled {
            self.note_external(&t);
        }
        Var { value: t, id: None }
    }

    fn note_external(&self, t: &Tensor) {
        self.inner
            .borrow_mut()
            .external
            .insert(stats::storage_addr(t));
    }

    /// Whether an op over these inputs must record a node.
    pub fn needs_grad(&self, inputs: &[&Var]) -> bool {
        self.enabled && inputs.iter().any(|v| v.id.is_some())
    }

    /// Record an op. `backward` is only kept when some input requires a gradient.
    pub fn record(&self, inputs: &[&Var], outputs: Vec<Tensor>, backward: BackwardFn) -> Vec<Var> {
        self.record_saving(inputs, outputs, Saved::default(), backward)
    }

    /// [`Tape::record`], declaring what `backward` keeps alive so that [`Tape::stats`] can
    /// count it (the tensors must be clones the closure also holds).
    pub fn record_saving(
        &self,
        inputs: &[&Var],
        outputs: Vec<Tensor>,
        saved: Saved,
        backward: BackwardFn,
    ) -> Vec<Var> {
        if !self.needs_grad(inputs) {
            return outputs
                .into_iter()
                .map(|t| Var { value: t, id: None })
                .collect();
        }
        let ids: Vec<usize> = outputs.iter().map(|_| self.fresh_id()).collect();
        let vars = outputs
            .into_iter()
            .zip(&ids)
            .map(|(t, &id)| Var {
                value: t,
                id: Some(id),
            })
            .collect();
        self.inner.borrow_mut().nodes.push(Node {
            inputs: inputs.iter().map(|v| v.id).collect(),
            outputs: ids,
            backward,
            saved,
        });
        vars
    }

    /// Backpropagate from `roots`, each seeded with its given gradient. Consumes the recorded
    /// nodes (a tape is used for one backward).
    pub fn backward_from(&self, roots: &[(&Var, Tensor)]) -> Grads {
        let mut grads: HashMap<usize, Tensor> = HashMap::new();
        for (v, g) in roots {
            if let Some(id) = v.id {
                accumulate(&mut grads, id, g.clone());
            }
        }
        let nodes = std::mem::take(&mut self.inner.borrow_mut().nodes);
        // Ids of leaves are never node outputs, so their gradients stay in `grads` at the end.
        for node in nodes.into_iter().rev() {
            let out_grads: Vec<Option<Tensor>> =
                node.outputs.iter().map(|id| grads.remove(id)).collect();
            if out_grads.iter().all(|g| g.is_none()) {
                continue;
            }
            let needs: Vec<bool> = node.inputs.iter().map(|i| i.is_some()).collect();
            let in_grads = (node.backward)(&out_grads, &needs);
            for (input, g) in node.inputs.iter().zip(in_grads) {
                if let (Some(id), Some(g)) = (input, g) {
                    accumulate(&mut grads, *id, g);
                }
            }
        }
        Grads { map: grads }
    }

    /// Backpropagate from a scalar loss (seed 1).
    pub fn backward(&self, loss: &Var) -> Grads {
        let seed = Tensor::full(loss.dims(), 1.0);
        self.backward_from(&[(loss, seed)])
    }
}

fn accumulate(grads: &mut HashMap<usize, Tensor>, id: usize, g: Tensor) {
    match grads.get_mut(&id) {
        Some(acc) => acc.add_assign(&g),
        None => {
            grads.insert(id, g);
        }
    }
}

/// The gradient of output `i`, or zeros of the given shape.
pub(crate) fn grad_or_zeros(g: &[Option<Tensor>], i: usize, dims: &[usize]) -> Tensor {
    g[i].clone().unwrap_or_else(|| Tensor::zeros(dims))
}
