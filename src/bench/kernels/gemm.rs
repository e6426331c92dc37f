//! GEMM entries: 4096³ in the three layouts the model runs (x·Wᵀ, dY·W, dYᵀ·X) and each model's
//! per-layer products, on every selected rung of the GEMM ladder, against cuBLAS on the same
//! buffers. Each record's note carries the counted operand traffic of its rung.
use super::counts::gemm_flops;
use super::cublas::CublasOut;
use super::gemm_sm90::persistent_note;
use super::record::Record;
use super::shapes::Plan;
use super::timing::Bencher;
use super::{against_rung1, Ladder, Roofs};
use crate::backend::cuda::device::{alloc, DevBuf};
use crate::backend::cuda::gemm::{
    gemm_bf16_with, gemm_plan, gemm_plan_aligned, Gemm, GemmOffsets, GemmOpts, GemmPlan, GemmRung,
    Strides,
};
use anyhow::Result;
use half::bf16;

/// The GEMM goal on the sm_80-class (mma.sync) path, as a fraction of cuBLAS.
pub const GEMM_GOAL: f64 = 0.7;

pub const LADDER: Ladder = Ladder {
    op: "gemm",
    rungs: &[
        (1, GemmRung::Strided.idea()),
        (2, GemmRung::Layouts.idea()),
        (3, GemmRung::Tiles.idea()),
        (4, GemmRung::SplitK.idea()),
        (5, GemmRung::Wgmma.idea()),
        (6, GemmRung::Rows.idea()),
        (7, GemmRung::GridFill.idea()),
        (8, GemmRung::WideTiles.idea()),
        (9, GemmRung::RowsBalanced.idea()),
        (10, GemmRung::TileMenu.idea()),
    ],
    best: GemmRung::BEST.number(),
};

/// Above this many FLOPs rung 1 is not timed on transposed operands on a GPU (its 2-byte strided
/// loads take minutes there); the 4096³ entries show that rung in every layout.
const RUNG1_STRIDED_FLOP_CAP: u64 = 2 * 4096 * 4096 * 4096;

struct Case {
    label: String,
    g: Gemm,
    /// f32 output accumulated into (weight gradients, which may split K), else bf16 output.
    dw: bool,
    /// The goal is stated at 4096³ and the 7B training shapes only.
    has_goal: bool,
}

fn case(label: String, m: usize, n: usize, k: usize, layout: &str) -> Case {
    let (a, b, dw, beta) = match layout {
        // y[m, n] = x[m, k] · W[n, k]ᵀ
        "fwd" => (Strides::rows(m, k), Strides::rows(n, k), false, 0.0),
        // dX[m, n] = dY[m, k] · W[k, n]
        "dx" => (Strides::rows(m, k), Strides::cols(n, k), false, 0.0),
        // C[m, n] = A[k, m]ᵀ · B[n, k]ᵀ: the one layout pair the model does not use, kept covered
        "mk" => (Strides::cols(m, k), Strides::rows(n, k), false, 0.0),
        // dW[m, n] += dY[k, m]ᵀ · X[k, n]
        _ => (Strides::cols(m, k), Strides::cols(n, k), true, 1.0),
    };
    Case {
        label,
        g: Gemm {
            batch: 1,
            m,
            n,
            k,
            a,
            b,
            alpha: 1.0,
            beta,
        },
        dw,
        has_goal: true,
    }
}

/// The shape labels of `plan`'s GEMM entries, in run order (each runs once per selected rung).
pub fn case_labels(plan: &Plan) -> Vec<String> {
    cases(plan).into_iter().map(|c| c.label).collect()
}

fn cases(plan: &Plan) -> Vec<Case> {
    let s = plan.square_gemm;
    let t = plan.tokens;
    let mut v = vec![
        case(format!("{s}x{s}x{s} x·Wᵀ"), s, s, s, "fwd"),
        case(format!("{s}x{s}x{s} dY·W"), s, s, s, "dx"),
        case(format!("{s}x{s}x{s} dYᵀ·X"), s, s, s, "dw"),
    ];
    for m in &plan.models {
        let first = v.len();
        let (h, f, p) = (m.hidden, m.ffn, m.short);
        let kv = m.n_kv_heads * m.head_dim;
        v.push(case(
            format!("{p} qkv x·Wᵀ {t}x{}x{h}", m.qkv_width()),
            t,
            m.qkv_width(),
            h,
            "fwd",
        ));
        if m.short == "7B" || plan.models.len() == 1 {
            v.push(case(format!("{p} o x·Wᵀ {t}x{h}x{h}"), t, h, h, "fwd"));
        }
        v.push(case(format!("{p} up x·Wᵀ {t}x{f}x{h}"), t, f, h, "fwd"));
        v.push(case(format!("{p} down x·Wᵀ {t}x{h}x{f}"), t, h, f, "fwd"));
        v.push(case(format!("{p} down dY·W {t}x{f}x{h}"), t, f, h, "dx"));
        v.push(case(format!("{p} down dYᵀ·X {h}x{f}x{t}"), h, f, t, "dw"));
        // The narrow k/v projections' weight gradient: few output tiles, deep K (split-K's case).
        v.push(case(format!("{p} k dYᵀ·X {kv}x{h}x{t}"), kv, h, t, "dw"));
        // A decode step's q/k/v and down products at batch 1 and 64 (rung 6's case) and 256
        // (rung 7's).
        for rows in [1, 64, 256] {
            let q = m.qkv_width();
            v.push(case(
                format!("{p} decode qkv {rows}x{q}x{h}"),
                rows,
                q,
                h,
                "fwd",
            ));
            v.push(case(
                format!("{p} decode down {rows}x{h}x{f}"),
                rows,
                h,
                f,
                "fwd",
            ));
        }
        let goal = m.short == "7B" || plan.models.len() == 1;
        v[first..].iter_mut().for_each(|c| c.has_goal = goal);
    }
    // Small shapes that reach every kernel of the ladder: the m-contiguous × k-contiguous layout
    // and a deep-K weight gradient with one output tile, which rung 4 splits (then sums).
    let first = v.len();
    v.push(case("32x32x32 Aᵀ·Bᵀ".into(), 32, 32, 32, "mk"));
    v.push(case(
        "32x32x1024 dYᵀ·X (split-K)".into(),
        32,
        32,
        1024,
        "dw",
    ));
    // Few rows, N wide enough for rung 6's four-tile kernel.
    v.push(case(
        "16x4224x32 x·Wᵀ (few rows, wide)".into(),
        16,
        4224,
        32,
        "fwd",
    ));
    // N = 256 in every layout: rung 5's 128x256 kernels (narrower products take its 128x128 ones).
    for kind in ["fwd", "dx", "dw", "mk"] {
        v.push(case(
            format!("64x256x64 {kind} (wide tile)"),
            64,
            256,
            64,
            kind,
        ));
    }
    // All 64 rows by 1536 columns: rung 9's 16 columns per warp (96 blocks in one round).
    v.push(case(
        "64x1536x32 x·Wᵀ (few rows, 16 per warp)".into(),
        64,
        1536,
        32,
        "fwd",
    ));
    // Past 64 rows, grids that 64x32 and 128x64 tiles fill best (rung 10).
    v.push(case(
        "100x1000x32 x·Wᵀ (64x32 tiles)".into(),
        100,
        1000,
        32,
        "fwd",
    ));
    v.push(case(
        "200x3600x32 x·Wᵀ (128x64 tiles)".into(),
        200,
        3600,
        32,
        "fwd",
    ));
    // Two rows of 128-row tiles and 66 of 256 columns in every layout: rung 8's 128x256 kernels
    // (132 blocks, one round, against two rounds of 264 128x128 blocks).
    for kind in ["fwd", "dx", "dw", "mk"] {
        v.push(case(
            format!("136x16896x32 {kind} (128x256 grid)"),
            136,
            16896,
            32,
            kind,
        ));
    }
    v[first..].iter_mut().for_each(|c| c.has_goal = false);
    v
}

/// What one call of a rung moves, counted from its tiles (no device needed).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Traffic {
    pub ctas: usize,
    /// Operand bytes the CTAs request (each reads its M- and N-panels over its K range).
    pub operand_bytes: u64,
    /// Fraction of every fetched 32-byte sector the operand loads use.
    pub sector_use: f64,
    /// Bytes of C (written; read too when accumulating) plus split partials (written and read).
    pub output_bytes: u64,
}

/// The counted traffic of `plan` on `g` (f32 output when `f32_out`).
pub fn traffic(g: &Gemm, plan: &GemmPlan, f32_out: bool) -> Traffic {
    let t = plan.tile;
    let (tm, tn) = (g.m.div_ceil(t.bm), g.n.div_ceil(t.bn));
    let a_bytes = (tn * g.m * g.k * 2 * g.batch) as u64;
    let b_bytes = (tm * g.n * g.k * 2 * g.batch) as u64;
    // Rung 1's general kernel reads one bf16 per thread along k: a warp covers 64 contiguous bytes
    // of a k-contiguous operand, but 32 separate sectors of a transposed one.
    let use_of = |s: &Strides| {
        if plan.kernel != "gemm_bf16_mma" || s.k == 1 {
            1.0
        } else {
            2.0 / 32.0
        }
    };
    let sector_use = (a_bytes as f64 * use_of(&g.a) + b_bytes as f64 * use_of(&g.b))
        / (a_bytes + b_bytes).max(1) as f64;
    let c = (g.batch * g.m * g.n) as u64;
    let elem = if f32_out { 4 } else { 2 };
    let reads_c = if f32_out && g.beta != 0.0 { 2 } else { 1 };
    let parts = if plan.splits > 1 {
        8 * plan.splits as u64 * c
    } else {
        0
    };
    Traffic {
        ctas: plan.ctas(g),
        operand_bytes: a_bytes + b_bytes,
        sector_use,
        output_bytes: reads_c * elem * c + parts,
    }
}

fn traffic_note(g: &Gemm, plan: &GemmPlan, f32_out: bool) -> String {
    let t = traffic(g, plan, f32_out);
    let split = if plan.splits > 1 {
        format!(", K split {}x", plan.splits)
    } else {
        String::new()
    };
    format!(
        "{}: {} CTAs{split}, operands {:.3} GB requested at {:.0}% sector use, C {:.3} GB{}",
        plan.kernel,
        t.ctas,
        t.operand_bytes as f64 / 1e9,
        100.0 * t.sector_use,
        t.output_bytes as f64 / 1e9,
        persistent_note(g, plan)
    )
}

pub fn run(b: &mut Bencher, plan: &Plan, roofs: &Roofs, out: &mut Vec<Record>) -> Result<()> {
    let rungs = b.rungs.rungs(&LADDER);
    if !b.wants("gemm_bf16") || rungs.is_empty() {
        return Ok(());
    }
    for c in cases(plan) {
        let g = c.g;
        let x = b.random::<bf16>(g.m * g.k, |u| bf16::from_f64(u - 0.5))?;
        let w = b.random::<bf16>(g.n * g.k, |u| bf16::from_f64(u - 0.5))?;
        let c32: Option<DevBuf<f32>> = if c.dw {
            Some(b.random::<f32>(g.m * g.n, |_| 0.0)?)
        } else {
            None
        };
        let c16: Option<DevBuf<bf16>> = if c.dw {
            None
        } else {
            Some(alloc::<bf16>(&b.dev, g.m * g.n)?)
        };
        let mut blas_ms = None;
        if let Some(blas) = &roofs.cublas {
            let timed = b.time(&mut || {
                let o = match (&c32, &c16) {
                    (Some(c), _) => CublasOut::F32(c),
                    (None, Some(c)) => CublasOut::Bf16(c),
                    (None, None) => unreachable!("one output is always allocated"),
                };
                blas.gemm(o, &x, &w, &g, GemmOffsets::default())
            });
            blas_ms = Some(timed.map(|t| t.median_ms));
        }
        let mut rung1_ms = None;
        for &n in &rungs {
            let rung = GemmRung::from_number(n).expect("the filter only passes ladder rungs");
            let opts = GemmOpts {
                rung,
                split_k: c.dw,
                ..GemmOpts::default()
            };
            let gp = gemm_plan(&b.dev, &g, &x, &w, rung, c.dw);
            let flops = gemm_flops(g.m, g.n, g.k);
            if b.is_gpu() && gp.kernel == "gemm_bf16_mma" && flops > RUNG1_STRIDED_FLOP_CAP {
                let mut r = Record::new("gemm", "gemm_bf16", c.label.clone()).note(
                    "not timed: the strided kernel takes minutes here; see the 4096³ entries",
                );
                r.rung = Some(n);
                out.push(r);
                continue;
            }
            b.dev.take_launched();
            let t = b.time(&mut || {
                gemm_bf16_with(&b.dev, c32.as_ref(), c16.as_ref(), &x, &w, &g, &opts)
            })?;
            let goal = if !c.has_goal {
                "(no issue goal at this shape)".to_string()
            } else if n == LADDER.best {
                format!("≥ {GEMM_GOAL:.2} × cuBLAS speed (mma.sync)")
            } else {
                format!("(ladder; goal on rung {})", LADDER.best)
            };
            // The group is the file of the kernel that ran: gemm, or gemm_sm90 for rung 5.
            let group = crate::backend::cuda::kernels::file_of(gp.kernel).unwrap_or("gemm");
            let mut r = Record::new(group, "gemm_bf16", c.label.clone())
                .timed(t.clone(), Some(flops), None)
                .goal(&goal)
                .note(&traffic_note(&g, &gp, c.dw));
            r.launches = b.dev.take_launched();
            match &blas_ms {
                Some(Ok(base)) => {
                    let tf = super::counts::tflops(flops, *base);
                    r.baseline = Some(format!("cuBLAS {base:.3} ms {tf:.0} TF/s"));
                    let ratio = base / t.median_ms;
                    r.ratio = Some(ratio);
                    r.met = (c.has_goal && n == LADDER.best).then_some(ratio >= GEMM_GOAL);
                }
                Some(Err(e)) => r.note.push_str(&format!("; cuBLAS failed: {e:#}")),
                None => {}
            }
            if n == 1 {
                rung1_ms = Some(t.median_ms);
            }
            out.push(against_rung1(r, n, rung1_ms));
        }
    }
    Ok(())
}

/// The counted traffic of every rung at each GPU case, as `(label, rung, traffic)`.
pub fn ladder_traffic(plan: &Plan) -> Vec<(String, u32, Traffic)> {
    let mut v = Vec::new();
    for c in cases(plan) {
        for rung in GemmRung::ALL {
            let gp = gemm_plan_aligned(&c.g, rung, c.dw);
            v.push((c.label.clone(), rung.number(), traffic(&c.g, &gp, c.dw)));
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gpu_plan_has_the_square_layouts_and_every_layout_per_model() {
        let cs = cases(&Plan::gpu(32768));
        assert_eq!(cs[0].label, "4096x4096x4096 x·Wᵀ");
        assert_eq!(
            gemm_flops(cs[0].g.m, cs[0].g.n, cs[0].g.k),
            2 * 4096u64.pow(3)
        );
        // the squares, six per model (seven for 7B) and six decode products each (rungs 6, 7), the
        // two that reach every kernel of rungs 1-4, the wide few-row one, the four 256-wide ones
        // that reach rung 5's wide kernels, the 16-column few-row one (rung 9), rung 10's two and
        // the four that reach rung 8's 128x256 kernels
        assert_eq!(cs.len(), 3 + 3 * 6 + 1 + 3 * 6 + 2 + 1 + 4 + 1 + 2 + 4);
        let dw = cs
            .iter()
            .find(|c| c.label.starts_with("7B down dYᵀ"))
            .unwrap();
        assert_eq!((dw.g.m, dw.g.n, dw.g.k), (3584, 18944, 8192));
        assert!(dw.dw && dw.g.beta == 1.0 && dw.has_goal);
        assert!(cs
            .iter()
            .filter(|c| c.label.starts_with("135M"))
            .all(|c| !c.has_goal));
    }

    #[test]
    fn counted_traffic_shows_each_rungs_idea() {
        let plan = Plan::gpu(32768);
        let t = ladder_traffic(&plan);
        let get = |label: &str, rung: u32| {
            t.iter()
                .find(|(l, r, _)| l == label && *r == rung)
                .map(|x| x.2)
                .unwrap()
        };
        // Rung 1 reads a transposed operand 2 bytes per sector; rung 2 uses every sector.
        let dw1 = get("4096x4096x4096 dYᵀ·X", 1);
        let dw2 = get("4096x4096x4096 dYᵀ·X", 2);
        assert!((dw1.sector_use - 2.0 / 32.0).abs() < 1e-12);
        assert_eq!(dw2.sector_use, 1.0);
        // 128×128 tiles halve the operand bytes of 64×64 ones.
        let f2 = get("4096x4096x4096 x·Wᵀ", 2);
        let f3 = get("4096x4096x4096 x·Wᵀ", 3);
        assert_eq!(f2.operand_bytes, 2 * f3.operand_bytes);
        assert_eq!(f3.ctas, 32 * 32);
        // The 1.5B k projection's gradient (256 x 1536, K = 8192) has 24 tiles: rung 4 splits it
        // to fill the GPU once, each split 1024 deep or more.
        let k3 = get("1.5B k dYᵀ·X 256x1536x8192", 3);
        let k4 = get("1.5B k dYᵀ·X 256x1536x8192", 4);
        assert_eq!(k3.ctas, 24);
        assert_eq!(k4.ctas, 24 * 6);
        assert_eq!(k4.operand_bytes, k3.operand_bytes);
        // Token-row products never split (their result must not depend on the token count).
        let up4 = get("1.5B up x·Wᵀ 8192x8960x1536", 4);
        let up3 = get("1.5B up x·Wᵀ 8192x8960x1536", 3);
        assert_eq!(up4, up3);
        // 128×256 tiles move three quarters of 128×128's operand bytes in half the blocks.
        let f8 = get("4096x4096x4096 x·Wᵀ", 8);
        assert_eq!(
            (4 * f8.operand_bytes, 2 * f8.ctas),
            (3 * f3.operand_bytes, f3.ctas)
        );
        // At 64 rows, 16 columns per warp read x half as often as 8 (o: 1536 wide, K 1536).
        let o6 = get("1.5B decode qkv 64x2048x1536", 6);
        let o9 = get("1.5B decode qkv 64x2048x1536", 9);
        assert_eq!((o6.ctas, o9.ctas), (256, 128));
        let x_bytes = |ctas: u64| ctas * 64 * 1536 * 2;
        let w_bytes = 2048 * 1536 * 2;
        assert_eq!(o6.operand_bytes, x_bytes(256) + w_bytes);
        assert_eq!(o9.operand_bytes, x_bytes(128) + w_bytes);
    }
}
