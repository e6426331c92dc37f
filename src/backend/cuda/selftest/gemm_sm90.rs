//! kernels/gemm_sm90.cu (rung 5 of the GEMM ladder): the ladder's shapes and checks
//! (selftest/gemm.rs), then shapes that stress the TMA edges — M, N and K off the 128 x 256 x 64
//! tile, K not a multiple of 64, K = 1, single rows and columns, both tile widths, a batch — in
//! every operand layout, beta = 1 onto a prior, bf16 and NaN-filled f32 outputs, against
//! `backend::cpu::gemm`; a check that the wgmma kernel is what ran on an sm_90 device; and, on
//! the emulator, a planted consumer that skips the full-barrier wait, which must fail.
use super::super::device::{download, upload, KernelDevice};
use super::super::gemm::{gemm_plan, GemmOpts, GemmRung};
use super::super::gemm_sm90::{launch_wgmma, wgmma_tile};
use super::gemm::{check_gemm, run_rung, Problem, LAYOUTS};
use super::{bf16_inputs, compare, nan_f32, CheckRow, Checks, ShapeSet, TOL_GEMM};
use crate::rng::SplitMix64;
use anyhow::Result;

/// (batch, m, n, k, layouts): operands with an outer-major (transposed) layout need that outer
/// size to be a multiple of 8 and K-major ones K a multiple of 8 (16-byte TMA rows), so the
/// shapes name the layouts they hold in.
pub fn shapes(set: ShapeSet) -> Vec<(usize, usize, usize, usize, &'static [&'static str])> {
    let mut v: Vec<(usize, usize, usize, usize, &'static [&'static str])> = vec![
        (1, 8, 8, 8, &LAYOUTS),
        (1, 1, 8, 24, &["kk", "kn"]),
        (1, 8, 1, 24, &["kk", "mk"]),
        (1, 16, 24, 1, &["mn"]),
        (1, 40, 72, 200, &LAYOUTS),
        (2, 136, 264, 72, &LAYOUTS),
        (1, 264, 520, 136, &["kk", "mn"]),
        // the 135M MLP's width and depth (up projection), a partial M tile
        (1, 136, 1536, 576, &["kk"]),
    ];
    if set == ShapeSet::Full {
        v.extend([
            (1, 1000, 1536, 8960, &LAYOUTS as &[&str]),
            (1, 4096, 4096, 4096, &["kk", "kn", "mn"]),
        ]);
    }
    v
}

pub fn run(c: &mut Checks) {
    // The rung draws its inputs from a copy of the stream, so that the ops checked after it see
    // the inputs they saw before the rung existed.
    let stream = c.rng.clone();
    if c.wants("gemm") {
        run_rung(c, GemmRung::Wgmma);
    }
    if c.wants("gemm_bf16_wgmma") {
        edge_shapes(c);
    }
    c.rng = stream;
}

fn edge_shapes(c: &mut Checks) {
    for (batch, m, n, k, layouts) in shapes(c.set) {
        for &layout in layouts {
            let shape = format!("r5 {layout} b{batch} {m}x{n}x{k}");
            c.check("gemm_bf16_wgmma", &shape, |dev, rng| {
                let p = Problem {
                    dims: (batch, m, n, k),
                    layout,
                    rung: GemmRung::Wgmma,
                    split_k: false,
                };
                let mut rows = check_gemm(dev, rng, &p, &shape)?;
                rows.push(wgmma_ran(dev, &p, &shape)?);
                Ok(rows)
            });
        }
    }
    c.check(
        "planted_gemm_wgmma_skip_full_wait",
        "kk 136x264x200",
        |dev, rng| planted_skip_full_wait(dev, rng),
    );
}

/// A row that fails when an sm_90 device planned another kernel than rung 5 for `p`.
fn wgmma_ran(dev: &dyn KernelDevice, p: &Problem, shape: &str) -> Result<CheckRow> {
    let (batch, m, n, k) = p.dims;
    let g = p.gemm(1.0, 0.0);
    let (a, b) = (
        upload(dev, &vec![half::bf16::ZERO; batch * m * k])?,
        upload(dev, &vec![half::bf16::ZERO; batch * n * k])?,
    );
    let plan = gemm_plan(dev, &g, &a, &b, GemmRung::Wgmma, false);
    let pass = !dev.has_sm90a() || plan.rung == GemmRung::Wgmma;
    Ok(CheckRow {
        kernel: format!("r{} {} (rung 5 planned)", plan.rung.number(), plan.kernel),
        shape: shape.to_string(),
        max_abs: 0.0,
        max_rel: 0.0,
        tol: 0.0,
        pass,
        note: if pass {
            String::new()
        } else {
            "an sm_90 device did not plan the wgmma kernel".into()
        },
    })
}

/// The planted kernel (emulator only) on a GEMM it must get wrong: passes when its output does
/// not match, or its launch fails.
fn planted_skip_full_wait(dev: &dyn KernelDevice, rng: &mut SplitMix64) -> Result<Vec<CheckRow>> {
    const KERNEL: &str = "planted_gemm_wgmma_skip_full_wait";
    if dev.gpu().is_some() {
        return Ok(Vec::new());
    }
    let p = Problem {
        dims: (1, 136, 264, 200),
        layout: "kk",
        rung: GemmRung::Wgmma,
        split_k: false,
    };
    let (_, m, n, k) = p.dims;
    let (a, ah) = bf16_inputs(rng, m * k, -1.0, 1.0);
    let (b, bh) = bf16_inputs(rng, n * k, -1.0, 1.0);
    let (da, db) = (upload(dev, &ah)?, upload(dev, &bh)?);
    let g = p.gemm(1.0, 0.0);
    let c = nan_f32(dev, m * n)?;
    // The planted variant is the 128-column kernel: plan that tile whatever N is.
    let tile = wgmma_tile(128);
    let opts = GemmOpts {
        rung: GemmRung::Wgmma,
        ..GemmOpts::default()
    };
    let launched = launch_wgmma(
        dev,
        KERNEL,
        Some(&c),
        None,
        &da,
        &db,
        &g,
        &opts,
        (true, true),
        &tile,
    );
    let want = p.reference(&a, &b, 1.0, 0.0, &vec![0.0; m * n]);
    let (pass, note) = match launched {
        Err(e) => (true, format!("caught: the launch failed: {e:#}")),
        Ok(()) => {
            let row = compare(KERNEL, "", &download(dev, &c)?, &want, TOL_GEMM);
            if row.pass {
                (false, "the planted bug went unnoticed".to_string())
            } else {
                (true, format!("caught: {}", row.note))
            }
        }
    };
    Ok(vec![CheckRow {
        kernel: format!("{KERNEL} (must fail)"),
        shape: "kk 136x264x200".into(),
        max_abs: 0.0,
        max_rel: 0.0,
        tol: 0.0,
        pass,
        note,
    }])
}
