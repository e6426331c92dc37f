//! Row softmax and log-softmax (kernels/softmax.cu) over the largest model's vocabulary, against
//! the copy bandwidth.
use super::counts as c;
use super::record::Record;
use super::shapes::Plan;
use super::timing::Bencher;
use super::{bandwidth_entry, Roofs};
use crate::backend::cuda::device::alloc;
use crate::backend::cuda::softmax::{log_softmax_fwd_bf16, softmax_fwd_bf16};
use anyhow::Result;
use half::bf16;

pub fn run(b: &mut Bencher, plan: &Plan, roofs: &Roofs, out: &mut Vec<Record>) -> Result<()> {
    if !b.wants("softmax") {
        return Ok(());
    }
    let m = plan.largest();
    let (rows, v) = (plan.softmax_rows, m.vocab);
    let x = b.random::<bf16>(rows * v, |u| bf16::from_f64(8.0 * u - 4.0))?;
    let y = alloc::<f32>(&b.dev, rows * v)?;
    let shape = format!("{} [{rows}, {v}]", m.short);
    let spec = (
        "softmax_fwd_bf16",
        shape.clone(),
        c::softmax_bytes(rows, v),
        "",
    );
    bandwidth_entry(b, roofs, out, "softmax", spec, &mut || {
        softmax_fwd_bf16(&b.dev, &y, &x, v)
    })?;
    let spec = ("log_softmax_fwd_bf16", shape, c::softmax_bytes(rows, v), "");
    bandwidth_entry(b, roofs, out, "softmax", spec, &mut || {
        log_softmax_fwd_bf16(&b.dev, &y, &x, v)
    })
}
