//! The global gradient norm over one layer's weight gradients and the clip scale
//! (kernels/reduce.cu), per model, against the copy bandwidth.
use super::counts as c;
use super::optim::push;
use super::record::Record;
use super::shapes::Plan;
use super::timing::Bencher;
use super::Roofs;
use crate::backend::cuda::device::DevBuf;
use crate::backend::cuda::reduce::{
    grad_norm_multi_f32, grad_norm_per_tensor_f32, scale_by_f32, SumsqTable,
};
use anyhow::Result;

pub fn run(b: &mut Bencher, plan: &Plan, roofs: &Roofs, out: &mut Vec<Record>) -> Result<()> {
    for m in &plan.models {
        let (h, f, p) = (m.hidden, m.ffn, m.short);
        let n = f * h;
        if b.wants("grad_norm_f32") {
            // One layer: q and o [h, h], k and v [kv·d, h], gate, up and down [f, h].
            let kv = m.n_kv_heads * m.head_dim * h;
            let lens = [h * h, kv, kv, h * h, n, n, n];
            let mut grads: Vec<DevBuf<f32>> = Vec::new();
            for &len in &lens {
                grads.push(b.random::<f32>(len, |u| (1e-3 * (u - 0.5)) as f32)?);
            }
            let refs: Vec<&DevBuf<f32>> = grads.iter().collect();
            let table = SumsqTable::new(&b.dev, &refs)?;
            let total: usize = lens.iter().sum();
            // Rung 1: a first-stage launch per tensor; rung 2: one for all (the table built once,
            // as the trainer keeps it).
            for rung in [1, 2] {
                b.dev.take_launched();
                let t = b.time(&mut || {
                    if rung == 1 {
                        grad_norm_per_tensor_f32(&b.dev, &refs, 1.0).map(|_| ())
                    } else {
                        grad_norm_multi_f32(&b.dev, &table, 1.0).map(|_| ())
                    }
                })?;
                let name = if rung == 1 {
                    "grad_norm_f32 (a launch per tensor)"
                } else {
                    "grad_norm_f32"
                };
                let r = Record::new("reduce", name, format!("{p} layer, 7 tensors, {total}"))
                    .timed(t, None, Some(c::grad_norm_bytes(&lens)));
                push(b, roofs, out, r);
            }
        }
        if b.wants("scale_by_f32") {
            let grad = b.random::<f32>(n, |u| (1e-3 * (u - 0.5)) as f32)?;
            // [norm, clip coefficient] as grad_norm_f32 leaves them.
            let coef = b.random::<f32>(2, |_| 1.0)?;
            b.dev.take_launched();
            let t = b.time(&mut || scale_by_f32(&b.dev, &grad, &coef, 1))?;
            let r = Record::new(
                "reduce",
                "scale_by_f32",
                format!("{p} W_up grad [{f}, {h}]"),
            )
            .timed(t, None, Some(c::scale_bytes(n)));
            push(b, roofs, out, r);
        }
    }
    Ok(())
}
