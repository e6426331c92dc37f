//! Transformer ops: linear, embedding, RMSNorm, RoPE, causal GQA attention, SwiGLU.
use super::{grad_or_zeros, Saved, Tape, Var};
use crate::backend::cpu::{attention, bias, embedding, gemm, mlp, norm, rope};
use crate::tensor::Tensor;
use std::sync::Arc;

/// cos/sin tables for one batch layout ([n_tokens, head_dim/2]), shared by every layer.
#[derive(Clone, Debug)]
pub struct RopeTables {
    pub cos: Arc<Vec<f32>>,
    pub sin: Arc<Vec<f32>>,
}

impl RopeTables {
    pub fn new(positions: &[u32], inv_freq: &[f32]) -> RopeTables {
        let (c, s) = rope::rope_tables(positions, inv_freq);
        RopeTables {
            cos: Arc::new(c),
            sin: Arc::new(s),
        }
    }
}

fn rows_of(t: &Tensor, cols: usize) -> usize {
    t.numel() / cols.max(1)
}

impl Tape {
    /// `y = x·Wᵀ (+ b)`, x [N, in], W [out, in] (HF layout), b [out].
    pub fn linear(&self, x: &Var, w: &Var, b: Option<&Var>) -> Var {
        let (out_f, in_f) = (w.dims()[0], w.dims()[1]);
        let n = rows_of(&x.value, in_f);
        assert_eq!(
            x.value.numel(),
            n * in_f,
            "linear: input width {} vs weight {}",
            x.dims().last().unwrap_or(&0),
            in_f
        );
        let mut y = gemm::linear(x.value.data(), w.value.data(), n, in_f, out_f);
        if let Some(b) = b {
            bias::bias_add(&mut y, b.value.data());
        }
        let (xv, wv) = (x.value.clone(), w.value.clone());
        let back = Box::new(move |g: &[Option<Tensor>], needs: &[bool]| {
            let dy = grad_or_zeros(g, 0, &[n, out_f]);
            let dx = needs[0].then(|| {
                let dx = gemm::gemm_new(n, in_f, out_f, 1.0, dy.data(), false, wv.data(), false);
                Tensor::new_cpu(dx, xv.dims())
            });
            let dw = needs[1].then(|| {
                let dw = gemm::gemm_new(out_f, in_f, n, 1.0, dy.data(), true, xv.data(), false);
                Tensor::new_cpu(dw, &[out_f, in_f])
            });
            let mut r = vec![dx, dw];
            if needs.len() > 2 {
                r.push(needs[2].then(|| Tensor::new_cpu(bias::colsum(dy.data(), out_f), &[out_f])));
            }
            r
        });
        let t = Tensor::new_cpu(y, &[n, out_f]);
        let saved = Saved::tensors(&[&x.value, &w.value]);
        match b {
            Some(b) => self.record_saving(&[x, w, b], vec![t], saved, back),
            None => self.record_saving(&[x, w], vec![t], saved, back),
        }
        .remove(0)
    }

    /// Rows of `table` ([V, d]) at `ids` → [N, d]. Ids must be validated by the caller.
    pub fn embedding(&self, table: &Var, ids: &[u32]) -> Var {
        let (vocab, d) = (table.dims()[0], table.dims()[1]);
        let y = Tensor::new_cpu(
            embedding::embedding_fwd(table.value.data(), d, ids),
            &[ids.len(), d],
        );
        let ids = ids.to_vec();
        let saved = Saved::default().plus_floats(ids.len()); // u32 ids, 4 bytes like f32
        let back = Box::new(move |g: &[Option<Tensor>], _: &[bool]| {
            let dy = grad_or_zeros(g, 0, &[ids.len(), d]);
            vec![Some(Tensor::new_cpu(
                embedding::embedding_bwd(dy.data(), d, &ids, vocab),
                &[vocab, d],
            ))]
        });
        self.record_saving(&[table], vec![y], saved, back).remove(0)
    }

    /// RMSNorm over the last `w.len()` elements of each row.
    pub fn rmsnorm(&self, x: &Var, w: &Var, eps: f32) -> Var {
        let (y, rstd) = norm::rmsnorm_fwd(x.value.data(), w.value.data(), eps);
        let y = Tensor::new_cpu(y, x.dims());
        let (xv, wv) = (x.value.clone(), w.value.clone());
        let saved = Saved::tensors(&[&xv, &wv]).plus_floats(rstd.len());
        let back = Box::new(move |g: &[Option<Tensor>], _: &[bool]| {
            let dy = grad_or_zeros(g, 0, xv.dims());
            let (dx, dw) = norm::rmsnorm_bwd(dy.data(), xv.data(), wv.data(), &rstd);
            vec![
                Some(Tensor::new_cpu(dx, xv.dims())),
                Some(Tensor::new_cpu(dw, wv.dims())),
            ]
        });
        self.record_saving(&[x, w], vec![y], saved, back).remove(0)
    }

    /// Rotary embedding of x [N, heads·head_dim].
    pub fn rope(&self, x: &Var, n_heads: usize, head_dim: usize, tables: &RopeTables) -> Var {
        let mut y = x.value.to_vec();
        rope::rope_apply(&mut y, n_heads, head_dim, &tables.cos, &tables.sin, false);
        let y = Tensor::new_cpu(y, x.dims());
        let tables = tables.clone();
        let dims = x.dims().to_vec();
        let back = Box::new(move |g: &[Option<Tensor>], _: &[bool]| {
            let mut dx = grad_or_zeros(g, 0, &dims).into_vec();
            rope::rope_apply(&mut dx, n_heads, head_dim, &tables.cos, &tables.sin, true);
            vec![Some(Tensor::new_cpu(dx, &dims))]
        });
        self.record(&[x], vec![y], back).remove(0)
    }

    /// Causal GQA attention over packed sequences `seqs` = [(first row, length)].
    pub fn attention(
        &self,
        q: &Var,
        k: &Var,
        v: &Var,
        seqs: &[(usize, usize)],
        dims: attention::AttnDims,
    ) -> Var {
        let (o, lse) =
            attention::attention_fwd(q.value.data(), k.value.data(), v.value.data(), seqs, dims);
        let o = Tensor::new_cpu(o, q.dims());
        let (qv, kv, vv, ov) = (q.value.clone(), k.value.clone(), v.value.clone(), o.clone());
        let saved = Saved::tensors(&[&qv, &kv, &vv, &ov]).plus_floats(lse.len());
        let seqs = seqs.to_vec();
        let back = Box::new(move |g: &[Option<Tensor>], _: &[bool]| {
            let dout = grad_or_zeros(g, 0, qv.dims());
            let (dq, dk, dv) = attention::attention_bwd(
                dout.data(),
                qv.data(),
                kv.data(),
                vv.data(),
                ov.data(),
                &lse,
                &seqs,
                dims,
            );
            vec![
                Some(Tensor::new_cpu(dq, qv.dims())),
                Some(Tensor::new_cpu(dk, kv.dims())),
                Some(Tensor::new_cpu(dv, vv.dims())),
            ]
        });
        self.record_saving(&[q, k, v], vec![o], saved, back)
            .remove(0)
    }

    /// `silu(gate) · up`.
    pub fn swiglu(&self, gate: &Var, up: &Var) -> Var {
        let y = Tensor::new_cpu(
            mlp::swiglu_fwd(gate.value.data(), up.value.data()),
            gate.dims(),
        );
        let (gv, uv) = (gate.value.clone(), up.value.clone());
        let saved = Saved::tensors(&[&gv, &uv]);
        let back = Box::new(move |g: &[Option<Tensor>], _: &[bool]| {
            let dy = grad_or_zeros(g, 0, gv.dims());
            let (dg, du) = mlp::swiglu_bwd(dy.data(), gv.data(), uv.data());
            vec![
                Some(Tensor::new_cpu(dg, gv.dims())),
                Some(Tensor::new_cpu(du, uv.dims())),
            ]
        });
        self.record_saving(&[gate, up], vec![y], saved, back)
            .remove(0)
    }
}
