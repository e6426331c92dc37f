//! Launchers for kernels/gemm.cu: the batched, strided tensor-core GEMM (bf16 operands, f32
//! accumulation), its ladder of kernels (`GemmRung`) and the choice of kernel for a problem.
use super::bias::bias_add_bf16;
use super::cast::residual_add_bf16;
use super::device::{
    alloc, DevBuf, KernelArgs, KernelDevice, LaunchCfg, LoopArg, H100_SMEM_PER_BLOCK,
};
use super::gemm_sm90::{launch_wgmma, wgmma_kernel, wgmma_opted_in, wgmma_tile};
use anyhow::{bail, Result};
use half::bf16;

/// How a GEMM operand is laid out in memory, as element strides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Strides {
    /// Stride of the outer index (m for A, n for B).
    pub outer: usize,
    /// Stride of k.
    pub k: usize,
    /// Stride between batch entries.
    pub batch: usize,
}

impl Strides {
    /// Row-major [outer, k] (A = x [M, K]; B = W [N, K], i.e. y = x W^T).
    pub fn rows(outer: usize, k: usize) -> Self {
        Strides {
            outer: k,
            k: 1,
            batch: outer * k,
        }
    }
    /// Stored transposed: row-major [k, outer] (A = dY^T from dY [K, M]; B = W [K, N]).
    pub fn cols(outer: usize, k: usize) -> Self {
        Strides {
            outer: 1,
            k: outer,
            batch: outer * k,
        }
    }
    /// Largest element index touched, plus one.
    fn extent(&self, batch: usize, outer: usize, k: usize) -> usize {
        if batch == 0 || outer == 0 || k == 0 {
            return 0;
        }
        (batch - 1) * self.batch + (outer - 1) * self.outer + (k - 1) * self.k + 1
    }
}

/// A batched GEMM problem: C[z] = alpha * A[z] B[z]^T + beta * C[z], C dense [batch, m, n].
#[derive(Clone, Copy, Debug)]
pub struct Gemm {
    pub batch: usize,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub a: Strides,
    pub b: Strides,
    pub alpha: f32,
    /// Only with an f32 output: adds beta * the previous contents (gradient accumulation).
    pub beta: f32,
}

/// The GEMM ladder: each rung adds one idea to the one below (kernels/gemm.cu's header says how).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GemmRung {
    /// The first kernels: 64×64 tiles, cp.async + ldmatrix only for k-contiguous operands, 2-byte
    /// strided loads otherwise.
    Strided = 1,
    /// The cp.async + ldmatrix(.trans) pipeline for both layouts of each operand.
    Layouts = 2,
    /// 128×128 tiles, 4 stages, swizzled shared memory, grouped tile order, fused vectorised epilogue.
    Tiles = 3,
    /// Rung 3 split along K (fixed-order reduction) where the tile grid cannot fill the GPU.
    SplitK = 4,
    /// sm_90a (kernels/gemm_sm90.cu): TMA + mbarrier ring, warp-specialised wgmma, persistent.
    /// Runs only on compute capability 9.0 (rung 3 elsewhere); opt-in for the model.
    Wgmma = 5,
    /// Rung 4, with products of at most [`ROWS_MAX_M`] token rows (decode) on
    /// `gemm_bf16_rows_kk`: a warp per 8 output columns (N / 8 blocks instead of N / 128; 32
    /// columns, `gemm_bf16_rows4_kk`, where N / 32 blocks still fill the GPU), every element the
    /// same mma.sync sequence as rung 3, so the same bits without splitting K.
    Rows = 6,
    /// Rung 6, with token-row products of more rows on `gemm_bf16_t64_kk` (rung 3's pipeline on
    /// 64×64 tiles) where the 128×128 grid would leave SMs idle ([`small_tiles_win`]): a decode
    /// step's narrow products at batch 65–256. Rung 3's bits.
    GridFill = 7,
    /// Rung 7, with 128×256 tiles (`gemm_bf16_t128x256_*`, 8 warps of rung 3's 64×64) for the
    /// unsplit products whose grid those still fill ([`wide_tiles_win`]): a third more FLOPs per
    /// byte of operand traffic. Rung 3's bits.
    WideTiles = 8,
    /// Rung 8, with rung 6's few-row kernel taking 8, 16 (`gemm_bf16_rows2_kk`) or 32 columns per
    /// warp, whichever moves the fewest operand bytes per round of blocks ([`rows_columns`]).
    /// Rung 3's bits.
    RowsBalanced = 9,
    /// Rung 9, with token-row products past 64 rows taking the tile of the least rounds ·
    /// (bm + bn) among 64×32 (`gemm_bf16_t64x32_kk`), 64×64, 128×64 (`gemm_bf16_t128x64_kk`) and
    /// 128×128 ([`menu_tile`]): a decode step's narrow products at batch 65–256, whose 128- or
    /// 64-square grids leave SMs idle. Rung 3's bits.
    TileMenu = 10,
}

/// Most rows rung 6's few-row kernel takes (four m16 tiles per warp; GEMM_ROWS_MT).
pub const ROWS_MAX_M: usize = 64;

impl GemmRung {
    pub const ALL: [GemmRung; 10] = [
        GemmRung::Strided,
        GemmRung::Layouts,
        GemmRung::Tiles,
        GemmRung::SplitK,
        GemmRung::Wgmma,
        GemmRung::Rows,
        GemmRung::GridFill,
        GemmRung::WideTiles,
        GemmRung::RowsBalanced,
        GemmRung::TileMenu,
    ];
    /// The best rung on every device (mma.sync).
    pub const BEST: GemmRung = GemmRung::TileMenu;

    /// What the device model runs: [`GemmRung::BEST`], or the wgmma rung when `RLVR_GEMM_WGMMA=1`
    /// (it has not run on a GPU yet; on devices other than sm_90 the plan still takes rung 3/4).
    pub fn model_default() -> GemmRung {
        if wgmma_opted_in() {
            GemmRung::Wgmma
        } else {
            GemmRung::BEST
        }
    }

    pub const fn number(self) -> u32 {
        self as u32
    }

    pub fn from_number(n: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.number() == n)
    }

    /// The idea this rung adds, for the bench table and `--help`.
    pub const fn idea(self) -> &'static str {
        match self {
            GemmRung::Strided => "64x64 mma.sync; cp.async+ldmatrix only for k-contiguous operands",
            GemmRung::Layouts => "cp.async+ldmatrix(.trans) for transposed operands too",
            GemmRung::Tiles => {
                "128x128x32, 4 stages, swizzled smem, grouped tile order, fused 16-byte epilogue"
            }
            GemmRung::SplitK => "split-K with a fixed-order sum where the tile grid is small",
            GemmRung::Wgmma => {
                "sm_90a: TMA + mbarrier ring, producer/consumer warpgroups, wgmma 128x256, persistent"
            }
            GemmRung::Rows => "rung 4 + a warp per 8 columns for <= 64 token rows, rung 3's bits",
            GemmRung::GridFill => {
                "rung 6 + 64x64 tiles where 128x128 ones leave SMs idle, rung 3's bits"
            }
            GemmRung::WideTiles => {
                "rung 7 + 128x256 tiles (8 warps) where their grid still fills the GPU, rung 3's bits"
            }
            GemmRung::RowsBalanced => {
                "rung 8 + 8/16/32 columns per warp for <= 64 rows by operand traffic, rung 3's bits"
            }
            GemmRung::TileMenu => {
                "rung 9 + 64x32 / 128x64 tiles for 65-256 token rows where they fill more SMs, rung 3's bits"
            }
        }
    }
}

/// Launch options beyond the problem: where the operands start, which rung, and what the epilogue
/// adds. Defaults: no offsets, the model's rung ([`GemmRung::model_default`]), no split along K,
/// no bias or residual.
#[derive(Clone, Copy)]
pub struct GemmOpts<'a> {
    pub off: GemmOffsets,
    pub rung: GemmRung,
    /// Whether rung 4 may split K. Splitting changes the summation order with the tile grid, so a
    /// product whose rows are tokens (x·Wᵀ, dY·W) keeps it off: its result must not depend on how
    /// many tokens share the call. Weight gradients (rows and columns are model dimensions) allow it.
    pub split_k: bool,
    /// Added per output column (bf16 [n]).
    pub bias: Option<&'a DevBuf<bf16>>,
    /// Added elementwise (bf16, the layout of C, from offset `off.c`); may be `c_bf16` itself.
    pub residual: Option<&'a DevBuf<bf16>>,
}

impl Default for GemmOpts<'_> {
    fn default() -> Self {
        GemmOpts {
            off: GemmOffsets::default(),
            rung: GemmRung::model_default(),
            split_k: false,
            bias: None,
            residual: None,
        }
    }
}

/// Tensor-core GEMM (mma.sync bf16 -> f32) on the best rung. Writes `c_f32` and/or `c_bf16`.
pub fn gemm_bf16(
    dev: &dyn KernelDevice,
    c_f32: Option<&DevBuf<f32>>,
    c_bf16: Option<&DevBuf<bf16>>,
    a: &DevBuf<bf16>,
    b: &DevBuf<bf16>,
    g: &Gemm,
) -> Result<()> {
    let c_len = g.batch * g.m * g.n;
    for (what, len) in [
        ("c_f32", c_f32.map(|c| c.len())),
        ("c_bf16", c_bf16.map(|c| c.len())),
    ] {
        if let Some(len) = len {
            if len != c_len {
                bail!("gemm_bf16: {what} has {len} elements, the problem needs {c_len}");
            }
        }
    }
    gemm_bf16_with(dev, c_f32, c_bf16, a, b, g, &GemmOpts::default())
}

/// Element offsets into the operands of [`gemm_bf16_at`] (a sub-block of a larger buffer, e.g. one
/// token chunk of the hidden states).
#[derive(Clone, Copy, Debug, Default)]
pub struct GemmOffsets {
    pub a: usize,
    pub b: usize,
    pub c: usize,
}

/// [`gemm_bf16`] on operands that start `off` elements into their buffers; C may be a prefix of a
/// larger buffer.
pub fn gemm_bf16_at(
    dev: &dyn KernelDevice,
    c_f32: Option<&DevBuf<f32>>,
    c_bf16: Option<&DevBuf<bf16>>,
    a: &DevBuf<bf16>,
    b: &DevBuf<bf16>,
    g: &Gemm,
    off: GemmOffsets,
) -> Result<()> {
    let opts = GemmOpts {
        off,
        ..GemmOpts::default()
    };
    gemm_bf16_with(dev, c_f32, c_bf16, a, b, g, &opts)
}

/// The GEMM with every option: offsets, rung, split-K permission, fused bias and residual.
pub fn gemm_bf16_with(
    dev: &dyn KernelDevice,
    c_f32: Option<&DevBuf<f32>>,
    c_bf16: Option<&DevBuf<bf16>>,
    a: &DevBuf<bf16>,
    b: &DevBuf<bf16>,
    g: &Gemm,
    o: &GemmOpts<'_>,
) -> Result<()> {
    let off = o.off;
    let c_len = g.batch * g.m * g.n;
    if c_f32.is_none() && c_bf16.is_none() {
        bail!("gemm_bf16: no output buffer");
    }
    for (what, len) in [
        ("c_f32", c_f32.map(|c| c.len())),
        ("c_bf16", c_bf16.map(|c| c.len())),
        ("residual", o.residual.map(|c| c.len())),
    ] {
        if let Some(len) = len {
            if off.c + c_len > len {
                bail!(
                    "gemm_bf16: {what} has {len} elements, the problem needs {c_len} from offset {}",
                    off.c
                );
            }
        }
    }
    if let Some(bias) = o.bias {
        if bias.len() != g.n {
            bail!(
                "gemm_bf16: bias has {} elements for {} output columns",
                bias.len(),
                g.n
            );
        }
    }
    if off.a + g.a.extent(g.batch, g.m, g.k) > a.len()
        || off.b + g.b.extent(g.batch, g.n, g.k) > b.len()
    {
        bail!(
            "gemm_bf16: operand strides reach past the end of A ({}) or B ({})",
            a.len(),
            b.len()
        );
    }
    if c_len == 0 {
        return Ok(());
    }
    if g.m > i32::MAX as usize
        || g.n > i32::MAX as usize
        || g.k > i32::MAX as usize
        || g.batch > 65535
    {
        bail!("gemm_bf16: problem {g:?} exceeds the launch limits");
    }
    let plan = plan_at(g, a, b, off, o.rung, o.split_k, device_caps(dev));
    let epilogue = o.bias.is_some() || o.residual.is_some();
    if epilogue && !plan.fused_epilogue() && c_f32.is_some() {
        bail!(
            "gemm_bf16: {} cannot add a bias or residual to an f32 output (rung 3 and up can)",
            plan.kernel
        );
    }
    match plan.kind {
        Kind::Strided | Kind::KContiguous => launch_first(dev, c_f32, c_bf16, a, b, g, off, &plan)?,
        Kind::Pipe { .. } if plan.splits > 1 => {
            let parts = alloc::<f32>(dev, plan.splits * c_len)?;
            let whole = GemmOpts {
                off: GemmOffsets { c: 0, ..off },
                bias: None,
                residual: None,
                ..*o
            };
            let partial = Gemm {
                alpha: 1.0,
                beta: 0.0,
                ..*g
            };
            launch_pipe(dev, Some(&parts), None, a, b, &partial, &whole, &plan)?;
            launch_split_sum(dev, c_f32, c_bf16, &parts, g, o, plan.splits)?;
        }
        Kind::Pipe { .. } | Kind::Rows => launch_pipe(dev, c_f32, c_bf16, a, b, g, o, &plan)?,
        Kind::Wgmma { a_k, b_k } => launch_wgmma(
            dev,
            plan.kernel,
            c_f32,
            c_bf16,
            a,
            b,
            g,
            o,
            (a_k, b_k),
            &plan.tile,
        )?,
    }
    if epilogue && !plan.fused_epilogue() {
        let Some(c) = c_bf16 else {
            bail!("gemm_bf16: a bias or residual needs an output");
        };
        let out = c.view(off.c, c_len)?;
        if let Some(bias) = o.bias {
            bias_add_bf16(dev, &out, bias)?;
        }
        if let Some(r) = o.residual {
            let r = r.view(off.c, c_len)?;
            residual_add_bf16(dev, &out, &out, &r)?;
        }
    }
    Ok(())
}

/// Rung 1: the general strided kernel, or the k-contiguous pipeline.
#[allow(clippy::too_many_arguments)]
fn launch_first(
    dev: &dyn KernelDevice,
    c_f32: Option<&DevBuf<f32>>,
    c_bf16: Option<&DevBuf<bf16>>,
    a: &DevBuf<bf16>,
    b: &DevBuf<bf16>,
    g: &Gemm,
    off: GemmOffsets,
    plan: &GemmPlan,
) -> Result<()> {
    let cfg = LaunchCfg {
        grid: [
            g.n.div_ceil(64) as u32,
            g.m.div_ceil(64) as u32,
            g.batch as u32,
        ],
        block: [128, 1, 1],
        smem_bytes: 0,
    };
    let mut args = KernelArgs::new();
    output_args(&mut args, c_f32, c_bf16, off.c)?;
    args.buf_at(a, off.a)?.buf_at(b, off.b)?;
    args.i32(g.m as i32).i32(g.n as i32).i32(g.k as i32);
    if plan.kind == Kind::KContiguous {
        args.i64(g.a.outer as i64).i64(g.b.outer as i64);
    } else {
        args.i64(g.a.outer as i64)
            .i64(g.a.k as i64)
            .i64(g.b.outer as i64)
            .i64(g.b.k as i64);
    }
    args.i64(g.n as i64)
        .i64(g.a.batch as i64)
        .i64(g.b.batch as i64)
        .i64((g.m * g.n) as i64);
    args.f32(g.alpha)
        .f32(if c_f32.is_some() { g.beta } else { 0.0 });
    // every block loops over all K tiles
    args.loop_over(LoopArg {
        index: FIRST_ARG_K,
        step: plan.tile.bk as i64,
        min_trips: g.k.div_ceil(plan.tile.bk) as u64,
    })?;
    dev.launch(plan.kernel, &cfg, &mut args)
}

/// Positions of K among the arguments of the first kernels and of the pipelined ones.
const FIRST_ARG_K: usize = 6;
const PIPE_ARG_K: usize = 8;

/// The K loop of a pipelined launch: split s of `splits` runs K tiles [s·p, min(tiles, (s+1)·p))
/// with p = ⌈tiles / splits⌉, so lowering K by `splits` tiles (the remainder kept) takes one tile
/// off every split as long as the last split, which runs the fewest, keeps at least one.
fn pipe_loop(k: usize, bk: usize, splits: usize) -> LoopArg {
    let splits = splits.max(1);
    let tiles = k.div_ceil(bk);
    let per_split = tiles.div_ceil(splits);
    let last = tiles.saturating_sub((splits - 1) * per_split);
    LoopArg {
        index: PIPE_ARG_K,
        step: (bk * splits) as i64,
        min_trips: last as u64,
    }
}

fn output_args(
    args: &mut KernelArgs,
    c_f32: Option<&DevBuf<f32>>,
    c_bf16: Option<&DevBuf<bf16>>,
    at: usize,
) -> Result<()> {
    match c_f32 {
        Some(c) => args.buf_at(c, at)?,
        None => args.opt_buf::<f32>(None),
    };
    match c_bf16 {
        Some(c) => args.buf_at(c, at)?,
        None => args.opt_buf::<bf16>(None),
    };
    Ok(())
}

/// Rungs 2–4: the templated pipeline (`splits` partial products along K when > 1, into a dense
/// [batch · splits, m, n] C); rung 6's few-row kernel takes the same arguments.
#[allow(clippy::too_many_arguments)]
fn launch_pipe(
    dev: &dyn KernelDevice,
    c_f32: Option<&DevBuf<f32>>,
    c_bf16: Option<&DevBuf<bf16>>,
    a: &DevBuf<bf16>,
    b: &DevBuf<bf16>,
    g: &Gemm,
    o: &GemmOpts<'_>,
    plan: &GemmPlan,
) -> Result<()> {
    let (a_k, b_k, smem) = match plan.kind {
        Kind::Pipe { a_k, b_k } => (a_k, b_k, plan.tile.smem_bytes(a_k, b_k)),
        Kind::Rows => (true, true, 0),
        _ => bail!("gemm_bf16: {} is not a pipelined kernel", plan.kernel),
    };
    let t = plan.tile;
    let tiles = g.m.div_ceil(t.bm) * g.n.div_ceil(t.bn);
    if tiles > i32::MAX as usize || g.batch * plan.splits > 65535 {
        bail!("gemm_bf16: problem {g:?} exceeds the launch limits");
    }
    let cfg = LaunchCfg {
        grid: [tiles as u32, 1, (g.batch * plan.splits) as u32],
        block: [32 * t.warps as u32, 1, 1],
        smem_bytes: smem as u32,
    };
    let fused = plan.fused_epilogue();
    let mut args = KernelArgs::new();
    output_args(&mut args, c_f32, c_bf16, o.off.c)?;
    args.buf_at(a, o.off.a)?.buf_at(b, o.off.b)?;
    args.opt_buf(o.bias.filter(|_| fused));
    match o.residual.filter(|_| fused) {
        Some(r) => args.buf_at(r, o.off.c)?,
        None => args.opt_buf::<bf16>(None),
    };
    let ld = |s: &Strides, k_major: bool| if k_major { s.outer } else { s.k };
    args.i32(g.m as i32).i32(g.n as i32).i32(g.k as i32);
    args.i64(ld(&g.a, a_k) as i64).i64(ld(&g.b, b_k) as i64);
    args.i64(g.a.batch as i64)
        .i64(g.b.batch as i64)
        .i64((g.m * g.n) as i64);
    args.f32(g.alpha)
        .f32(if c_f32.is_some() { g.beta } else { 0.0 })
        .i32(plan.splits as i32);
    args.loop_over(pipe_loop(g.k, t.bk, plan.splits))?;
    dev.launch(plan.kernel, &cfg, &mut args)
}

/// The decode step's gate and up products and SwiGLU in one launch, where rung 6 takes the
/// product: `act` [m, f] = silu(x·W_gᵀ) ⊙ (x·W_uᵀ) for `w` = [W_g; W_u] ([2, f, d]) and `x`
/// [m, d], with the bits of the two products (`rung`'s plan, no bias) followed by
/// `swiglu_fwd_bf16`. Returns false, launching nothing, where the plan is not a few-row kernel;
/// the caller then runs the product and the activation.
#[allow(clippy::too_many_arguments)]
pub fn gemm_bf16_rows_swiglu(
    dev: &dyn KernelDevice,
    act: &DevBuf<bf16>,
    x: &DevBuf<bf16>,
    w: &DevBuf<bf16>,
    m: usize,
    f: usize,
    d: usize,
    rung: GemmRung,
) -> Result<bool> {
    if act.len() != m * f || x.len() < m * d || w.len() < 2 * f * d {
        bail!(
            "gemm_bf16_rows_swiglu: act {} (needs {m}x{f}), x {} (needs {m}x{d}), w {} (needs 2x{f}x{d})",
            act.len(),
            x.len(),
            w.len()
        );
    }
    let g = gate_up_gemm(m, f, d);
    let plan = plan_at(
        &g,
        x,
        w,
        GemmOffsets::default(),
        rung,
        false,
        device_caps(dev),
    );
    if plan.kind != Kind::Rows || m == 0 || f == 0 {
        return Ok(false);
    }
    let kernel = rows_swiglu_kernel(plan.kernel);
    let nt = if kernel == "gemm_bf16_rows2_swiglu_kk" {
        2
    } else {
        1
    };
    let cfg = LaunchCfg {
        grid: [f.div_ceil(8 * nt) as u32, 1, 1],
        block: [32, 1, 1],
        smem_bytes: 0,
    };
    let mut args = KernelArgs::new();
    output_args(&mut args, None, Some(act), 0)?;
    args.buf(x).buf(w);
    args.opt_buf::<bf16>(None).opt_buf::<bf16>(None);
    args.i32(m as i32).i32(f as i32).i32(d as i32);
    args.i64(d as i64).i64(d as i64);
    args.i64(0).i64((f * d) as i64).i64(0);
    args.f32(1.0).f32(0.0).i32(1);
    args.loop_over(pipe_loop(d, plan.tile.bk, 1))?;
    dev.launch(kernel, &cfg, &mut args)?;
    Ok(true)
}

/// The fused gate/up + SwiGLU kernel for the few-row kernel the plain product would run: 16
/// columns of each product per warp where that is `gemm_bf16_rows4_kk` (the same accumulator
/// count), 8 otherwise.
pub fn rows_swiglu_kernel(plain: &str) -> &'static str {
    if plain == "gemm_bf16_rows4_kk" {
        "gemm_bf16_rows2_swiglu_kk"
    } else {
        "gemm_bf16_rows_swiglu_kk"
    }
}

/// The decode step's gate and up products as one batched product: [2, m, f] from x [m, d] (read
/// by both) and the packed [2, f, d] weight.
pub fn gate_up_gemm(m: usize, f: usize, d: usize) -> Gemm {
    Gemm {
        batch: 2,
        m,
        n: f,
        k: d,
        a: Strides {
            batch: 0,
            ..Strides::rows(m, d)
        },
        b: Strides::rows(f, d),
        alpha: 1.0,
        beta: 0.0,
    }
}

/// Rung 4's fixed-order sum of the split partials, with the epilogue.
fn launch_split_sum(
    dev: &dyn KernelDevice,
    c_f32: Option<&DevBuf<f32>>,
    c_bf16: Option<&DevBuf<bf16>>,
    parts: &DevBuf<f32>,
    g: &Gemm,
    o: &GemmOpts<'_>,
    splits: usize,
) -> Result<()> {
    let runs = g.batch * g.m * g.n.div_ceil(4);
    let mut args = KernelArgs::new();
    output_args(&mut args, c_f32, c_bf16, o.off.c)?;
    args.buf(parts).opt_buf(o.bias);
    match o.residual {
        Some(r) => args.buf_at(r, o.off.c)?,
        None => args.opt_buf::<bf16>(None),
    };
    args.i32(g.m as i32)
        .i32(g.n as i32)
        .i32(splits as i32)
        .i32(g.batch as i32)
        .f32(g.alpha)
        .f32(if c_f32.is_some() { g.beta } else { 0.0 });
    let blocks = runs.div_ceil(256).min(65535) as u32;
    dev.launch(
        "gemm_bf16_splitk_sum",
        &LaunchCfg::linear(blocks, 256, 0),
        &mut args,
    )
}

/// Tile shape and pipeline of a pipelined kernel (mirrors gemm_pipeline's template arguments).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TileCfg {
    pub bm: usize,
    pub bn: usize,
    pub bk: usize,
    pub stages: usize,
    /// XOR-swizzled shared tiles (else rows padded by 8 elements).
    pub swizzled: bool,
    /// Accumulators staged through shared memory for the vectorised epilogue.
    pub staged_epilogue: bool,
    /// Warps of a block.
    pub warps: usize,
}

impl TileCfg {
    /// Bytes of one operand's staged tile: [outer][bk] when k-contiguous, else [bk][outer].
    fn operand_bytes(&self, outer: usize, k_major: bool) -> usize {
        let (rows, cols) = if k_major {
            (outer, self.bk)
        } else {
            (self.bk, outer)
        };
        2 * rows * (if self.swizzled { cols } else { cols + 8 })
    }

    /// Dynamic shared memory: the operand stages, or the f32 epilogue tile if larger.
    pub fn smem_bytes(&self, a_k: bool, b_k: bool) -> usize {
        let stages =
            self.stages * (self.operand_bytes(self.bm, a_k) + self.operand_bytes(self.bn, b_k));
        let epilogue = if self.staged_epilogue {
            4 * self.bm * (self.bn + 8)
        } else {
            0
        };
        stages.max(epilogue)
    }
}

const FIRST_TILE: TileCfg = TileCfg {
    bm: 64,
    bn: 64,
    bk: 32,
    stages: 2,
    swizzled: false,
    staged_epilogue: false,
    warps: 4,
};
const LAYOUTS_TILE: TileCfg = FIRST_TILE;
/// Rung 6's few-row kernels: all rows (at most 64) by 8 (or 32) columns per one-warp block, K in
/// steps of 32 as rung 3 (no shared memory).
const ROWS_TILE: TileCfg = TileCfg {
    bm: ROWS_MAX_M,
    bn: 8,
    bk: 32,
    stages: 0,
    swizzled: false,
    staged_epilogue: false,
    warps: 1,
};
/// Rung 7's tile for token rows past rung 6's: rung 3's pipeline on 64×64 tiles.
const SMALL_TILE: TileCfg = TileCfg {
    bm: 64,
    bn: 64,
    ..BIG_TILE
};

/// Whether rung 7's 64×64 tiles beat rung 3's 128×128 ones on `g`. A CTA walks the whole K for
/// its tile (no split: the bits stay rung 3's), reading (bm + bn) · K operand elements, so with
/// the grid in rounds of [`SPLIT_TARGET_CTAS`] blocks the time goes as rounds · (bm + bn): the
/// small tile wins where its four times as many blocks need fewer than twice the rounds. (A fixed
/// count, not the device's, so that every device plans alike.)
pub fn small_tiles_win(g: &Gemm) -> bool {
    tile_cost(g, &SMALL_TILE) < tile_cost(g, &BIG_TILE)
}
const ROWS4_TILE: TileCfg = TileCfg {
    bn: 32,
    ..ROWS_TILE
};
const ROWS2_TILE: TileCfg = TileCfg {
    bn: 16,
    ..ROWS_TILE
};

/// Columns per warp (8, 16 or 32) of rung 9's few-row kernel for `g` (at most 64 rows). Every
/// warp reads all of A's rows (padded to m16 tiles) and its columns of B over the whole K, so a
/// block moves (rows + columns) · K operand elements and, as for the tiles, the cost is that
/// times the rounds of [`SPLIT_TARGET_CTAS`] blocks; ties go to the narrower warp (more blocks in
/// flight). Up to 8 rows A is small next to the weights and a warp per 8 columns stays.
pub fn rows_columns(g: &Gemm) -> usize {
    if g.m <= 8 {
        return 8;
    }
    let rows = g.m.div_ceil(16) * 16;
    let cost =
        |cols: usize| (g.n.div_ceil(cols) * g.batch).div_ceil(SPLIT_TARGET_CTAS) * (rows + cols);
    [16, 32]
        .into_iter()
        .fold(8, |best, c| if cost(c) < cost(best) { c } else { best })
}
const BIG_TILE: TileCfg = TileCfg {
    bm: 128,
    bn: 128,
    bk: 32,
    stages: 4,
    swizzled: true,
    staged_epilogue: true,
    warps: 4,
};
/// Rung 10's tiles for token rows past 64: rung 3's pipeline on 64×32 (4 warps of 32×16) and
/// 128×64 (4 warps of 64×32).
const NARROW_TILE: TileCfg = TileCfg {
    bm: 64,
    bn: 32,
    ..BIG_TILE
};
const HALF_TILE: TileCfg = TileCfg {
    bm: 128,
    bn: 64,
    ..BIG_TILE
};

/// Rung 10's tile for a token-row product `g` of more than 64 rows: of 64×32, 64×64, 128×64 and
/// 128×128 the one of least [`tile_cost`], the larger tile on a tie (fewer blocks, less operand
/// traffic). 128×128 means: plan as rung 8.
pub fn menu_tile(g: &Gemm) -> TileCfg {
    [HALF_TILE, SMALL_TILE, NARROW_TILE]
        .into_iter()
        .fold(BIG_TILE, |best, t| {
            if tile_cost(g, &t) < tile_cost(g, &best) {
                t
            } else {
                best
            }
        })
}

/// The kernel of a tile [`menu_tile`] picks and the rung that brought it; None for 128×128.
fn menu_kernel(t: &TileCfg) -> Option<(&'static str, GemmRung)> {
    match (t.bm, t.bn) {
        (64, 32) => Some(("gemm_bf16_t64x32_kk", GemmRung::TileMenu)),
        (128, 64) => Some(("gemm_bf16_t128x64_kk", GemmRung::TileMenu)),
        (64, 64) => Some(("gemm_bf16_t64_kk", GemmRung::GridFill)),
        _ => None,
    }
}

/// Rung 8's tile: rung 3's pipeline on 128×256 tiles, 8 warps of 64×64.
const WIDE_TILE: TileCfg = TileCfg {
    bn: 256,
    warps: 8,
    ..BIG_TILE
};

/// Whether rung 8's 128×256 tiles beat rung 3's 128×128 ones on an unsplit product `g` on a
/// device whose blocks may opt in to `smem_limit` bytes of shared memory. The cost model of
/// [`small_tiles_win`] (rounds of [`SPLIT_TARGET_CTAS`] blocks times bm + bn), and at least one
/// whole round of wide blocks: a 128×128 block shares its SM with a second one, so half as many
/// wide blocks that leave SMs idle lose to the full grid of small ones on hardware, whatever
/// the round count says. And more than one row of tiles: with one, every B tile is read once
/// whatever the width, and the wide tile saves only re-reads of A's few rows (a decode step's
/// LM head at 128 rows, bound by reading the weights).
pub fn wide_tiles_win(g: &Gemm, a_k: bool, b_k: bool, smem_limit: usize) -> bool {
    let wide_ctas = g.m.div_ceil(WIDE_TILE.bm) * g.n.div_ceil(WIDE_TILE.bn) * g.batch;
    WIDE_TILE.smem_bytes(a_k, b_k) <= smem_limit
        && g.m > WIDE_TILE.bm
        && wide_ctas >= SPLIT_TARGET_CTAS
        && tile_cost(g, &WIDE_TILE) < tile_cost(g, &BIG_TILE)
}

/// Rounds of [`SPLIT_TARGET_CTAS`] blocks `g` needs on tile `t`, times the operand elements per K
/// step of one block (its time where L2 traffic binds).
fn tile_cost(g: &Gemm, t: &TileCfg) -> usize {
    let ctas = g.m.div_ceil(t.bm) * g.n.div_ceil(t.bn) * g.batch;
    ctas.div_ceil(SPLIT_TARGET_CTAS) * (t.bm + t.bn)
}

/// CTAs that fill the GPU once (an H100 SXM has 132 SMs). A fixed number, not the device's, so
/// that the split — and with it the summation order — is the same on every device.
pub const SPLIT_TARGET_CTAS: usize = 132;
/// Least depth (elements of K) a split keeps.
pub const SPLIT_MIN_K: usize = 512;
/// Most splits.
pub const SPLIT_MAX: usize = 16;

/// Splits along K of rung 4 for a tile grid of `tiles` blocks: none when the grid fills at least
/// half the GPU, else enough to fill it once, each split at least `SPLIT_MIN_K` deep.
pub fn split_count(tiles: usize, k: usize) -> usize {
    if tiles == 0 || 2 * tiles >= SPLIT_TARGET_CTAS {
        return 1;
    }
    SPLIT_TARGET_CTAS
        .div_ceil(tiles)
        .min(k / SPLIT_MIN_K)
        .clamp(1, SPLIT_MAX)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Strided,
    KContiguous,
    /// Rungs 2–4; whether each operand is contiguous along k.
    Pipe {
        a_k: bool,
        b_k: bool,
    },
    /// Rung 6's few-row kernel (both operands contiguous along k).
    Rows,
    /// Rung 5 (kernels/gemm_sm90.cu); whether each operand is contiguous along k.
    Wgmma {
        a_k: bool,
        b_k: bool,
    },
}

/// What `gemm_bf16_with` launches for a problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GemmPlan {
    /// The kernel (of rung 4's two launches, the product).
    pub kernel: &'static str,
    /// The rung that runs: the requested one, or rung 1 when the operands do not meet the
    /// pipeline's alignment (16-byte rows and bases).
    pub rung: GemmRung,
    pub tile: TileCfg,
    /// Partial products along K (rung 4), 1 when not split.
    pub splits: usize,
    kind: Kind,
}

impl GemmPlan {
    fn fused_epilogue(&self) -> bool {
        self.rung >= GemmRung::Tiles
    }

    /// Blocks of the product's launch.
    pub fn ctas(&self, g: &Gemm) -> usize {
        g.m.div_ceil(self.tile.bm) * g.n.div_ceil(self.tile.bn) * g.batch * self.splits
    }
}

/// The kernel `gemm_bf16_with` runs for `g` on `rung` on `dev` (operands at offset 0).
pub fn gemm_plan(
    dev: &dyn KernelDevice,
    g: &Gemm,
    a: &DevBuf<bf16>,
    b: &DevBuf<bf16>,
    rung: GemmRung,
    split_k: bool,
) -> GemmPlan {
    plan_at(
        g,
        a,
        b,
        GemmOffsets::default(),
        rung,
        split_k,
        device_caps(dev),
    )
}

/// What the plan needs to know of a device. The bits never depend on it: a device without sm_90a
/// runs rung 5's products on rung 3 (or 4), one without 132 KiB of shared memory per block runs
/// rung 8's 128×256 tiles as 128×128 ones, with the same bits.
#[derive(Clone, Copy, Debug)]
struct DeviceCaps {
    sm90a: bool,
    smem_per_block: usize,
}

fn device_caps(dev: &dyn KernelDevice) -> DeviceCaps {
    DeviceCaps {
        sm90a: dev.has_sm90a(),
        smem_per_block: dev.max_smem_per_block(),
    }
}

/// [`gemm_plan`] on an sm_90 device for operands with 16-byte aligned bases (for counts and tests
/// without buffers).
pub fn gemm_plan_aligned(g: &Gemm, rung: GemmRung, split_k: bool) -> GemmPlan {
    let h100 = DeviceCaps {
        sm90a: true,
        smem_per_block: H100_SMEM_PER_BLOCK,
    };
    plan_for(g, true, true, rung, split_k, h100)
}

fn plan_at(
    g: &Gemm,
    a: &DevBuf<bf16>,
    b: &DevBuf<bf16>,
    off: GemmOffsets,
    rung: GemmRung,
    split_k: bool,
    caps: DeviceCaps,
) -> GemmPlan {
    let base_ok =
        |buf: &DevBuf<bf16>, at: usize| (buf.raw().device_ptr() + 2 * at as u64).is_multiple_of(16);
    plan_for(g, base_ok(a, off.a), base_ok(b, off.b), rung, split_k, caps)
}

/// Whether an operand with strides `s` can be staged by 16-byte cp.async: contiguous along k or
/// along its outer index, the other stride (and the batch stride) a multiple of 8 elements.
/// Returns whether it is k-contiguous.
fn stageable(s: &Strides, batch: usize) -> Option<bool> {
    let aligned = |x: usize| x.is_multiple_of(8);
    let batch_ok = batch == 1 || aligned(s.batch);
    if s.k == 1 && aligned(s.outer) && batch_ok {
        Some(true)
    } else if s.outer == 1 && aligned(s.k) && batch_ok {
        Some(false)
    } else {
        None
    }
}

fn plan_for(
    g: &Gemm,
    a_base: bool,
    b_base: bool,
    rung: GemmRung,
    split_k: bool,
    caps: DeviceCaps,
) -> GemmPlan {
    let layouts = (stageable(&g.a, g.batch), stageable(&g.b, g.batch));
    let first = |kind, kernel| GemmPlan {
        kernel,
        rung: GemmRung::Strided,
        tile: FIRST_TILE,
        splits: 1,
        kind,
    };
    let k_contiguous = layouts == (Some(true), Some(true)) && g.k.is_multiple_of(8);
    let (Some(a_k), Some(b_k)) = layouts else {
        return first(Kind::Strided, "gemm_bf16_mma");
    };
    if !(a_base && b_base) || rung == GemmRung::Strided {
        return if k_contiguous && a_base && b_base {
            first(Kind::KContiguous, "gemm_bf16_mma_kc")
        } else {
            first(Kind::Strided, "gemm_bf16_mma")
        };
    }
    // Rung 5 needs an sm_90 device and K >= 1 (TMA takes the same 16-byte aligned rows as
    // cp.async); elsewhere the same problem runs on rung 3 (rung 4 when it may split).
    let requested = rung;
    let rung = match rung {
        GemmRung::Wgmma if caps.sm90a && g.k > 0 => {
            let tile = wgmma_tile(g.n);
            return GemmPlan {
                kernel: wgmma_kernel(&tile, a_k, b_k),
                rung,
                tile,
                splits: 1,
                kind: Kind::Wgmma { a_k, b_k },
            };
        }
        GemmRung::Wgmma if split_k => GemmRung::SplitK,
        GemmRung::Wgmma => GemmRung::Tiles,
        // Token rows only: a product that may split K (weight gradients) is rung 4's.
        r if r >= GemmRung::Rows && a_k && b_k && !split_k && g.m <= ROWS_MAX_M => {
            let columns = if rung >= GemmRung::RowsBalanced {
                rows_columns(g)
            } else if g.m > 8 && g.n.div_ceil(ROWS4_TILE.bn) >= SPLIT_TARGET_CTAS {
                // Rung 6: four n8 tiles per warp read each A fragment once for 32 columns, worth
                // it above 8 rows (A's traffic grows with them) where that still leaves a block
                // per SM (a fixed count, like split-K's, so every device plans alike).
                32
            } else {
                8
            };
            let (kernel, tile) = match columns {
                32 => ("gemm_bf16_rows4_kk", ROWS4_TILE),
                16 => ("gemm_bf16_rows2_kk", ROWS2_TILE),
                _ => ("gemm_bf16_rows_kk", ROWS_TILE),
            };
            return GemmPlan {
                kernel,
                rung: if columns == 16 {
                    GemmRung::RowsBalanced
                } else {
                    GemmRung::Rows
                },
                tile,
                splits: 1,
                kind: Kind::Rows,
            };
        }
        GemmRung::TileMenu if a_k && b_k && !split_k => {
            let tile = menu_tile(g);
            match menu_kernel(&tile) {
                Some((kernel, rung)) => {
                    return GemmPlan {
                        kernel,
                        rung,
                        tile,
                        splits: 1,
                        kind: Kind::Pipe { a_k, b_k },
                    }
                }
                // 128×128: as rung 8, which may still take 128×256
                None => GemmRung::SplitK,
            }
        }
        r if r >= GemmRung::GridFill
            && r != GemmRung::TileMenu
            && a_k
            && b_k
            && !split_k
            && small_tiles_win(g) =>
        {
            return GemmPlan {
                kernel: "gemm_bf16_t64_kk",
                rung: GemmRung::GridFill,
                tile: SMALL_TILE,
                splits: 1,
                kind: Kind::Pipe { a_k, b_k },
            };
        }
        r if r >= GemmRung::Rows => GemmRung::SplitK,
        r => r,
    };
    let wide = rung == GemmRung::SplitK
        && requested >= GemmRung::WideTiles
        && wide_tiles_win(g, a_k, b_k, caps.smem_per_block);
    let tile = if rung == GemmRung::Layouts {
        LAYOUTS_TILE
    } else {
        BIG_TILE
    };
    let tiles = g.m.div_ceil(tile.bm) * g.n.div_ceil(tile.bn) * g.batch;
    let splits = if rung == GemmRung::SplitK && split_k {
        split_count(tiles, g.k)
    } else {
        1
    };
    if wide && splits == 1 {
        return GemmPlan {
            kernel: wide_kernel(a_k, b_k),
            rung: GemmRung::WideTiles,
            tile: WIDE_TILE,
            splits,
            kind: Kind::Pipe { a_k, b_k },
        };
    }
    GemmPlan {
        kernel: pipe_kernel(rung, a_k, b_k),
        rung,
        tile,
        splits,
        kind: Kind::Pipe { a_k, b_k },
    }
}

fn wide_kernel(a_k: bool, b_k: bool) -> &'static str {
    match (a_k, b_k) {
        (true, true) => "gemm_bf16_t128x256_kk",
        (true, false) => "gemm_bf16_t128x256_kn",
        (false, true) => "gemm_bf16_t128x256_mk",
        (false, false) => "gemm_bf16_t128x256_mn",
    }
}

fn pipe_kernel(rung: GemmRung, a_k: bool, b_k: bool) -> &'static str {
    match (rung == GemmRung::Layouts, a_k, b_k) {
        (true, true, true) => "gemm_bf16_ldsm_kk",
        (true, true, false) => "gemm_bf16_ldsm_kn",
        (true, false, true) => "gemm_bf16_ldsm_mk",
        (true, false, false) => "gemm_bf16_ldsm_mn",
        (false, true, true) => "gemm_bf16_t128_kk",
        (false, true, false) => "gemm_bf16_t128_kn",
        (false, false, true) => "gemm_bf16_t128_mk",
        (false, false, false) => "gemm_bf16_t128_mn",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x_wt(batch: usize, m: usize, n: usize, k: usize) -> Gemm {
        Gemm {
            batch,
            m,
            n,
            k,
            a: Strides::rows(m, k),
            b: Strides::rows(n, k),
            alpha: 1.0,
            beta: 0.0,
        }
    }

    #[test]
    fn rung_7_takes_small_tiles_only_where_the_big_grid_leaves_sms_idle() {
        let kernel = |g: &Gemm| gemm_plan_aligned(g, GemmRung::GridFill, false).kernel;
        // Qwen2.5-1.5B decode at batch 256: qkv, o and down fill a quarter of the GPU at most
        // with 128-wide tiles; gate|up (2 x 8960 wide) and the LM head fill it several times.
        for (batch, n, k) in [(1, 2048, 1536), (1, 1536, 1536), (1, 1536, 8960)] {
            assert_eq!(
                kernel(&x_wt(batch, 256, n, k)),
                "gemm_bf16_t64_kk",
                "{n}x{k}"
            );
        }
        for (batch, n, k) in [(2, 8960, 1536), (1, 151936, 1536)] {
            assert_eq!(
                kernel(&x_wt(batch, 256, n, k)),
                "gemm_bf16_t128_kk",
                "{n}x{k}"
            );
        }
        // Few rows stay on rung 6's kernels, training-sized products on rung 3's tiles.
        let few = gemm_plan_aligned(&x_wt(1, 64, 1536, 1536), GemmRung::GridFill, false);
        assert_eq!(
            (few.kernel, few.rung),
            ("gemm_bf16_rows_kk", GemmRung::Rows)
        );
        assert_eq!(kernel(&x_wt(1, 4096, 1536, 1536)), "gemm_bf16_t128_kk");
        // A product that may split K (a weight gradient) is rung 4's, whatever its grid.
        let dw = gemm_plan_aligned(&x_wt(1, 256, 1536, 1536), GemmRung::GridFill, true);
        assert_eq!(dw.rung, GemmRung::SplitK);
        // Rung 6 never takes the small tiles.
        let r6 = gemm_plan_aligned(&x_wt(1, 256, 1536, 1536), GemmRung::Rows, false);
        assert_eq!(r6.kernel, "gemm_bf16_t128_kk");
    }

    #[test]
    fn rung_8_takes_wide_tiles_only_where_their_grid_still_fills_the_gpu() {
        let plan = |g: &Gemm, split_k| gemm_plan_aligned(g, GemmRung::WideTiles, split_k);
        // Qwen2.5-1.5B training products at 8 x 1024 tokens: q/o, gate|up, down and the LM head's
        // chunk forward, and their dY·W products, fill the GPU several times with 128×256 tiles.
        for (batch, n, k) in [(1, 1536, 1536), (2, 8960, 1536), (1, 1536, 8960)] {
            let p = plan(&x_wt(batch, 8192, n, k), false);
            assert_eq!(
                (p.kernel, p.rung, p.splits),
                ("gemm_bf16_t128x256_kk", GemmRung::WideTiles, 1),
                "{n}x{k}"
            );
        }
        let dx = Gemm {
            b: Strides::cols(1536, 8960),
            ..x_wt(1, 8192, 1536, 8960)
        };
        assert_eq!(plan(&dx, false).kernel, "gemm_bf16_t128x256_kn");
        // k/v (256 wide): 64 tiles of 128×128 fill half the GPU in one round; 128×256 would
        // leave three quarters idle.
        assert_eq!(
            plan(&x_wt(1, 8192, 256, 1536), false).kernel,
            "gemm_bf16_t128_kk"
        );
        // A weight gradient that rung 4 would split keeps its split (and bits); one whose wide
        // grid fills the GPU takes the wide tiles (up/gate: 70 × 6 blocks), one whose wide grid
        // would leave SMs idle keeps 128×128 (q/o: 12 × 6 = 72 wide blocks against 144).
        let dw = |m: usize, n: usize| Gemm {
            a: Strides::cols(m, 8192),
            b: Strides::cols(n, 8192),
            ..x_wt(1, m, n, 8192)
        };
        let narrow = plan(&dw(256, 1536), true);
        assert_eq!((narrow.rung, narrow.splits > 1), (GemmRung::SplitK, true));
        assert_eq!(plan(&dw(8960, 1536), true).kernel, "gemm_bf16_t128x256_mn");
        assert_eq!(plan(&dw(1536, 1536), true).kernel, "gemm_bf16_t128_mn");
        // Decode at batch 128: gate|up's 70 wide blocks would leave SMs idle, and the LM head
        // has one row of tiles (each weight tile read once either way); at batch 256 it has two.
        // Decode-sized products otherwise keep rung 6's and 7's kernels.
        for (g, kernel) in [
            (x_wt(2, 128, 8960, 1536), "gemm_bf16_t128_kk"),
            (x_wt(1, 128, 151936, 1536), "gemm_bf16_t128_kk"),
            (x_wt(1, 256, 151936, 1536), "gemm_bf16_t128x256_kk"),
            (x_wt(1, 64, 1536, 1536), "gemm_bf16_rows_kk"),
            (x_wt(1, 256, 1536, 1536), "gemm_bf16_t64_kk"),
        ] {
            assert_eq!(plan(&g, false).kernel, kernel, "{g:?}");
        }
        // A device without 132 KiB of shared memory per block runs the 128×128 tiles.
        let small_smem = DeviceCaps {
            sm90a: false,
            smem_per_block: 99 * 1024,
        };
        let g = x_wt(1, 8192, 1536, 1536);
        let p = plan_for(&g, true, true, GemmRung::WideTiles, false, small_smem);
        assert_eq!(p.kernel, "gemm_bf16_t128_kk");
        assert_eq!(WIDE_TILE.smem_bytes(true, true), 4 * 128 * (256 + 8));
    }

    #[test]
    fn rung_9_takes_16_columns_per_warp_where_they_move_the_fewest_bytes_per_round() {
        let plan = |g: &Gemm| gemm_plan_aligned(g, GemmRung::RowsBalanced, false);
        // Qwen2.5-1.5B decode at batch 64: qkv (2048), o and down (1536) as 96–128 blocks of 16
        // columns (rung 6: 192–256 one-warp blocks, each reading all 64 rows of x).
        for (n, k) in [(2048, 1536), (1536, 1536), (1536, 8960)] {
            let p = plan(&x_wt(1, 64, n, k));
            assert_eq!(
                (p.kernel, p.rung),
                ("gemm_bf16_rows2_kk", GemmRung::RowsBalanced),
                "{n}x{k}"
            );
        }
        // gate|up (2 × 8960) keeps 32 columns, batch 1 keeps 8, as rung 6.
        assert_eq!(plan(&x_wt(2, 64, 8960, 1536)).kernel, "gemm_bf16_rows4_kk");
        assert_eq!(plan(&x_wt(1, 1, 1536, 1536)).kernel, "gemm_bf16_rows_kk");
        assert_eq!(rows_columns(&x_wt(1, 8, 1536, 1536)), 8);
        // A narrow product whose 16-column grid would not save a round keeps 8.
        assert_eq!(rows_columns(&x_wt(1, 64, 96, 64)), 8);
        // Rung 6 never takes 16 columns.
        let r6 = gemm_plan_aligned(&x_wt(1, 64, 1536, 1536), GemmRung::Rows, false);
        assert_eq!(r6.kernel, "gemm_bf16_rows_kk");
    }

    #[test]
    fn rung_10_takes_the_tile_of_fewest_rounds_for_65_to_256_rows() {
        let kernel = |g: &Gemm| gemm_plan_aligned(g, GemmRung::TileMenu, false).kernel;
        // Qwen2.5-1.5B decode at batch 128: q/k/v, o and down as 64×32 tiles (96–128 blocks).
        for (n, k) in [(2048, 1536), (1536, 1536), (1536, 8960)] {
            assert_eq!(
                kernel(&x_wt(1, 128, n, k)),
                "gemm_bf16_t64x32_kk",
                "{n}x{k}"
            );
        }
        // Qwen2.5-Math-7B decode at batch 256: o and down (3584 wide) as 112 blocks of 128×64.
        for (n, k) in [(3584, 3584), (3584, 18944)] {
            let p = gemm_plan_aligned(&x_wt(1, 256, n, k), GemmRung::TileMenu, false);
            assert_eq!(
                (p.kernel, p.rung),
                ("gemm_bf16_t128x64_kk", GemmRung::TileMenu),
                "{n}x{k}"
            );
        }
        // Where rung 7's 64×64 or rung 3's 128×128 already win, they stay (1.5B q/k/v at 256
        // rows; gate|up at 256 rows), and training products plan as rung 8.
        let t64 = gemm_plan_aligned(&x_wt(1, 256, 2048, 1536), GemmRung::TileMenu, false);
        assert_eq!(
            (t64.kernel, t64.rung),
            ("gemm_bf16_t64_kk", GemmRung::GridFill)
        );
        assert_eq!(kernel(&x_wt(2, 256, 8960, 1536)), "gemm_bf16_t128_kk");
        assert_eq!(kernel(&x_wt(1, 8192, 1536, 1536)), "gemm_bf16_t128x256_kk");
        assert_eq!(menu_tile(&x_wt(1, 8192, 1536, 1536)), BIG_TILE);
        // Rung 9 never takes the menu's tiles.
        let r9 = gemm_plan_aligned(&x_wt(1, 128, 2048, 1536), GemmRung::RowsBalanced, false);
        assert_eq!(r9.kernel, "gemm_bf16_t64_kk");
    }

    #[test]
    fn gemm_strides_extent() {
        assert_eq!(Strides::rows(3, 5).extent(2, 3, 5), 30);
        assert_eq!(Strides::cols(3, 5).extent(1, 3, 5), 15);
    }

    /// The K tiles split `s` runs, as kernels/gemm.cu's gemm_pipeline computes them.
    fn split_tiles(k: usize, bk: usize, splits: usize, s: usize) -> i64 {
        let tiles = k.div_ceil(bk);
        let per = tiles.div_ceil(splits);
        tiles.min(s * per + per).saturating_sub(s * per) as i64
    }

    #[test]
    fn lowering_k_by_the_loop_step_takes_one_tile_off_every_split() {
        for (k, splits) in [
            (1000, 1),
            (32 * 41 + 7, 1),
            (8192, 3),
            (4100, 7),
            (96, 4),
            (300, 5),
        ] {
            let l = pipe_loop(k, 32, splits);
            let trips: Vec<i64> = (0..splits).map(|s| split_tiles(k, 32, splits, s)).collect();
            assert_eq!(
                l.min_trips as i64,
                *trips.iter().min().unwrap(),
                "K {k}, {splits} splits"
            );
            for d in 0..l.min_trips as i64 {
                let kd = (k as i64 - d * l.step) as usize;
                for (s, &t) in trips.iter().enumerate() {
                    assert_eq!(
                        split_tiles(kd, 32, splits, s),
                        t - d,
                        "K {k} - {d} steps, split {s}"
                    );
                }
            }
        }
    }
}
