//! Activation checkpointing: a segment (e.g. one transformer layer) runs forward without
//! recording, so the tape keeps only the segment's inputs; its backward re-runs the segment on a
//! fresh sub-tape and backpropagates through that. The ops, their order and their inputs are the
//! same as without checkpointing, so values and gradients are bit-identical (the CPU kernels are
//! deterministic); the cost is one more forward of the segment.
use super::{Saved, Tape, Var};
use crate::tensor::Tensor;

impl Tape {
    /// `f(inputs)` with only `inputs` saved for the backward. `f` must be a pure function of its
    /// arguments (it runs twice and must compute the same thing both times).
    pub fn checkpoint<F>(&self, inputs: &[&Var], f: F) -> Var
    where
        F: Fn(&Tape, &[Var]) -> Var + 'static,
    {
        if !self.needs_grad(inputs) {
            let vals: Vec<Var> = inputs.iter().map(|&v| v.clone()).collect();
            return f(self, &vals);
        }
        let values: Vec<Tensor> = inputs.iter().map(|v| v.value.clone()).collect();
        let out = {
            let plain = Tape::no_grad();
            let consts: Vec<Var> = values.iter().map(|t| plain.constant(t.clone())).collect();
            f(&plain, &consts).value
        };
        let peak = self.inner.borrow().recompute_peak.clone();
        let saved = Saved::tensors(&values.iter().collect::<Vec<_>>());
        let back = Box::new(move |g: &[Option<Tensor>], needs: &[bool]| {
            let sub = Tape::new();
            // Same leaves/constants pattern as the outer tape, so the sub-tape records the same
            // nodes with the same `needs` flags as an uncheckpointed forward would have.
            let vars: Vec<Var> = values
                .iter()
                .zip(needs)
                .map(|(t, &n)| {
                    if n {
                        sub.leaf(t.clone())
                    } else {
                        sub.constant(t.clone())
                    }
                })
                .collect();
            let y = f(&sub, &vars);
            peak.set(peak.get().max(sub.stats().saved_bytes));
            let dy = match &g[0] {
                Some(dy) => dy.clone(),
                None => Tensor::zeros(y.dims()),
            };
            let mut grads = sub.backward_from(&[(&y, dy)]);
            vars.iter()
                .zip(needs)
                .map(|(v, &n)| if n { grads.take(v) } else { None })
                .collect()
        });
        self.record_saving(inputs, vec![out], saved, back).remove(0)
    }
}
