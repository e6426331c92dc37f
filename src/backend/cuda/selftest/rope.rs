//! kernels/rope.cu: the rotary embedding and its inverse (the backward) at default and llama3
//! frequencies, against `backend::cpu::rope`.
use super::super::device::{upload, DevBuf, KernelDevice};
use super::super::rope::{
    rope_bwd_bf16, rope_fwd_bf16, rope_qk_bwd_bf16, rope_qk_fits, rope_qk_fwd_bf16,
};
use super::{bf16_inputs, compare, download_bf16, nan_bf16, CheckRow, Checks, ShapeSet, TOL_BF16};
use crate::backend::cpu::rope::{rope_apply, rope_tables};
use crate::rng::SplitMix64;
use anyhow::Result;
use half::bf16;

/// (tokens, heads, head_dim, llama3 scaling)
fn rope_shapes(set: ShapeSet) -> Vec<(usize, usize, usize, bool)> {
    let mut v = vec![
        (1, 1, 64, false),
        (3, 9, 64, false),
        (17, 2, 128, false),
        (5, 12, 128, true),
    ];
    if set == ShapeSet::Full {
        v.extend([(256, 28, 128, false), (4096, 12, 128, true)]);
    }
    v
}

pub fn run(c: &mut Checks) {
    if !c.wants("rope") {
        return;
    }
    for (t, h, d, llama3) in rope_shapes(c.set) {
        let shape = format!("t{t} h{h} d{d}{}", if llama3 { " llama3" } else { "" });
        c.check("rope", &shape, |dev, rng| {
            check_rope(dev, rng, t, h, d, llama3, &shape)
        });
    }
}

/// Default RoPE inverse frequencies theta^(-2i/d), the check's input.
fn rope_inv_freq(head_dim: usize, theta: f32) -> Vec<f32> {
    (0..head_dim / 2)
        .map(|i| 1.0 / (theta as f64).powf(2.0 * i as f64 / head_dim as f64) as f32)
        .collect()
}

/// llama3 rope scaling applied to the default inverse frequencies (as HF
/// `_compute_llama3_parameters`), the check's input.
fn llama3_inv_freq(
    head_dim: usize,
    theta: f32,
    factor: f32,
    low: f32,
    high: f32,
    orig_max_pos: f32,
) -> Vec<f32> {
    let low_wavelen = orig_max_pos / low;
    let high_wavelen = orig_max_pos / high;
    rope_inv_freq(head_dim, theta)
        .into_iter()
        .map(|f| {
            let wavelen = 2.0 * std::f32::consts::PI / f;
            if wavelen < high_wavelen {
                f
            } else if wavelen > low_wavelen {
                f / factor
            } else {
                let smooth = (orig_max_pos / wavelen - low) / (high - low);
                (1.0 - smooth) * f / factor + smooth * f
            }
        })
        .collect()
}

/// `x` rotated on the CPU (`inverse`: the backward).
fn rotated(x: &[f32], pos: &[i32], inv: &[f32], heads: usize, inverse: bool) -> Vec<f32> {
    let positions: Vec<u32> = pos.iter().map(|&p| p as u32).collect();
    let (cos, sin) = rope_tables(&positions, inv);
    let mut out = x.to_vec();
    rope_apply(&mut out, heads, inv.len() * 2, &cos, &sin, inverse);
    out
}

fn check_rope(
    dev: &dyn KernelDevice,
    rng: &mut SplitMix64,
    tokens: usize,
    heads: usize,
    head_dim: usize,
    llama3: bool,
    shape: &str,
) -> Result<Vec<CheckRow>> {
    let n = tokens * heads * head_dim;
    let (x, xh) = bf16_inputs(rng, n, -2.0, 2.0);
    let pos: Vec<i32> = (0..tokens)
        .map(|_| rng.below_unbiased(8192) as i32)
        .collect();
    let inv = if llama3 {
        llama3_inv_freq(head_dim, 500_000.0, 8.0, 1.0, 4.0, 8192.0)
    } else {
        rope_inv_freq(head_dim, 10_000.0)
    };
    let (dx, dpos, dinv) = (upload(dev, &xh)?, upload(dev, &pos)?, upload(dev, &inv)?);
    let out = nan_bf16(dev, n)?;
    rope_fwd_bf16(dev, &out, &dx, &dpos, &dinv, heads)?;
    let r1 = compare(
        "rope_fwd_bf16",
        shape,
        &download_bf16(dev, &out)?,
        &rotated(&x, &pos, &inv, heads, false),
        TOL_BF16,
    );
    let back = nan_bf16(dev, n)?;
    rope_bwd_bf16(dev, &back, &dx, &dpos, &dinv, heads)?;
    let r2 = compare(
        "rope_bwd_bf16",
        shape,
        &download_bf16(dev, &back)?,
        &rotated(&x, &pos, &inv, heads, true),
        TOL_BF16,
    );
    let mut rows = vec![r1, r2];
    if rope_qk_fits(head_dim) {
        rows.extend(check_rope_qk(
            dev, rng, &xh, &dpos, &dinv, tokens, heads, shape,
        )?);
    }
    Ok(rows)
}

/// Rung 2 (q and k in one launch, in place) against rung 1 on each tensor: the same bits.
#[allow(clippy::too_many_arguments)]
fn check_rope_qk(
    dev: &dyn KernelDevice,
    rng: &mut SplitMix64,
    qh: &[bf16],
    pos: &DevBuf<i32>,
    inv: &DevBuf<f32>,
    tokens: usize,
    hq: usize,
    shape: &str,
) -> Result<Vec<CheckRow>> {
    let hkv = hq.div_ceil(3);
    let head_dim = inv.len() * 2;
    let (_, kh) = bf16_inputs(rng, tokens * hkv * head_dim, -2.0, 2.0);
    let shape = format!("{shape} kv{hkv}");
    let mut rows = Vec::new();
    for backward in [false, true] {
        let (q, k) = (upload(dev, qh)?, upload(dev, &kh)?);
        let (q1, k1) = (nan_bf16(dev, qh.len())?, nan_bf16(dev, kh.len())?);
        let (dq, dk) = (upload(dev, qh)?, upload(dev, &kh)?);
        let name = if backward {
            rope_bwd_bf16(dev, &q1, &q, pos, inv, hq)?;
            rope_bwd_bf16(dev, &k1, &k, pos, inv, hkv)?;
            rope_qk_bwd_bf16(dev, &dq, &dk, pos, inv, hq, hkv)?;
            "rope_qk_bwd_bf16"
        } else {
            rope_fwd_bf16(dev, &q1, &q, pos, inv, hq)?;
            rope_fwd_bf16(dev, &k1, &k, pos, inv, hkv)?;
            rope_qk_fwd_bf16(dev, &dq, &dk, pos, inv, hq, hkv)?;
            "rope_qk_fwd_bf16"
        };
        let want: Vec<f32> = [download_bf16(dev, &q1)?, download_bf16(dev, &k1)?].concat();
        let got: Vec<f32> = [download_bf16(dev, &dq)?, download_bf16(dev, &dk)?].concat();
        rows.push(compare(
            name,
            &format!("{shape} = rung 1"),
            &got,
            &want,
            0.0,
        ));
    }
    Ok(rows)
}
