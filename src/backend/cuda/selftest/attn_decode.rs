//! kernels/attn_decode.cu: the rungs of the decode step over a KV cache against
//! `backend::cpu::attention::attend_head` (inputs rounded to bf16 first, outputs pre-filled with
//! NaN so an unwritten element fails). The caches are laid out like the generation cache's slot
//! pool: each sequence owns `slot · max_len ..`, slots in a shuffled order with unused rows
//! between them. Rungs 2 and 3 must also give bit-identical results for a sequence alone and
//! inside a batch (their chunking depends on nothing but the sequence), and rung 3 the bits of
//! the training forward (attention rung 5) at each sequence's last position. The KV append must write exactly
//! the new rows and leave every other cache row alone; the fused RoPE + append must match
//! `backend::cpu::rope::rope_append` and give the same bits as `rope_fwd_bf16` then the append.
use super::super::attention::{attn_fwd_bf16_rung, AttnRung, AttnSeqs};
use super::super::attn_decode::{
    attn_decode_append_bf16, attn_decode_bf16, attn_decode_rope_append_bf16, attn_decode_split,
    attn_decode_tiles, attn_decode_tiles_fold, split_supports, tiles_fold_kernel, tiles_kernel,
    Rung, SplitScratch, StepQkv, CHUNK, TILE,
};
use super::super::device::{download, filled, upload, DevBuf, KernelDevice};
use super::super::rope::rope_fwd_bf16;
use super::{bf16_inputs, compare, nan_bf16, CheckRow, Checks, ShapeSet, TOL_BF16, TOL_GEMM};
use crate::backend::cpu::attention::{attend_head, gather_head, AttnDims};
use crate::backend::cpu::rope::rope_append;
use crate::rng::SplitMix64;
use anyhow::{bail, Result};
use half::bf16;

/// One decode problem: the cached length of each sequence and the head layout.
#[derive(Clone, Debug)]
pub struct DecodeCase {
    pub lens: Vec<usize>,
    pub dims: AttnDims,
}

impl DecodeCase {
    pub fn new(lens: &[usize], n_q_heads: usize, n_kv_heads: usize, head_dim: usize) -> Self {
        DecodeCase {
            lens: lens.to_vec(),
            dims: AttnDims {
                n_q_heads,
                n_kv_heads,
                head_dim,
            },
        }
    }
    pub fn label(&self) -> String {
        let d = self.dims;
        format!(
            "lens{:?} h{}/{} d{}",
            self.lens, d.n_q_heads, d.n_kv_heads, d.head_dim
        )
    }
    /// Rows reserved per slot (the longest sequence rounded up, plus slack).
    fn max_len(&self) -> usize {
        self.lens.iter().max().copied().unwrap_or(1) + 3
    }
    /// (first row, length) per sequence: sequence i in slot (i · 5 + 2) mod B of a pool of B + 1
    /// slots, so slots are out of order and one stays unused.
    fn seqs(&self) -> Vec<(usize, usize)> {
        let b = self.lens.len();
        self.lens
            .iter()
            .enumerate()
            .map(|(i, &l)| (((i * 5 + 2) % (b + 1)) * self.max_len(), l))
            .collect()
    }
    fn rows(&self) -> usize {
        (self.lens.len() + 1) * self.max_len()
    }
}

/// Small cases for the emulator (GQA 1..9 heads per kv head, D not a power of two, a 1-key cache,
/// several chunks and tiles, a group wider than one rung-3 CTA); the model shapes on a GPU.
pub fn cases(set: ShapeSet) -> Vec<DecodeCase> {
    let (c, t) = (CHUNK, TILE);
    match set {
        ShapeSet::Small => vec![
            DecodeCase::new(&[1, 17, 3], 4, 4, 16),
            DecodeCase::new(&[33, 5, 2 * c + 7], 6, 2, 64),
            DecodeCase::new(&[2, 19], 7, 1, 40),
            DecodeCase::new(&[c, c + 1, 9], 18, 2, 8),
            DecodeCase::new(&[3, 12], 4, 2, 20),
            DecodeCase::new(&[t, t + 1, 2 * t - 1], 3, 3, 128),
            DecodeCase::new(&[5, 70], 66, 1, 24),
        ],
        ShapeSet::Full => vec![
            DecodeCase::new(&[1, 3, 17, 33, 65], 4, 4, 16),
            DecodeCase::new(&[1, 300, 77, 512], 9, 3, 64),
            DecodeCase::new(&[129, 1, 400, 1024], 12, 2, 128),
            DecodeCase::new(&[256, 3, 2000], 28, 4, 128),
        ],
    }
}

pub fn run(c: &mut Checks) {
    if !c.wants("attn_decode") {
        return;
    }
    for case in cases(c.set) {
        let shape = case.label();
        c.check("attn_decode_bf16", &shape, |dev, rng| {
            check_case(dev, rng, &case, Rung::PerHead)
        });
        if split_supports(case.dims) {
            c.check("attn_decode_split_bf16", &shape, |dev, rng| {
                check_case(dev, rng, &case, Rung::Split)
            });
        }
        c.check(tiles_kernel(case.dims.head_dim), &shape, |dev, rng| {
            check_case(dev, rng, &case, Rung::Tiles)
        });
        c.check(tiles_fold_kernel(case.dims.head_dim), &shape, |dev, rng| {
            check_case(dev, rng, &case, Rung::TilesFold)
        });
        c.check("attn_decode_append_bf16", &shape, |dev, rng| {
            check_append(dev, rng, &case)
        });
    }
    for case in rope_append_cases(c.set) {
        let shape = case.label();
        c.check("attn_decode_rope_append_bf16", &shape, |dev, rng| {
            check_rope_append(dev, rng, &case)
        });
    }
}

/// The fused RoPE + append at head dims 24/64/128, GQA groups 1..4, rows at different positions
/// and a row at position 0 (a 1-key sequence).
fn rope_append_cases(set: ShapeSet) -> Vec<DecodeCase> {
    let mut v = vec![
        DecodeCase::new(&[1, 17, 3], 6, 2, 24),
        DecodeCase::new(&[33, 1, 5, 2], 8, 2, 64),
        DecodeCase::new(&[2, 1, 9], 4, 1, 128),
        DecodeCase::new(&[7], 3, 3, 24),
    ];
    if set == ShapeSet::Full {
        v.extend([
            DecodeCase::new(&[1, 300, 77, 512], 9, 3, 64),
            DecodeCase::new(&[256, 1, 2000], 28, 4, 128),
        ]);
    }
    v
}

/// The fused RoPE + KV append against the CPU reference, and bit for bit against the unfused
/// path (`rope_fwd_bf16` on q and k, then `attn_decode_append_bf16`) on the same inputs, with
/// q/k/v in three buffers and packed as one GEMM's [q | k | v] rows.
pub fn check_rope_append(
    dev: &dyn KernelDevice,
    rng: &mut SplitMix64,
    case: &DecodeCase,
) -> Result<Vec<CheckRow>> {
    const W: &str = "attn_decode_rope_append_bf16";
    let shape = format!("rope append {}", case.label());
    let dims = case.dims;
    let (hq, hkv, d) = (dims.n_q_heads, dims.n_kv_heads, dims.head_dim);
    let width = hkv * d;
    let seqs = case.seqs();
    let b = seqs.len();
    let (k0, k0h) = bf16_inputs(rng, case.rows() * width, -2.0, 2.0);
    let (v0, v0h) = bf16_inputs(rng, case.rows() * width, -2.0, 2.0);
    let (q, qh) = bf16_inputs(rng, b * hq * d, -2.0, 2.0);
    let (kn, knh) = bf16_inputs(rng, b * width, -2.0, 2.0);
    let (vn, vnh) = bf16_inputs(rng, b * width, -2.0, 2.0);
    let inv: Vec<f32> = (0..d / 2)
        .map(|i| 10_000f32.powf(-2.0 * i as f32 / d as f32))
        .collect();
    let cache = AttnSeqs::upload(dev, &seqs)?;
    let inv_dev = upload(dev, &inv)?;
    let (kc, vc, qb) = (upload(dev, &k0h)?, upload(dev, &v0h)?, upload(dev, &qh)?);
    let (knb, vnb) = (upload(dev, &knh)?, upload(dev, &vnh)?);
    let separate = StepQkv::Separate {
        q: &qb,
        k: &knb,
        v: &vnb,
    };
    attn_decode_rope_append_bf16(dev, separate, &kc, &vc, &cache, &inv_dev, dims)?;
    let f = |v: Vec<bf16>| v.iter().map(|x| x.to_f32()).collect::<Vec<_>>();
    let (got_q, got_k, got_v) = (
        f(download(dev, &qb)?),
        f(download(dev, &kc)?),
        f(download(dev, &vc)?),
    );
    let (mut want_q, mut want_k, mut want_v) = (q, k0, v0);
    rope_append(
        &mut want_q,
        &mut want_k,
        &mut want_v,
        &kn,
        &vn,
        &seqs,
        &inv,
        hq,
        hkv,
    );
    // The unfused path on the same inputs.
    let (kc1, vc1, q1) = (upload(dev, &k0h)?, upload(dev, &v0h)?, upload(dev, &qh)?);
    let kn1 = upload(dev, &knh)?;
    let pos: Vec<i32> = seqs.iter().map(|&(_, len)| len as i32 - 1).collect();
    let pos = upload(dev, &pos)?;
    rope_fwd_bf16(dev, &q1, &q1, &pos, &inv_dev, hq)?;
    rope_fwd_bf16(dev, &kn1, &kn1, &pos, &inv_dev, hkv)?;
    attn_decode_append_bf16(dev, &kc1, &vc1, &kn1, &vnb, &cache, width)?;
    // The packed layout: row b = [q_b | k_b | v_b].
    let qd = hq * d;
    let packed: Vec<bf16> = (0..b)
        .flat_map(|r| {
            let q = &qh[r * qd..(r + 1) * qd];
            let k = &knh[r * width..(r + 1) * width];
            let v = &vnh[r * width..(r + 1) * width];
            q.iter().chain(k).chain(v).copied().collect::<Vec<_>>()
        })
        .collect();
    let (kc2, vc2) = (upload(dev, &k0h)?, upload(dev, &v0h)?);
    let (qkv, q_out) = (upload(dev, &packed)?, nan_bf16(dev, b * qd)?);
    let packed = StepQkv::Packed {
        qkv: &qkv,
        q_out: &q_out,
    };
    attn_decode_rope_append_bf16(dev, packed, &kc2, &vc2, &cache, &inv_dev, dims)?;
    let name = |what: &str| format!("{W} {what}");
    let exact =
        |what: &str, got: &[f32], want: Vec<f32>| compare(&name(what), &shape, got, &want, 0.0);
    Ok(vec![
        compare(&name("q"), &shape, &got_q, &want_q, TOL_BF16),
        compare(&name("k cache"), &shape, &got_k, &want_k, TOL_BF16),
        compare(&name("v cache"), &shape, &got_v, &want_v, 0.0),
        exact("q = unfused", &got_q, f(download(dev, &q1)?)),
        exact("k cache = unfused", &got_k, f(download(dev, &kc1)?)),
        exact("v cache = unfused", &got_v, f(download(dev, &vc1)?)),
        exact("packed q = unfused", &got_q, f(download(dev, &q_out)?)),
        exact("packed k cache = unfused", &got_k, f(download(dev, &kc2)?)),
        exact("packed v cache = unfused", &got_v, f(download(dev, &vc2)?)),
    ])
}

/// The KV append of one decode step: every sequence's new K/V row lands at its last position,
/// and no other row of the caches changes.
pub fn check_append(
    dev: &dyn KernelDevice,
    rng: &mut SplitMix64,
    case: &DecodeCase,
) -> Result<Vec<CheckRow>> {
    let shape = format!("append {}", case.label());
    let width = case.dims.n_kv_heads * case.dims.head_dim;
    let seqs = case.seqs();
    let b = seqs.len();
    let (k0, k0h) = bf16_inputs(rng, case.rows() * width, -2.0, 2.0);
    let (v0, v0h) = bf16_inputs(rng, case.rows() * width, -2.0, 2.0);
    let (kn, knh) = bf16_inputs(rng, b * width, -2.0, 2.0);
    let (vn, vnh) = bf16_inputs(rng, b * width, -2.0, 2.0);
    let (kc, vc) = (upload(dev, &k0h)?, upload(dev, &v0h)?);
    let cache = AttnSeqs::upload(dev, &seqs)?;
    let (knb, vnb) = (upload(dev, &knh)?, upload(dev, &vnh)?);
    attn_decode_append_bf16(dev, &kc, &vc, &knb, &vnb, &cache, width)?;
    let (mut want_k, mut want_v) = (k0, v0);
    for (i, &(start, len)) in seqs.iter().enumerate() {
        let row = (start + len - 1) * width;
        want_k[row..row + width].copy_from_slice(&kn[i * width..(i + 1) * width]);
        want_v[row..row + width].copy_from_slice(&vn[i * width..(i + 1) * width]);
    }
    let f = |v: Vec<bf16>| v.iter().map(|x| x.to_f32()).collect::<Vec<_>>();
    Ok(vec![
        compare(
            "attn_decode_append_bf16 k",
            &shape,
            &f(download(dev, &kc)?),
            &want_k,
            0.0,
        ),
        compare(
            "attn_decode_append_bf16 v",
            &shape,
            &f(download(dev, &vc)?),
            &want_v,
            0.0,
        ),
    ])
}

/// The decode inputs of one case on the host and the device.
struct Inputs {
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    qb: DevBuf<bf16>,
    kb: DevBuf<bf16>,
    vb: DevBuf<bf16>,
}

fn inputs(dev: &dyn KernelDevice, rng: &mut SplitMix64, case: &DecodeCase) -> Result<Inputs> {
    let AttnDims {
        n_q_heads: hq,
        n_kv_heads: hkv,
        head_dim: d,
    } = case.dims;
    let b = case.lens.len();
    let (q, qh) = bf16_inputs(rng, b * hq * d, -2.0, 2.0);
    let (k, kh) = bf16_inputs(rng, case.rows() * hkv * d, -2.0, 2.0);
    let (v, vh) = bf16_inputs(rng, case.rows() * hkv * d, -1.0, 1.0);
    Ok(Inputs {
        qb: upload(dev, &qh)?,
        kb: upload(dev, &kh)?,
        vb: upload(dev, &vh)?,
        q,
        k,
        v,
    })
}

/// The CPU reference: out [B, Hq·D] and lse [B, Hq].
fn reference(case: &DecodeCase, x: &Inputs) -> (Vec<f32>, Vec<f32>) {
    let dims = case.dims;
    let (hq, hkv, d) = (dims.n_q_heads, dims.n_kv_heads, dims.head_dim);
    let b = case.lens.len();
    let mut want_o = vec![0.0f32; b * hq * d];
    let mut want_lse = vec![0.0f32; b * hq];
    for (s, &(start, len)) in case.seqs().iter().enumerate() {
        for h in 0..hq {
            let g = h / dims.group();
            let qrow = &x.q[(s * hq + h) * d..(s * hq + h + 1) * d];
            let kg = gather_head(&x.k, hkv, d, g, start, len);
            let vg = gather_head(&x.v, hkv, d, g, start, len);
            let (o, l) = attend_head(qrow, &kg, &vg, 1, len, d, dims.scale());
            want_o[(s * hq + h) * d..(s * hq + h + 1) * d].copy_from_slice(&o);
            want_lse[s * hq + h] = l[0];
        }
    }
    (want_o, want_lse)
}

/// Runs `rung` on `seqs` (rows into the case's caches) with q rows `q`; returns out and lse.
fn run_rung(
    dev: &dyn KernelDevice,
    case: &DecodeCase,
    x: &Inputs,
    q: &DevBuf<bf16>,
    seqs: &[(usize, usize)],
    rung: Rung,
) -> Result<(Vec<bf16>, Vec<f32>)> {
    let dims = case.dims;
    let b = seqs.len();
    let cache = AttnSeqs::upload(dev, seqs)?;
    let o = filled(dev, b * dims.n_q_heads * dims.head_dim, bf16::NAN)?;
    let lse = filled(dev, b * dims.n_q_heads, f32::NAN)?;
    match rung {
        Rung::PerHead => attn_decode_bf16(dev, &o, &lse, q, &x.kb, &x.vb, &cache, dims)?,
        Rung::Split => {
            let scratch = SplitScratch::alloc(dev, b, case.max_len(), dims)?;
            attn_decode_split(dev, &o, &lse, q, &x.kb, &x.vb, &cache, &scratch, dims)?
        }
        Rung::Tiles => {
            let scratch = SplitScratch::alloc_for(dev, rung, b, case.max_len(), dims)?;
            attn_decode_tiles(dev, &o, &lse, q, &x.kb, &x.vb, &cache, &scratch, dims)?
        }
        Rung::TilesFold => {
            // Twice on one scratch into NaN-filled outputs: the second launch must find every
            // count back at zero (else no CTA folds and the NaNs stay) and give the same bits.
            let scratch = SplitScratch::alloc_for(dev, rung, b, case.max_len(), dims)?;
            attn_decode_tiles_fold(dev, &o, &lse, q, &x.kb, &x.vb, &cache, &scratch, dims)?;
            let first = (download(dev, &o)?, download(dev, &lse)?);
            let (o, lse) = (
                filled(dev, o.len(), bf16::NAN)?,
                filled(dev, lse.len(), f32::NAN)?,
            );
            attn_decode_tiles_fold(dev, &o, &lse, q, &x.kb, &x.vb, &cache, &scratch, dims)?;
            let second = (download(dev, &o)?, download(dev, &lse)?);
            let counts = download(dev, &scratch.counters)?;
            if bit_diffs(&first.0, &first.1, &second.0, &second.1) > 0
                || counts.iter().any(|&c| c != 0)
            {
                bail!("a second launch on the same scratch differs (counts left: {counts:?})");
            }
            return Ok(first);
        }
    }
    Ok((download(dev, &o)?, download(dev, &lse)?))
}

/// The training forward on attention rung `fwd` over the case's caches as packed sequences, with
/// each sequence's decode query at its last position and random queries before it: out and lse
/// of those last positions, [B, Hq·D] and [B, Hq].
fn forward_last_rows(
    dev: &dyn KernelDevice,
    rng: &mut SplitMix64,
    case: &DecodeCase,
    x: &Inputs,
    fwd: AttnRung,
) -> Result<(Vec<bf16>, Vec<f32>)> {
    let decode_q = download(dev, &x.qb)?;
    let dims = case.dims;
    let (hq, d) = (dims.n_q_heads, dims.head_dim);
    let seqs = case.seqs();
    let (_, mut qh) = bf16_inputs(rng, case.rows() * hq * d, -2.0, 2.0);
    for (i, &(start, len)) in seqs.iter().enumerate() {
        let row = (start + len - 1) * hq * d;
        qh[row..row + hq * d].copy_from_slice(&decode_q[i * hq * d..(i + 1) * hq * d]);
    }
    let packed = AttnSeqs::upload(dev, &seqs)?;
    let q = upload(dev, &qh)?;
    let o = filled(dev, case.rows() * hq * d, bf16::NAN)?;
    let lse = filled(dev, case.rows() * hq, f32::NAN)?;
    attn_fwd_bf16_rung(fwd, dev, &o, &lse, &q, &x.kb, &x.vb, &packed, dims)?;
    let (o, lse) = (download(dev, &o)?, download(dev, &lse)?);
    let mut out = Vec::with_capacity(seqs.len() * hq * d);
    let mut out_lse = Vec::with_capacity(seqs.len() * hq);
    for &(start, len) in &seqs {
        let row = start + len - 1;
        out.extend_from_slice(&o[row * hq * d..(row + 1) * hq * d]);
        out_lse.extend_from_slice(&lse[row * hq..(row + 1) * hq]);
    }
    Ok((out, out_lse))
}

/// Outputs (out and lse elements) where decode rung 3 and the training forward on attention rung
/// `fwd` differ bitwise at each sequence's last position, of how many: 0 for rung 5 (the device
/// model's pair), some for the online-softmax rung 3.
pub fn tiles_vs_forward(
    dev: &dyn KernelDevice,
    rng: &mut SplitMix64,
    case: &DecodeCase,
    fwd: AttnRung,
) -> Result<(usize, usize)> {
    let x = inputs(dev, rng, case)?;
    let (o, lse) = run_rung(dev, case, &x, &x.qb, &case.seqs(), Rung::Tiles)?;
    let (fo, fl) = forward_last_rows(dev, rng, case, &x, fwd)?;
    Ok((bit_diffs(&o, &lse, &fo, &fl), o.len() + lse.len()))
}

fn bit_diffs(o: &[bf16], lse: &[f32], fo: &[bf16], fl: &[f32]) -> usize {
    let n = o.iter().zip(fo).filter(|(a, b)| a.to_bits() != b.to_bits());
    let m = lse
        .iter()
        .zip(fl)
        .filter(|(a, b)| a.to_bits() != b.to_bits());
    n.count() + m.count()
}

/// One rung on one case against the CPU; rung 2 also runs every sequence alone and must match
/// its in-batch result bit for bit.
pub fn check_case(
    dev: &dyn KernelDevice,
    rng: &mut SplitMix64,
    case: &DecodeCase,
    rung: Rung,
) -> Result<Vec<CheckRow>> {
    let name = match rung {
        Rung::PerHead => "attn_decode_bf16",
        Rung::Split => "attn_decode_split_bf16",
        Rung::Tiles => tiles_kernel(case.dims.head_dim),
        Rung::TilesFold => tiles_fold_kernel(case.dims.head_dim),
    };
    let shape = format!("decode {}", case.label());
    let x = inputs(dev, rng, case)?;
    let (want_o, want_lse) = reference(case, &x);
    let seqs = case.seqs();
    let (o, lse) = run_rung(dev, case, &x, &x.qb, &seqs, rung)?;
    let of: Vec<f32> = o.iter().map(|v| v.to_f32()).collect();
    let mut rows = vec![
        compare(&format!("{name} out"), &shape, &of, &want_o, TOL_BF16),
        compare(&format!("{name} lse"), &shape, &lse, &want_lse, TOL_GEMM),
    ];
    let bits = |v: &[bf16]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let bits32 = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    if matches!(rung, Rung::Tiles | Rung::TilesFold) {
        let (fo, fl) = forward_last_rows(dev, rng, case, &x, AttnRung::FORWARD)?;
        let mut row = compare(
            &format!("{name} = forward rung 5"),
            &shape,
            &[0.0],
            &[0.0],
            0.0,
        );
        let diff = bit_diffs(&o, &lse, &fo, &fl);
        if diff > 0 {
            row.pass = false;
            row.note = format!(
                "decode differs bitwise from the training forward's last positions ({diff} of {} out and lse elements)",
                o.len() + lse.len()
            );
        }
        rows.push(row);
    }
    if rung != Rung::PerHead {
        let (hq, d) = (case.dims.n_q_heads, case.dims.head_dim);
        let mut same = true;
        for (i, &s) in seqs.iter().enumerate() {
            let qi = x.qb.view(i * hq * d, hq * d)?;
            let (oi, li) = run_rung(dev, case, &x, &qi, &[s], rung)?;
            same &= bits(&oi) == bits(&o[i * hq * d..(i + 1) * hq * d])
                && bits32(&li) == bits32(&lse[i * hq..(i + 1) * hq]);
        }
        let mut row = compare(&format!("{name} alone"), &shape, &[0.0], &[0.0], 0.0);
        if !same {
            row.pass = false;
            row.note =
                "a sequence alone differs bitwise from the same sequence in the batch".into();
        }
        rows.push(row);
    }
    Ok(rows)
}
