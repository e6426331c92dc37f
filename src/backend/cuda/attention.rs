//! Launchers for kernels/attention.cu: causal GQA attention over packed variable-length
//! sequences (forward and backward), same layout and semantics as
//! `backend::cpu::attention` (q/o [N, Hq·D], k/v [N, Hkv·D], lse [N, Hq]).
//!
//! The training kernels come as a ladder of rungs ([`AttnRung`]), each one idea more than the
//! last; `attn_fwd_bf16` / `attn_bwd_bf16` run the device model's rungs ([`AttnRung::FORWARD`],
//! [`AttnRung::BACKWARD`]), `*_rung` any of them (selftest, bench).
//!
//! Rung 6 (kernels/attention_sm90.cuh) has never run on a GPU: the model uses it only when
//! `RLVR_ATTN_WGMMA=1` asks for it ([`AttnRung::model_forward`]) and the device runs sm_90a code;
//! elsewhere, and at head dims other than 64 and 128, it launches rung 5, whose bits it gives.
use super::device::{alloc, upload, DevBuf, KernelArgs, KernelDevice, LaunchCfg};
use crate::backend::cpu::attention::AttnDims;
use crate::backend::emu::hopper::{TensorMapSpec, TmaSwizzle, TMA_DTYPE_BF16};
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
/// Rows of the tensor-core rungs' CTA tiles (ATT_TC_ROWS): 4 warps × 16.
const TC_ROWS: usize = 64;
/// bf16 elements of padding per shared-memory row of the tensor-core rungs (ATT_TC_PAD).
const TC_PAD: usize = 8;
/// The grid dimensions that are limited to 65 535 blocks.
const GRID_YZ_MAX: usize = 65_535;
/// Rung 6: threads of a block (a producer and two consumer warpgroups), packed query rows per
/// block, keys per tile (ATT_WG_THREADS, ATT_WG_ROWS, ATT_WG_BK).
const WG_THREADS: u32 = 384;
const WG_ROWS: usize = 128;
const WG_BK: usize = 64;

/// The environment variable that lets the model's forward be rung 6.
pub const WGMMA_ENV: &str = "RLVR_ATTN_WGMMA";

/// Whether `RLVR_ATTN_WGMMA=1` is set (read once).
pub fn wgmma_opted_in() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var(WGMMA_ENV).is_ok_and(|v| v == "1"))
}

/// The head dims rung 6 is compiled for (others fall back to rung 5).
pub fn wgmma_head_dim(head_dim: usize) -> bool {
    head_dim == 64 || head_dim == 128
}

/// Dynamic shared memory of rung 6 (AttWgSmem::TOTAL): Q of 128 rows, K and V per stage (3
/// stages at d 128, 4 at d 64), three mbarriers per stage and the 1024-byte alignment slack.
fn wgmma_smem(head_dim: usize) -> usize {
    let stages = if head_dim == 128 { 3 } else { 4 };
    WG_ROWS * head_dim * 2 + stages * 2 * WG_BK * head_dim * 2 + 3 * 8 * stages + 1024
}

/// One rung of the training-attention ladder (forward, dK/dV and dQ kernels; the delta
/// preprocessing is shared). Every rung computes the same thing; later rungs are faster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AttnRung {
    /// Plain FMAs out of f32 shared memory, 16-row tiles.
    Simt = 1,
    /// mma.sync m16n8k16 tensor cores: 64-row tiles in padded bf16 shared memory, S and P in
    /// registers, the S accumulator reused as the A operand of PV (and P, dS of dV, dK, dQ).
    Mma = 2,
    /// FlashAttention-2 in full: rung 2 plus cp.async double buffering, exp2 with the scale
    /// folded into one FMA, masking only on diagonal and edge tiles, longest tiles first.
    Fa2 = 3,
    /// Forward only: rung 3 with P entering P·V as three bf16 terms (P₁ = bf16(P),
    /// P₂ = bf16(P − P₁), P₃ = bf16(P − P₁ − P₂)), which hold P's f32 value exactly, so the
    /// output is rung 1's up to f32 summation order. P·V runs three times: 2× the forward's
    /// tensor FLOPs. Its backward is rung 3's.
    Fa2Split = 4,
    /// Forward only: rung 3 with each 64-key tile's softmax computed on its own (its own max,
    /// bf16 P, P·V from zero) and folded into the row's running state in key order. A tile's
    /// state depends on that tile alone, so decode attention rung 3 computes a cache's tiles in
    /// parallel, folds them the same way and reproduces this forward bit for bit. Rung 3's FLOPs
    /// plus one FMA per output element and tile. Its backward is rung 3's.
    Fa2Merge = 5,
    /// Forward only, sm_90a (FlashAttention-3 style): rung 5's arithmetic, so its bits, with K/V
    /// tiles by TMA into an mbarrier ring, a producer and two consumer warpgroups (`setmaxnreg`),
    /// QKᵀ and P·V on wgmma, one tile's softmax overlapping the previous tile's P·V, and the
    /// query heads of a GQA group packed into one block's rows so they share every K/V tile.
    /// Head dims 64 and 128 on sm_90 devices; elsewhere it launches rung 5. Its backward is
    /// rung 3's.
    Wgmma = 6,
}

/// The head-dim bucket a tensor-core kernel is compiled for.
fn bucket(head_dim: usize) -> usize {
    if head_dim <= 64 {
        64
    } else {
        128
    }
}

impl AttnRung {
    pub const ALL: [AttnRung; 6] = [
        AttnRung::Simt,
        AttnRung::Mma,
        AttnRung::Fa2,
        AttnRung::Fa2Split,
        AttnRung::Fa2Merge,
        AttnRung::Wgmma,
    ];
    /// The fastest rung (rung 4 is more accurate, not faster; rung 5 adds a fold per tile).
    pub const BEST: AttnRung = AttnRung::Fa2;
    /// The rung of the device model's forward: the trainer's log π must be the sampler's, and
    /// every bf16 activation whose rounding differs moves later log-probs by up to ~1e-2, so the
    /// forward and decode attention must agree bit for bit, not just to rounding. Rung 5 and
    /// decode rung 3 (`attn_decode::Rung::Tiles`) share their arithmetic per query row and key
    /// tile, on tensor cores.
    pub const FORWARD: AttnRung = AttnRung::Fa2Merge;
    /// The rung of the device model's backward: bf16 P and dS into the mma are the backward's
    /// usual precision and touch no sampled quantity.
    pub const BACKWARD: AttnRung = AttnRung::Fa2;

    /// What the device model's forward runs: [`AttnRung::FORWARD`], or rung 6 (the same bits)
    /// when `RLVR_ATTN_WGMMA=1`; rung 6 itself launches rung 5 off sm_90 and at other head dims.
    pub fn model_forward() -> AttnRung {
        if wgmma_opted_in() {
            AttnRung::Wgmma
        } else {
            AttnRung::FORWARD
        }
    }

    /// The rung whose forward kernel runs for `self` on `dev` at `head_dim`: rung 6 runs where
    /// the device has sm_90a and the head dim is 64 or 128, else rung 5.
    pub fn fwd_rung_on(self, dev: &dyn KernelDevice, head_dim: usize) -> AttnRung {
        if self == AttnRung::Wgmma && !(dev.has_sm90a() && wgmma_head_dim(head_dim)) {
            AttnRung::Fa2Merge
        } else {
            self
        }
    }

    pub const fn number(self) -> u32 {
        self as u32
    }

    pub fn from_number(n: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.number() == n)
    }

    /// What the rung adds, in a few words (bench notes).
    pub const fn summary(self) -> &'static str {
        match self {
            AttnRung::Simt => "SIMT FMAs, f32 shared memory",
            AttnRung::Mma => "mma.sync tensor cores, S/P in registers",
            AttnRung::Fa2 => "+ cp.async double buffer, exp2, diagonal-only mask, longest first",
            AttnRung::Fa2Split => "rung 3 + P as three bf16 terms in P·V (2x fwd FLOPs)",
            AttnRung::Fa2Merge => "rung 3 + each key tile's softmax folded in order (= decode)",
            AttnRung::Wgmma => "sm_90a: TMA + mbarrier ring, warp-specialised wgmma (= rung 5)",
        }
    }

    /// The rung whose backward kernels this rung launches (rungs 4 and 5 add to the forward
    /// only).
    pub fn backward_rung(self) -> AttnRung {
        match self {
            AttnRung::Fa2Split | AttnRung::Fa2Merge | AttnRung::Wgmma => AttnRung::Fa2,
            r => r,
        }
    }

    /// Whether the rung has backward kernels of its own (else it runs
    /// [`backward_rung`](Self::backward_rung)'s).
    pub fn own_backward(self) -> bool {
        self.backward_rung() == self
    }

    /// Rungs 3 to 5 share the FlashAttention-2 launch: heads-first grid, double buffering.
    fn fa2(self) -> bool {
        matches!(
            self,
            AttnRung::Fa2 | AttnRung::Fa2Split | AttnRung::Fa2Merge
        )
    }

    /// The forward kernel this rung launches at `head_dim` (rung 6: on an sm_90a device; see
    /// [`fwd_rung_on`](Self::fwd_rung_on)).
    pub fn fwd_kernel(self, head_dim: usize) -> &'static str {
        if self == AttnRung::Wgmma {
            return match head_dim {
                64 => "attn_fwd_wgmma_d64_bf16",
                128 => "attn_fwd_wgmma_d128_bf16",
                _ => AttnRung::Fa2Merge.fwd_kernel(head_dim),
            };
        }
        self.pick(
            head_dim,
            "attn_fwd_bf16",
            &[
                ["attn_fwd_mma_d64_bf16", "attn_fwd_mma_d128_bf16"],
                ["attn_fwd_fa2_d64_bf16", "attn_fwd_fa2_d128_bf16"],
                ["attn_fwd_fa2split_d64_bf16", "attn_fwd_fa2split_d128_bf16"],
                ["attn_fwd_fa2merge_d64_bf16", "attn_fwd_fa2merge_d128_bf16"],
            ],
        )
    }

    /// The dK/dV kernel this rung launches at `head_dim`.
    pub fn dkdv_kernel(self, head_dim: usize) -> &'static str {
        self.backward_rung().pick(
            head_dim,
            "attn_bwd_dkdv_bf16",
            &[
                ["attn_bwd_dkdv_mma_d64_bf16", "attn_bwd_dkdv_mma_d128_bf16"],
                ["attn_bwd_dkdv_fa2_d64_bf16", "attn_bwd_dkdv_fa2_d128_bf16"],
            ],
        )
    }

    /// The dQ kernel this rung launches at `head_dim`.
    pub fn dq_kernel(self, head_dim: usize) -> &'static str {
        self.backward_rung().pick(
            head_dim,
            "attn_bwd_dq_bf16",
            &[
                ["attn_bwd_dq_mma_d64_bf16", "attn_bwd_dq_mma_d128_bf16"],
                ["attn_bwd_dq_fa2_d64_bf16", "attn_bwd_dq_fa2_d128_bf16"],
            ],
        )
    }

    /// One of an op's kernels: rung 1's, else `tc[rung - 2]` at the 64 or 128 bucket (`tc`
    /// lists every tensor-core rung up to this one).
    fn pick(self, head_dim: usize, simt: &'static str, tc: &[[&'static str; 2]]) -> &'static str {
        let wide = usize::from(bucket(head_dim) == 128);
        match self {
            AttnRung::Simt => simt,
            r => tc[r.number() as usize - 2][wide],
        }
    }

    /// Stages of the streamed tiles (1: load, then compute; 2: cp.async double buffering).
    fn stages(self) -> usize {
        if self.fa2() {
            2
        } else {
            1
        }
    }

    /// Rows of the CTA tile along the sequence (query tiles of the forward and dQ, key tiles
    /// of dK/dV).
    fn tile_rows(self) -> usize {
        const _: () = assert!(FWD_BQ == BWD_BQ && BWD_BQ == BWD_BK);
        if self == AttnRung::Simt {
            FWD_BQ
        } else {
            TC_ROWS
        }
    }

    /// Grid of a kernel over `tiles` tiles, `heads` heads and the sequences: rungs 3 and 4 put
    /// the heads first so every head of one tile starts together (see AttBlock in the kernels).
    fn grid(self, tiles: usize, heads: usize, seqs: &AttnSeqs, what: &str) -> Result<[u32; 3]> {
        let tiles = tiles.max(1);
        let nseq = seqs.host.len();
        if self.fa2() && tiles > GRID_YZ_MAX {
            bail!("{what}: {tiles} tiles of one sequence exceed the grid's y limit");
        }
        if heads > GRID_YZ_MAX {
            bail!("{what}: {heads} heads exceed the grid's y limit");
        }
        Ok(if self.fa2() {
            [heads as u32, tiles as u32, nseq as u32]
        } else {
            [tiles as u32, heads as u32, nseq as u32]
        })
    }
}

/// Shared-memory bytes of one padded [rows][bucket + 8] bf16 tile of the tensor-core rungs.
pub(crate) fn tc_tile_bytes(rows: usize, head_dim: usize) -> usize {
    rows * (bucket(head_dim) + TC_PAD) * 2
}

/// Query rows per step of the tensor-core dK/dV pass (AttDkdv::QB: 32 at the 128 bucket keeps
/// dK and dV in registers).
fn dkdv_query_rows(head_dim: usize) -> usize {
    if bucket(head_dim) == 128 {
        32
    } else {
        64
    }
}

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

/// Shared-memory bytes of the forward: rung 1 (f32: Q, K padded, V, P, row stats); rungs 2-5
/// (bf16: Q, then K and V per stage); rung 6 (`wgmma_smem`, or rung 5's where it falls back).
fn fwd_smem(rung: AttnRung, d: usize) -> u32 {
    let bytes = match rung {
        AttnRung::Wgmma if wgmma_head_dim(d) => wgmma_smem(d),
        AttnRung::Wgmma => return fwd_smem(AttnRung::Fa2Merge, d),
        AttnRung::Simt => {
            (FWD_BQ * d + FWD_BK * (d + 1) + FWD_BK * d + FWD_BQ * FWD_BK + 3 * FWD_BQ) * 4
        }
        _ => (1 + 2 * rung.stages()) * tc_tile_bytes(TC_ROWS, d),
    };
    bytes as u32
}

/// Shared-memory bytes of the dK/dV kernel: rung 1 (f32: K, V, Q, dO padded; P, dS; lse,
/// delta); rungs 2-3 (bf16 K, V; Q, dO per stage; f32 lse, delta per stage).
fn dkdv_smem(rung: AttnRung, d: usize) -> u32 {
    let bytes = match rung {
        AttnRung::Simt => simt_bwd_smem(d),
        _ => {
            let qb = dkdv_query_rows(d);
            2 * tc_tile_bytes(TC_ROWS, d) + rung.stages() * (2 * tc_tile_bytes(qb, d) + 2 * qb * 4)
        }
    };
    bytes as u32
}

/// Shared-memory bytes of the dQ kernel: rung 1 as dK/dV; rungs 2-3 (bf16 Q, dO; K and V per
/// stage).
fn dq_smem(rung: AttnRung, d: usize) -> u32 {
    let bytes = match rung {
        AttnRung::Simt => simt_bwd_smem(d),
        _ => (2 + 2 * rung.stages()) * tc_tile_bytes(TC_ROWS, d),
    };
    bytes as u32
}

fn simt_bwd_smem(d: usize) -> usize {
    (2 * BWD_BK * (d + 1) + 2 * BWD_BQ * (d + 1) + 2 * BWD_BQ * BWD_BK + 2 * BWD_BQ) * 4
}

/// Forward: writes out [N, Hq·D] (bf16) and lse [N, Hq] (f32) for every row of every sequence
/// (the model's forward rung).
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
    attn_fwd_bf16_rung(
        AttnRung::model_forward(),
        dev,
        out,
        lse,
        q,
        k,
        v,
        seqs,
        dims,
    )
}

/// The forward on one rung of the ladder.
#[allow(clippy::too_many_arguments)]
pub fn attn_fwd_bf16_rung(
    rung: AttnRung,
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
    let rung = rung.fwd_rung_on(dev, d);
    if rung == AttnRung::Wgmma {
        return launch_fwd_wgmma(
            dev,
            rung.fwd_kernel(d),
            (out, lse),
            (q, k, v),
            seqs,
            dims,
            n,
        );
    }
    let mut a = KernelArgs::new();
    a.buf(out).buf(lse).buf(q).buf(k).buf(v).buf(&seqs.dev);
    a.i32(hq as i32)
        .i32(hkv as i32)
        .i32(d as i32)
        .f32(scale(dims));
    let cfg = LaunchCfg {
        grid: rung.grid(seqs.max_len.div_ceil(rung.tile_rows()), hq, seqs, W)?,
        block: [THREADS, 1, 1],
        smem_bytes: fwd_smem(rung, d),
    };
    dev.launch(rung.fwd_kernel(d), &cfg, &mut a)
}

/// The tensor map of K or V ([n, Hkv·D] bf16) for rung 6: boxes of 64 keys × 64 head-dim
/// columns with the 128-byte swizzle; a block loads its kv head's columns of each 64-key tile.
fn kv_map(buf: &DevBuf<bf16>, n: usize, width: usize) -> TensorMapSpec {
    let mut spec = TensorMapSpec::row_major(
        TMA_DTYPE_BF16,
        buf.raw().device_ptr(),
        n as u64,
        width as u64,
        2,
        WG_BK as u32,
        64,
        TmaSwizzle::B128,
    );
    // The query heads of a group's neighbouring blocks read the same tiles: 256-byte L2 lines.
    spec.l2_promotion = 3;
    spec
}

/// Rung 6 (`kernel`: its kernel or a planted variant with the same arguments) over `n` rows.
/// Grid (Hkv, blocks of 128 packed rows of the longest sequence, sequences).
pub fn launch_fwd_wgmma(
    dev: &dyn KernelDevice,
    kernel: &str,
    (out, lse): (&DevBuf<bf16>, &DevBuf<f32>),
    (q, k, v): (&DevBuf<bf16>, &DevBuf<bf16>, &DevBuf<bf16>),
    seqs: &AttnSeqs,
    dims: AttnDims,
    n: usize,
) -> Result<()> {
    const W: &str = "attn_fwd_bf16 (rung 6)";
    let (hq, hkv, d) = (dims.n_q_heads, dims.n_kv_heads, dims.head_dim);
    if !dev.has_sm90a() || !wgmma_head_dim(d) {
        bail!("{W}: needs an sm_90a device and head dim 64 or 128 (got {d})");
    }
    let packed = seqs.max_len * (hq / hkv);
    if packed > i32::MAX as usize {
        bail!("{W}: {packed} packed query rows of one sequence exceed int32");
    }
    let blocks = packed.div_ceil(WG_ROWS).max(1);
    if blocks > GRID_YZ_MAX {
        bail!("{W}: {blocks} row blocks of one sequence exceed the grid's y limit");
    }
    // The maps end at the last sequence's last row: TMA zero-fills past it, so rows a buffer
    // holds beyond the sequences (possibly never written) are not read. Inside, a sequence's
    // last tile reads the next sequence's rows, which enter P·V with weight exactly 0: they must
    // be finite (every row of a packed batch is some token's), as 0·∞ would not be 0.
    let rows = seqs.rows.clamp(1, n);
    let mk = dev.tensor_map(&kv_map(k, rows, hkv * d))?;
    let mv = dev.tensor_map(&kv_map(v, rows, hkv * d))?;
    let mut a = KernelArgs::new();
    a.tensor_map(&mk).tensor_map(&mv);
    a.buf(out).buf(lse).buf(q).buf(&seqs.dev);
    a.i32(hq as i32)
        .i32(hkv as i32)
        .i32(d as i32)
        .f32(scale(dims));
    let cfg = LaunchCfg {
        grid: [hkv as u32, blocks as u32, seqs.host.len() as u32],
        block: [WG_THREADS, 1, 1],
        smem_bytes: wgmma_smem(d) as u32,
    };
    dev.launch(kernel, &cfg, &mut a)
}

/// The row statistic's best rung at `head_dim`: 2 (16-byte loads, `attn_bwd_delta_x8_bf16`) for
/// head dims 8, 16, .., 256 (a power of two), else 1.
pub fn delta_rung(head_dim: usize) -> u32 {
    if head_dim.is_power_of_two() && (8..=256).contains(&head_dim) {
        2
    } else {
        1
    }
}

/// delta[t, h] = Σ_c dout·out, the backward's row statistic (f32 [N, Hq]), on the best rung.
pub fn attn_bwd_delta_bf16(
    dev: &dyn KernelDevice,
    delta: &DevBuf<f32>,
    dout: &DevBuf<bf16>,
    out: &DevBuf<bf16>,
    head_dim: usize,
) -> Result<()> {
    attn_bwd_delta_rung(dev, delta_rung(head_dim), delta, dout, out, head_dim)
}

/// [`attn_bwd_delta_bf16`] on a given rung.
pub fn attn_bwd_delta_rung(
    dev: &dyn KernelDevice,
    rung: u32,
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
    let (kernel, rows_per_warp) = match rung {
        1 => (W, 1),
        2 if delta_rung(head_dim) == 2 => ("attn_bwd_delta_x8_bf16", 256 / head_dim),
        2 => bail!("{W} rung 2: head_dim {head_dim} is not a power of two in 8..=256"),
        _ => bail!("{W}: no rung {rung} (rungs 1 and 2)"),
    };
    let rows = delta.len();
    let warps = THREADS as usize / 32;
    let blocks = rows.div_ceil(warps * rows_per_warp).clamp(1, 4096) as u32;
    let mut a = KernelArgs::new();
    a.buf(delta)
        .buf(dout)
        .buf(out)
        .i64(rows as i64)
        .i32(head_dim as i32);
    dev.launch(kernel, &LaunchCfg::linear(blocks, THREADS, 0), &mut a)
}

/// Gradients of the forward (the saved `out` and `lse` are its outputs), on the model's backward
/// rung (any rung's `lse` serves: every rung writes the natural-log row statistics).
/// Deterministic: dk/dv sum over the group's query heads and the query tiles in a fixed order,
/// dq over key tiles.
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
    attn_bwd_bf16_rung(
        AttnRung::BACKWARD,
        dev,
        dq,
        dk,
        dv,
        dout,
        q,
        k,
        v,
        out,
        lse,
        seqs,
        dims,
    )
}

/// The backward on one rung of the ladder: delta, then dK/dV, then dQ (rung 4 runs rung 3's).
#[allow(clippy::too_many_arguments)]
pub fn attn_bwd_bf16_rung(
    rung: AttnRung,
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
    let rung = rung.backward_rung();
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
    let tiles = seqs.max_len.div_ceil(rung.tile_rows());

    let mut a = KernelArgs::new();
    a.buf(dk).buf(dv).buf(dout).buf(q).buf(k).buf(v).buf(lse);
    a.buf(&delta).buf(&seqs.dev);
    a.i32(hq as i32)
        .i32(hkv as i32)
        .i32(d as i32)
        .f32(scale(dims));
    let cfg = LaunchCfg {
        grid: rung.grid(tiles, hkv, seqs, W)?,
        block: [THREADS, 1, 1],
        smem_bytes: dkdv_smem(rung, d),
    };
    dev.launch(rung.dkdv_kernel(d), &cfg, &mut a)?;

    let mut a = KernelArgs::new();
    a.buf(dq).buf(dout).buf(q).buf(k).buf(v).buf(lse);
    a.buf(&delta).buf(&seqs.dev);
    a.i32(hq as i32)
        .i32(hkv as i32)
        .i32(d as i32)
        .f32(scale(dims));
    let cfg = LaunchCfg {
        grid: rung.grid(tiles, hq, seqs, W)?,
        block: [THREADS, 1, 1],
        smem_bytes: dq_smem(rung, d),
    };
    dev.launch(rung.dq_kernel(d), &cfg, &mut a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_memory_fits_at_every_head_dim() {
        for d in 1..=MAX_HEAD_DIM {
            // rung 1 within the default 48 KiB; the tensor-core rungs within an A100's 163 KiB
            let limit = |r: AttnRung| if r == AttnRung::Simt { 48 } else { 163 } * 1024;
            for r in AttnRung::ALL {
                for smem in [fwd_smem(r, d), dkdv_smem(r, d), dq_smem(r, d)] {
                    assert!(smem <= limit(r), "rung {} d {d}: {smem} bytes", r.number());
                }
            }
        }
        // the exact layouts at the largest bucket: Q + 2 x (K, V); Q, dO + 2 x (K, V);
        // K, V + 2 x (Q, dO of 32 rows, lse and delta)
        assert_eq!(fwd_smem(AttnRung::Fa2, 128), 5 * 64 * 136 * 2);
        assert_eq!(dq_smem(AttnRung::Fa2, 128), 6 * 64 * 136 * 2);
        assert_eq!(
            dkdv_smem(AttnRung::Fa2, 128),
            2 * 64 * 136 * 2 + 2 * (2 * 32 * 136 * 2 + 2 * 32 * 4)
        );
    }

    #[test]
    fn rungs_are_numbered_in_order_and_name_their_kernels() {
        for (i, r) in AttnRung::ALL.into_iter().enumerate() {
            assert_eq!(r.number() as usize, i + 1);
            assert_eq!(AttnRung::from_number(r.number()), Some(r));
        }
        assert_eq!(AttnRung::from_number(0), None);
        assert_eq!(AttnRung::BEST, AttnRung::Fa2);
        assert_eq!(
            AttnRung::Fa2Split.fwd_kernel(64),
            "attn_fwd_fa2split_d64_bf16"
        );
        assert_eq!(
            AttnRung::Fa2Split.fwd_kernel(100),
            "attn_fwd_fa2split_d128_bf16"
        );
        // rung 4 adds to the forward only
        assert!(!AttnRung::Fa2Split.own_backward());
        assert!(AttnRung::ALL[..3].iter().all(|r| r.own_backward()));
        assert_eq!(
            AttnRung::Fa2Split.dkdv_kernel(64),
            AttnRung::Fa2.dkdv_kernel(64)
        );
        assert_eq!(
            AttnRung::Fa2Split.dq_kernel(128),
            "attn_bwd_dq_fa2_d128_bf16"
        );
        assert_eq!(AttnRung::Fa2.fwd_kernel(40), "attn_fwd_fa2_d64_bf16");
        assert_eq!(AttnRung::Fa2.dq_kernel(65), "attn_bwd_dq_fa2_d128_bf16");
        assert_eq!(
            AttnRung::Mma.dkdv_kernel(128),
            "attn_bwd_dkdv_mma_d128_bf16"
        );
        assert_eq!(AttnRung::Simt.fwd_kernel(128), "attn_fwd_bf16");
        // rung 6: its kernels at 64 and 128, rung 5's elsewhere; rung 3's backward
        assert_eq!(AttnRung::Wgmma.fwd_kernel(64), "attn_fwd_wgmma_d64_bf16");
        assert_eq!(AttnRung::Wgmma.fwd_kernel(128), "attn_fwd_wgmma_d128_bf16");
        assert_eq!(
            AttnRung::Wgmma.fwd_kernel(96),
            AttnRung::Fa2Merge.fwd_kernel(96)
        );
        assert_eq!(AttnRung::Wgmma.dq_kernel(128), "attn_bwd_dq_fa2_d128_bf16");
        assert!(!AttnRung::Wgmma.own_backward());
    }

    #[test]
    fn rung_6_shared_memory_is_its_ring() {
        // Q (128 rows) + 3 stages of K and V at d 128, 4 at d 64, barriers, alignment slack
        assert_eq!(
            fwd_smem(AttnRung::Wgmma, 128),
            32768 + 3 * 32768 + 72 + 1024
        );
        assert_eq!(fwd_smem(AttnRung::Wgmma, 64), 16384 + 4 * 16384 + 96 + 1024);
        assert_eq!(
            fwd_smem(AttnRung::Wgmma, 40),
            fwd_smem(AttnRung::Fa2Merge, 40)
        );
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
