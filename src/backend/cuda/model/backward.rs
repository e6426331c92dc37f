//! The backward of [`DeviceModel::forward`] + [`DeviceModel::head`] for the policy-gradient loss
//! L = Σ_t g_lp[t]·log π(y_t) + g_h[t]·H_t (the per-token coefficients of `rl::loss`): f32
//! gradients of every parameter. Activation gradients are bf16 (llm.c style); the gradients of
//! a tensor read by several maps (q/k/v, gate/up) are summed in f32 before the one rounding.
//! Checkpointed activations (`forward_opts(.., true)`) are recomputed one layer at a time, from
//! that layer's input, right before its backward.
use super::super::attention::attn_bwd_bf16;
use super::super::device::{alloc, download, DevBuf, KernelDevice};
use super::super::{cast, embedding, mlp, norm, rope};
use super::batch::DeviceBatch;
use super::forward::{Activations, HeadNorm, LayerActs};
use super::head::HeadOut;
use super::linear::{self, Lin};
use super::DeviceModel;
use crate::model::params::LayerIdx;
use anyhow::{bail, Result};
use half::bf16;

/// One f32 gradient buffer per parameter, in layout order.
pub struct Grads {
    pub bufs: Vec<DevBuf<f32>>,
}

impl Grads {
    pub fn alloc(dev: &dyn KernelDevice, model: &DeviceModel) -> Result<Self> {
        Ok(Grads {
            bufs: model
                .params
                .iter()
                .map(|p| alloc(dev, p.len()))
                .collect::<Result<_>>()?,
        })
    }

    /// Sets every gradient to zero.
    pub fn zero(&self, dev: &dyn KernelDevice) -> Result<()> {
        self.bufs.iter().try_for_each(|b| zero(dev, b))
    }

    pub fn download(&self, dev: &dyn KernelDevice) -> Result<Vec<Vec<f32>>> {
        self.bufs.iter().map(|b| download(dev, b)).collect()
    }
}

fn bf(dev: &dyn KernelDevice, n: usize) -> Result<DevBuf<bf16>> {
    alloc(dev, n)
}

fn zero(dev: &dyn KernelDevice, b: &DevBuf<f32>) -> Result<()> {
    super::super::fill::fill_f32(dev, b, 0.0)
}

/// Per-layer context of the backward.
struct Ctx<'a> {
    dev: &'a dyn KernelDevice,
    b: &'a DeviceBatch,
    grads: &'a Grads,
    acc: bool,
}

impl DeviceModel {
    /// Gradients of L = Σ g_lp·logπ + g_h·H over the scored rows of `head` into `grads`
    /// (overwritten, or added to when `accumulate`, e.g. over micro-batches).
    #[allow(clippy::too_many_arguments)]
    pub fn backward(
        &self,
        dev: &dyn KernelDevice,
        b: &DeviceBatch,
        acts: &Activations,
        head: &HeadOut,
        g_lp: &[f32],
        g_h: &[f32],
        grads: &mut Grads,
        accumulate: bool,
    ) -> Result<()> {
        self.check_backward(b, acts, grads)?;
        let head_i = self.layout.lm_head_index();
        if !accumulate {
            zero(dev, &grads.bufs[head_i])?;
        }
        let dhidden = self.head_backward(dev, head, b.len(), (g_lp, g_h), &grads.bufs[head_i])?;
        self.backward_below_head(dev, b, acts, &dhidden, grads, accumulate)
    }

    /// The backward below the LM head, from ∂L/∂(final hidden) [N, d] (what
    /// `head_with_backward` returns after writing the LM-head gradient itself).
    pub fn backward_below_head(
        &self,
        dev: &dyn KernelDevice,
        b: &DeviceBatch,
        acts: &Activations,
        dhidden: &DevBuf<bf16>,
        grads: &mut Grads,
        accumulate: bool,
    ) -> Result<()> {
        self.check_backward(b, acts, grads)?;
        let (n, d) = (b.len(), self.hidden());
        if dhidden.len() != n * d {
            bail!(
                "backward: ∂L/∂hidden has {} elements for {n} x {d}",
                dhidden.len()
            );
        }
        let lay = &self.layout;
        if !accumulate && lay.lm_head.is_some() {
            zero(dev, &grads.bufs[lay.embed])?;
        }
        let mut dh = bf(dev, n * d)?;
        let last = acts.resid.last().expect("resid");
        norm::rmsnorm_bwd_bf16(
            dev,
            &dh,
            &grads.bufs[lay.final_norm],
            dhidden,
            last,
            &self.params[lay.final_norm],
            &acts.rstd_final,
            accumulate,
        )?;
        let cx = Ctx {
            dev,
            b,
            grads,
            acc: accumulate,
        };
        for (i, l) in lay.layers.iter().enumerate().rev() {
            let x = &acts.resid[i];
            dh = if acts.checkpointed {
                // recomputed from the layer's input by the forward's own code, used, dropped
                let (s, out) = self.layer_forward(dev, b, l, x)?;
                drop(out); // = resid[i + 1]
                self.layer_backward(&cx, l, &s, x, &dh)?
            } else {
                self.layer_backward(&cx, l, &acts.layers[i], x, &dh)?
            };
        }
        // tied: the embedding gradient already holds the LM-head part; both paths add up
        embedding::embedding_bwd_f32(dev, &grads.bufs[lay.embed], &dh, &b.tokens, d)
    }

    fn check_backward(&self, b: &DeviceBatch, acts: &Activations, grads: &Grads) -> Result<()> {
        if grads.bufs.len() != self.params.len() {
            bail!(
                "backward: {} gradient buffers for {} parameters",
                grads.bufs.len(),
                self.params.len()
            );
        }
        let (n, d) = (b.len(), self.hidden());
        let layers = if acts.checkpointed {
            0
        } else {
            self.layout.layers.len()
        };
        if acts.hidden.len() != n * d
            || acts.resid.len() != self.layout.layers.len() + 1
            || acts.layers.len() != layers
        {
            bail!("backward: the activations are not those of this batch");
        }
        Ok(())
    }

    /// Backward of one layer given ∂L/∂(its output); returns ∂L/∂(its input).
    fn layer_backward(
        &self,
        cx: &Ctx<'_>,
        l: &LayerIdx,
        s: &LayerActs,
        x: &DevBuf<bf16>,
        dout: &DevBuf<bf16>,
    ) -> Result<DevBuf<bf16>> {
        let (dev, g, acc) = (cx.dev, &cx.grads.bufs, cx.acc);
        let c = &self.config;
        let n = cx.b.len();
        let (d, f, qd, kvd) = (c.hidden_size, c.intermediate_size, c.q_dim(), c.kv_dim());
        let p = &self.params;
        let gopt = |i: Option<usize>| i.map(|i| &g[i]);

        // MLP: out = h_mid + down(swiglu(gate(m), up(m))), m = rmsnorm(h_mid)
        let down = Lin {
            rows: n,
            inp: f,
            out: d,
        };
        let dact = bf(dev, n * f)?;
        linear::input_grad_bf16(dev, &dact, dout, &p[l.down], down)?;
        linear::param_grads(dev, &g[l.down], gopt(l.down_bias), dout, &s.act, down, acc)?;
        let (dgate, dup) = (bf(dev, n * f)?, bf(dev, n * f)?);
        mlp::swiglu_bwd_bf16(dev, &dgate, &dup, &dact, &s.gate, &s.up)?;
        let mlp_in = Lin {
            rows: n,
            inp: d,
            out: f,
        };
        let dm = self.sum_input_grads(
            dev,
            &[(&dgate, &p[l.gate], mlp_in), (&dup, &p[l.up], mlp_in)],
        )?;
        linear::param_grads(
            dev,
            &g[l.gate],
            gopt(l.gate_bias),
            &dgate,
            &s.m,
            mlp_in,
            acc,
        )?;
        linear::param_grads(dev, &g[l.up], gopt(l.up_bias), &dup, &s.m, mlp_in, acc)?;
        let dh_mid = bf(dev, n * d)?;
        norm::rmsnorm_bwd_bf16(
            dev,
            &dh_mid,
            &g[l.post_norm],
            &dm,
            &s.h_mid,
            &p[l.post_norm],
            &s.rstd_post,
            acc,
        )?;
        cast::residual_add_bf16(dev, &dh_mid, &dh_mid, dout)?;

        // attention: h_mid = x + o(attn(rope(q), rope(k), v)), q/k/v from a = rmsnorm(x)
        let o = Lin {
            rows: n,
            inp: qd,
            out: d,
        };
        let dattn = bf(dev, n * qd)?;
        linear::input_grad_bf16(dev, &dattn, &dh_mid, &p[l.o], o)?;
        linear::param_grads(dev, &g[l.o], gopt(l.o_bias), &dh_mid, &s.attn, o, acc)?;
        let (dq, dk, dv) = (bf(dev, n * qd)?, bf(dev, n * kvd)?, bf(dev, n * kvd)?);
        attn_bwd_bf16(
            dev,
            &dq,
            &dk,
            &dv,
            &dattn,
            &s.q,
            &s.k,
            &s.v,
            &s.attn,
            &s.lse,
            &cx.b.seqs,
            self.attn_dims(),
        )?;
        let (pos, inv) = (&cx.b.pos, &self.inv_freq);
        let (hq, hkv, bwd) = (c.num_heads, c.num_kv_heads, rope::Rotation::Backward);
        rope::rope_q_and_k(dev, bwd, &dq, &dk, pos, inv, hq, hkv)?;
        let dq = self.head_norm_backward(dev, dq, s.q_norm.as_ref(), l.q_norm, g, acc)?;
        let dk = self.head_norm_backward(dev, dk, s.k_norm.as_ref(), l.k_norm, g, acc)?;
        let lin = |out| Lin {
            rows: n,
            inp: d,
            out,
        };
        let da = self.sum_input_grads(
            dev,
            &[
                (&dq, &p[l.q], lin(qd)),
                (&dk, &p[l.k], lin(kvd)),
                (&dv, &p[l.v], lin(kvd)),
            ],
        )?;
        linear::param_grads(dev, &g[l.q], gopt(l.q_bias), &dq, &s.a, lin(qd), acc)?;
        linear::param_grads(dev, &g[l.k], gopt(l.k_bias), &dk, &s.a, lin(kvd), acc)?;
        linear::param_grads(dev, &g[l.v], gopt(l.v_bias), &dv, &s.a, lin(kvd), acc)?;
        let dx = bf(dev, n * d)?;
        norm::rmsnorm_bwd_bf16(
            dev,
            &dx,
            &g[l.input_norm],
            &da,
            x,
            &p[l.input_norm],
            &s.rstd_in,
            acc,
        )?;
        cast::residual_add_bf16(dev, &dx, &dx, &dh_mid)?;
        Ok(dx)
    }

    /// Σ_i dy_i · W_i (the input gradient of several maps reading one tensor), summed in f32
    /// and rounded once to bf16.
    fn sum_input_grads(
        &self,
        dev: &dyn KernelDevice,
        maps: &[(&DevBuf<bf16>, &DevBuf<bf16>, Lin)],
    ) -> Result<DevBuf<bf16>> {
        let s0 = maps[0].2;
        let acc = alloc::<f32>(dev, s0.rows * s0.inp)?;
        for (i, (dy, w, s)) in maps.iter().enumerate() {
            linear::input_grad_f32(dev, &acc, dy, w, *s, if i == 0 { 0.0 } else { 1.0 })?;
        }
        let out = bf(dev, acc.len())?;
        cast::cast_f32_to_bf16(dev, &out, &acc)?;
        Ok(out)
    }

    /// Qwen3's per-head RMSNorm backward (identity without q/k-norm).
    fn head_norm_backward(
        &self,
        dev: &dyn KernelDevice,
        dy: DevBuf<bf16>,
        saved: Option<&HeadNorm>,
        w: Option<usize>,
        g: &[DevBuf<f32>],
        acc: bool,
    ) -> Result<DevBuf<bf16>> {
        let (Some(s), Some(w)) = (saved, w) else {
            return Ok(dy);
        };
        let dx = bf(dev, dy.len())?;
        norm::rmsnorm_bwd_bf16(dev, &dx, &g[w], &dy, &s.x, &self.params[w], &s.rstd, acc)?;
        Ok(dx)
    }
}
