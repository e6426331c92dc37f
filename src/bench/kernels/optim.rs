//! Optimizer entries: fused AdamW on one MLP weight (f32 master, moments, bf16 copy), the global
//! grad norm over one layer's weight gradients, and the clip scale.
use super::counts as c;
use super::record::Record;
use super::shapes::Plan;
use super::timing::Bencher;
use super::Roofs;
use crate::backend::cuda::device::{alloc, DevBuf};
use crate::backend::cuda::launch::{adamw_step_f32, grad_norm_f32, scale_by_f32, AdamW};
use anyhow::Result;
use half::bf16;

fn push(b: &Bencher, roofs: &Roofs, out: &mut Vec<Record>, r: Record) {
    let mut r = r;
    r.launches = b.dev.take_launched();
    out.push(roofs.vs_bandwidth(r, true));
}

pub fn run(b: &mut Bencher, plan: &Plan, roofs: &Roofs, out: &mut Vec<Record>) -> Result<()> {
    for m in &plan.models {
        let (h, f, p) = (m.hidden, m.ffn, m.short);
        let n = f * h;
        let grad = b.random::<f32>(n, |u| (1e-3 * (u - 0.5)) as f32)?;
        // [norm, clip coefficient] as grad_norm_f32 leaves them.
        let coef = b.random::<f32>(2, |_| 1.0)?;
        if b.wants("adamw_step_f32") {
            let param = b.random::<f32>(n, |u| (0.02 * (u - 0.5)) as f32)?;
            let mom = b.random::<f32>(n, |_| 0.0)?;
            let var = b.random::<f32>(n, |_| 0.0)?;
            let copy = alloc::<bf16>(&b.dev, n)?;
            let hp = AdamW {
                lr: 1e-6,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay: 0.01,
                step: 1,
            };
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
        if b.wants("grad_norm_f32") {
            // One layer: q and o [h, h], k and v [kv·d, h], gate, up and down [f, h].
            let kv = m.n_kv_heads * m.head_dim * h;
            let lens = [h * h, kv, kv, h * h, n, n, n];
            let mut grads: Vec<DevBuf<f32>> = Vec::new();
            for &len in &lens {
                grads.push(b.random::<f32>(len, |u| (1e-3 * (u - 0.5)) as f32)?);
            }
            let refs: Vec<&DevBuf<f32>> = grads.iter().collect();
            b.dev.take_launched();
            let t = b.time(&mut || grad_norm_f32(&b.dev, &refs, 1.0).map(|_| ()))?;
            let total: usize = lens.iter().sum();
            let r = Record::new(
                "optim",
                "grad_norm_f32",
                format!("{p} layer, 7 tensors, {total}"),
            )
            .timed(t, None, Some(c::grad_norm_bytes(&lens)));
            push(b, roofs, out, r);
        }
        if b.wants("scale_by_f32") {
            b.dev.take_launched();
            let t = b.time(&mut || scale_by_f32(&b.dev, &grad, &coef, 1))?;
            let r = Record::new("optim", "scale_by_f32", format!("{p} W_up grad [{f}, {h}]"))
                .timed(t, None, Some(c::scale_bytes(n)));
            push(b, roofs, out, r);
        }
    }
    Ok(())
}
