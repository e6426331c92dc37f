//! The f32 gradient-buffer fill (kernels/fill.cu) the device update runs before each backward,
//! on one MLP weight's gradient per model, against the copy bandwidth.
use super::counts as c;
use super::record::Record;
use super::shapes::Plan;
use super::timing::Bencher;
use super::{bandwidth_entry, Roofs};
use crate::backend::cuda::device::alloc;
use crate::backend::cuda::fill::fill_f32;
use anyhow::Result;

pub fn run(b: &mut Bencher, plan: &Plan, roofs: &Roofs, out: &mut Vec<Record>) -> Result<()> {
    if !b.wants("fill_f32") {
        return Ok(());
    }
    for m in &plan.models {
        let n = m.ffn * m.hidden;
        let g = alloc::<f32>(&b.dev, n)?;
        let spec = (
            "fill_f32",
            format!("{} grad W_up [{}, {}]", m.short, m.ffn, m.hidden),
            c::fill_bytes(n),
            "",
        );
        bandwidth_entry(b, roofs, out, "fill", spec, &mut || {
            fill_f32(&b.dev, &g, 0.0)
        })?;
    }
    Ok(())
}
