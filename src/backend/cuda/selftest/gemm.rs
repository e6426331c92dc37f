//! kernels/gemm.cu: every rung of the GEMM ladder in the four operand layouts (x·Wᵀ, dY·W,
//! dYᵀ·x and the fourth), with an f32 output accumulated onto a prior value (beta = 1), a bf16
//! output, a NaN-filled f32 output that beta = 0 must not read, the fused bias + residual
//! epilogue, and split-K, against `backend::cpu::gemm` (f32) on the same bf16-rounded operands;
//! rung 6's few-row kernel and rung 7's small tiles also bit for bit against rung 3 (the decode
//! step's products must keep the training forward's bits at every batch), rung 8's wide tiles in
//! every layout against the CPU and bit for bit against rung 3, rung 9's 16-column few-row
//! kernel and rung 10's 64×32 and 128×64 tiles bit for bit against rung 3, and the fused gate/up +
//! SwiGLU
//! kernel bit for bit against the batched product followed by `swiglu_fwd_bf16`.
use super::super::device::{download, upload, DevBuf, KernelDevice};
use super::super::gemm::{
    gate_up_gemm, gemm_bf16_rows_swiglu, gemm_bf16_with, gemm_plan, rows_swiglu_kernel, Gemm,
    GemmOpts, GemmRung, Strides,
};
use super::super::mlp::swiglu_fwd_bf16;
use super::{
    bf16_inputs, compare, download_bf16, nan_bf16, nan_f32, CheckRow, Checks, ShapeSet, TOL_BF16,
    TOL_GEMM,
};
use crate::backend::cpu::cast::round_bf16;
use crate::backend::cpu::gemm::gemm;
use crate::rng::SplitMix64;
use anyhow::Result;
use half::bf16;

/// Operand layouts by contiguous index (A then B), as the kernels' suffixes name them.
pub const LAYOUTS: [&str; 4] = ["kk", "kn", "mn", "mk"];

/// (batch, m, n, k) of the checks: partial tiles along every dimension, two tiles of each size,
/// N % 8 == 0 and not. A transposed operand takes the pipelined kernels only when its outer size
/// is a multiple of 8 (its rows are then 16-byte aligned), so some shapes exercise the fallback.
pub fn shapes(set: ShapeSet) -> Vec<(usize, usize, usize, usize)> {
    let mut v = vec![
        (1, 1, 8, 16),
        (1, 17, 24, 40),
        (2, 65, 33, 48),
        (1, 3, 130, 96),
        (1, 136, 136, 72),
        (1, 40, 200, 100),
    ];
    if set == ShapeSet::Full {
        v.extend([
            (1, 129, 1536, 576),
            (1, 256, 3584, 512),
            (4, 128, 128, 128),
            (1, 1000, 1536, 8960),
        ]);
    }
    v
}

/// The ladder's checks on one rung: every shape and layout, and the fused bias + residual.
pub fn run_rung(c: &mut Checks, rung: GemmRung) {
    run_rung_in(c, rung, &LAYOUTS);
}

/// [`run_rung`] in the given operand layouts only.
fn run_rung_in(c: &mut Checks, rung: GemmRung, layouts: &[&'static str]) {
    for (batch, m, n, k) in shapes(c.set) {
        for &layout in layouts {
            let shape = format!("r{} {layout} b{batch} {m}x{n}x{k}", rung.number());
            c.check("gemm_bf16", &shape, |dev, rng| {
                let p = Problem {
                    dims: (batch, m, n, k),
                    layout,
                    rung,
                    split_k: false,
                };
                check_gemm(dev, rng, &p, &shape)
            });
        }
    }
    for (batch, m, n, k) in [(1, 33, 64, 40), (1, 130, 136, 72)] {
        let shape = format!("r{} kk {m}x{n}x{k} bias+residual", rung.number());
        c.check("gemm_bf16", &shape, |dev, rng| {
            check_epilogue(dev, rng, (batch, m, n, k), rung, &shape)
        });
    }
}

/// Shapes whose tile grid is small enough for rung 4 to split K.
pub fn split_shapes(set: ShapeSet) -> Vec<(usize, usize, usize, usize)> {
    let mut v = vec![(1, 40, 24, 2104), (2, 16, 136, 1040)];
    if set == ShapeSet::Full {
        v.push((1, 256, 1536, 8192));
    }
    v
}

pub fn run(c: &mut Checks) {
    if !c.wants("gemm") {
        return;
    }
    // Rung 5 runs in selftest/gemm_sm90.rs, rungs 6-9 below, each on its own copy of the input
    // stream (the checks after them keep the inputs they had before those rungs existed).
    for rung in GemmRung::ALL
        .into_iter()
        .filter(|r| r.number() <= 4 && *r != GemmRung::Wgmma)
    {
        run_rung(c, rung);
    }
    run_rows(c);
    run_grid_fill(c);
    run_wide_tiles(c);
    run_rows_balanced(c);
    run_tile_menu(c);
    for (batch, m, n, k) in split_shapes(c.set) {
        for layout in ["kk", "mn"] {
            let shape = format!("r4 split {layout} b{batch} {m}x{n}x{k}");
            c.check("gemm_bf16_splitk_sum", &shape, |dev, rng| {
                let p = Problem {
                    dims: (batch, m, n, k),
                    layout,
                    rung: GemmRung::SplitK,
                    split_k: true,
                };
                check_gemm(dev, rng, &p, &shape)
            });
        }
    }
}

/// Rung 6 on the ladder's checks, and bit for bit against rung 3 at few-row shapes, on a copy of
/// the input stream.
fn run_rows(c: &mut Checks) {
    let stream = c.rng.clone();
    run_rung(c, GemmRung::Rows);
    for dims in rows_shapes(c.set) {
        let (batch, m, n, k) = dims;
        let shape = format!("r6 b{batch} {m}x{n}x{k} = r3");
        c.check("gemm_bf16_rows_kk", &shape, |dev, rng| {
            check_same_bits(dev, rng, dims, "kk", GemmRung::Rows, &shape)
        });
    }
    for (_, m, f, d) in rows_shapes(c.set) {
        let shape = format!("r6 gate|up {m}x{f}x{d} + swiglu = unfused");
        c.check("gemm_bf16_rows_swiglu_kk", &shape, |dev, rng| {
            check_rows_swiglu_bits(dev, rng, (m, f, d), &shape)
        });
    }
    c.rng = stream;
}

/// Rung 7 on the x·Wᵀ checks (in the other layouts it is rung 4 unsplit, checked as rung 6), and
/// bit for bit against rung 3 where it picks its small tiles.
fn run_grid_fill(c: &mut Checks) {
    let shapes = grid_fill_shapes(c.set);
    run_same_bits_rung(c, GemmRung::GridFill, "gemm_bf16_t64_kk", shapes);
}

/// `rung` on the x·Wᵀ checks, and bit for bit against rung 3 on `shapes` (where it runs a kernel
/// of its own, under the check name `kernel`), on a copy of the input stream (the checks after
/// it keep the inputs they had before the rung existed).
fn run_same_bits_rung(
    c: &mut Checks,
    rung: GemmRung,
    kernel: &'static str,
    shapes: Vec<(usize, usize, usize, usize)>,
) {
    let stream = c.rng.clone();
    run_rung_in(c, rung, &["kk"]);
    for dims in shapes {
        let (batch, m, n, k) = dims;
        let shape = format!("r{} b{batch} {m}x{n}x{k} = r3", rung.number());
        c.check(kernel, &shape, |dev, rng| {
            check_same_bits(dev, rng, dims, "kk", rung, &shape)
        });
    }
    c.rng = stream;
}

/// Rung 8 on the ladder's checks (where its tiles do not win it runs rung 7's plan) and, where it
/// picks its 128×256 tiles, in every layout against the CPU and bit for bit against rung 3, on a
/// copy of the input stream.
fn run_wide_tiles(c: &mut Checks) {
    let stream = c.rng.clone();
    let rung = GemmRung::WideTiles;
    run_rung(c, rung);
    for dims in wide_tiles_shapes(c.set) {
        let (batch, m, n, k) = dims;
        for layout in LAYOUTS {
            let shape = format!("r8 {layout} b{batch} {m}x{n}x{k}");
            c.check("gemm_bf16", &shape, |dev, rng| {
                let p = Problem {
                    dims,
                    layout,
                    rung,
                    split_k: false,
                };
                check_gemm(dev, rng, &p, &shape)
            });
            let shape = format!("r8 {layout} b{batch} {m}x{n}x{k} = r3");
            c.check("gemm_bf16_t128x256", &shape, |dev, rng| {
                check_same_bits(dev, rng, dims, layout, rung, &shape)
            });
        }
    }
    c.rng = stream;
}

/// Rung 9 on the x·Wᵀ checks (elsewhere it plans as rung 8) and bit for bit against rung 3 where
/// its few-row kernel takes 16 columns per warp.
fn run_rows_balanced(c: &mut Checks) {
    let shapes = rows_balanced_shapes(c.set);
    run_same_bits_rung(c, GemmRung::RowsBalanced, "gemm_bf16_rows2_kk", shapes);
}

/// Few-row products where 16 columns per warp move the fewest bytes per round: 9 rows (one m16
/// tile, partial), 33 rows in a batch of two with N not a multiple of 16, all 64 rows with K not
/// a multiple of the 32-wide K tile; in the full set a decode step's o and down products at
/// batch 64 (Qwen2.5-1.5B).
pub fn rows_balanced_shapes(set: ShapeSet) -> Vec<(usize, usize, usize, usize)> {
    let mut v = vec![(1, 9, 2056, 104), (2, 33, 1000, 40), (1, 64, 1536, 72)];
    if set == ShapeSet::Full {
        v.extend([(1, 64, 1536, 1536), (1, 64, 1536, 8960)]);
    }
    v
}

/// Rung 10 on the x·Wᵀ checks and bit for bit against rung 3 where it picks its 64×32 or
/// 128×64 tiles.
fn run_tile_menu(c: &mut Checks) {
    let shapes = tile_menu_shapes(c.set);
    run_same_bits_rung(c, GemmRung::TileMenu, "gemm_bf16_t", shapes);
}

/// Token-row products past 64 rows where a 64×32 tile (100 rows, N not a multiple of 32) or a
/// 128×64 one (a batch of two, 200 rows, N not a multiple of 64) gives the fewest rounds; in the
/// full set Qwen2.5-1.5B's q/k/v at batch 128 and Qwen2.5-Math-7B's o at batch 256.
pub fn tile_menu_shapes(set: ShapeSet) -> Vec<(usize, usize, usize, usize)> {
    let mut v = vec![(1, 100, 1000, 40), (2, 200, 1800, 40)];
    if set == ShapeSet::Full {
        v.extend([(1, 128, 2048, 1536), (1, 256, 3584, 3584)]);
    }
    v
}

/// Products whose 128×256 grid fills the GPU in fewer rounds than the 128×128 one: a batch of
/// three with a partial last 128-row and 256-column tile (132 wide blocks against 258) and K not
/// a multiple of the 32-wide K tile (M and N multiples of 8, so transposed operands stay on the
/// pipeline).
pub fn wide_tiles_shapes(set: ShapeSet) -> Vec<(usize, usize, usize, usize)> {
    let mut v = vec![(3, 136, 5400, 72)];
    if set == ShapeSet::Full {
        v.push((1, 1920, 4096, 104));
    }
    v
}

/// Products past rung 6's rows whose 128×128 grid is small: partial 64-row and 64-column tiles,
/// K not a multiple of the 32-wide K tile, a batch of two (gate|up), a decode step's o and qkv
/// products at batch 256 (Qwen2.5-1.5B).
pub fn grid_fill_shapes(set: ShapeSet) -> Vec<(usize, usize, usize, usize)> {
    let mut v = vec![(1, 65, 33, 48), (2, 100, 136, 72), (1, 256, 1536, 40)];
    if set == ShapeSet::Full {
        v.extend([(1, 256, 2048, 1536), (1, 192, 1536, 8960)]);
    }
    v
}

/// The fused gate/up + SwiGLU launch gives the bits of the batched few-row product followed by
/// `swiglu_fwd_bf16` (the decode step's two launches it replaces).
fn check_rows_swiglu_bits(
    dev: &dyn KernelDevice,
    rng: &mut SplitMix64,
    (m, f, d): (usize, usize, usize),
    shape: &str,
) -> Result<Vec<CheckRow>> {
    // Gate values around zero and past a few units, where sigmoid is curved and saturating.
    let (_, xh) = bf16_inputs(rng, m * d, -1.0, 1.0);
    let (_, wh) = bf16_inputs(rng, 2 * f * d, -0.5, 0.5);
    let (dx, dw) = (upload(dev, &xh)?, upload(dev, &wh)?);
    let opts = GemmOpts {
        rung: GemmRung::Rows,
        ..GemmOpts::default()
    };
    let gate_up = nan_bf16(dev, 2 * m * f)?;
    gemm_bf16_with(
        dev,
        None,
        Some(&gate_up),
        &dx,
        &dw,
        &gate_up_gemm(m, f, d),
        &opts,
    )?;
    let want = nan_bf16(dev, m * f)?;
    let (gate, up) = (gate_up.view(0, m * f)?, gate_up.view(m * f, m * f)?);
    swiglu_fwd_bf16(dev, &want, &gate, &up)?;
    let got = nan_bf16(dev, m * f)?;
    let fused = gemm_bf16_rows_swiglu(dev, &got, &dx, &dw, m, f, d, GemmRung::Rows)?;
    let plan = gemm_plan(dev, &gate_up_gemm(m, f, d), &dx, &dw, GemmRung::Rows, false);
    let (want, got) = (download_bf16(dev, &want)?, download_bf16(dev, &got)?);
    let mut row = compare(
        &format!(
            "{} = {} + swiglu",
            rows_swiglu_kernel(plan.kernel),
            plan.kernel
        ),
        shape,
        &[0.0],
        &[0.0],
        0.0,
    );
    let differ = want
        .iter()
        .zip(&got)
        .filter(|(a, b)| a.to_bits() != b.to_bits())
        .count();
    if !fused || differ > 0 {
        row.pass = false;
        row.note = if fused {
            format!(
                "{differ} of {} outputs differ bitwise from the unfused path",
                m * f
            )
        } else {
            format!("{} planned: the fused kernel did not run", plan.kernel)
        };
    }
    Ok(vec![row])
}

/// Few-row products: one row, a partial m16 tile, all four m16 tiles, partial n8 tiles, K a
/// multiple of 8 but not of the 32-wide K tile, a batch of two (gate|up), and N wide enough for
/// the four-tile kernel (with a partial last 32 columns).
pub fn rows_shapes(set: ShapeSet) -> Vec<(usize, usize, usize, usize)> {
    let mut v = vec![
        (1, 1, 8, 16),
        (1, 7, 130, 104),
        (2, 64, 72, 264),
        (1, 33, 24, 40),
        (1, 20, 4232, 40),
        (1, 3, 4232, 40),
    ];
    if set == ShapeSet::Full {
        v.extend([(1, 1, 2048, 1536), (2, 64, 8960, 1536), (1, 64, 1536, 8960)]);
    }
    v
}

/// `rung` (6 to 10, which must run itself) and rung 3 on the same problem in `layout` give the
/// same bits: a bf16 output with the fused bias and residual, and an f32 output with alpha and
/// beta onto a prior value.
pub fn check_same_bits(
    dev: &dyn KernelDevice,
    rng: &mut SplitMix64,
    dims: (usize, usize, usize, usize),
    layout: &'static str,
    rung: GemmRung,
    shape: &str,
) -> Result<Vec<CheckRow>> {
    let (batch, m, n, k) = dims;
    let p = |rung| Problem {
        dims,
        layout,
        rung,
        split_k: false,
    };
    let (_, ah) = bf16_inputs(rng, batch * m * k, -1.0, 1.0);
    let (_, bh) = bf16_inputs(rng, batch * n * k, -1.0, 1.0);
    let (_, biash) = bf16_inputs(rng, n, -1.0, 1.0);
    let (_, resh) = bf16_inputs(rng, batch * m * n, -1.0, 1.0);
    let prior: Vec<f32> = (0..batch * m * n).map(|i| (i % 7) as f32 * 0.25).collect();
    let (da, db) = (upload(dev, &ah)?, upload(dev, &bh)?);
    let (dbias, dres) = (upload(dev, &biash)?, upload(dev, &resh)?);
    let mut outs = Vec::new();
    for rung in [GemmRung::Tiles, rung] {
        let y = nan_bf16(dev, batch * m * n)?;
        let opts = GemmOpts {
            rung,
            bias: Some(&dbias),
            residual: Some(&dres),
            ..GemmOpts::default()
        };
        gemm_bf16_with(
            dev,
            None,
            Some(&y),
            &da,
            &db,
            &p(rung).gemm(1.0, 0.0),
            &opts,
        )?;
        let c = upload(dev, &prior)?;
        let opts = GemmOpts {
            rung,
            ..GemmOpts::default()
        };
        gemm_bf16_with(
            dev,
            Some(&c),
            None,
            &da,
            &db,
            &p(rung).gemm(0.5, 1.0),
            &opts,
        )?;
        let bits16: Vec<u16> = download(dev, &y)?.iter().map(|v| v.to_bits()).collect();
        let bits32: Vec<u32> = download(dev, &c)?.iter().map(|v| v.to_bits()).collect();
        outs.push((bits16, bits32));
    }
    let g = p(rung).gemm(1.0, 0.0);
    let plan = gemm_plan(dev, &g, &da, &db, rung, false);
    let mut row = compare(
        &format!("r{} {} = r3", rung.number(), plan.kernel),
        shape,
        &[0.0],
        &[0.0],
        0.0,
    );
    let differ = |a: &[u16], b: &[u16]| a.iter().zip(b).filter(|(x, y)| x != y).count();
    let d16 = differ(&outs[0].0, &outs[1].0);
    let d32 = outs[0]
        .1
        .iter()
        .zip(&outs[1].1)
        .filter(|(x, y)| x != y)
        .count();
    if plan.rung != rung || d16 + d32 > 0 {
        row.pass = false;
        row.note = format!(
            "{} ran; {d16} bf16 and {d32} f32 outputs differ bitwise from rung 3",
            plan.kernel
        );
    }
    Ok(vec![row])
}

/// One GEMM check: shape, layout, rung and whether rung 4 may split.
pub struct Problem {
    pub dims: (usize, usize, usize, usize),
    pub layout: &'static str,
    pub rung: GemmRung,
    pub split_k: bool,
}

impl Problem {
    pub fn gemm(&self, alpha: f32, beta: f32) -> Gemm {
        let (batch, m, n, k) = self.dims;
        let a_k = self.layout.starts_with('k');
        let b_k = self.layout.ends_with('k');
        Gemm {
            batch,
            m,
            n,
            k,
            a: if a_k {
                Strides::rows(m, k)
            } else {
                Strides::cols(m, k)
            },
            b: if b_k {
                Strides::rows(n, k)
            } else {
                Strides::cols(n, k)
            },
            alpha,
            beta,
        }
    }

    /// C = alpha·A·Bᵀ + beta·prior on the CPU (f32, from the bf16-rounded operands).
    pub fn reference(
        &self,
        a: &[f32],
        b: &[f32],
        alpha: f32,
        beta: f32,
        prior: &[f32],
    ) -> Vec<f32> {
        let (batch, m, n, k) = self.dims;
        let a_t = !self.layout.starts_with('k');
        let b_t = self.layout.ends_with('k');
        let mut want = prior.to_vec();
        for z in 0..batch {
            gemm(
                m,
                n,
                k,
                alpha,
                &a[z * m * k..],
                a_t,
                &b[z * n * k..],
                b_t,
                beta,
                &mut want[z * m * n..],
            );
        }
        want
    }
}

/// Names the kernels that ran (rung 4 with a split: the product and the sum).
fn kernel_label(
    dev: &dyn KernelDevice,
    p: &Problem,
    g: &Gemm,
    a: &DevBuf<bf16>,
    b: &DevBuf<bf16>,
) -> String {
    let plan = gemm_plan(dev, g, a, b, p.rung, p.split_k);
    let split = if plan.splits > 1 {
        format!(" x{} + gemm_bf16_splitk_sum", plan.splits)
    } else {
        String::new()
    };
    format!("r{} {}{split}", plan.rung.number(), plan.kernel)
}

/// alpha = 0.5 onto a prior (beta = 1) in f32 and bf16 at once; then beta = 0 into a NaN-filled
/// f32 output (it must not be read).
pub fn check_gemm(
    dev: &dyn KernelDevice,
    rng: &mut SplitMix64,
    p: &Problem,
    shape: &str,
) -> Result<Vec<CheckRow>> {
    let (batch, m, n, k) = p.dims;
    let (a, ah) = bf16_inputs(rng, batch * m * k, -1.0, 1.0);
    let (b, bh) = bf16_inputs(rng, batch * n * k, -1.0, 1.0);
    let prior = rng.uniform_f32_vec(batch * m * n, -1.0, 1.0);
    let (da, db) = (upload(dev, &ah)?, upload(dev, &bh)?);
    let opts = GemmOpts {
        rung: p.rung,
        split_k: p.split_k,
        ..GemmOpts::default()
    };
    let g = p.gemm(0.5, 1.0);
    let c = upload(dev, &prior)?;
    let cb = nan_bf16(dev, batch * m * n)?;
    gemm_bf16_with(dev, Some(&c), Some(&cb), &da, &db, &g, &opts)?;
    let want = p.reference(&a, &b, 0.5, 1.0, &prior);
    let want_bf: Vec<f32> = want.iter().map(|&v| round_bf16(v)).collect();

    let g0 = p.gemm(1.0, 0.0);
    let c0 = nan_f32(dev, batch * m * n)?;
    gemm_bf16_with(dev, Some(&c0), None, &da, &db, &g0, &opts)?;
    let zeros = vec![0.0; batch * m * n];
    let want0 = p.reference(&a, &b, 1.0, 0.0, &zeros);

    let kernel = kernel_label(dev, p, &g, &da, &db);
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
            &download_bf16(dev, &cb)?,
            &want_bf,
            TOL_BF16,
        ),
        compare(
            &format!("{kernel} f32 (beta=0, NaN-filled)"),
            shape,
            &download(dev, &c0)?,
            &want0,
            TOL_GEMM,
        ),
    ])
}

/// y = x·Wᵀ + bias + residual into a NaN-filled bf16 output: fused into the epilogue from rung 3
/// on, separate kernels below.
pub fn check_epilogue(
    dev: &dyn KernelDevice,
    rng: &mut SplitMix64,
    dims: (usize, usize, usize, usize),
    rung: GemmRung,
    shape: &str,
) -> Result<Vec<CheckRow>> {
    let (batch, m, n, k) = dims;
    let p = Problem {
        dims,
        layout: "kk",
        rung,
        split_k: false,
    };
    let (a, ah) = bf16_inputs(rng, batch * m * k, -1.0, 1.0);
    let (b, bh) = bf16_inputs(rng, batch * n * k, -1.0, 1.0);
    let (bias, biash) = bf16_inputs(rng, n, -1.0, 1.0);
    let (res, resh) = bf16_inputs(rng, batch * m * n, -1.0, 1.0);
    let (da, db) = (upload(dev, &ah)?, upload(dev, &bh)?);
    let (dbias, dres) = (upload(dev, &biash)?, upload(dev, &resh)?);
    let g = p.gemm(1.0, 0.0);
    let y = nan_bf16(dev, batch * m * n)?;
    let opts = GemmOpts {
        rung,
        bias: Some(&dbias),
        residual: Some(&dres),
        ..GemmOpts::default()
    };
    gemm_bf16_with(dev, None, Some(&y), &da, &db, &g, &opts)?;
    let mut want = p.reference(&a, &b, 1.0, 0.0, &vec![0.0; batch * m * n]);
    for (i, w) in want.iter_mut().enumerate() {
        *w += bias[i % n] + res[i];
    }
    let kernel = kernel_label(dev, &p, &g, &da, &db);
    // Below rung 3 the product is rounded to bf16 before each addition: up to three roundings.
    let tol = if rung >= GemmRung::Tiles {
        TOL_BF16
    } else {
        2.0 * TOL_BF16
    };
    Ok(vec![compare(
        &format!("{kernel} bf16 + bias + residual"),
        shape,
        &download_bf16(dev, &y)?,
        &want,
        tol,
    )])
}
