//! The decoder forward on the device, keeping every activation the backward reads:
//! embedding → N × (RMSNorm → q/k/v (+bias) → [q/k RMSNorm per head] → RoPE → attention → o
//! (+bias) → residual → RMSNorm → gate/up (+bias) → SwiGLU → down (+bias) → residual) → final
//! RMSNorm. Mirrors `crate::model::forward` (the CPU tape).
//!
//! With activation checkpointing (`forward_opts(.., true)`) only each layer's input, the final
//! hidden state and its rstd are kept; the backward recomputes a layer's [`LayerActs`] from its
//! input with the same [`DeviceModel::layer_forward`] right before that layer's backward, so the
//! recomputed activations, and hence the gradients, are bit-identical.
use super::super::attention::attn_fwd_bf16;
use super::super::device::{alloc, DevBuf, KernelDevice};
use super::super::{embedding, mlp, norm, rope};
use super::batch::DeviceBatch;
use super::linear::{self, Lin};
use super::DeviceModel;
use crate::model::params::LayerIdx;
use anyhow::{bail, Result};
use half::bf16;

/// Qwen3's per-head q/k RMSNorm: its input (the projection output) and per-row rstd.
pub struct HeadNorm {
    pub x: DevBuf<bf16>,
    pub rstd: DevBuf<f32>,
}

/// What one layer's backward reads (its input is `Activations::resid[l]`).
pub struct LayerActs {
    /// input RMSNorm output [N, d] and its rstd [N]
    pub a: DevBuf<bf16>,
    pub rstd_in: DevBuf<f32>,
    pub q_norm: Option<HeadNorm>,
    pub k_norm: Option<HeadNorm>,
    /// q/k after RoPE, v: the attention inputs
    pub q: DevBuf<bf16>,
    pub k: DevBuf<bf16>,
    pub v: DevBuf<bf16>,
    pub attn: DevBuf<bf16>,
    pub lse: DevBuf<f32>,
    /// residual stream after attention [N, d]
    pub h_mid: DevBuf<bf16>,
    pub m: DevBuf<bf16>,
    pub rstd_post: DevBuf<f32>,
    pub gate: DevBuf<bf16>,
    pub up: DevBuf<bf16>,
    pub act: DevBuf<bf16>,
}

impl HeadNorm {
    fn bytes(&self) -> usize {
        self.x.raw().bytes() + self.rstd.raw().bytes()
    }
}

impl LayerActs {
    /// Device bytes held by these activations.
    pub fn bytes(&self) -> usize {
        // destructured, so that a new field cannot be left out of the count
        let LayerActs {
            a,
            rstd_in,
            q_norm,
            k_norm,
            q,
            k,
            v,
            attn,
            lse,
            h_mid,
            m,
            rstd_post,
            gate,
            up,
            act,
        } = self;
        let bf16s = [a, q, k, v, attn, h_mid, m, gate, up, act];
        let f32s = [rstd_in, lse, rstd_post];
        let norms = [q_norm, k_norm].into_iter().flatten();
        bf16s.iter().map(|b| b.raw().bytes()).sum::<usize>()
            + f32s.iter().map(|b| b.raw().bytes()).sum::<usize>()
            + norms.map(HeadNorm::bytes).sum::<usize>()
    }
}

pub struct Activations {
    /// residual stream entering each layer, then the last layer's output: L + 1 entries
    pub resid: Vec<DevBuf<bf16>>,
    /// Every layer's activations, or none when checkpointed (the backward recomputes them).
    pub layers: Vec<LayerActs>,
    /// Whether the layers' activations were left to the backward's recompute.
    pub checkpointed: bool,
    pub rstd_final: DevBuf<f32>,
    /// final RMSNorm output [N, d]: what the LM head reads
    pub hidden: DevBuf<bf16>,
}

impl Activations {
    /// Device bytes held for the backward (the memory activation checkpointing saves).
    pub fn bytes(&self) -> usize {
        let resid: usize = self.resid.iter().map(|b| b.raw().bytes()).sum();
        let layers: usize = self.layers.iter().map(LayerActs::bytes).sum();
        resid + layers + self.rstd_final.raw().bytes() + self.hidden.raw().bytes()
    }
}

fn bf(dev: &dyn KernelDevice, n: usize) -> Result<DevBuf<bf16>> {
    alloc(dev, n)
}

impl DeviceModel {
    fn check_batch(&self, b: &DeviceBatch) -> Result<()> {
        let vocab = self.config.vocab_size;
        if let Some((i, t)) = b
            .tokens
            .iter()
            .enumerate()
            .find(|(_, &t)| t < 0 || t as usize >= vocab)
        {
            bail!("token id {t} at position {i} is out of range (vocab size {vocab})");
        }
        if let Some(w) = self.config.sliding_window {
            if let Some(&(_, len)) = b.seqs.host.iter().find(|&&(_, l)| l > w) {
                bail!("sequence of {len} tokens exceeds the sliding window ({w}); sliding-window attention is not implemented");
            }
        }
        Ok(())
    }

    /// Forward over a packed batch; the result holds every activation the backward needs.
    pub fn forward(&self, dev: &dyn KernelDevice, b: &DeviceBatch) -> Result<Activations> {
        self.forward_opts(dev, b, false)
    }

    /// [`DeviceModel::forward`]; with `checkpoint`, keeps only each layer's input (plus the
    /// final hidden state and rstd) and leaves the layers' activations to the backward's
    /// recompute.
    pub fn forward_opts(
        &self,
        dev: &dyn KernelDevice,
        b: &DeviceBatch,
        checkpoint: bool,
    ) -> Result<Activations> {
        self.check_batch(b)?;
        let (n, d) = (b.len(), self.hidden());
        let eps = self.config.rms_norm_eps;
        let h0 = bf(dev, n * d)?;
        embedding::embedding_fwd_bf16(dev, &h0, &self.params[self.layout.embed], &b.ids, d)?;
        let mut resid = vec![h0];
        let mut layers = Vec::with_capacity(self.layout.layers.len());
        for l in &self.layout.layers {
            let x = resid.last().expect("the embedding output");
            let (acts, out) = self.layer_forward(dev, b, l, x)?;
            if !checkpoint {
                layers.push(acts);
            }
            resid.push(out);
        }
        let hidden = bf(dev, n * d)?;
        let rstd_final = alloc(dev, n)?;
        let last = resid.last().expect("at least the embedding");
        norm::rmsnorm_fwd_bf16(
            dev,
            &hidden,
            &rstd_final,
            last,
            &self.params[self.layout.final_norm],
            eps,
        )?;
        Ok(Activations {
            resid,
            layers,
            checkpointed: checkpoint,
            rstd_final,
            hidden,
        })
    }

    /// Per-head RMSNorm of x [N, heads·hd] with weight [hd]: (normed, saved input + rstd).
    fn head_norm(
        &self,
        dev: &dyn KernelDevice,
        x: DevBuf<bf16>,
        w: &DevBuf<bf16>,
        rows: usize,
    ) -> Result<(DevBuf<bf16>, HeadNorm)> {
        let y = bf(dev, x.len())?;
        let rstd = alloc(dev, rows)?;
        norm::rmsnorm_fwd_bf16(dev, &y, &rstd, &x, w, self.config.rms_norm_eps)?;
        Ok((y, HeadNorm { x, rstd }))
    }

    /// One decoder layer on input `x` [N, d]: (what its backward reads, its output). The
    /// forward and the checkpointed backward's recompute both run this.
    pub(super) fn layer_forward(
        &self,
        dev: &dyn KernelDevice,
        b: &DeviceBatch,
        l: &LayerIdx,
        x: &DevBuf<bf16>,
    ) -> Result<(LayerActs, DevBuf<bf16>)> {
        let c = &self.config;
        let (n, d, f) = (b.len(), c.hidden_size, c.intermediate_size);
        let (qd, kvd) = (c.q_dim(), c.kv_dim());
        let p = &self.params;
        let eps = c.rms_norm_eps;
        let a = bf(dev, n * d)?;
        let rstd_in = alloc(dev, n)?;
        norm::rmsnorm_fwd_bf16(dev, &a, &rstd_in, x, &p[l.input_norm], eps)?;
        let lin = |out| Lin {
            rows: n,
            inp: d,
            out,
        };
        let (mut q, mut kk, v) = (bf(dev, n * qd)?, bf(dev, n * kvd)?, bf(dev, n * kvd)?);
        linear::forward(dev, &q, &a, &p[l.q], self.opt(l.q_bias), lin(qd))?;
        linear::forward(dev, &kk, &a, &p[l.k], self.opt(l.k_bias), lin(kvd))?;
        linear::forward(dev, &v, &a, &p[l.v], self.opt(l.v_bias), lin(kvd))?;
        let (mut q_norm, mut k_norm) = (None, None);
        if let (Some(qn), Some(kn)) = (l.q_norm, l.k_norm) {
            let (qy, qs) = self.head_norm(dev, q, &p[qn], n * c.num_heads)?;
            let (ky, ks) = self.head_norm(dev, kk, &p[kn], n * c.num_kv_heads)?;
            (q, kk, q_norm, k_norm) = (qy, ky, Some(qs), Some(ks));
        }
        let (hq, hkv) = (c.num_heads, c.num_kv_heads);
        let fwd = rope::Rotation::Forward;
        rope::rope_q_and_k(dev, fwd, &q, &kk, &b.pos, &self.inv_freq, hq, hkv)?;
        let attn = bf(dev, n * qd)?;
        let lse = alloc(dev, n * c.num_heads)?;
        attn_fwd_bf16(dev, &attn, &lse, &q, &kk, &v, &b.seqs, self.attn_dims())?;
        let o_lin = Lin {
            rows: n,
            inp: qd,
            out: d,
        };
        let h_mid = bf(dev, n * d)?;
        linear::forward_residual(dev, &h_mid, &attn, &p[l.o], self.opt(l.o_bias), x, o_lin)?;
        let m = bf(dev, n * d)?;
        let rstd_post = alloc(dev, n)?;
        norm::rmsnorm_fwd_bf16(dev, &m, &rstd_post, &h_mid, &p[l.post_norm], eps)?;
        let (gate, up, act) = (bf(dev, n * f)?, bf(dev, n * f)?, bf(dev, n * f)?);
        linear::forward(dev, &gate, &m, &p[l.gate], self.opt(l.gate_bias), lin(f))?;
        linear::forward(dev, &up, &m, &p[l.up], self.opt(l.up_bias), lin(f))?;
        mlp::swiglu_fwd_bf16(dev, &act, &gate, &up)?;
        // the layer's output: the residual stream plus the down projection, in one epilogue
        let o = bf(dev, n * d)?;
        let down_lin = Lin {
            rows: n,
            inp: f,
            out: d,
        };
        linear::forward_residual(
            dev,
            &o,
            &act,
            &p[l.down],
            self.opt(l.down_bias),
            &h_mid,
            down_lin,
        )?;
        let acts = LayerActs {
            a,
            rstd_in,
            q_norm,
            k_norm,
            q,
            k: kk,
            v,
            attn,
            lse,
            h_mid,
            m,
            rstd_post,
            gate,
            up,
            act,
        };
        Ok((acts, o))
    }

    pub fn attn_dims(&self) -> crate::backend::cpu::attention::AttnDims {
        crate::backend::cpu::attention::AttnDims {
            n_q_heads: self.config.num_heads,
            n_kv_heads: self.config.num_kv_heads,
            head_dim: self.config.head_dim,
        }
    }
}
