//! The fused AdamW step (kernels/optim.cu) on one MLP weight per model (f32 master, moments, bf16
//! copy, gradient scaled by the clip coefficient), against the copy bandwidth; and one decoder
//! layer's tensors updated one launch each (rung 1) or in one launch (rung 2, `adamw_multi_f32`).
use super::counts as c;
use super::record::Record;
use super::shapes::Plan;
use super::timing::Bencher;
use super::Roofs;
use crate::backend::cuda::device::alloc;
use crate::backend::cuda::device::DevBuf;
use crate::backend::cuda::optim::{
    adamw_multi_f32, adamw_step_f32, AdamW, AdamwTable, AdamwTensor,
};
use anyhow::Result;
use half::bf16;

/// Records the launches of `r`'s timing and its ratio to the copy bandwidth.
pub fn push(b: &Bencher, roofs: &Roofs, out: &mut Vec<Record>, r: Record) {
    let mut r = r;
    r.launches = b.dev.take_launched();
    out.push(roofs.vs_bandwidth(r, true));
}

const HP: AdamW = AdamW {
    lr: 1e-6,
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    weight_decay: 0.01,
    step: 1,
};

pub fn run(b: &mut Bencher, plan: &Plan, roofs: &Roofs, out: &mut Vec<Record>) -> Result<()> {
    run_layer(b, plan, roofs, out)?;
    if !b.wants("adamw_step_f32") {
        return Ok(());
    }
    for m in &plan.models {
        let (h, f, p) = (m.hidden, m.ffn, m.short);
        let n = f * h;
        let grad = b.random::<f32>(n, |u| (1e-3 * (u - 0.5)) as f32)?;
        // [norm, clip coefficient] as grad_norm_f32 leaves them.
        let coef = b.random::<f32>(2, |_| 1.0)?;
        let param = b.random::<f32>(n, |u| (0.02 * (u - 0.5)) as f32)?;
        let mom = b.random::<f32>(n, |_| 0.0)?;
        let var = b.random::<f32>(n, |_| 0.0)?;
        let copy = alloc::<bf16>(&b.dev, n)?;
        let hp = HP;
        b.dev.take_launched();
        let t = b.time(&mut || {
            adamw_step_f32(
                &b.dev,
                &param,
                &mom,
                &var,
                Some(&copy),
                &grad,
                Some((&coef, 1)),
                &hp,
            )
        })?;
        let r = Record::new("optim", "adamw_step_f32", format!("{p} W_up [{f}, {h}]")).timed(
            t,
            None,
            Some(c::adamw_bytes(n, true)),
        );
        push(b, roofs, out, r);
    }
    Ok(())
}

type State = (
    DevBuf<f32>,
    DevBuf<f32>,
    DevBuf<f32>,
    DevBuf<bf16>,
    DevBuf<f32>,
);

/// One decoder layer's nine tensors (q, k, v, o, gate, up, down, two norms): a launch per tensor
/// against one launch for all of them.
fn run_layer(b: &mut Bencher, plan: &Plan, roofs: &Roofs, out: &mut Vec<Record>) -> Result<()> {
    if !b.wants("adamw_multi_f32") {
        return Ok(());
    }
    for m in &plan.models {
        let (h, f, p) = (m.hidden, m.ffn, m.short);
        let (qd, kvd) = (m.n_q_heads * m.head_dim, m.n_kv_heads * m.head_dim);
        let sizes = [qd * h, kvd * h, kvd * h, h * qd, f * h, f * h, h * f, h, h];
        let coef = b.random::<f32>(2, |_| 1.0)?;
        let mut state: Vec<State> = Vec::new();
        for &n in &sizes {
            state.push((
                b.random::<f32>(n, |u| (0.02 * (u - 0.5)) as f32)?,
                b.random::<f32>(n, |_| 0.0)?,
                b.random::<f32>(n, |_| 0.0)?,
                alloc::<bf16>(&b.dev, n)?,
                b.random::<f32>(n, |u| (1e-3 * (u - 0.5)) as f32)?,
            ));
        }
        let parts: Vec<AdamwTensor<'_>> = state
            .iter()
            .map(|(param, m, v, copy, grad)| AdamwTensor {
                param,
                m,
                v,
                param_bf16: Some(copy),
                grad,
            })
            .collect();
        let table = AdamwTable::new(&b.dev, &parts)?;
        let total: usize = sizes.iter().sum();
        let shape = format!("{p} one layer, {} tensors, {total} params", sizes.len());
        for rung in [1, 2] {
            b.dev.take_launched();
            let t = b.time(&mut || {
                if rung == 2 {
                    return adamw_multi_f32(&b.dev, &table, Some((&coef, 1)), &HP);
                }
                for t in &parts {
                    adamw_step_f32(
                        &b.dev,
                        t.param,
                        t.m,
                        t.v,
                        t.param_bf16,
                        t.grad,
                        Some((&coef, 1)),
                        &HP,
                    )?;
                }
                Ok(())
            })?;
            let name = if rung == 1 {
                "adamw_step_f32 (a launch per tensor)"
            } else {
                "adamw_multi_f32"
            };
            let r = Record::new("optim", name, shape.clone()).timed(
                t,
                None,
                Some(c::adamw_bytes(total, true)),
            );
            push(b, roofs, out, r);
        }
    }
    Ok(())
}
