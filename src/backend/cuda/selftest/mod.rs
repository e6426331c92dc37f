//! Kernel parity checks, one file per kernels/X.cu (named X): every kernel against the CPU op
//! it stands in for, on fresh random inputs of several shapes, outputs pre-filled with NaN;
//! `model` runs whole small models against the CPU autograd path. Used by `rlvr selftest` on
//! both devices and by the emulator tests.
pub mod attention;
pub mod attn_decode;
pub mod bias;
pub mod cast;
pub mod embedding;
pub mod fill;
pub mod gemm;
pub mod gemm_sm90;
pub mod logprob;
pub mod mlp;
pub mod model;
pub mod norm;
pub mod optim;
pub mod reduce;
pub mod rope;
pub mod sampling;
pub mod softmax;
pub mod sum_parts;

use super::device::{download, filled, DevBuf, KernelDevice};
use crate::rng::SplitMix64;
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

/// The generator of the random inputs for `seed`; salted so that they differ from the other
/// streams the same seed starts (the emulator's thread order, model initialisation).
pub fn input_rng(seed: u64) -> SplitMix64 {
    SplitMix64::new(seed ^ 0x5DEE_CE66_D1CE_4E5B)
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

/// What every op's checks share in one `run_all`: the device, the shape set, the one input
/// stream (each op draws from it in a fixed order, so a seed always gives the same inputs), the
/// filter and the rows so far.
pub struct Checks<'a> {
    pub dev: &'a dyn KernelDevice,
    pub set: ShapeSet,
    pub rng: SplitMix64,
    filter: Option<&'a str>,
    pub rows: Vec<CheckRow>,
}

impl Checks<'_> {
    /// Whether checks named `name` run: the filter is part of the name, or there is none.
    pub fn wants(&self, name: &str) -> bool {
        self.filter.is_none_or(|f| name.contains(f))
    }

    /// Runs one check body on the device and the input stream, its rows (or one failed row
    /// naming `kernel` and `shape`, for an error such as an emulator fault) appended.
    pub fn check(
        &mut self,
        kernel: &str,
        shape: &str,
        body: impl FnOnce(&dyn KernelDevice, &mut SplitMix64) -> Result<Vec<CheckRow>>,
    ) {
        let (dev, rng) = (self.dev, &mut self.rng);
        guarded(&mut self.rows, kernel, shape, || body(dev, rng));
    }
}

/// Runs one check body, turning an error (e.g. an emulator fault) into a failed row.
pub fn guarded(
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

/// `n` uniforms in [lo, hi) rounded to bf16: (widened to f32 for the CPU, bf16 for the device).
pub fn bf16_inputs(rng: &mut SplitMix64, n: usize, lo: f32, hi: f32) -> (Vec<f32>, Vec<bf16>) {
    let h: Vec<bf16> = (0..n)
        .map(|_| bf16::from_f32(rng.uniform_f32(lo, hi)))
        .collect();
    (h.iter().map(|v| v.to_f32()).collect(), h)
}

/// A device bf16 buffer widened to f32 on the host.
pub fn download_bf16(dev: &dyn KernelDevice, b: &DevBuf<bf16>) -> Result<Vec<f32>> {
    Ok(download(dev, b)?.iter().map(|v| v.to_f32()).collect())
}

fn nan_bf16(dev: &dyn KernelDevice, n: usize) -> Result<DevBuf<bf16>> {
    filled(dev, n, bf16::NAN)
}

fn nan_f32(dev: &dyn KernelDevice, n: usize) -> Result<DevBuf<f32>> {
    filled(dev, n, f32::NAN)
}

/// Lengths of the element-wise checks.
fn elementwise_sizes(set: ShapeSet) -> Vec<usize> {
    match set {
        ShapeSet::Small => vec![1, 3, 1000, 1004, 4099],
        ShapeSet::Full => vec![1, 3, 1000, 4099, 1 << 20, 3584 * 18944 / 8 + 1],
    }
}

/// (rows, width) of the row-wise checks.
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

/// Runs every check whose name contains `filter` (all when None), in a fixed order from one
/// input stream, so a seed always gives the same inputs.
pub fn run_all(
    dev: &dyn KernelDevice,
    set: ShapeSet,
    seed: u64,
    filter: Option<&str>,
) -> Vec<CheckRow> {
    let mut c = Checks {
        dev,
        set,
        rng: input_rng(seed),
        filter,
        rows: Vec::new(),
    };
    let ops: [fn(&mut Checks); 17] = [
        cast::run,
        norm::run,
        rope::run,
        mlp::run,
        embedding::run,
        reduce::run,
        gemm::run,
        gemm_sm90::run,
        softmax::run,
        attention::run,
        attn_decode::run,
        optim::run,
        logprob::run,
        sampling::run,
        fill::run,
        sum_parts::run,
        bias::run,
    ];
    for op in ops {
        op(&mut c);
    }
    if c.wants("model") {
        model::run_model_checks(dev, set, seed, &mut c.rows);
    }
    c.rows
}
