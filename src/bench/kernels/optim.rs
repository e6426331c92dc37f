//! The fused AdamW step (kernels/optim.cu) on one MLP weight per model (f32 master, moments, bf16
//! copy, gradient scaled by the clip coefficient), against the copy bandwidth.
use super::counts as c;
use super::record::Record;
use super::shapes::Plan;
use super::timing::Bencher;
use super::Roofs;
use crate::backend::cuda::device::alloc;
use crate::backend::cuda::optim::{adamw_step_f32, AdamW};
use anyhow::Result;
use half::bf16;

/// Records the launches of `r`'s timing and its ratio to the copy bandwidth.
pub fn push(b: &Bencher, roofs: &Roofs, out: &mut Vec<Record>, r: Record) {
    let mut r = r;
    r.launches = b.dev.take_launched();
    out.push(roofs.vs_bandwidth(r, true));
}

pub fn run(b: &mut Bencher, plan: &Plan, roofs: &Roofs, out: &mut Vec<Record>) -> Result<()> {
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
    Ok(())
}
