//! Launchers for kernels/attn_decode.cu: one query token per sequence against its bf16 KV cache
//! (q/out [B, Hq·D], k/v cache [N, Hkv·D], lse [B, Hq]), the semantics of
//! `backend::cpu::attention::attend_head` on the last position of each sequence.
//!
//! Rung 1 is [`attn_decode_bf16`] (one CTA per query head and sequence); rung 2 is flash-decoding,
//! [`attn_decode_split`]: chunks of [`CHUNK`] keys per CTA with a GQA group's query heads sharing
//! one read of K/V, then a log-sum-exp merge. [`attn_decode_split_seqs`] is rung 2 for sequences
//! whose (first row, length) only exist on the device. Rung 3, [`attn_decode_tiles`], splits the
//! cache the same way into the training forward's key tiles of [`TILE`] and reproduces that
//! forward's arithmetic (attention rung 5) bit for bit; rung 4, [`attn_decode_tiles_fold`], is
//! rung 3 in one launch (the last tile CTA of each head slice folds it): what the device model
//! decodes with. [`attn_decode_append_bf16`] writes a
//! step's new K/V rows into the cache, one launch for the whole batch
//! ([`attn_decode_rope_append_bf16`] with the step's RoPE on q and k as well), and [`attend`] runs the
//! rung a [`Rung`] names (falling back to rung 1 where rung 2 does not apply).
use super::attention::{check_dims, tc_tile_bytes, AttnSeqs};
use super::device::{alloc, upload, DevBuf, KernelArgs, KernelDevice, LaunchCfg};
use crate::backend::cpu::attention::AttnDims;
use anyhow::{bail, Result};
use half::bf16;

/// Threads per CTA of every decode-attention kernel (ADEC_THREADS).
const THREADS: u32 = 128;
/// Keys per CTA of the split kernel (ADEC_CHUNK): fixed, so a sequence's result never depends
/// on how many other sequences share the launch.
pub const CHUNK: usize = 128;
/// Query heads one split CTA holds in registers (ADEC_GMAX); larger groups take several CTAs.
const HEADS_PER_CTA: usize = 8;
/// Keys per CTA of rung 3: the training forward's key tile (ATT_TC_ROWS).
pub const TILE: usize = 64;
/// Query heads per rung-3 CTA (4 warps × 16 mma rows); larger groups take several CTAs.
const TILE_HEADS_PER_CTA: usize = 64;

/// The decode-attention rungs `rlvr bench kernels` and `rlvr bench generate` compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rung {
    /// `attn_decode_bf16`: one CTA per (query head, sequence), 2-byte loads, no split.
    PerHead = 1,
    /// `attn_decode_split_bf16` + `attn_decode_merge_bf16`: flash-decoding.
    Split = 2,
    /// `attn_decode_tiles_d{64,128}_bf16` + `attn_decode_fold_bf16`: flash-decoding over the
    /// training forward's key tiles on tensor cores, with that forward's bits.
    Tiles = 3,
    /// `attn_decode_tiles_fold_d{64,128}_bf16`: rung 3 in one launch, the last tile CTA of each
    /// (head slice, sequence) folding it; rung 3's bits.
    TilesFold = 4,
}

impl Rung {
    pub fn all() -> [Rung; 4] {
        [Rung::PerHead, Rung::Split, Rung::Tiles, Rung::TilesFold]
    }

    /// Rung `n` (1 to 4), for command-line options.
    pub fn from_number(n: usize) -> Result<Rung> {
        match n {
            1 => Ok(Rung::PerHead),
            2 => Ok(Rung::Split),
            3 => Ok(Rung::Tiles),
            4 => Ok(Rung::TilesFold),
            _ => bail!(
                "decode attention rung {n} does not exist (1: per head, 2: flash-decoding, 3: the training forward's tiles, 4: rung 3 in one launch)"
            ),
        }
    }

    /// Keys per partial state of the rung's scratch (rung 1 keeps none).
    pub fn part_keys(self) -> usize {
        match self {
            Rung::Tiles | Rung::TilesFold => TILE,
            _ => CHUNK,
        }
    }

    /// Whether the rung runs at `dims` (rung 2 needs 16-byte rows; rungs 1 and 3 take any head
    /// layout the attention accepts).
    pub fn supports(self, dims: AttnDims) -> bool {
        match self {
            Rung::Split => split_supports(dims),
            _ => check_dims("", dims).is_ok(),
        }
    }
}

/// Every sequence must hold the new token.
fn check_nonempty(what: &str, cache: &AttnSeqs) -> Result<()> {
    if let Some(i) = cache.host.iter().position(|s| s.1 == 0) {
        bail!("{what}: cached sequence {i} is empty (it must include the new token)");
    }
    Ok(())
}

/// Checks q/out/lse for `b` sequences and that the caches hold `rows` rows of Hkv·D.
#[allow(clippy::too_many_arguments)]
fn check_shapes(
    what: &str,
    dims: AttnDims,
    b: usize,
    out: &DevBuf<bf16>,
    lse: &DevBuf<f32>,
    q: &DevBuf<bf16>,
    k_cache: &DevBuf<bf16>,
    v_cache: &DevBuf<bf16>,
    rows: usize,
) -> Result<()> {
    check_dims(what, dims)?;
    let (hq, hkv, d) = (dims.n_q_heads, dims.n_kv_heads, dims.head_dim);
    if q.len() != b * hq * d || out.len() != q.len() || lse.len() != b * hq {
        bail!(
            "{what}: q/out/lse have {}/{}/{} elements for {b} sequences of {hq}x{d}",
            q.len(),
            out.len(),
            lse.len()
        );
    }
    let width = hkv * d;
    if !k_cache.len().is_multiple_of(width) || v_cache.len() != k_cache.len() {
        bail!(
            "{what}: k/v caches have {}/{} elements, not equal whole rows of {width}",
            k_cache.len(),
            v_cache.len()
        );
    }
    if rows > k_cache.len() / width {
        bail!(
            "{what}: sequences reach row {rows} but the caches have {} rows",
            k_cache.len() / width
        );
    }
    Ok(())
}

/// Rung 1: query b (q/out [B, Hq·D]) is the last token of cached sequence b, `cache.host[b]` =
/// (first row in k_cache/v_cache [N, Hkv·D], length including the new token, ≥ 1).
#[allow(clippy::too_many_arguments)]
pub fn attn_decode_bf16(
    dev: &dyn KernelDevice,
    out: &DevBuf<bf16>,
    lse: &DevBuf<f32>,
    q: &DevBuf<bf16>,
    k_cache: &DevBuf<bf16>,
    v_cache: &DevBuf<bf16>,
    cache: &AttnSeqs,
    dims: AttnDims,
) -> Result<()> {
    const W: &str = "attn_decode_bf16";
    let b = cache.host.len();
    check_nonempty(W, cache)?;
    check_shapes(W, dims, b, out, lse, q, k_cache, v_cache, cache.rows)?;
    let mut a = KernelArgs::new();
    a.buf(out)
        .buf(lse)
        .buf(q)
        .buf(k_cache)
        .buf(v_cache)
        .buf(&cache.dev);
    a.i32(dims.n_q_heads as i32)
        .i32(dims.n_kv_heads as i32)
        .i32(dims.head_dim as i32)
        .f32(dims.scale());
    let cfg = LaunchCfg {
        grid: [dims.n_q_heads as u32, b as u32, 1],
        block: [THREADS, 1, 1],
        smem_bytes: 0,
    };
    dev.launch(W, &cfg, &mut a)
}

fn same_dims(a: AttnDims, b: AttnDims) -> bool {
    (a.n_q_heads, a.n_kv_heads, a.head_dim) == (b.n_q_heads, b.n_kv_heads, b.head_dim)
}

/// Chunks of the split kernel for caches of up to `max_len` keys per sequence.
pub fn chunks_for(max_len: usize) -> usize {
    max_len.div_ceil(CHUNK).max(1)
}

/// Rung 3's tile kernel at `head_dim` (compiled for the head-dim buckets 64 and 128).
pub fn tiles_kernel(head_dim: usize) -> &'static str {
    if head_dim > 64 {
        "attn_decode_tiles_d128_bf16"
    } else {
        "attn_decode_tiles_d64_bf16"
    }
}

/// Rung 4's kernel at `head_dim` (the buckets of [`tiles_kernel`]).
pub fn tiles_fold_kernel(head_dim: usize) -> &'static str {
    if head_dim > 64 {
        "attn_decode_tiles_fold_d128_bf16"
    } else {
        "attn_decode_tiles_fold_d64_bf16"
    }
}

/// CTA rows of rungs 3 and 4 per sequence: each kv head's query heads in slices of at most
/// [`TILE_HEADS_PER_CTA`].
fn tile_slices(dims: AttnDims) -> usize {
    dims.n_kv_heads * dims.group().div_ceil(TILE_HEADS_PER_CTA)
}

/// Tiles of rung 3 for caches of up to `max_len` keys per sequence.
pub fn tiles_for(max_len: usize) -> usize {
    max_len.div_ceil(TILE).max(1)
}

/// Whether rung 2 handles `dims` (16-byte rows: D a multiple of 8); otherwise rung 1 is used.
pub fn split_supports(dims: AttnDims) -> bool {
    dims.head_dim.is_multiple_of(8) && check_dims("", dims).is_ok()
}

/// The partial states of a split rung (2 or 3) for up to `batch` sequences of up to `max_len`
/// keys: f32 [B, Hq, chunks, D] accumulators and [B, Hq, chunks, 2] (max, sum), one chunk per
/// `keys` keys (rung 2: [`CHUNK`], rung 3: [`TILE`]).
pub struct SplitScratch {
    pub acc: DevBuf<f32>,
    pub ml: DevBuf<f32>,
    /// Rung 4's count of finished tile CTAs per (head slice, sequence): zero between launches.
    pub counters: DevBuf<i32>,
    pub batch: usize,
    pub chunks: usize,
    /// Keys per chunk.
    pub keys: usize,
    dims: AttnDims,
}

impl SplitScratch {
    /// Rung 2's scratch.
    pub fn alloc(
        dev: &dyn KernelDevice,
        batch: usize,
        max_len: usize,
        dims: AttnDims,
    ) -> Result<Self> {
        Self::alloc_for(dev, Rung::Split, batch, max_len, dims)
    }

    /// The scratch of `rung` (its [`Rung::part_keys`] keys per chunk).
    pub fn alloc_for(
        dev: &dyn KernelDevice,
        rung: Rung,
        batch: usize,
        max_len: usize,
        dims: AttnDims,
    ) -> Result<Self> {
        let keys = rung.part_keys();
        let chunks = max_len.div_ceil(keys).max(1);
        let slots = batch.max(1) * dims.n_q_heads * chunks;
        Ok(SplitScratch {
            acc: alloc(dev, slots * dims.head_dim)?,
            ml: alloc(dev, slots * 2)?,
            counters: upload(dev, &vec![0i32; batch.max(1) * tile_slices(dims)])?,
            batch: batch.max(1),
            chunks,
            keys,
            dims,
        })
    }

    /// Bytes of one launch's partial states for `b` sequences of `len` keys each, `keys` keys per
    /// chunk, written by the split kernel and read back by the merge (the traffic a split rung
    /// adds to the compulsory K/V).
    pub fn traffic_bytes(dims: AttnDims, lens: &[usize], keys: usize) -> u64 {
        let per_chunk = (dims.head_dim + 2) * 4 * dims.n_q_heads;
        lens.iter()
            .map(|&l| 2 * (l.div_ceil(keys).max(1) * per_chunk) as u64)
            .sum()
    }

    /// Whether this scratch holds `b` sequences of `dims` for `rung`'s kernels.
    fn fits(&self, rung: Rung, dims: AttnDims, b: usize) -> bool {
        same_dims(dims, self.dims) && b <= self.batch && self.keys == rung.part_keys()
    }
}

/// What a split rung with host-known sequences checks: every sequence holds its new token, fits
/// the scratch's chunks, and lies inside the caches (as rung 1 checks).
#[allow(clippy::too_many_arguments)]
fn check_host_parts(
    what: &str,
    dims: AttnDims,
    cache: &AttnSeqs,
    scratch: &SplitScratch,
    out: &DevBuf<bf16>,
    lse: &DevBuf<f32>,
    q: &DevBuf<bf16>,
    k_cache: &DevBuf<bf16>,
    v_cache: &DevBuf<bf16>,
) -> Result<()> {
    check_nonempty(what, cache)?;
    if cache.max_len > scratch.chunks * scratch.keys {
        bail!(
            "{what}: a sequence of {} keys exceeds the scratch's {} chunks of {}",
            cache.max_len,
            scratch.chunks,
            scratch.keys
        );
    }
    let b = cache.host.len();
    check_shapes(what, dims, b, out, lse, q, k_cache, v_cache, cache.rows)
}

/// The buffers every decode-attention launcher takes: out and lse, q, and the caches.
struct DecodeBufs<'a> {
    out: &'a DevBuf<bf16>,
    lse: &'a DevBuf<f32>,
    q: &'a DevBuf<bf16>,
    k_cache: &'a DevBuf<bf16>,
    v_cache: &'a DevBuf<bf16>,
}

/// A split rung's launcher for sequences on the device (`attn_decode_*_seqs`).
type SeqsLauncher = fn(
    &dyn KernelDevice,
    &DevBuf<bf16>,
    &DevBuf<f32>,
    &DevBuf<bf16>,
    &DevBuf<bf16>,
    &DevBuf<bf16>,
    &DevBuf<i32>,
    usize,
    &SplitScratch,
    AttnDims,
) -> Result<()>;

/// A split rung with host-known sequences: checked like rung 1, then `launch` on their device copy.
fn on_host_seqs(
    what: &str,
    launch: SeqsLauncher,
    dev: &dyn KernelDevice,
    x: DecodeBufs,
    cache: &AttnSeqs,
    scratch: &SplitScratch,
    dims: AttnDims,
) -> Result<()> {
    let (out, lse, q, k, v) = (x.out, x.lse, x.q, x.k_cache, x.v_cache);
    check_host_parts(what, dims, cache, scratch, out, lse, q, k, v)?;
    let b = cache.host.len();
    launch(dev, out, lse, q, k, v, &cache.dev, b, scratch, dims)
}

/// Rung 2 with host-known sequences (checked like rung 1).
#[allow(clippy::too_many_arguments)]
pub fn attn_decode_split(
    dev: &dyn KernelDevice,
    out: &DevBuf<bf16>,
    lse: &DevBuf<f32>,
    q: &DevBuf<bf16>,
    k_cache: &DevBuf<bf16>,
    v_cache: &DevBuf<bf16>,
    cache: &AttnSeqs,
    scratch: &SplitScratch,
    dims: AttnDims,
) -> Result<()> {
    let bufs = DecodeBufs {
        out,
        lse,
        q,
        k_cache,
        v_cache,
    };
    on_host_seqs(
        "attn_decode_split",
        attn_decode_split_seqs,
        dev,
        bufs,
        cache,
        scratch,
        dims,
    )
}

/// Rung 2 for `b` sequences whose (first row, length) pairs are in `seqs` [b][2] on the device.
/// The caller guarantees what rung 1's launcher checks on the host: every length is in
/// 1..=scratch.chunks · CHUNK and every sequence lies inside the caches (a length beyond the
/// scratch is cut to it; no key past `chunks · CHUNK` is read).
#[allow(clippy::too_many_arguments)]
pub fn attn_decode_split_seqs(
    dev: &dyn KernelDevice,
    out: &DevBuf<bf16>,
    lse: &DevBuf<f32>,
    q: &DevBuf<bf16>,
    k_cache: &DevBuf<bf16>,
    v_cache: &DevBuf<bf16>,
    seqs: &DevBuf<i32>,
    b: usize,
    scratch: &SplitScratch,
    dims: AttnDims,
) -> Result<()> {
    const W: &str = "attn_decode_split_bf16";
    check_shapes(W, dims, b, out, lse, q, k_cache, v_cache, 0)?;
    if !split_supports(dims) {
        bail!(
            "{W}: head_dim {} is not a multiple of 8 (use attn_decode_bf16)",
            dims.head_dim
        );
    }
    check_scratch(W, Rung::Split, dims, b, scratch, seqs)?;
    if b == 0 {
        return Ok(());
    }
    let (hq, hkv, d) = (dims.n_q_heads, dims.n_kv_heads, dims.head_dim);
    let per_cta = dims.group().min(HEADS_PER_CTA);
    let slices = dims.group().div_ceil(per_cta);
    let mut a = KernelArgs::new();
    a.buf(&scratch.acc)
        .buf(&scratch.ml)
        .buf(q)
        .buf(k_cache)
        .buf(v_cache)
        .buf(seqs);
    a.i32(hq as i32)
        .i32(hkv as i32)
        .i32(d as i32)
        .i32(per_cta as i32)
        .i32(scratch.chunks as i32)
        .f32(dims.scale());
    let cfg = LaunchCfg {
        grid: [scratch.chunks as u32, (hkv * slices) as u32, b as u32],
        block: [THREADS, 1, 1],
        smem_bytes: 0,
    };
    dev.launch(W, &cfg, &mut a)?;
    combine_parts(
        dev,
        "attn_decode_merge_bf16",
        out,
        lse,
        seqs,
        b,
        scratch,
        dims,
    )
}

/// The split rungs' second launch: `kernel` (rung 2's merge or rung 3's fold) joins each query
/// head's partial states into out and lse. Grid (Hq, B), 128 threads over D.
#[allow(clippy::too_many_arguments)]
fn combine_parts(
    dev: &dyn KernelDevice,
    kernel: &str,
    out: &DevBuf<bf16>,
    lse: &DevBuf<f32>,
    seqs: &DevBuf<i32>,
    b: usize,
    scratch: &SplitScratch,
    dims: AttnDims,
) -> Result<()> {
    let mut a = KernelArgs::new();
    a.buf(out)
        .buf(lse)
        .buf(&scratch.acc)
        .buf(&scratch.ml)
        .buf(seqs)
        .i32(dims.n_q_heads as i32)
        .i32(dims.head_dim as i32)
        .i32(scratch.chunks as i32);
    let cfg = LaunchCfg {
        grid: [dims.n_q_heads as u32, b as u32, 1],
        block: [THREADS, 1, 1],
        smem_bytes: 0,
    };
    dev.launch(kernel, &cfg, &mut a)
}

fn check_scratch(
    what: &str,
    rung: Rung,
    dims: AttnDims,
    b: usize,
    scratch: &SplitScratch,
    seqs: &DevBuf<i32>,
) -> Result<()> {
    if !scratch.fits(rung, dims, b) || seqs.len() < 2 * b {
        bail!(
            "{what}: {b} sequences of {dims:?} do not fit the scratch ({} of {:?}, {} keys per chunk) or the {} seqs entries",
            scratch.batch,
            scratch.dims,
            scratch.keys,
            seqs.len()
        );
    }
    Ok(())
}

/// Rung 3 with host-known sequences (checked like rung 1).
#[allow(clippy::too_many_arguments)]
pub fn attn_decode_tiles(
    dev: &dyn KernelDevice,
    out: &DevBuf<bf16>,
    lse: &DevBuf<f32>,
    q: &DevBuf<bf16>,
    k_cache: &DevBuf<bf16>,
    v_cache: &DevBuf<bf16>,
    cache: &AttnSeqs,
    scratch: &SplitScratch,
    dims: AttnDims,
) -> Result<()> {
    let bufs = DecodeBufs {
        out,
        lse,
        q,
        k_cache,
        v_cache,
    };
    on_host_seqs(
        "attn_decode_tiles",
        attn_decode_tiles_seqs,
        dev,
        bufs,
        cache,
        scratch,
        dims,
    )
}

/// Rung 3 for `b` sequences whose (first row, length) pairs are in `seqs` [b][2] on the device
/// (the caller guarantees what [`attn_decode_split_seqs`] asks).
#[allow(clippy::too_many_arguments)]
pub fn attn_decode_tiles_seqs(
    dev: &dyn KernelDevice,
    out: &DevBuf<bf16>,
    lse: &DevBuf<f32>,
    q: &DevBuf<bf16>,
    k_cache: &DevBuf<bf16>,
    v_cache: &DevBuf<bf16>,
    seqs: &DevBuf<i32>,
    b: usize,
    scratch: &SplitScratch,
    dims: AttnDims,
) -> Result<()> {
    let kernel = tiles_kernel(dims.head_dim);
    check_shapes(kernel, dims, b, out, lse, q, k_cache, v_cache, 0)?;
    check_scratch(kernel, Rung::Tiles, dims, b, scratch, seqs)?;
    if b == 0 {
        return Ok(());
    }
    let mut a = KernelArgs::new();
    a.buf(&scratch.acc).buf(&scratch.ml);
    tile_args(&mut a, q, k_cache, v_cache, seqs, scratch, dims);
    dev.launch(kernel, &tiles_cfg(dims, b, scratch), &mut a)?;
    combine_parts(
        dev,
        "attn_decode_fold_bf16",
        out,
        lse,
        seqs,
        b,
        scratch,
        dims,
    )
}

/// The tile kernels' arguments after their output buffers.
fn tile_args(
    a: &mut KernelArgs,
    q: &DevBuf<bf16>,
    k_cache: &DevBuf<bf16>,
    v_cache: &DevBuf<bf16>,
    seqs: &DevBuf<i32>,
    scratch: &SplitScratch,
    dims: AttnDims,
) {
    a.buf(q).buf(k_cache).buf(v_cache).buf(seqs);
    a.i32(dims.n_q_heads as i32)
        .i32(dims.n_kv_heads as i32)
        .i32(dims.head_dim as i32)
        .i32(scratch.chunks as i32)
        .f32(dims.scale());
}

/// Rungs 3 and 4's grid (tiles, head slices, B); dynamic shared memory for the query rows, K and
/// V: three padded [64][bucket + 8] bf16 tiles.
fn tiles_cfg(dims: AttnDims, b: usize, scratch: &SplitScratch) -> LaunchCfg {
    LaunchCfg {
        grid: [scratch.chunks as u32, tile_slices(dims) as u32, b as u32],
        block: [THREADS, 1, 1],
        smem_bytes: (3 * tc_tile_bytes(TILE, dims.head_dim)) as u32,
    }
}

/// Rung 4 with host-known sequences (checked like rung 1).
#[allow(clippy::too_many_arguments)]
pub fn attn_decode_tiles_fold(
    dev: &dyn KernelDevice,
    out: &DevBuf<bf16>,
    lse: &DevBuf<f32>,
    q: &DevBuf<bf16>,
    k_cache: &DevBuf<bf16>,
    v_cache: &DevBuf<bf16>,
    cache: &AttnSeqs,
    scratch: &SplitScratch,
    dims: AttnDims,
) -> Result<()> {
    let bufs = DecodeBufs {
        out,
        lse,
        q,
        k_cache,
        v_cache,
    };
    on_host_seqs(
        "attn_decode_tiles_fold",
        attn_decode_tiles_fold_seqs,
        dev,
        bufs,
        cache,
        scratch,
        dims,
    )
}

/// Rung 4 for `b` sequences whose (first row, length) pairs are in `seqs` [b][2] on the device
/// (the caller guarantees what [`attn_decode_split_seqs`] asks): one launch, rung 3's bits.
#[allow(clippy::too_many_arguments)]
pub fn attn_decode_tiles_fold_seqs(
    dev: &dyn KernelDevice,
    out: &DevBuf<bf16>,
    lse: &DevBuf<f32>,
    q: &DevBuf<bf16>,
    k_cache: &DevBuf<bf16>,
    v_cache: &DevBuf<bf16>,
    seqs: &DevBuf<i32>,
    b: usize,
    scratch: &SplitScratch,
    dims: AttnDims,
) -> Result<()> {
    let kernel = tiles_fold_kernel(dims.head_dim);
    check_shapes(kernel, dims, b, out, lse, q, k_cache, v_cache, 0)?;
    check_scratch(kernel, Rung::TilesFold, dims, b, scratch, seqs)?;
    if b == 0 {
        return Ok(());
    }
    let mut a = KernelArgs::new();
    a.buf(out)
        .buf(lse)
        .buf(&scratch.acc)
        .buf(&scratch.ml)
        .buf(&scratch.counters);
    tile_args(&mut a, q, k_cache, v_cache, seqs, scratch, dims);
    dev.launch(kernel, &tiles_cfg(dims, b, scratch), &mut a)
}

/// The caches hold every row a sequence of the step reaches, K and V alike.
fn check_cache_rows(
    what: &str,
    rows: usize,
    width: usize,
    k_cache: &DevBuf<bf16>,
    v_cache: &DevBuf<bf16>,
) -> Result<()> {
    if v_cache.len() != k_cache.len() || rows * width > k_cache.len() {
        bail!(
            "{what}: sequences reach row {rows} but the k/v caches have {}/{} elements of rows of {width}",
            k_cache.len(),
            v_cache.len()
        );
    }
    Ok(())
}

/// The decode step's KV append: row b of `k_new`/`v_new` [B, width] goes to row
/// `start + len - 1` of `k_cache`/`v_cache` [N, width] for `cache.host[b]` = (start, len), every
/// row in one launch.
pub fn attn_decode_append_bf16(
    dev: &dyn KernelDevice,
    k_cache: &DevBuf<bf16>,
    v_cache: &DevBuf<bf16>,
    k_new: &DevBuf<bf16>,
    v_new: &DevBuf<bf16>,
    cache: &AttnSeqs,
    width: usize,
) -> Result<()> {
    const W: &str = "attn_decode_append_bf16";
    let b = cache.host.len();
    check_nonempty(W, cache)?;
    if width == 0 || k_new.len() != b * width || v_new.len() != k_new.len() {
        bail!(
            "{W}: k/v rows have {}/{} elements for {b} rows of {width}",
            k_new.len(),
            v_new.len()
        );
    }
    check_cache_rows(W, cache.rows, width, k_cache, v_cache)?;
    let mut a = KernelArgs::new();
    a.buf(k_cache)
        .buf(v_cache)
        .buf(k_new)
        .buf(v_new)
        .buf(&cache.dev)
        .i32(width as i32);
    let cfg = LaunchCfg {
        grid: [b as u32, 1, 1],
        block: [THREADS, 1, 1],
        smem_bytes: 0,
    };
    dev.launch(W, &cfg, &mut a)
}

/// Where a decode step's new q/k/v rows are: three buffers, or the column blocks of one GEMM's
/// output.
#[derive(Clone, Copy)]
pub enum StepQkv<'a> {
    /// q [B, Hq·D] (rotated in place), k and v [B, Hkv·D].
    Separate {
        q: &'a DevBuf<bf16>,
        k: &'a DevBuf<bf16>,
        v: &'a DevBuf<bf16>,
    },
    /// Rows [q | k | v] of `qkv` [B, (Hq + 2·Hkv)·D]; the rotated q goes to `q_out` [B, Hq·D].
    Packed {
        qkv: &'a DevBuf<bf16>,
        q_out: &'a DevBuf<bf16>,
    },
}

/// The decode step's RoPE and KV append in one launch: for `cache.host[b]` = (start, len), row b
/// of q is rotated at position len - 1, row b of k is rotated into cache row start + len - 1 and
/// row b of v copied there. Bit-identical to `rope_fwd_bf16` on q and k followed by
/// [`attn_decode_append_bf16`] (both rotate through kernels/rope.cuh).
pub fn attn_decode_rope_append_bf16(
    dev: &dyn KernelDevice,
    qkv: StepQkv<'_>,
    k_cache: &DevBuf<bf16>,
    v_cache: &DevBuf<bf16>,
    cache: &AttnSeqs,
    inv_freq: &DevBuf<f32>,
    dims: AttnDims,
) -> Result<()> {
    const W: &str = "attn_decode_rope_append_bf16";
    check_dims(W, dims)?;
    let b = cache.host.len();
    check_nonempty(W, cache)?;
    let (hq, hkv, d) = (dims.n_q_heads, dims.n_kv_heads, dims.head_dim);
    let (qd, width) = (hq * d, hkv * d);
    if inv_freq.len() * 2 != d {
        bail!(
            "{W}: head_dim {d} needs {} inverse frequencies, got {}",
            d / 2,
            inv_freq.len()
        );
    }
    check_cache_rows(W, cache.rows, width, k_cache, v_cache)?;
    let mut a = KernelArgs::new();
    match qkv {
        StepQkv::Separate { q, k, v } => {
            if q.len() != b * qd || k.len() != b * width || v.len() != k.len() {
                bail!(
                    "{W}: q/k/v have {}/{}/{} elements for {b} rows of {hq}/{hkv} heads of {d}",
                    q.len(),
                    k.len(),
                    v.len()
                );
            }
            a.buf(q)
                .buf(q)
                .i32(qd as i32)
                .buf(k)
                .buf(v)
                .i32(width as i32);
        }
        StepQkv::Packed { qkv, q_out } => {
            let row = qd + 2 * width;
            if qkv.len() != b * row || q_out.len() != b * qd {
                bail!(
                    "{W}: qkv/q_out have {}/{} elements for {b} rows of {hq}/{hkv} heads of {d}",
                    qkv.len(),
                    q_out.len()
                );
            }
            a.buf(q_out).buf(qkv).i32(row as i32);
            a.buf_at(qkv, qd)?.buf_at(qkv, qd + width)?.i32(row as i32);
        }
    }
    a.buf(k_cache)
        .buf(v_cache)
        .buf(&cache.dev)
        .buf(inv_freq)
        .i32(hq as i32)
        .i32(hkv as i32)
        .i32(d as i32);
    let cfg = LaunchCfg {
        grid: [b as u32, 1, 1],
        block: [THREADS, 1, 1],
        smem_bytes: 0,
    };
    dev.launch(W, &cfg, &mut a)
}

/// Decode attention with `rung` (rungs 2 and 3 need a `scratch` of theirs, rung 2 also
/// [`split_supports`]; otherwise rung 1 runs).
#[allow(clippy::too_many_arguments)]
pub fn attend(
    dev: &dyn KernelDevice,
    rung: Rung,
    out: &DevBuf<bf16>,
    lse: &DevBuf<f32>,
    q: &DevBuf<bf16>,
    k_cache: &DevBuf<bf16>,
    v_cache: &DevBuf<bf16>,
    cache: &AttnSeqs,
    scratch: Option<&SplitScratch>,
    dims: AttnDims,
) -> Result<()> {
    match (rung, scratch) {
        (Rung::Split, Some(s)) if split_supports(dims) && s.keys == CHUNK => {
            attn_decode_split(dev, out, lse, q, k_cache, v_cache, cache, s, dims)
        }
        (Rung::Tiles, Some(s)) if s.keys == TILE => {
            attn_decode_tiles(dev, out, lse, q, k_cache, v_cache, cache, s, dims)
        }
        (Rung::TilesFold, Some(s)) if s.keys == TILE => {
            attn_decode_tiles_fold(dev, out, lse, q, k_cache, v_cache, cache, s, dims)
        }
        _ => attn_decode_bf16(dev, out, lse, q, k_cache, v_cache, cache, dims),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_and_support() {
        assert_eq!(chunks_for(1), 1);
        assert_eq!(chunks_for(CHUNK), 1);
        assert_eq!(chunks_for(CHUNK + 1), 2);
        let d = |hq, hkv, hd| AttnDims {
            n_q_heads: hq,
            n_kv_heads: hkv,
            head_dim: hd,
        };
        assert!(split_supports(d(12, 2, 128)));
        assert!(split_supports(d(7, 1, 40)));
        assert!(!split_supports(d(4, 4, 20)));
        assert!(!split_supports(d(4, 3, 16)));
        // one chunk of partials per query head, written and read back
        assert_eq!(
            SplitScratch::traffic_bytes(d(2, 1, 8), &[CHUNK, CHUNK + 1], CHUNK),
            2 * (2 * 40 + 2 * 2 * 40)
        );
        assert_eq!(tiles_for(TILE), 1);
        assert_eq!(tiles_for(TILE + 1), 2);
        assert!(Rung::Tiles.supports(d(4, 4, 20)));
        assert!(!Rung::Split.supports(d(4, 4, 20)));
    }
}
