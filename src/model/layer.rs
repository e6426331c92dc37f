//! One decoder layer on the tape: RMSNorm → attention → residual → RMSNorm → SwiGLU MLP →
//! residual. Free functions over a small `Copy` shape (not `&Model`) so that a checkpointed
//! layer's backward, which outlives the borrow of the model, can re-run the same ops.
use super::params::LayerIdx;
use crate::autograd::{RopeTables, Tape, Var};
use crate::backend::cpu::attention::AttnDims;

#[derive(Clone, Copy, Debug)]
pub struct LayerShape {
    pub head_dim: usize,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub eps: f32,
}

impl LayerShape {
    pub fn attn_dims(&self) -> AttnDims {
        AttnDims {
            n_q_heads: self.num_heads,
            n_kv_heads: self.num_kv_heads,
            head_dim: self.head_dim,
        }
    }
}

/// A layer's attention inputs from the residual stream h [N, d]: input RMSNorm, q/k/v
/// projections, Qwen3's per-head q/k RMSNorm, RoPE.
pub fn attn_inputs(
    s: LayerShape,
    tape: &Tape,
    vars: &[Var],
    l: &LayerIdx,
    h: &Var,
    tables: &RopeTables,
) -> (Var, Var, Var) {
    let (hd, nh, nkv) = (s.head_dim, s.num_heads, s.num_kv_heads);
    let n = h.dims()[0];
    let opt = |i: Option<usize>| i.map(|i| &vars[i]);
    let a = tape.rmsnorm(h, &vars[l.input_norm], s.eps);
    let mut q = tape.linear(&a, &vars[l.q], opt(l.q_bias));
    let mut k = tape.linear(&a, &vars[l.k], opt(l.k_bias));
    let v = tape.linear(&a, &vars[l.v], opt(l.v_bias));
    if let (Some(qn), Some(kn)) = (l.q_norm, l.k_norm) {
        let qr = tape.reshape(&q, &[n * nh, hd]);
        q = tape.reshape(&tape.rmsnorm(&qr, &vars[qn], s.eps), &[n, nh * hd]);
        let kr = tape.reshape(&k, &[n * nkv, hd]);
        k = tape.reshape(&tape.rmsnorm(&kr, &vars[kn], s.eps), &[n, nkv * hd]);
    }
    (
        tape.rope(&q, nh, hd, tables),
        tape.rope(&k, nkv, hd, tables),
        v,
    )
}

/// The rest of a layer after attention: output projection + residual, post-attention RMSNorm,
/// SwiGLU MLP + residual.
pub fn attn_out_and_mlp(
    s: LayerShape,
    tape: &Tape,
    vars: &[Var],
    l: &LayerIdx,
    h: &Var,
    attn: &Var,
) -> Var {
    let opt = |i: Option<usize>| i.map(|i| &vars[i]);
    let o = tape.linear(attn, &vars[l.o], opt(l.o_bias));
    let h = tape.add(h, &o);
    let m = tape.rmsnorm(&h, &vars[l.post_norm], s.eps);
    let g = tape.linear(&m, &vars[l.gate], opt(l.gate_bias));
    let u = tape.linear(&m, &vars[l.up], opt(l.up_bias));
    let sw = tape.swiglu(&g, &u);
    let dn = tape.linear(&sw, &vars[l.down], opt(l.down_bias));
    tape.add(&h, &dn)
}

/// The whole layer over packed sequences `seqs`.
pub fn forward(
    s: LayerShape,
    tape: &Tape,
    vars: &[Var],
    l: &LayerIdx,
    h: &Var,
    tables: &RopeTables,
    seqs: &[(usize, usize)],
) -> Var {
    let (q, k, v) = attn_inputs(s, tape, vars, l, h, tables);
    let o = tape.attention(&q, &k, &v, seqs, s.attn_dims());
    attn_out_and_mlp(s, tape, vars, l, h, &o)
}

/// [`forward`] under activation checkpointing: the tape keeps the layer input h and the
/// parameters (which exist anyway); the layer's activations are recomputed in the backward.
pub fn checkpointed(
    s: LayerShape,
    tape: &Tape,
    vars: &[Var],
    l: &LayerIdx,
    h: &Var,
    tables: &RopeTables,
    seqs: &[(usize, usize)],
) -> Var {
    let (globals, local) = l.localized();
    let inputs: Vec<&Var> = std::iter::once(h)
        .chain(globals.iter().map(|&i| &vars[i]))
        .collect();
    let (tables, seqs) = (tables.clone(), seqs.to_vec());
    tape.checkpoint(&inputs, move |t, v| {
        forward(s, t, &v[1..], &local, &v[0], &tables, &seqs)
    })
}

impl LayerIdx {
    /// The layer's parameter indices (into the model's list) and the same layer indexed into
    /// that short list instead.
    pub fn localized(&self) -> (Vec<usize>, LayerIdx) {
        let mut globals: Vec<usize> = Vec::new();
        let mut take = |i: usize| {
            globals.push(i);
            globals.len() - 1
        };
        let local = LayerIdx {
            input_norm: take(self.input_norm),
            q: take(self.q),
            k: take(self.k),
            v: take(self.v),
            o: take(self.o),
            q_bias: self.q_bias.map(&mut take),
            k_bias: self.k_bias.map(&mut take),
            v_bias: self.v_bias.map(&mut take),
            o_bias: self.o_bias.map(&mut take),
            q_norm: self.q_norm.map(&mut take),
            k_norm: self.k_norm.map(&mut take),
            post_norm: take(self.post_norm),
            gate: take(self.gate),
            up: take(self.up),
            down: take(self.down),
            gate_bias: self.gate_bias.map(&mut take),
            up_bias: self.up_bias.map(&mut take),
            down_bias: self.down_bias.map(&mut take),
        };
        (globals, local)
    }
}
