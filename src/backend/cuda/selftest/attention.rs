//! kernels/attention.cu: the varlen causal forward and its backward (delta, dK/dV, dQ) on every
//! rung of the ladder, against `backend::cpu::attention`
//! (inputs rounded to bf16 first, outputs pre-filled with NaN so an unwritten element fails).
//! Rung 6 (sm_90a) also on shapes of its own (GQA groups that do not divide its 128-row blocks,
//! sequences off multiples of 64, a block with one consumer idle), bit for bit against rung 5
//! (`= r5` rows), and with a planted consumer that skips the K full-barrier wait, which must fail.
use super::super::attention::{self as att, AttnRung, AttnSeqs};
use super::super::device::{download, filled, upload, KernelDevice};
use super::{bf16_inputs, compare, download_bf16, CheckRow, Checks, ShapeSet, TOL_BF16, TOL_GEMM};
use crate::backend::cpu::attention::{attention_bwd, attention_fwd, AttnDims};
use crate::backend::cuda::device::DevBuf;
use crate::rng::SplitMix64;
use anyhow::Result;
use half::bf16;

/// One attention problem: packed sequence lengths and head shapes.
#[derive(Clone, Debug)]
pub struct AttnCase {
    pub lens: Vec<usize>,
    pub dims: AttnDims,
}

impl AttnCase {
    pub fn new(lens: &[usize], n_q_heads: usize, n_kv_heads: usize, head_dim: usize) -> Self {
        AttnCase {
            lens: lens.to_vec(),
            dims: AttnDims {
                n_q_heads,
                n_kv_heads,
                head_dim,
            },
        }
    }
    /// (first row, length) of each sequence, laid end to end.
    pub fn seqs(&self) -> Vec<(usize, usize)> {
        let mut start = 0;
        self.lens
            .iter()
            .map(|&l| {
                let s = (start, l);
                start += l;
                s
            })
            .collect()
    }
    pub fn rows(&self) -> usize {
        self.lens.iter().sum()
    }
    pub fn label(&self) -> String {
        let d = self.dims;
        format!(
            "lens{:?} h{}/{} d{}",
            self.lens, d.n_q_heads, d.n_kv_heads, d.head_dim
        )
    }
}

/// The cases `rlvr selftest` runs: small ones for the emulator (1-token sequences, several
/// 64-row tiles so the pipelines turn over, head dims off the buckets and off multiples of 8);
/// model layer shapes for a GPU (SmolLM2-135M 9/3×64, Qwen2.5-1.5B 12/2×128, Qwen2.5-7B
/// 28/4×128).
pub fn cases(set: ShapeSet) -> Vec<AttnCase> {
    match set {
        ShapeSet::Small => vec![
            AttnCase::new(&[1, 17, 3], 4, 4, 16),
            AttnCase::new(&[33, 5], 6, 2, 64),
            AttnCase::new(&[2, 19], 7, 1, 40),
            AttnCase::new(&[130, 1], 2, 1, 128),
            AttnCase::new(&[70, 9], 3, 1, 33),
            AttnCase::new(&[65], 2, 2, 96),
        ],
        ShapeSet::Full => vec![
            AttnCase::new(&[1, 3, 17, 33, 65], 4, 4, 16),
            AttnCase::new(&[1, 300, 77, 512], 9, 3, 64),
            AttnCase::new(&[129, 1, 400], 12, 2, 128),
            AttnCase::new(&[256, 3, 200], 28, 4, 128),
        ],
    }
}

/// Tolerances of the tensor-core rungs 2 and 3: P (and in the backward dS) enter the mma as
/// bf16, as in FlashAttention-2 (rung 4's forward, with P exact as three bf16 terms, meets
/// rung 1's). A float64 simulation of exactly that rounding moves the output by up to
/// 6e-3 and dV by up to 2.8e-2 of (|want| + rms) at 512 tokens, d 128: twice that, rounded up.
pub const TOL_ATTN_TC_FWD: f32 = 2e-2;
pub const TOL_ATTN_TC_BWD: f32 = 5e-2;

/// Rung 6's own cases: GQA groups of 3, 6 and 7 (packed rows of one position straddle block
/// and consumer edges), sequences off multiples of 64 and of 128 (the last block with one
/// consumer's rows only), MHA with several key tiles (unmasked tiles below the diagonal), at d 64
/// and 128; one at d 80, which launches rung 5.
pub fn wgmma_cases(set: ShapeSet) -> Vec<AttnCase> {
    match set {
        ShapeSet::Small => vec![
            AttnCase::new(&[150, 7], 7, 1, 64),
            AttnCase::new(&[129, 40], 4, 4, 128),
            AttnCase::new(&[70, 2], 12, 2, 128),
            AttnCase::new(&[200], 9, 3, 64),
            AttnCase::new(&[33], 2, 1, 80),
        ],
        ShapeSet::Full => vec![
            AttnCase::new(&[1, 300, 77, 512], 9, 3, 64),
            AttnCase::new(&[129, 1, 400], 12, 2, 128),
            AttnCase::new(&[256, 3, 1000], 28, 4, 128),
        ],
    }
}

pub fn run(c: &mut Checks) {
    let full = c.set == ShapeSet::Full;
    for case in cases(c.set) {
        let shape = case.label();
        let d = case.dims.head_dim;
        // rung 6 runs below, on a copy of the input stream
        for rung in AttnRung::ALL.into_iter().filter(|&r| r != AttnRung::Wgmma) {
            let kernels = [
                rung.fwd_kernel(d),
                rung.dkdv_kernel(d),
                rung.dq_kernel(d),
                "attn_bwd_delta_bf16",
            ];
            if kernels.iter().any(|k| c.wants(k)) {
                c.check(rung.fwd_kernel(d), &shape, |dev, rng| {
                    check_fwd_bwd(dev, rng, &case, rung, full)
                });
            }
        }
    }
    wgmma_checks(c);
}

/// Rung 6 on the ladder's cases and its own, then the planted bug. Its inputs come from a copy
/// of the stream, so that the ops checked after it see the inputs they saw before it existed.
fn wgmma_checks(c: &mut Checks) {
    let stream = c.rng.clone();
    // The full set's ladder cases are in wgmma_cases already.
    let mut list = if c.set == ShapeSet::Small {
        cases(c.set)
    } else {
        Vec::new()
    };
    list.extend(wgmma_cases(c.set));
    for case in list {
        let d = case.dims.head_dim;
        let kernel = AttnRung::Wgmma.fwd_rung_on(c.dev, d).fwd_kernel(d);
        if c.wants(kernel) || c.wants("attn_fwd_wgmma") {
            c.check(kernel, &case.label(), |dev, rng| {
                check_wgmma(dev, rng, &case)
            });
        }
    }
    if c.wants(PLANTED) {
        c.check(PLANTED, PLANTED_CASE_LABEL, planted_skip_k_wait);
    }
    c.rng = stream;
}

/// One forward on `rung` into NaN-filled outputs: (out, lse) downloaded.
fn forward(
    dev: &dyn KernelDevice,
    rung: AttnRung,
    (q, k, v): (&DevBuf<bf16>, &DevBuf<bf16>, &DevBuf<bf16>),
    seqs: &AttnSeqs,
    dims: AttnDims,
    n: usize,
) -> Result<(Vec<bf16>, Vec<f32>)> {
    let o = filled(dev, n * dims.n_q_heads * dims.head_dim, bf16::NAN)?;
    let lse = filled(dev, n * dims.n_q_heads, f32::NAN)?;
    att::attn_fwd_bf16_rung(rung, dev, &o, &lse, q, k, v, seqs, dims)?;
    Ok((download(dev, &o)?, download(dev, &lse)?))
}

/// Rung 6's forward against the CPU reference (rung 5's tolerances) and bit for bit against
/// rung 5 on the same inputs: the emulator's wgmma adds a k16 step's products in k order onto
/// the accumulator as its mma.sync does, and every other operation is rung 5's, so any
/// difference is a bug (tolerance 0). The buffers hold 64 rows of NaN past the sequences, which
/// neither rung may read.
fn check_wgmma(
    dev: &dyn KernelDevice,
    rng: &mut SplitMix64,
    case: &AttnCase,
) -> Result<Vec<CheckRow>> {
    let shape = case.label();
    let dims = case.dims;
    let (hq, hkv, d) = (dims.n_q_heads, dims.n_kv_heads, dims.head_dim);
    let kernel = AttnRung::Wgmma.fwd_rung_on(dev, d).fwd_kernel(d);
    let n = case.rows();
    let seq_list = case.seqs();
    let seqs = AttnSeqs::upload(dev, &seq_list)?;
    let [(q, qh), (k, kh), (v, vh)] = qkv_inputs(rng, n, dims);
    const PAD: usize = 64;
    let padded = |h: Vec<bf16>, width: usize| {
        let mut h = h;
        h.resize(h.len() + PAD * width, bf16::NAN);
        upload(dev, &h)
    };
    let bufs = (
        padded(qh, hq * d)?,
        padded(kh, hkv * d)?,
        padded(vh, hkv * d)?,
    );
    let bufs = (&bufs.0, &bufs.1, &bufs.2);
    let (want_o, want_lse) = attention_fwd(&q, &k, &v, &seq_list, dims);
    let (mut o6, mut l6) = forward(dev, AttnRung::Wgmma, bufs, &seqs, dims, n + PAD)?;
    let (mut o5, mut l5) = forward(dev, AttnRung::Fa2Merge, bufs, &seqs, dims, n + PAD)?;
    for o in [&mut o6, &mut o5] {
        o.truncate(n * hq * d);
    }
    for l in [&mut l6, &mut l5] {
        l.truncate(n * hq);
    }
    let o6f: Vec<f32> = o6.iter().map(|x| x.to_f32()).collect();
    let mut rows = vec![
        compare(
            &format!("r6 {kernel} out"),
            &shape,
            &o6f,
            &want_o,
            TOL_ATTN_TC_FWD,
        ),
        compare(
            &format!("r6 {kernel} lse"),
            &shape,
            &l6,
            &want_lse,
            TOL_GEMM,
        ),
    ];
    let d_o = o6
        .iter()
        .zip(&o5)
        .filter(|(a, b)| a.to_bits() != b.to_bits())
        .count();
    let d_l = l6
        .iter()
        .zip(&l5)
        .filter(|(a, b)| a.to_bits() != b.to_bits())
        .count();
    let mut row = compare(&format!("r6 {kernel} = r5"), &shape, &[0.0], &[0.0], 0.0);
    if d_o + d_l > 0 {
        row.pass = false;
        row.note = format!("{d_o} outputs and {d_l} lse values differ bitwise from rung 5");
    }
    rows.push(row);
    Ok(rows)
}

const PLANTED: &str = "planted_attn_wgmma_skip_k_wait";
const PLANTED_CASE_LABEL: &str = "lens[150, 7] h7/1 d64";

/// The planted kernel (emulator only) on a case it must get wrong: passes when its output does
/// not match the reference, or its launch fails.
fn planted_skip_k_wait(dev: &dyn KernelDevice, rng: &mut SplitMix64) -> Result<Vec<CheckRow>> {
    if dev.gpu().is_some() {
        return Ok(Vec::new());
    }
    let case = AttnCase::new(&[150, 7], 7, 1, 64);
    let dims = case.dims;
    let (hq, d) = (dims.n_q_heads, dims.head_dim);
    let n = case.rows();
    let seq_list = case.seqs();
    let seqs = AttnSeqs::upload(dev, &seq_list)?;
    let [(q, qh), (k, kh), (v, vh)] = qkv_inputs(rng, n, dims);
    let (dq, dk, dv) = (upload(dev, &qh)?, upload(dev, &kh)?, upload(dev, &vh)?);
    let (want_o, _) = attention_fwd(&q, &k, &v, &seq_list, dims);
    let o = filled(dev, n * hq * d, bf16::NAN)?;
    let lse = filled(dev, n * hq, f32::NAN)?;
    let launched = att::launch_fwd_wgmma(dev, PLANTED, (&o, &lse), (&dq, &dk, &dv), &seqs, dims, n);
    let (pass, note) = match launched {
        Err(e) => (true, format!("caught: the launch failed: {e:#}")),
        Ok(()) => {
            let row = compare(
                PLANTED,
                "",
                &download_bf16(dev, &o)?,
                &want_o,
                TOL_ATTN_TC_FWD,
            );
            if row.pass {
                (false, "the planted bug went unnoticed".to_string())
            } else {
                (true, format!("caught: {}", row.note))
            }
        }
    };
    Ok(vec![CheckRow {
        kernel: format!("{PLANTED} (must fail)"),
        shape: case.label(),
        max_abs: 0.0,
        max_rel: 0.0,
        tol: 0.0,
        pass,
        note,
    }])
}

/// Random q, k and v for `n` rows of `dims` (values and their bf16 bits), drawn in that order:
/// amplitude 2 for q and k makes the softmax peaked enough that masking mistakes show.
fn qkv_inputs(rng: &mut SplitMix64, n: usize, dims: AttnDims) -> [(Vec<f32>, Vec<bf16>); 3] {
    let (hq, hkv, d) = (dims.n_q_heads, dims.n_kv_heads, dims.head_dim);
    [
        bf16_inputs(rng, n * hq * d, -2.0, 2.0),
        bf16_inputs(rng, n * hkv * d, -2.0, 2.0),
        bf16_inputs(rng, n * hkv * d, -1.0, 1.0),
    ]
}

fn to_bf16(x: &[f32]) -> (Vec<f32>, Vec<bf16>) {
    let h: Vec<bf16> = x.iter().map(|&v| bf16::from_f32(v)).collect();
    (h.iter().map(|v| v.to_f32()).collect(), h)
}

/// Forward, the delta preprocessing and the backward of one case on one rung (rows named by
/// that rung's kernels; a rung without backward kernels of its own checks its forward only, 2
/// rows). With `twice`, the backward is run a second time and must give bit-identical
/// gradients (determinism; meaningful on a GPU).
pub fn check_fwd_bwd(
    dev: &dyn KernelDevice,
    rng: &mut SplitMix64,
    case: &AttnCase,
    rung: AttnRung,
    twice: bool,
) -> Result<Vec<CheckRow>> {
    let shape = case.label();
    let dims = case.dims;
    let (hq, hkv, d) = (dims.n_q_heads, dims.n_kv_heads, dims.head_dim);
    let (fwd, dkdv, dq) = (rung.fwd_kernel(d), rung.dkdv_kernel(d), rung.dq_kernel(d));
    let (tol_fwd, tol) = match rung {
        AttnRung::Simt => (TOL_BF16, TOL_BF16),
        AttnRung::Fa2Split => (TOL_BF16, TOL_ATTN_TC_BWD),
        _ => (TOL_ATTN_TC_FWD, TOL_ATTN_TC_BWD),
    };
    let n = case.rows();
    let seq_list = case.seqs();
    let seqs = AttnSeqs::upload(dev, &seq_list)?;
    let [(q, qh), (k, kh), (v, vh)] = qkv_inputs(rng, n, dims);
    let (dout, douth) = bf16_inputs(rng, n * hq * d, -1.0, 1.0);
    let (dq_b, dk_b, dv_b) = (upload(dev, &qh)?, upload(dev, &kh)?, upload(dev, &vh)?);

    let (want_o, want_lse) = attention_fwd(&q, &k, &v, &seq_list, dims);
    let o = filled(dev, n * hq * d, bf16::NAN)?;
    let lse = filled(dev, n * hq, f32::NAN)?;
    att::attn_fwd_bf16_rung(rung, dev, &o, &lse, &dq_b, &dk_b, &dv_b, &seqs, dims)?;
    let mut rows = vec![
        compare(
            &format!("{fwd} out"),
            &shape,
            &download_bf16(dev, &o)?,
            &want_o,
            tol_fwd,
        ),
        compare(
            &format!("{fwd} lse"),
            &shape,
            &download(dev, &lse)?,
            &want_lse,
            TOL_GEMM,
        ),
    ];
    if !rung.own_backward() {
        return Ok(rows);
    }

    // The backward gets the reference's forward outputs (rounded like the kernel's) so both
    // sides differentiate the same point.
    let (o_r, o_rh) = to_bf16(&want_o);
    let o_b = upload(dev, &o_rh)?;
    let lse_b = upload(dev, &want_lse)?;
    let dout_b = upload(dev, &douth)?;
    let want_delta: Vec<f32> = dout
        .chunks(d)
        .zip(o_r.chunks(d))
        .map(|(a, b)| {
            a.iter()
                .zip(b)
                .map(|(x, y)| *x as f64 * *y as f64)
                .sum::<f64>() as f32
        })
        .collect();
    // Every rung of the row statistic that runs at this head dim.
    for rung in 1..=att::delta_rung(d) {
        let delta = filled(dev, n * hq, f32::NAN)?;
        att::attn_bwd_delta_rung(dev, rung, &delta, &dout_b, &o_b, d)?;
        let kernel = ["attn_bwd_delta_bf16", "attn_bwd_delta_x8_bf16"][rung as usize - 1];
        let got = download(dev, &delta)?;
        rows.push(compare(kernel, &shape, &got, &want_delta, TOL_GEMM));
    }

    let (want_dq, want_dk, want_dv) =
        attention_bwd(&dout, &q, &k, &v, &o_r, &want_lse, &seq_list, dims);
    let run = || -> Result<(Vec<f32>, Vec<f32>, Vec<f32>)> {
        let dq = filled(dev, n * hq * d, bf16::NAN)?;
        let dk = filled(dev, n * hkv * d, bf16::NAN)?;
        let dv = filled(dev, n * hkv * d, bf16::NAN)?;
        att::attn_bwd_bf16_rung(
            rung, dev, &dq, &dk, &dv, &dout_b, &dq_b, &dk_b, &dv_b, &o_b, &lse_b, &seqs, dims,
        )?;
        Ok((
            download_bf16(dev, &dq)?,
            download_bf16(dev, &dk)?,
            download_bf16(dev, &dv)?,
        ))
    };
    let (gq, gk, gv) = run()?;
    rows.push(compare(dq, &shape, &gq, &want_dq, tol));
    rows.push(compare(&format!("{dkdv} dk"), &shape, &gk, &want_dk, tol));
    rows.push(compare(&format!("{dkdv} dv"), &shape, &gv, &want_dv, tol));
    if twice {
        let (gq2, gk2, gv2) = run()?;
        let same = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
        let mut row = compare(
            &format!("attn_bwd_bf16 rung {} rerun", rung.number()),
            &shape,
            &gq2,
            &gq,
            0.0,
        );
        row.pass = same(&gq, &gq2) && same(&gk, &gk2) && same(&gv, &gv2);
        if !row.pass {
            row.note = "second backward run differs bitwise".into();
        }
        rows.push(row);
    }
    Ok(rows)
}
