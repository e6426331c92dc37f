//! Launchers for kernels/attention.cu: causal GQA attention over packed variable-length
//! sequences (forward and backward), same layout and semantics as
//! `backend::cpu::attention` (q/o [N, Hq·D], k/v [N, Hkv·D], lse [N, Hq]).
use super::device::{alloc, upload, DevBuf, KernelArgs, KernelDevice, LaunchCfg};
use crate::backend::cpu::attention::AttnDims;
use anyhow::{bail, Result};
use half::bf16;

/// Threads per CTA of every attention kernel (ATT_THREADS).
const THREADS: u32 = 128;
/// Largest head dimension the kernels hold in registers / shared memory (ATT_MAX_D).
pub const MAX_HEAD_DIM: usize = 128;
const FWD_BQ: usize = 16;
const FWD_BK: usize = 32;
const BWD_BQ: usize = 16;
const BWD_BK: usize = 16;

/// Packed sequences (first row, length) on the host and as an int32 [nseq][2] device array.
pub struct AttnSeqs {
    pub host: Vec<(usize, usize)>,
    pub dev: DevBuf<i32>,
    pub max_len: usize,
    /// Rows covered: the end of the last-ending sequence.
    pub rows: usize,
}

impl AttnSeqs {
    pub fn upload(dev: &dyn KernelDevice, seqs: &[(usize, usize)]) -> Result<Self> {
        if seqs.is_empty() {
            bail!("attention: no sequences");
        }
        let mut flat = Vec::with_capacity(2 * seqs.len());
        for &(start, len) in seqs {
            if start + len > i32::MAX as usize {
                bail!("attention: sequence ({start}, {len}) does not fit int32 rows");
            }
            flat.push(start as i32);
            flat.push(len as i32);
        }
        if seqs.len() > 65_535 {
            bail!(
                "attention: {} sequences exceed the grid's z limit",
                seqs.len()
            );
        }
        Ok(AttnSeqs {
            host: seqs.to_vec(),
            dev: upload(dev, &flat)?,
            max_len: seqs.iter().map(|s| s.1).max().unwrap_or(0),
            rows: seqs.iter().map(|s| s.0 + s.1).max().unwrap_or(0),
        })
    }
}

pub(crate) fn check_dims(what: &str, dims: AttnDims) -> Result<()> {
    let AttnDims {
        n_q_heads,
        n_kv_heads,
        head_dim,
    } = dims;
    if head_dim == 0 || head_dim > MAX_HEAD_DIM {
        bail!("{what}: head_dim {head_dim} is outside 1..={MAX_HEAD_DIM}");
    }
    if n_kv_heads == 0 || n_q_heads == 0 || !n_q_heads.is_multiple_of(n_kv_heads) {
        bail!("{what}: {n_q_heads} query heads are not a multiple of {n_kv_heads} kv heads");
    }
    Ok(())
}

/// Checks `buf` holds `rows` rows of `width` and that every sequence lies inside.
fn check_rows<T: super::device::DevElem>(
    what: &str,
    name: &str,
    buf: &DevBuf<T>,
    width: usize,
    seqs_rows: usize,
) -> Result<usize> {
    if width == 0 || !buf.len().is_multiple_of(width) {
        bail!(
            "{what}: {name} has {} elements, not whole rows of {width}",
            buf.len()
        );
    }
    let rows = buf.len() / width;
    if seqs_rows > rows {
        bail!("{what}: sequences reach row {seqs_rows} but {name} has {rows} rows");
    }
    Ok(rows)
}

fn scale(dims: AttnDims) -> f32 {
    dims.scale()
}

/// Shared-memory floats of the forward (Q, K padded, V, P, row stats).
fn fwd_smem(d: usize) -> u32 {
    ((FWD_BQ * d + FWD_BK * (d + 1) + FWD_BK * d + FWD_BQ * FWD_BK + 3 * FWD_BQ) * 4) as u32
}

/// Shared-memory floats of both backward kernels (K, V, Q, dO padded; P, dS; lse, delta).
fn bwd_smem(d: usize) -> u32 {
    ((2 * BWD_BK * (d + 1) + 2 * BWD_BQ * (d + 1) + 2 * BWD_BQ * BWD_BK + 2 * BWD_BQ) * 4) as u32
}

fn grid(tiles: usize, heads: usize, nseq: usize) -> [u32; 3] {
    [tiles.max(1) as u32, heads as u32, nseq as u32]
}

/// Forward: writes out [N, Hq·D] (bf16) and lse [N, Hq] (f32) for every row of every sequence.
#[allow(clippy::too_many_arguments)]
pub fn attn_fwd_bf16(
    dev: &dyn KernelDevice,
    out: &DevBuf<bf16>,
    lse: &DevBuf<f32>,
    q: &DevBuf<bf16>,
    k: &DevBuf<bf16>,
    v: &DevBuf<bf16>,
    seqs: &AttnSeqs,
    dims: AttnDims,
) -> Result<()> {
    const W: &str = "attn_fwd_bf16";
    check_dims(W, dims)?;
    let (hq, hkv, d) = (dims.n_q_heads, dims.n_kv_heads, dims.head_dim);
    let n = check_rows(W, "q", q, hq * d, seqs.rows)?;
    for (name, b) in [("k", k), ("v", v)] {
        if check_rows(W, name, b, hkv * d, seqs.rows)? != n {
            bail!("{W}: {name} has a different row count than q ({n})");
        }
    }
    if out.len() != q.len() || lse.len() != n * hq {
        bail!(
            "{W}: out/lse have {}/{} elements, want {}/{}",
            out.len(),
            lse.len(),
            q.len(),
            n * hq
        );
    }
    let mut a = KernelArgs::new();
    a.buf(out).buf(lse).buf(q).buf(k).buf(v).buf(&seqs.dev);
    a.i32(hq as i32)
        .i32(hkv as i32)
        .i32(d as i32)
        .f32(scale(dims));
    let cfg = LaunchCfg {
        grid: grid(seqs.max_len.div_ceil(FWD_BQ), hq, seqs.host.len()),
        block: [THREADS, 1, 1],
        smem_bytes: fwd_smem(d),
    };
    dev.launch(W, &cfg, &mut a)
}

/// delta[t, h] = Σ_c dout·out, the backward's row statistic (f32 [N, Hq]).
pub fn attn_bwd_delta_bf16(
    dev: &dyn KernelDevice,
    delta: &DevBuf<f32>,
    dout: &DevBuf<bf16>,
    out: &DevBuf<bf16>,
    head_dim: usize,
) -> Result<()> {
    const W: &str = "attn_bwd_delta_bf16";
    if head_dim == 0 || dout.len() != out.len() || dout.len() != delta.len() * head_dim {
        bail!(
            "{W}: dout/out/delta have {}/{}/{} elements for head_dim {head_dim}",
            dout.len(),
            out.len(),
            delta.len()
        );
    }
    let rows = delta.len();
    let warps = THREADS as usize / 32;
    let blocks = rows.div_ceil(warps).clamp(1, 4096) as u32;
    let mut a = KernelArgs::new();
    a.buf(delta)
        .buf(dout)
        .buf(out)
        .i64(rows as i64)
        .i32(head_dim as i32);
    dev.launch(W, &LaunchCfg::linear(blocks, THREADS, 0), &mut a)
}

/// Gradients of the forward (the saved `out` and `lse` are its outputs). Deterministic: dk/dv
/// sum over the group's query heads and the query tiles in a fixed order, dq over key tiles.
#[allow(clippy::too_many_arguments)]
pub fn attn_bwd_bf16(
    dev: &dyn KernelDevice,
    dq: &DevBuf<bf16>,
    dk: &DevBuf<bf16>,
    dv: &DevBuf<bf16>,
    dout: &DevBuf<bf16>,
    q: &DevBuf<bf16>,
    k: &DevBuf<bf16>,
    v: &DevBuf<bf16>,
    out: &DevBuf<bf16>,
    lse: &DevBuf<f32>,
    seqs: &AttnSeqs,
    dims: AttnDims,
) -> Result<()> {
    const W: &str = "attn_bwd_bf16";
    check_dims(W, dims)?;
    let (hq, hkv, d) = (dims.n_q_heads, dims.n_kv_heads, dims.head_dim);
    let n = check_rows(W, "q", q, hq * d, seqs.rows)?;
    for (name, b) in [("dq", dq), ("dout", dout), ("out", out)] {
        if b.len() != q.len() {
            bail!("{W}: {name} has {} elements, q has {}", b.len(), q.len());
        }
    }
    for (name, b) in [("k", k), ("v", v), ("dk", dk), ("dv", dv)] {
        if b.len() != n * hkv * d {
            bail!("{W}: {name} has {} elements, want {}", b.len(), n * hkv * d);
        }
    }
    if lse.len() != n * hq {
        bail!("{W}: lse has {} elements, want {}", lse.len(), n * hq);
    }
    let delta = alloc::<f32>(dev, n * hq)?;
    attn_bwd_delta_bf16(dev, &delta, dout, out, d)?;
    let smem = bwd_smem(d);
    let nseq = seqs.host.len();

    let mut a = KernelArgs::new();
    a.buf(dk).buf(dv).buf(dout).buf(q).buf(k).buf(v).buf(lse);
    a.buf(&delta).buf(&seqs.dev);
    a.i32(hq as i32)
        .i32(hkv as i32)
        .i32(d as i32)
        .f32(scale(dims));
    let cfg = LaunchCfg {
        grid: grid(seqs.max_len.div_ceil(BWD_BK), hkv, nseq),
        block: [THREADS, 1, 1],
        smem_bytes: smem,
    };
    dev.launch("attn_bwd_dkdv_bf16", &cfg, &mut a)?;

    let mut a = KernelArgs::new();
    a.buf(dq).buf(dout).buf(q).buf(k).buf(v).buf(lse);
    a.buf(&delta).buf(&seqs.dev);
    a.i32(hq as i32)
        .i32(hkv as i32)
        .i32(d as i32)
        .f32(scale(dims));
    let cfg = LaunchCfg {
        grid: grid(seqs.max_len.div_ceil(BWD_BQ), hq, nseq),
        block: [THREADS, 1, 1],
        smem_bytes: smem,
    };
    dev.launch("attn_bwd_dq_bf16", &cfg, &mut a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_memory_fits_the_default_limit_at_the_largest_head_dim() {
        assert!(fwd_smem(MAX_HEAD_DIM) <= 48 * 1024);
        assert!(bwd_smem(MAX_HEAD_DIM) <= 48 * 1024);
    }

    #[test]
    fn dims_are_validated() {
        let ok = AttnDims {
            n_q_heads: 9,
            n_kv_heads: 3,
            head_dim: 128,
        };
        assert!(check_dims("t", ok).is_ok());
        assert!(check_dims(
            "t",
            AttnDims {
                head_dim: 129,
                ..ok
            }
        )
        .is_err());
        assert!(check_dims(
            "t",
            AttnDims {
                n_kv_heads: 2,
                ..ok
            }
        )
        .is_err());
    }
}
