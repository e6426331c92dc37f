//! Memory-bound entries: RMSNorm, RoPE, SwiGLU, residual add, embedding, bias, fill, casts and softmax at
//! each model's training shapes, against the copy bandwidth measured in the same run.
use super::counts as c;
use super::record::Record;
use super::shapes::{LayerShape, Plan};
use super::timing::Bencher;
use super::Roofs;
use crate::backend::cuda::device::{alloc, upload, DevBuf};
use crate::backend::cuda::launch as l;
use anyhow::Result;
use half::bf16;

fn rand_bf16(b: &mut Bencher, n: usize) -> Result<DevBuf<bf16>> {
    b.random::<bf16>(n, |u| bf16::from_f64(2.0 * u - 1.0))
}

/// Times `f` and pushes a bandwidth record for `kernel`.
fn entry(
    b: &Bencher,
    roofs: &Roofs,
    out: &mut Vec<Record>,
    (kernel, shape, bytes, note): (&str, String, u64, &str),
    f: &mut dyn FnMut() -> Result<()>,
) -> Result<()> {
    b.dev.take_launched();
    let t = b.time(f)?;
    let mut r = Record::new("elementwise", kernel, shape)
        .timed(t, None, Some(bytes))
        .note(note);
    r.launches = b.dev.take_launched();
    out.push(roofs.vs_bandwidth(r, true));
    Ok(())
}

fn norm_rope(
    b: &mut Bencher,
    m: &LayerShape,
    t: usize,
    roofs: &Roofs,
    out: &mut Vec<Record>,
) -> Result<()> {
    let (h, p) = (m.hidden, m.short);
    if b.wants("rmsnorm") {
        let x = rand_bf16(b, t * h)?;
        let w = rand_bf16(b, h)?;
        let dy = rand_bf16(b, t * h)?;
        let y = alloc::<bf16>(&b.dev, t * h)?;
        let dx = alloc::<bf16>(&b.dev, t * h)?;
        let rstd = alloc::<f32>(&b.dev, t)?;
        let dw = b.random::<f32>(h, |_| 0.0)?;
        let shape = format!("{p} [{t}, {h}]");
        let spec = (
            "rmsnorm_fwd_bf16",
            shape.clone(),
            c::rmsnorm_fwd_bytes(t, h),
            "",
        );
        entry(b, roofs, out, spec, &mut || {
            l::rmsnorm_fwd_bf16(&b.dev, &y, &rstd, &x, &w, 1e-6)
        })?;
        let spec = ("rmsnorm_bwd_bf16", shape, c::rmsnorm_bwd_bytes(t, h), "");
        entry(b, roofs, out, spec, &mut || {
            l::rmsnorm_bwd_bf16(&b.dev, &dx, &dw, &dy, &x, &w, &rstd, false)
        })?;
    }
    if b.wants("rope") {
        let (hq, hd) = (m.n_q_heads, m.head_dim);
        let x = rand_bf16(b, t * hq * hd)?;
        let y = alloc::<bf16>(&b.dev, t * hq * hd)?;
        let pos: Vec<i32> = (0..t).map(|i| (i % 4096) as i32).collect();
        let pos = upload(&b.dev, &pos)?;
        let inv: Vec<f32> = (0..hd / 2)
            .map(|i| 1e6f32.powf(-2.0 * i as f32 / hd as f32))
            .collect();
        let inv = upload(&b.dev, &inv)?;
        let shape = format!("{p} q [{t}, {hq}, {hd}]");
        let bytes = c::rope_bytes(t, hq, hd);
        let spec = ("rope_fwd_bf16", shape.clone(), bytes, "");
        entry(b, roofs, out, spec, &mut || {
            l::rope_fwd_bf16(&b.dev, &y, &x, &pos, &inv, hq)
        })?;
        let spec = ("rope_bwd_bf16", shape, bytes, "");
        entry(b, roofs, out, spec, &mut || {
            l::rope_bwd_bf16(&b.dev, &y, &x, &pos, &inv, hq)
        })?;
    }
    Ok(())
}

fn mlp_residual(
    b: &mut Bencher,
    m: &LayerShape,
    t: usize,
    roofs: &Roofs,
    out: &mut Vec<Record>,
) -> Result<()> {
    let (h, f, p) = (m.hidden, m.ffn, m.short);
    if b.wants("swiglu") {
        let n = t * f;
        let gate = rand_bf16(b, n)?;
        let up = rand_bf16(b, n)?;
        let dout = rand_bf16(b, n)?;
        let o = alloc::<bf16>(&b.dev, n)?;
        let dg = alloc::<bf16>(&b.dev, n)?;
        let shape = format!("{p} [{t}, {f}]");
        let spec = ("swiglu_fwd_bf16", shape.clone(), c::swiglu_fwd_bytes(n), "");
        entry(b, roofs, out, spec, &mut || {
            l::swiglu_fwd_bf16(&b.dev, &o, &gate, &up)
        })?;
        let spec = ("swiglu_bwd_bf16", shape, c::swiglu_bwd_bytes(n), "");
        entry(b, roofs, out, spec, &mut || {
            l::swiglu_bwd_bf16(&b.dev, &dg, &o, &dout, &gate, &up)
        })?;
    }
    if b.wants("residual_add_bf16") {
        let n = t * h;
        let x = rand_bf16(b, n)?;
        let y = rand_bf16(b, n)?;
        let o = alloc::<bf16>(&b.dev, n)?;
        let spec = (
            "residual_add_bf16",
            format!("{p} [{t}, {h}]"),
            c::residual_bytes(n),
            "",
        );
        entry(b, roofs, out, spec, &mut || {
            l::residual_add_bf16(&b.dev, &o, &x, &y)
        })?;
    }
    if b.wants("cast") {
        // One MLP weight: the f32 master copy to bf16 and back.
        let n = f * h;
        let x32 = b.random::<f32>(n, |u| (u - 0.5) as f32)?;
        let x16 = alloc::<bf16>(&b.dev, n)?;
        let shape = format!("{p} W_up [{f}, {h}]");
        let spec = ("cast_f32_to_bf16", shape.clone(), c::cast_bytes(n), "");
        entry(b, roofs, out, spec, &mut || {
            l::cast_f32_to_bf16(&b.dev, &x16, &x32)
        })?;
        let spec = ("cast_bf16_to_f32", shape, c::cast_bytes(n), "");
        entry(b, roofs, out, spec, &mut || {
            l::cast_bf16_to_f32(&b.dev, &x32, &x16)
        })?;
    }
    Ok(())
}

fn embedding(
    b: &mut Bencher,
    m: &LayerShape,
    t: usize,
    roofs: &Roofs,
    out: &mut Vec<Record>,
) -> Result<()> {
    if !b.wants("embedding") {
        return Ok(());
    }
    let (h, v, p) = (m.hidden, m.vocab, m.short);
    let table = rand_bf16(b, v * h)?;
    let mut rng = crate::rng::SplitMix64::new(b.next_seed());
    let ids: Vec<i32> = (0..t).map(|_| rng.below(v as u64) as i32).collect();
    let distinct = l::EmbeddingGradIndex::build(&ids, v)?.rows.len();
    let ids_dev = upload(&b.dev, &ids)?;
    let o = alloc::<bf16>(&b.dev, t * h)?;
    let dout = rand_bf16(b, t * h)?;
    let dtable = b.random::<f32>(v * h, |_| 0.0)?;
    let shape = format!("{p} {t} ids of {v} x {h}");
    let spec = (
        "embedding_fwd_bf16",
        shape.clone(),
        c::embedding_fwd_bytes(t, h),
        "",
    );
    entry(b, roofs, out, spec, &mut || {
        l::embedding_fwd_bf16(&b.dev, &o, &table, &ids_dev, h)
    })?;
    let spec = (
        "embedding_bwd_f32",
        shape,
        c::embedding_bwd_bytes(t, distinct, h),
        "includes the host-side id grouping and its upload, as the launcher does per call",
    );
    entry(b, roofs, out, spec, &mut || {
        l::embedding_bwd_f32(&b.dev, &dtable, &dout, &ids, h)
    })
}

/// The q-projection bias of a Qwen2-style layer: its add in the forward, its column-sum gradient,
/// and the f32 gradient-buffer fill the device update runs before each backward.
fn bias_fill(
    b: &mut Bencher,
    m: &LayerShape,
    t: usize,
    roofs: &Roofs,
    out: &mut Vec<Record>,
) -> Result<()> {
    let (q, p) = (m.n_q_heads * m.head_dim, m.short);
    if b.wants("bias_add_bf16") || b.wants("colsum_partial_bf16") {
        let x = rand_bf16(b, t * q)?;
        let bias = rand_bf16(b, q)?;
        let db = alloc::<f32>(&b.dev, q)?;
        let shape = format!("{p} q bias [{t}, {q}]");
        let spec = ("bias_add_bf16", shape.clone(), c::bias_add_bytes(t, q), "");
        entry(b, roofs, out, spec, &mut || {
            crate::backend::cuda::bias::bias_add_bf16(&b.dev, &x, &bias)
        })?;
        let spec = (
            "colsum_partial_bf16",
            shape,
            c::colsum_bytes(t, q),
            "with its rmsnorm_dw_reduce_f32 pass over the per-part sums",
        );
        entry(b, roofs, out, spec, &mut || {
            crate::backend::cuda::bias::colsum_bf16_f32(&b.dev, &db, &x, false)
        })?;
    }
    if b.wants("sum_parts_f32") {
        // the data-parallel gradient sum: 8 shards of W_up's gradient
        let n = m.ffn * m.hidden;
        let parts = alloc::<f32>(&b.dev, 8 * n)?;
        let g = alloc::<f32>(&b.dev, n)?;
        let spec = (
            "sum_parts_f32",
            format!("{p} 8 shards of grad W_up [{}, {}]", m.ffn, m.hidden),
            c::sum_parts_bytes(8, n),
            "",
        );
        entry(b, roofs, out, spec, &mut || {
            crate::backend::cuda::sum_parts::sum_parts_f32(&b.dev, &g, &parts, 8, n)
        })?;
    }
    if b.wants("fill_f32") {
        let n = m.ffn * m.hidden;
        let g = alloc::<f32>(&b.dev, n)?;
        let spec = (
            "fill_f32",
            format!("{p} grad W_up [{}, {}]", m.ffn, m.hidden),
            c::fill_bytes(n),
            "",
        );
        entry(b, roofs, out, spec, &mut || {
            crate::backend::cuda::fill::fill_f32(&b.dev, &g, 0.0)
        })?;
    }
    Ok(())
}

fn softmax(b: &mut Bencher, plan: &Plan, roofs: &Roofs, out: &mut Vec<Record>) -> Result<()> {
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
    entry(b, roofs, out, spec, &mut || {
        l::softmax_fwd_bf16(&b.dev, &y, &x, v)
    })?;
    let spec = ("log_softmax_fwd_bf16", shape, c::softmax_bytes(rows, v), "");
    entry(b, roofs, out, spec, &mut || {
        l::log_softmax_fwd_bf16(&b.dev, &y, &x, v)
    })
}

pub fn run(b: &mut Bencher, plan: &Plan, roofs: &Roofs, out: &mut Vec<Record>) -> Result<()> {
    for m in &plan.models {
        norm_rope(b, m, plan.tokens, roofs, out)?;
        mlp_residual(b, m, plan.tokens, roofs, out)?;
        embedding(b, m, plan.tokens, roofs, out)?;
        bias_fill(b, m, plan.tokens, roofs, out)?;
    }
    softmax(b, plan, roofs, out)
}
