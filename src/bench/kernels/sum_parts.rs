//! The data-parallel gradient sum (kernels/sum_parts.cu): 8 shards of one MLP weight's gradient
//! per model, against the copy bandwidth.
use super::counts as c;
use super::record::Record;
use super::shapes::Plan;
use super::timing::Bencher;
use super::{bandwidth_entry, Roofs};
use crate::backend::cuda::device::alloc;
use crate::backend::cuda::sum_parts::sum_parts_f32;
use anyhow::Result;

pub fn run(b: &mut Bencher, plan: &Plan, roofs: &Roofs, out: &mut Vec<Record>) -> Result<()> {
    if !b.wants("sum_parts_f32") {
        return Ok(());
    }
    for m in &plan.models {
        let n = m.ffn * m.hidden;
        let parts = alloc::<f32>(&b.dev, 8 * n)?;
        let g = alloc::<f32>(&b.dev, n)?;
        let spec = (
            "sum_parts_f32",
            format!(
                "{} 8 shards of grad W_up [{}, {}]",
                m.short, m.ffn, m.hidden
            ),
            c::sum_parts_bytes(8, n),
            "",
        );
        bandwidth_entry(b, roofs, out, "sum_parts", spec, &mut || {
            sum_parts_f32(&b.dev, &g, &parts, 8, n)
        })?;
    }
    Ok(())
}
