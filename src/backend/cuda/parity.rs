//! Kernel parity checks: every kernel against its f32 CPU reference on fresh random inputs of
//! several shapes, outputs pre-filled with NaN. Used by `rlvr selftest` on both devices and by
//! the emulator tests.
use super::device::{download, filled, upload, DevBuf, KernelDevice};
use super::launch;
use super::launch::AdamW;
use super::reference::{self as r, round_bf16};
use super::rng::Rng;
use anyhow::Result;
use half::bf16;

/// Tolerance for outputs stored as bf16 (inputs are bf16 too).
pub const TOL_BF16: f32 = 1e-2;
/// Tolerance for f32 results of long bf16 dot products (tensor-core accumulation order differs).
pub const TOL_GEMM: f32 = 1e-4;
/// Tolerance for f32 outputs.
pub const TOL_F32: f32 = 1e-5;

/// One compared output.
#[derive(Debug, Clone)]
pub struct CheckRow {
    pub kernel: String,
    pub shape: String,
    pub max_abs: f32,
    pub max_rel: f32,
    pub tol: f32,
    pub pass: bool,
    /// Why it failed when it did not get as far as comparing (launch error, NaN count).
    pub note: String,
}

/// Problem sizes: `Small` keeps the emulator fast; `Full` adds real model shapes for a GPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShapeSet {
    Small,
    Full,
}

/// Compares `got` with `want`: passes iff every value is finite and
/// |got - want| <= tol * (|want| + rms(want)). `max_rel` is |got - want| / max(|want|, rms).
pub fn compare(kernel: &str, shape: &str, got: &[f32], want: &[f32], tol: f32) -> CheckRow {
    let mut row = CheckRow {
        kernel: kernel.into(),
        shape: shape.into(),
        max_abs: 0.0,
        max_rel: 0.0,
        tol,
        pass: true,
        note: String::new(),
    };
    if got.len() != want.len() {
        row.pass = false;
        row.note = format!("length {} != {}", got.len(), want.len());
        return row;
    }
    let rms = (want.iter().map(|&w| w as f64 * w as f64).sum::<f64>() / want.len().max(1) as f64)
        .sqrt() as f32;
    let floor = rms.max(f32::MIN_POSITIVE);
    let mut non_finite = 0usize;
    for (&g, &w) in got.iter().zip(want) {
        if !g.is_finite() {
            non_finite += 1;
            continue;
        }
        let d = (g - w).abs();
        row.max_abs = row.max_abs.max(d);
        row.max_rel = row.max_rel.max(d / w.abs().max(floor));
        if d > tol * (w.abs() + rms) {
            row.pass = false;
        }
    }
    if non_finite > 0 {
        row.pass = false;
        row.note = format!("{non_finite} non-finite values");
    }
    row
}

fn failed(kernel: &str, shape: &str, e: anyhow::Error) -> CheckRow {
    CheckRow {
        kernel: kernel.into(),
        shape: shape.into(),
        max_abs: f32::NAN,
        max_rel: f32::NAN,
        tol: 0.0,
        pass: false,
        note: format!("{e:#}"),
    }
}

fn bf16_vec(rng: &mut Rng, n: usize, lo: f32, hi: f32) -> (Vec<f32>, Vec<bf16>) {
    let h: Vec<bf16> = (0..n)
        .map(|_| bf16::from_f32(rng.uniform(lo, hi)))
        .collect();
    (h.iter().map(|v| v.to_f32()).collect(), h)
}

fn down_bf16(dev: &dyn KernelDevice, b: &DevBuf<bf16>) -> Result<Vec<f32>> {
    Ok(download(dev, b)?.iter().map(|v| v.to_f32()).collect())
}

fn nan_bf16(dev: &dyn KernelDevice, n: usize) -> Result<DevBuf<bf16>> {
    filled(dev, n, bf16::NAN)
}

fn nan_f32(dev: &dyn KernelDevice, n: usize) -> Result<DevBuf<f32>> {
    filled(dev, n, f32::NAN)
}

/// Runs one check body, turning an error (e.g. an emulator fault) into a failed row.
pub(crate) fn guarded(
    rows: &mut Vec<CheckRow>,
    kernel: &str,
    shape: &str,
    f: impl FnOnce() -> Result<Vec<CheckRow>>,
) {
    match f() {
        Ok(mut v) => rows.append(&mut v),
        Err(e) => rows.push(failed(kernel, shape, e)),
    }
}

fn elementwise_sizes(set: ShapeSet) -> Vec<usize> {
    match set {
        ShapeSet::Small => vec![1, 3, 1000, 4099],
        ShapeSet::Full => vec![1, 3, 1000, 4099, 1 << 20, 3584 * 18944 / 8 + 1],
    }
}

fn row_shapes(set: ShapeSet) -> Vec<(usize, usize)> {
    match set {
        ShapeSet::Small => vec![(1, 64), (3, 96), (17, 576), (129, 96)],
        ShapeSet::Full => vec![
            (1, 64),
            (3, 96),
            (17, 576),
            (129, 3584),
            (1024, 1536),
            (4096, 576),
        ],
    }
}

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

/// Runs every check whose kernel name contains `filter` (all when None).
pub fn run_all(
    dev: &dyn KernelDevice,
    set: ShapeSet,
    seed: u64,
    filter: Option<&str>,
) -> Vec<CheckRow> {
    let want = |k: &str| filter.is_none_or(|f| k.contains(f));
    let mut rows = Vec::new();
    let mut rng = Rng::new(seed);
    if want("cast") {
        for n in elementwise_sizes(set) {
            let shape = format!("n={n}");
            guarded(&mut rows, "cast", &shape, || {
                check_cast(dev, &mut rng, n, &shape)
            });
        }
    }
    if want("residual_add_bf16") {
        for n in elementwise_sizes(set) {
            let shape = format!("n={n}");
            guarded(&mut rows, "residual_add_bf16", &shape, || {
                check_residual(dev, &mut rng, n, &shape)
            });
        }
    }
    if want("rmsnorm") {
        for (rows_, hidden) in row_shapes(set) {
            let shape = format!("{rows_}x{hidden}");
            guarded(&mut rows, "rmsnorm", &shape, || {
                check_rmsnorm(dev, &mut rng, rows_, hidden, &shape)
            });
        }
    }
    if want("rope") {
        for (t, h, d, llama3) in rope_shapes(set) {
            let shape = format!("t{t} h{h} d{d}{}", if llama3 { " llama3" } else { "" });
            guarded(&mut rows, "rope", &shape, || {
                check_rope(dev, &mut rng, t, h, d, llama3, &shape)
            });
        }
    }
    if want("swiglu") {
        for n in elementwise_sizes(set) {
            let shape = format!("n={n}");
            guarded(&mut rows, "swiglu", &shape, || {
                check_swiglu(dev, &mut rng, n, &shape)
            });
        }
    }
    if want("embedding") {
        for (tokens, hidden) in row_shapes(set) {
            let vocab = 50;
            let shape = format!("t{tokens} v{vocab} h{hidden}");
            guarded(&mut rows, "embedding", &shape, || {
                check_embedding(dev, &mut rng, tokens, vocab, hidden, &shape)
            });
        }
    }
    if want("grad_norm") || want("scale_by") || want("sumsq") {
        let sets: Vec<Vec<usize>> = match set {
            ShapeSet::Small => vec![vec![1], vec![37, 4099], vec![3, 100_003, 64]],
            ShapeSet::Full => vec![
                vec![1],
                vec![37, 4099],
                vec![3, 100_003, 64],
                vec![3584 * 3584, 151_936 * 8 + 3],
            ],
        };
        for sizes in sets {
            let shape = format!("{sizes:?}");
            guarded(&mut rows, "grad_norm", &shape, || {
                check_grad_norm(dev, &mut rng, &sizes, &shape)
            });
        }
    }
    if want("gemm") {
        let shapes: Vec<(usize, usize, usize, usize)> = match set {
            ShapeSet::Small => vec![
                (1, 1, 8, 16),
                (1, 17, 24, 40),
                (1, 64, 64, 64),
                (2, 65, 33, 48),
                (1, 3, 130, 96),
            ],
            ShapeSet::Full => vec![
                (1, 1, 8, 16),
                (1, 17, 24, 40),
                (2, 65, 33, 48),
                (1, 129, 1536, 576),
                (1, 256, 3584, 512),
                (4, 128, 128, 128),
            ],
        };
        for (batch, m, n, k) in shapes {
            for layout in ["nt", "nn", "tn"] {
                let shape = format!("{layout} b{batch} {m}x{n}x{k}");
                guarded(&mut rows, "gemm_bf16_mma", &shape, || {
                    check_gemm(dev, &mut rng, (batch, m, n, k), layout, &shape)
                });
            }
        }
    }
    if want("softmax") {
        let shapes: Vec<(usize, usize)> = match set {
            ShapeSet::Small => vec![(1, 1), (3, 33), (17, 1000), (2, 5003)],
            ShapeSet::Full => vec![(1, 1), (3, 33), (17, 1000), (64, 49_152), (8, 151_936)],
        };
        for (rows_, cols) in shapes {
            let shape = format!("{rows_}x{cols}");
            guarded(&mut rows, "softmax", &shape, || {
                check_softmax(dev, &mut rng, rows_, cols, &shape)
            });
        }
    }
    if want("attn") {
        for case in super::attention_parity::cases(set) {
            let shape = case.label();
            guarded(&mut rows, "attn_fwd_bf16", &shape, || {
                super::attention_parity::check_fwd_bwd(dev, &mut rng, &case, set == ShapeSet::Full)
            });
            guarded(&mut rows, "attn_decode_bf16", &shape, || {
                super::attention_parity::check_decode(dev, &mut rng, &case)
            });
        }
    }
    if want("adamw") {
        for n in elementwise_sizes(set) {
            let shape = format!("n={n}");
            guarded(&mut rows, "adamw_step_f32", &shape, || {
                check_adamw(dev, &mut rng, n, &shape)
            });
        }
    }
    super::parity_lmhead::run_lmhead_checks(dev, set, &mut rng, &want, &mut rows);
    super::parity_devmodel::run_devmodel_kernel_checks(dev, set, &mut rng, &want, &mut rows);
    if want("model") {
        super::model::check::run_model_checks(dev, set, seed, &mut rows);
    }
    rows
}

fn check_cast(
    dev: &dyn KernelDevice,
    rng: &mut Rng,
    n: usize,
    shape: &str,
) -> Result<Vec<CheckRow>> {
    let x = rng.vec(n, -300.0, 300.0);
    let dx = upload(dev, &x)?;
    let db = nan_bf16(dev, n)?;
    launch::cast_f32_to_bf16(dev, &db, &dx)?;
    let want: Vec<f32> = x.iter().map(|&v| round_bf16(v)).collect();
    let r1 = compare("cast_f32_to_bf16", shape, &down_bf16(dev, &db)?, &want, 0.0);
    let back = nan_f32(dev, n)?;
    launch::cast_bf16_to_f32(dev, &back, &db)?;
    let r2 = compare(
        "cast_bf16_to_f32",
        shape,
        &download(dev, &back)?,
        &want,
        0.0,
    );
    Ok(vec![r1, r2])
}

fn check_residual(
    dev: &dyn KernelDevice,
    rng: &mut Rng,
    n: usize,
    shape: &str,
) -> Result<Vec<CheckRow>> {
    let (a, ah) = bf16_vec(rng, n, -4.0, 4.0);
    let (b, bh) = bf16_vec(rng, n, -4.0, 4.0);
    let (da, db) = (upload(dev, &ah)?, upload(dev, &bh)?);
    let out = nan_bf16(dev, n)?;
    launch::residual_add_bf16(dev, &out, &da, &db)?;
    let want = r::residual_add(&a, &b);
    let r1 = compare(
        "residual_add_bf16",
        shape,
        &down_bf16(dev, &out)?,
        &want,
        TOL_BF16,
    );
    // in place: out == a
    launch::residual_add_bf16(dev, &da, &da, &db)?;
    let r2 = compare(
        "residual_add_bf16",
        &format!("{shape} in-place"),
        &down_bf16(dev, &da)?,
        &want,
        TOL_BF16,
    );
    Ok(vec![r1, r2])
}

fn check_rmsnorm(
    dev: &dyn KernelDevice,
    rng: &mut Rng,
    rows: usize,
    hidden: usize,
    shape: &str,
) -> Result<Vec<CheckRow>> {
    let n = rows * hidden;
    let (x, xh) = bf16_vec(rng, n, -2.0, 2.0);
    let (w, wh) = bf16_vec(rng, hidden, 0.5, 1.5);
    let (dy, dyh) = bf16_vec(rng, n, -1.0, 1.0);
    let eps = 1e-6;
    let (dx_, dw_) = (upload(dev, &xh)?, upload(dev, &wh)?);
    let (y, rstd) = (nan_bf16(dev, n)?, nan_f32(dev, rows)?);
    launch::rmsnorm_fwd_bf16(dev, &y, &rstd, &dx_, &dw_, eps)?;
    let (y_ref, rstd_ref) = r::rmsnorm_fwd(&x, &w, hidden, eps);
    let mut out = vec![
        compare(
            "rmsnorm_fwd_bf16 y",
            shape,
            &down_bf16(dev, &y)?,
            &y_ref,
            TOL_BF16,
        ),
        compare(
            "rmsnorm_fwd_bf16 rstd",
            shape,
            &download(dev, &rstd)?,
            &rstd_ref,
            TOL_F32,
        ),
    ];
    // backward from the reference rstd, so dx/dw are compared on identical inputs
    let rstd_in = upload(dev, &rstd_ref)?;
    let ddy = upload(dev, &dyh)?;
    let (gx, gw) = (nan_bf16(dev, n)?, nan_f32(dev, hidden)?);
    launch::rmsnorm_bwd_bf16(dev, &gx, &gw, &ddy, &dx_, &dw_, &rstd_in, false)?;
    let (dx_ref, dw_ref) = r::rmsnorm_bwd(&dy, &x, &w, &rstd_ref, hidden);
    out.push(compare(
        "rmsnorm_bwd_bf16 dx",
        shape,
        &down_bf16(dev, &gx)?,
        &dx_ref,
        TOL_BF16,
    ));
    let gw1 = download(dev, &gw)?;
    out.push(compare(
        "rmsnorm_bwd_bf16 dw",
        shape,
        &gw1,
        &dw_ref,
        TOL_F32,
    ));
    // accumulate = true adds onto the existing dw, bit-for-bit twice the deterministic result
    launch::rmsnorm_bwd_bf16(dev, &gx, &gw, &ddy, &dx_, &dw_, &rstd_in, true)?;
    let twice: Vec<f32> = gw1.iter().map(|v| v + v).collect();
    out.push(compare(
        "rmsnorm_bwd_bf16 dw accumulate",
        shape,
        &download(dev, &gw)?,
        &twice,
        0.0,
    ));
    Ok(out)
}

/// llama3 rope scaling applied to the default inverse frequencies (as HF `_compute_llama3_parameters`).
pub fn llama3_inv_freq(
    head_dim: usize,
    theta: f32,
    factor: f32,
    low: f32,
    high: f32,
    orig_max_pos: f32,
) -> Vec<f32> {
    let low_wavelen = orig_max_pos / low;
    let high_wavelen = orig_max_pos / high;
    r::rope_inv_freq(head_dim, theta)
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

fn check_rope(
    dev: &dyn KernelDevice,
    rng: &mut Rng,
    tokens: usize,
    heads: usize,
    head_dim: usize,
    llama3: bool,
    shape: &str,
) -> Result<Vec<CheckRow>> {
    let n = tokens * heads * head_dim;
    let (x, xh) = bf16_vec(rng, n, -2.0, 2.0);
    let pos: Vec<i32> = (0..tokens).map(|_| rng.below(8192) as i32).collect();
    let inv = if llama3 {
        llama3_inv_freq(head_dim, 500_000.0, 8.0, 1.0, 4.0, 8192.0)
    } else {
        r::rope_inv_freq(head_dim, 10_000.0)
    };
    let (dx, dpos, dinv) = (upload(dev, &xh)?, upload(dev, &pos)?, upload(dev, &inv)?);
    let out = nan_bf16(dev, n)?;
    launch::rope_fwd_bf16(dev, &out, &dx, &dpos, &dinv, heads)?;
    let r1 = compare(
        "rope_fwd_bf16",
        shape,
        &down_bf16(dev, &out)?,
        &r::rope(&x, &pos, &inv, heads, head_dim, false),
        TOL_BF16,
    );
    let back = nan_bf16(dev, n)?;
    launch::rope_bwd_bf16(dev, &back, &dx, &dpos, &dinv, heads)?;
    let r2 = compare(
        "rope_bwd_bf16",
        shape,
        &down_bf16(dev, &back)?,
        &r::rope(&x, &pos, &inv, heads, head_dim, true),
        TOL_BF16,
    );
    Ok(vec![r1, r2])
}

fn check_swiglu(
    dev: &dyn KernelDevice,
    rng: &mut Rng,
    n: usize,
    shape: &str,
) -> Result<Vec<CheckRow>> {
    let (g, gh) = bf16_vec(rng, n, -6.0, 6.0);
    let (u, uh) = bf16_vec(rng, n, -2.0, 2.0);
    let (d, dh) = bf16_vec(rng, n, -1.0, 1.0);
    let (dg, du, dd) = (upload(dev, &gh)?, upload(dev, &uh)?, upload(dev, &dh)?);
    let out = nan_bf16(dev, n)?;
    launch::swiglu_fwd_bf16(dev, &out, &dg, &du)?;
    let r1 = compare(
        "swiglu_fwd_bf16",
        shape,
        &down_bf16(dev, &out)?,
        &r::swiglu_fwd(&g, &u),
        TOL_BF16,
    );
    let (gg, gu) = (nan_bf16(dev, n)?, nan_bf16(dev, n)?);
    launch::swiglu_bwd_bf16(dev, &gg, &gu, &dd, &dg, &du)?;
    let (rg, ru) = r::swiglu_bwd(&d, &g, &u);
    let r2 = compare(
        "swiglu_bwd_bf16 dgate",
        shape,
        &down_bf16(dev, &gg)?,
        &rg,
        TOL_BF16,
    );
    let r3 = compare(
        "swiglu_bwd_bf16 dup",
        shape,
        &down_bf16(dev, &gu)?,
        &ru,
        TOL_BF16,
    );
    Ok(vec![r1, r2, r3])
}

fn check_embedding(
    dev: &dyn KernelDevice,
    rng: &mut Rng,
    tokens: usize,
    vocab: usize,
    hidden: usize,
    shape: &str,
) -> Result<Vec<CheckRow>> {
    let (table, th) = bf16_vec(rng, vocab * hidden, -1.0, 1.0);
    // a skewed id distribution so some rows repeat many times and some never occur
    let ids: Vec<i32> = (0..tokens)
        .map(|_| (rng.below(vocab as u32) * rng.below(2)) as i32)
        .collect();
    let (dt, di) = (upload(dev, &th)?, upload(dev, &ids)?);
    let out = nan_bf16(dev, tokens * hidden)?;
    launch::embedding_fwd_bf16(dev, &out, &dt, &di, hidden)?;
    let r1 = compare(
        "embedding_fwd_bf16",
        shape,
        &down_bf16(dev, &out)?,
        &r::embedding_fwd(&table, &ids, hidden),
        0.0,
    );
    let (dout, douth) = bf16_vec(rng, tokens * hidden, -1.0, 1.0);
    let prior = rng.vec(vocab * hidden, -1.0, 1.0);
    let dtable = upload(dev, &prior)?;
    let ddout = upload(dev, &douth)?;
    launch::embedding_bwd_f32(dev, &dtable, &ddout, &ids, hidden)?;
    let grad = r::embedding_bwd(&dout, &ids, vocab, hidden);
    let want: Vec<f32> = prior.iter().zip(&grad).map(|(p, g)| p + g).collect();
    let r2 = compare(
        "embedding_bwd_f32",
        shape,
        &download(dev, &dtable)?,
        &want,
        TOL_F32,
    );
    Ok(vec![r1, r2])
}

fn check_grad_norm(
    dev: &dyn KernelDevice,
    rng: &mut Rng,
    sizes: &[usize],
    shape: &str,
) -> Result<Vec<CheckRow>> {
    let host: Vec<Vec<f32>> = sizes.iter().map(|&n| rng.vec(n, -0.1, 0.1)).collect();
    let bufs: Vec<DevBuf<f32>> = host.iter().map(|h| upload(dev, h)).collect::<Result<_>>()?;
    let refs: Vec<&[f32]> = host.iter().map(|h| h.as_slice()).collect();
    let (norm, _) = r::grad_norm(&refs, 0.0);
    let max_norm = norm / 3.0;
    let (norm, coef) = r::grad_norm(&refs, max_norm);
    let brefs: Vec<&DevBuf<f32>> = bufs.iter().collect();
    let out = launch::grad_norm_f32(dev, &brefs, max_norm)?;
    let mut rows = vec![compare(
        "grad_norm_finalize_f32 [norm, coef]",
        shape,
        &download(dev, &out)?,
        &[norm, coef],
        TOL_F32,
    )];
    let last = bufs.last().expect("at least one tensor");
    launch::scale_by_f32(dev, last, &out, 1)?;
    let want: Vec<f32> = host
        .last()
        .expect("tensor")
        .iter()
        .map(|v| v * coef)
        .collect();
    rows.push(compare(
        "scale_by_f32",
        shape,
        &download(dev, last)?,
        &want,
        TOL_F32,
    ));
    Ok(rows)
}

fn check_adamw(
    dev: &dyn KernelDevice,
    rng: &mut Rng,
    n: usize,
    shape: &str,
) -> Result<Vec<CheckRow>> {
    let h = AdamW {
        lr: 1e-3,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.01,
        step: 3,
    };
    let mut p = rng.vec(n, -1.0, 1.0);
    let mut m = rng.vec(n, -0.01, 0.01);
    let mut v = rng.vec(n, 0.0, 1e-4);
    let g = rng.vec(n, -0.05, 0.05);
    let scale = 0.5f32;
    let (dp, dm, dv, dg) = (
        upload(dev, &p)?,
        upload(dev, &m)?,
        upload(dev, &v)?,
        upload(dev, &g)?,
    );
    let ds = upload(dev, &[f32::NAN, scale])?;
    let pb = nan_bf16(dev, n)?;
    launch::adamw_step_f32(dev, &dp, &dm, &dv, Some(&pb), &dg, Some((&ds, 1)), &h)?;
    r::adamw_step(&mut p, &mut m, &mut v, &g, scale, &h);
    let pbf: Vec<f32> = p.iter().map(|&x| round_bf16(x)).collect();
    Ok(vec![
        compare(
            "adamw_step_f32 param",
            shape,
            &download(dev, &dp)?,
            &p,
            TOL_F32,
        ),
        compare("adamw_step_f32 m", shape, &download(dev, &dm)?, &m, TOL_F32),
        compare("adamw_step_f32 v", shape, &download(dev, &dv)?, &v, TOL_F32),
        compare(
            "adamw_step_f32 param_bf16",
            shape,
            &down_bf16(dev, &pb)?,
            &pbf,
            TOL_BF16,
        ),
    ])
}

fn check_gemm(
    dev: &dyn KernelDevice,
    rng: &mut Rng,
    (batch, m, n, k): (usize, usize, usize, usize),
    layout: &str,
    shape: &str,
) -> Result<Vec<CheckRow>> {
    use launch::{Gemm, Strides};
    let (a_s, b_s) = match layout {
        "nt" => (Strides::rows(m, k), Strides::rows(n, k)),
        "nn" => (Strides::rows(m, k), Strides::cols(n, k)),
        _ => (Strides::cols(m, k), Strides::rows(n, k)),
    };
    let (a, ah) = bf16_vec(rng, batch * m * k, -1.0, 1.0);
    let (b, bh) = bf16_vec(rng, batch * n * k, -1.0, 1.0);
    let prior = rng.vec(batch * m * n, -1.0, 1.0);
    let (da, db) = (upload(dev, &ah)?, upload(dev, &bh)?);
    let g = Gemm {
        batch,
        m,
        n,
        k,
        a: a_s,
        b: b_s,
        alpha: 0.5,
        beta: 1.0,
    };
    let c = upload(dev, &prior)?;
    let cb = nan_bf16(dev, batch * m * n)?;
    launch::gemm_bf16(dev, Some(&c), Some(&cb), &da, &db, &g)?;
    let want = r::gemm(
        &a,
        &b,
        Some(&prior),
        (batch, m, n, k),
        (a_s.outer, a_s.k, a_s.batch),
        (b_s.outer, b_s.k, b_s.batch),
        0.5,
        1.0,
    );
    let want_bf: Vec<f32> = want.iter().map(|&v| round_bf16(v)).collect();
    let kernel = launch::gemm_kernel_for(&g, &da, &db);
    Ok(vec![
        compare(
            &format!("{kernel} f32 (beta=1)"),
            shape,
            &download(dev, &c)?,
            &want,
            TOL_GEMM,
        ),
        compare(
            &format!("{kernel} bf16"),
            shape,
            &down_bf16(dev, &cb)?,
            &want_bf,
            TOL_BF16,
        ),
    ])
}

fn check_softmax(
    dev: &dyn KernelDevice,
    rng: &mut Rng,
    rows: usize,
    cols: usize,
    shape: &str,
) -> Result<Vec<CheckRow>> {
    let (x, xh) = bf16_vec(rng, rows * cols, -20.0, 20.0);
    let dx = upload(dev, &xh)?;
    let p = nan_f32(dev, rows * cols)?;
    launch::softmax_fwd_bf16(dev, &p, &dx, cols)?;
    let lp = nan_f32(dev, rows * cols)?;
    launch::log_softmax_fwd_bf16(dev, &lp, &dx, cols)?;
    Ok(vec![
        compare(
            "softmax_fwd_bf16",
            shape,
            &download(dev, &p)?,
            &r::softmax(&x, cols, false),
            TOL_F32,
        ),
        compare(
            "log_softmax_fwd_bf16",
            shape,
            &download(dev, &lp)?,
            &r::softmax(&x, cols, true),
            TOL_F32,
        ),
    ])
}
