//! Log-prob + entropy ops: fused with the LM head (the production path) and from logits (the
//! unfused reference the fused one is tested against).
use super::{grad_or_zeros, Saved, Tape, Var};
use crate::backend::cpu::logprob;
use crate::tensor::Tensor;

impl Tape {
    /// Logits `x·Wᵀ` for every row. Only for small vocabularies and tests: the training path uses
    /// [`Tape::fused_logprob`], which never materialises [N, V].
    pub fn logits(&self, hidden: &Var, lm_head: &Var) -> Var {
        self.linear(hidden, lm_head, None)
    }

    /// (log π(y_t), H_t) from logits [N, V] at temperature τ.
    pub fn logprob_from_logits(
        &self,
        logits: &Var,
        targets: &[u32],
        temperature: f32,
    ) -> (Var, Var) {
        let vocab = logits.dims()[1];
        let n = targets.len();
        let it = 1.0 / temperature;
        let fwd = logprob::logprob_from_logits(logits.value.data(), vocab, targets, it);
        let outs = vec![
            Tensor::new_cpu(fwd.logp.clone(), &[n]),
            Tensor::new_cpu(fwd.entropy.clone(), &[n]),
        ];
        let lv = logits.value.clone();
        let saved = Saved::tensors(&[&lv]).plus_floats(3 * n);
        let targets = targets.to_vec();
        let back = Box::new(move |g: &[Option<Tensor>], _: &[bool]| {
            let (glp, gh) = (grad_or_zeros(g, 0, &[n]), grad_or_zeros(g, 1, &[n]));
            let dz = logprob::logprob_from_logits_bwd(
                lv.data(),
                vocab,
                &targets,
                it,
                &fwd,
                glp.data(),
                gh.data(),
            );
            vec![Some(Tensor::new_cpu(dz, lv.dims()))]
        });
        let mut v = self.record_saving(&[logits], outs, saved, back);
        let e = v.pop().expect("two outputs");
        (v.pop().expect("two outputs"), e)
    }

    /// Fused LM head + log-prob: (log π(y_t), H_t) from final hidden states [N, d] and the LM
    /// head [V, d], computing logits chunk by chunk. The backward reads the logits of the rows
    /// the forward kept (as many leading row blocks as fit in `logprob::KEEP_LOGITS_FLOATS`) and
    /// recomputes the others chunk by chunk (same bits), so what the tape holds stays bounded
    /// whatever the vocabulary.
    pub fn fused_logprob(
        &self,
        hidden: &Var,
        lm_head: &Var,
        targets: &[u32],
        temperature: f32,
    ) -> (Var, Var) {
        self.fused_logprob_with_budget(
            hidden,
            lm_head,
            targets,
            temperature,
            logprob::FUSED_BUDGET_FLOATS,
            logprob::KEEP_LOGITS_FLOATS,
        )
    }

    /// [`Tape::fused_logprob`] with a logits tile of at most `budget_floats` and at most
    /// `keep_floats` logits kept for the backward.
    pub fn fused_logprob_with_budget(
        &self,
        hidden: &Var,
        lm_head: &Var,
        targets: &[u32],
        temperature: f32,
        budget_floats: usize,
        keep_floats: usize,
    ) -> (Var, Var) {
        let d = lm_head.dims()[1];
        let n = targets.len();
        let it = 1.0 / temperature;
        // Nothing to keep when no backward will run.
        let keep = if self.needs_grad(&[hidden, lm_head]) {
            keep_floats
        } else {
            0
        };
        let (fwd, mut kept) = logprob::fused_logprob_fwd_keep(
            hidden.value.data(),
            lm_head.value.data(),
            d,
            targets,
            it,
            budget_floats,
            keep,
        );
        let outs = vec![
            Tensor::new_cpu(fwd.logp.clone(), &[n]),
            Tensor::new_cpu(fwd.entropy.clone(), &[n]),
        ];
        let (hv, wv) = (hidden.value.clone(), lm_head.value.clone());
        let kept_floats = kept.as_ref().map_or(0, Vec::len);
        let saved = Saved::tensors(&[&hv, &wv]).plus_floats(3 * n + kept_floats);
        let targets = targets.to_vec();
        let back = Box::new(move |g: &[Option<Tensor>], needs: &[bool]| {
            let (glp, gh) = (grad_or_zeros(g, 0, &[n]), grad_or_zeros(g, 1, &[n]));
            let (dh, dw) = logprob::fused_logprob_bwd_kept(
                hv.data(),
                wv.data(),
                d,
                &targets,
                it,
                &fwd,
                glp.data(),
                gh.data(),
                budget_floats,
                kept.as_deref_mut(),
            );
            vec![
                needs[0].then(|| Tensor::new_cpu(dh, hv.dims())),
                needs[1].then(|| Tensor::new_cpu(dw, wv.dims())),
            ]
        });
        let mut v = self.record_saving(&[hidden, lm_head], outs, saved, back);
        let e = v.pop().expect("two outputs");
        (v.pop().expect("two outputs"), e)
    }
}
