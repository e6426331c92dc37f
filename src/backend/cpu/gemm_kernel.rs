//! GEMM micro-kernels: one R×16 tile of C (R ≤ 6 rows) from a packed A micro-panel
//! ([k][R], row index fastest) and a packed B panel ([k][16], column index fastest).
//!
//! The order of arithmetic is the contract of every product on the CPU: each element of C is
//! one fused multiply-add chain over k in increasing order, starting from zero,
//! `acc = fma(a[i,p], b[p,j], acc)`, then `alpha·acc` (skipped when alpha is 1), then
//! `+ beta·C` (skipped when beta is 0). A chain split over k-blocks resumes from the partial sum
//! stored in C, which is exact, so neither the blocking, the tile position, the number of rows
//! in the product nor the thread count changes a single bit: a decode step over one sequence
//! gives the same numbers as the training forward over a packed batch.
//!
//! B elements are f32 or bf16 (the high half of an f32, widened exactly before the FMA).

use super::simd::Isa;

pub const MR: usize = 6;
pub const NR: usize = 16;

/// How a tile's accumulators meet C.
#[derive(Clone, Copy, Debug)]
pub struct Epilogue {
    /// Start from C's current values (the partial sums of earlier k-blocks) instead of zero.
    pub resume: bool,
    /// Last k-block: apply alpha and beta. Otherwise the raw partial sum is stored.
    pub finish: bool,
    pub alpha: f32,
    /// Only with `!resume` (C still holds its input values).
    pub beta: f32,
}

impl Epilogue {
    /// The final value of one element from its chain and C's input value.
    #[inline(always)]
    pub fn apply(&self, acc: f32, c_in: f32) -> f32 {
        let mut r = acc;
        if self.finish && self.alpha != 1.0 {
            r *= self.alpha;
        }
        if self.finish && self.beta != 0.0 {
            r += self.beta * c_in;
        }
        r
    }
}

/// Element type of a packed B panel.
pub trait PanelElem: Copy + Default + Send + Sync + 'static {
    const IS_F32: bool;
    fn from_f32(x: f32) -> Self;
    fn to_f32(self) -> f32;
    /// Eight consecutive elements as f32 lanes.
    ///
    /// # Safety
    /// `p` must be valid for eight reads, and the caller must be compiled with AVX2.
    #[cfg(target_arch = "x86_64")]
    unsafe fn load8(p: *const Self) -> std::arch::x86_64::__m256;
    /// Sixteen consecutive elements as f32 lanes.
    ///
    /// # Safety
    /// `p` must be valid for sixteen reads, and the caller must be compiled with AVX-512F.
    #[cfg(target_arch = "x86_64")]
    unsafe fn load16(p: *const Self) -> std::arch::x86_64::__m512;
}

impl PanelElem for f32 {
    const IS_F32: bool = true;
    #[inline(always)]
    fn from_f32(x: f32) -> Self {
        x
    }
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load8(p: *const Self) -> std::arch::x86_64::__m256 {
        std::arch::x86_64::_mm256_loadu_ps(p)
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load16(p: *const Self) -> std::arch::x86_64::__m512 {
        std::arch::x86_64::_mm512_loadu_ps(p)
    }
}

/// bf16 as its bit pattern: the upper 16 bits of an f32.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(transparent)]
pub struct Bf16(pub u16);

impl PanelElem for Bf16 {
    const IS_F32: bool = false;
    /// Round to nearest even (NaN stays NaN).
    #[inline(always)]
    fn from_f32(x: f32) -> Self {
        Bf16(half::bf16::from_f32(x).to_bits())
    }
    #[inline(always)]
    fn to_f32(self) -> f32 {
        f32::from_bits((self.0 as u32) << 16)
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load8(p: *const Self) -> std::arch::x86_64::__m256 {
        use std::arch::x86_64::*;
        let h = _mm_loadu_si128(p as *const __m128i);
        _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16))
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load16(p: *const Self) -> std::arch::x86_64::__m512 {
        use std::arch::x86_64::*;
        let h = _mm256_loadu_si256(p as *const __m256i);
        _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16))
    }
}

/// How the A rows of a tile are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ARows {
    /// A packed micro-panel, [k][R] (row index fastest).
    Packed,
    /// Straight from a row-major matrix: row i of the tile at `a + i·lda`, k contiguous. Saves
    /// the packing pass where A is read in place (the forward's activations); the broadcasts
    /// then stream R rows at once, which the prefetchers follow.
    RowMajor(usize),
}

impl ARows {
    /// (row stride for [`ARows::RowMajor`], 0 when packed; whether packed): the kernels' view.
    fn stride_and_packed(self) -> (usize, bool) {
        match self {
            ARows::Packed => (0, true),
            ARows::RowMajor(lda) => (lda, false),
        }
    }
}

/// Calls `$body` with `$R` (1..=6, rows of the tile) as a constant.
macro_rules! by_rows {
    ($r:expr, |$R:ident| $body:expr) => {
        match $r {
            1 => {
                const $R: usize = 1;
                $body
            }
            2 => {
                const $R: usize = 2;
                $body
            }
            3 => {
                const $R: usize = 3;
                $body
            }
            4 => {
                const $R: usize = 4;
                $body
            }
            5 => {
                const $R: usize = 5;
                $body
            }
            _ => {
                const $R: usize = 6;
                $body
            }
        }
    };
}

/// Calls `$body` with `$R` (rows of the tile) and `$P` (A packed) as constants, so each shape is
/// its own fully unrolled kernel.
macro_rules! by_shape {
    ($r:expr, $packed:expr, |$R:ident, $P:ident| $body:expr) => {
        if $packed {
            const $P: bool = true;
            by_rows!($r, |$R| $body)
        } else {
            const $P: bool = false;
            by_rows!($r, |$R| $body)
        }
    };
}

/// B panels one tile call covers on this instruction set: two with AVX-512 (an R×32 tile,
/// twelve 16-lane chains at R = 6, the count that hides the multiply-add latency on two
/// FMA ports), one otherwise (R×16, two 8-lane vectors per row).
pub fn panels_per_tile(isa: Isa) -> usize {
    if isa.avx512() {
        2
    } else {
        1
    }
}

/// One tile: `rows` ≤ R valid rows and `cols` ≤ NR valid columns of C at `c` (row stride
/// `ldc`), over `k` steps of A (`a`, stored as `arows` says) and a B panel `b` of k rows
/// of NR elements, `ldb` apart (NR for a packed panel; a row-major matrix's width otherwise).
///
/// # Safety
/// `a` holds k·R floats when packed, or R rows of k floats `lda` apart; `b` is readable for NR
/// elements at each of its k rows; C is valid for `rows` rows of `cols` columns.
#[allow(clippy::too_many_arguments)]
#[inline]
pub unsafe fn tile<E: PanelElem>(
    isa: Isa,
    r: usize,
    k: usize,
    a: *const f32,
    arows: ARows,
    b: *const E,
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    rows: usize,
    cols: usize,
    ep: Epilogue,
) {
    let (lda, packed) = arows.stride_and_packed();
    #[cfg(target_arch = "x86_64")]
    if isa.avx512() {
        by_shape!(r, packed, |R, PK| tile_avx512::<E, R, PK, 1>(
            k,
            [a, std::ptr::null()],
            lda,
            [b],
            ldb,
            c,
            ldc,
            rows,
            cols,
            ep
        ));
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if isa.avx2() {
        by_shape!(r, packed, |R, PK| tile_avx2::<E, R, PK>(
            k, a, lda, b, ldb, c, ldc, rows, cols, ep
        ));
        return;
    }
    let _ = isa;
    by_shape!(r, packed, |R, PK| tile_portable::<E, R, PK>(
        k, a, lda, b, ldb, c, ldc, rows, cols, ep
    ))
}

/// Two side-by-side tiles: columns `0..NR` of C from panel `b[0]`, `NR..cols` from `b[1]`
/// (`cols` ≤ 2·NR; `b[1]` is not read when `cols` ≤ NR). One R×32 kernel with AVX-512, two
/// [`tile`] calls otherwise; the bits are the same either way.
///
/// # Safety
/// As for [`tile`], for each panel that holds valid columns.
#[allow(clippy::too_many_arguments)]
#[inline]
pub unsafe fn tile_pair<E: PanelElem>(
    isa: Isa,
    r: usize,
    k: usize,
    a: *const f32,
    arows: ARows,
    b: [*const E; 2],
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    rows: usize,
    cols: usize,
    ep: Epilogue,
) {
    if cols <= NR {
        return tile(isa, r, k, a, arows, b[0], ldb, c, ldc, rows, cols, ep);
    }
    #[cfg(target_arch = "x86_64")]
    if isa.avx512() {
        let (lda, packed) = arows.stride_and_packed();
        by_shape!(r, packed, |R, PK| tile_avx512::<E, R, PK, 2>(
            k,
            [a, std::ptr::null()],
            lda,
            b,
            ldb,
            c,
            ldc,
            rows,
            cols,
            ep
        ));
        return;
    }
    tile(isa, r, k, a, arows, b[0], ldb, c, ldc, rows, NR, ep);
    tile(
        isa,
        r,
        k,
        a,
        arows,
        b[1],
        ldb,
        c.add(NR),
        ldc,
        rows,
        cols - NR,
        ep,
    );
}

/// Rows of a [`tile_tall`]: two full micro-panels.
pub const TALL_ROWS: usize = 2 * MR;

/// The row tiles of rows `lo..hi` as (first row, rows): [`TALL_ROWS`] while they fit, then
/// tiles of at most MR.
pub fn row_tiles(lo: usize, hi: usize) -> impl Iterator<Item = (usize, usize)> {
    let mut i = lo;
    std::iter::from_fn(move || {
        let left = hi.saturating_sub(i);
        let r = if left >= TALL_ROWS {
            TALL_ROWS
        } else {
            MR.min(left)
        };
        (r > 0).then(|| {
            i += r;
            (i - r, r)
        })
    })
}

/// `r` ≤ [`TALL_ROWS`] rows of A against two side-by-side panels (`b[1]` read only past NR
/// columns): `a[0]` holds rows 0..MR and `a[1]` rows MR..2·MR, as packed micro-panels or as row
/// pointers of a row-major A ([`row_major_halves`]); `a[1]` is read only when r = TALL_ROWS.
/// A full tall tile is one 12×32 kernel with AVX-512: 24 chains, and each B load feeds twice
/// the multiply-adds of an R×32 tile (a seventh fewer loads per multiply-add, ~10% more
/// throughput from L1); anything else is [`tile_pair`] calls. Every element is the same chain
/// over k either way, so the same bits.
///
/// # Safety
/// As for [`tile_pair`] with `rows` = r (for each half of a tall tile).
#[allow(clippy::too_many_arguments)]
#[inline]
pub unsafe fn tile_rows<E: PanelElem>(
    isa: Isa,
    r: usize,
    k: usize,
    a: [*const f32; 2],
    arows: ARows,
    b: [*const E; 2],
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    cols: usize,
    ep: Epilogue,
) {
    if r != TALL_ROWS {
        return tile_pair(isa, r, k, a[0], arows, b, ldb, c, ldc, r, cols, ep);
    }
    #[cfg(target_arch = "x86_64")]
    if isa.avx512() && cols > NR {
        let (lda, packed) = arows.stride_and_packed();
        if packed {
            tile_avx512::<E, TALL_ROWS, true, 2>(k, a, lda, b, ldb, c, ldc, TALL_ROWS, cols, ep);
        } else {
            tile_avx512::<E, TALL_ROWS, false, 2>(k, a, lda, b, ldb, c, ldc, TALL_ROWS, cols, ep);
        }
        return;
    }
    for (h, &ah) in a.iter().enumerate() {
        let ch = c.add(h * MR * ldc);
        tile_pair(isa, MR, k, ah, arows, b, ldb, ch, ldc, MR, cols, ep);
    }
}

/// The two halves of a tile's rows in a row-major A whose rows are `lda` apart (the second
/// pointer is only formed, not read, when the tile is short).
pub fn row_major_halves(a: *const f32, lda: usize) -> [*const f32; 2] {
    [a, a.wrapping_add(MR * lda)]
}

/// Copies the valid part of a C tile into a full R×NR buffer (zeros elsewhere).
#[inline(always)]
unsafe fn read_c<const R: usize>(
    c: *const f32,
    ldc: usize,
    rows: usize,
    cols: usize,
) -> [[f32; NR]; R] {
    let mut t = [[0.0f32; NR]; R];
    for (i, row) in t.iter_mut().enumerate().take(rows) {
        for (j, x) in row.iter_mut().enumerate().take(cols) {
            *x = *c.add(i * ldc + j);
        }
    }
    t
}

#[inline(always)]
unsafe fn write_c<const R: usize>(
    t: &[[f32; NR]; R],
    c: *mut f32,
    ldc: usize,
    rows: usize,
    cols: usize,
) {
    for (i, row) in t.iter().enumerate().take(rows) {
        for (j, &x) in row.iter().enumerate().take(cols) {
            *c.add(i * ldc + j) = x;
        }
    }
}

#[allow(clippy::too_many_arguments)]
unsafe fn tile_portable<E: PanelElem, const R: usize, const PACKED: bool>(
    k: usize,
    a: *const f32,
    lda: usize,
    b: *const E,
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    rows: usize,
    cols: usize,
    ep: Epilogue,
) {
    let c_in = if ep.resume || (ep.finish && ep.beta != 0.0) {
        read_c::<R>(c, ldc, rows, cols)
    } else {
        [[0.0f32; NR]; R]
    };
    let mut acc = if ep.resume { c_in } else { [[0.0f32; NR]; R] };
    for p in 0..k {
        let bp = b.add(p * ldb);
        let (rs, ps) = if PACKED { (1, R) } else { (lda, 1) };
        let ap = a.add(p * ps);
        for (i, row) in acc.iter_mut().enumerate() {
            let av = *ap.add(i * rs);
            for (j, x) in row.iter_mut().enumerate() {
                *x = av.mul_add((*bp.add(j)).to_f32(), *x);
            }
        }
    }
    for (row, cin) in acc.iter_mut().zip(&c_in) {
        for (x, &ci) in row.iter_mut().zip(cin) {
            *x = ep.apply(*x, ci);
        }
    }
    write_c::<R>(&acc, c, ldc, rows, cols);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn tile_avx2<E: PanelElem, const R: usize, const PACKED: bool>(
    k: usize,
    a: *const f32,
    lda: usize,
    b: *const E,
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    rows: usize,
    cols: usize,
    ep: Epilogue,
) {
    use std::arch::x86_64::*;
    let full = rows == R && cols == NR;
    let needs_c = ep.resume || (ep.finish && ep.beta != 0.0);
    // The tile's C values, from memory directly or through a padded copy at the edges.
    let mut edge = [[0.0f32; NR]; R];
    let (cp, ld) = if full {
        (c, ldc)
    } else {
        if needs_c {
            edge = read_c::<R>(c, ldc, rows, cols);
        }
        (edge.as_mut_ptr() as *mut f32, NR)
    };
    let mut acc = [[_mm256_setzero_ps(); 2]; R];
    if ep.resume {
        for (i, x) in acc.iter_mut().enumerate() {
            x[0] = _mm256_loadu_ps(cp.add(i * ld));
            x[1] = _mm256_loadu_ps(cp.add(i * ld + 8));
        }
    }
    for p in 0..k {
        let b0 = E::load8(b.add(p * ldb));
        let b1 = E::load8(b.add(p * ldb + 8));
        let (rs, ps) = if PACKED { (1, R) } else { (lda, 1) };
        let ap = a.add(p * ps);
        for (i, x) in acc.iter_mut().enumerate() {
            let av = _mm256_set1_ps(*ap.add(i * rs));
            x[0] = _mm256_fmadd_ps(av, b0, x[0]);
            x[1] = _mm256_fmadd_ps(av, b1, x[1]);
        }
    }
    if ep.finish && ep.alpha != 1.0 {
        let al = _mm256_set1_ps(ep.alpha);
        for x in acc.iter_mut() {
            x[0] = _mm256_mul_ps(al, x[0]);
            x[1] = _mm256_mul_ps(al, x[1]);
        }
    }
    if ep.finish && ep.beta != 0.0 {
        let be = _mm256_set1_ps(ep.beta);
        for (i, x) in acc.iter_mut().enumerate() {
            let c0 = _mm256_loadu_ps(cp.add(i * ld));
            let c1 = _mm256_loadu_ps(cp.add(i * ld + 8));
            x[0] = _mm256_add_ps(x[0], _mm256_mul_ps(be, c0));
            x[1] = _mm256_add_ps(x[1], _mm256_mul_ps(be, c1));
        }
    }
    for (i, x) in acc.iter().enumerate() {
        _mm256_storeu_ps(cp.add(i * ld), x[0]);
        _mm256_storeu_ps(cp.add(i * ld + 8), x[1]);
    }
    if !full {
        write_c::<R>(&edge, c, ldc, rows, cols);
    }
}

/// The AVX-512 tile: R rows × P panels, one 16-lane accumulator per row and panel. The edges
/// go through lane masks, so C is read and written in place at every tile position.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn tile_avx512<E: PanelElem, const R: usize, const PACKED: bool, const P: usize>(
    k: usize,
    a: [*const f32; 2],
    lda: usize,
    b: [*const E; P],
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    rows: usize,
    cols: usize,
    ep: Epilogue,
) {
    use std::arch::x86_64::*;
    let mut masks: [__mmask16; P] = [0; P];
    for (q, m) in masks.iter_mut().enumerate() {
        let w = cols.saturating_sub(q * NR).min(NR);
        *m = ((1u32 << w) - 1) as __mmask16;
    }
    let mut acc = [[_mm512_setzero_ps(); P]; R];
    // Loops over the rows run to R, a constant, with the row test inside: fully unrolled, the
    // accumulators stay in registers (a loop to `rows` would keep them in memory).
    if ep.resume {
        for (i, x) in acc.iter_mut().enumerate() {
            if i < rows {
                for (q, v) in x.iter_mut().enumerate() {
                    *v = _mm512_maskz_loadu_ps(masks[q], c.add(i * ldc + q * NR));
                }
            }
        }
    }
    // Rows past MR come from the second half (`a[1]`): the next micro-panel when packed, row
    // MR on when row-major. Row i's element p sits at p·ps + (i mod MR)·rs of its half.
    let half_rows = |h: usize| {
        if h == 0 {
            R.min(MR)
        } else {
            R.saturating_sub(MR)
        }
    };
    let (rs, ps) = if PACKED {
        (1, [half_rows(0), half_rows(1)])
    } else {
        (lda, [1, 1])
    };
    for p in 0..k {
        let mut bv = [_mm512_setzero_ps(); P];
        for (q, v) in bv.iter_mut().enumerate() {
            *v = E::load16(b[q].add(p * ldb));
        }
        for (i, x) in acc.iter_mut().enumerate() {
            let h = i / MR;
            let av = _mm512_set1_ps(*a[h].add(p * ps[h] + (i % MR) * rs));
            for (v, &bq) in x.iter_mut().zip(&bv) {
                *v = _mm512_fmadd_ps(av, bq, *v);
            }
        }
    }
    if ep.finish && ep.alpha != 1.0 {
        let al = _mm512_set1_ps(ep.alpha);
        for x in acc.iter_mut() {
            for v in x.iter_mut() {
                *v = _mm512_mul_ps(al, *v);
            }
        }
    }
    if ep.finish && ep.beta != 0.0 {
        let be = _mm512_set1_ps(ep.beta);
        for (i, x) in acc.iter_mut().enumerate() {
            if i < rows {
                for (q, v) in x.iter_mut().enumerate() {
                    let ci = _mm512_maskz_loadu_ps(masks[q], c.add(i * ldc + q * NR));
                    *v = _mm512_add_ps(*v, _mm512_mul_ps(be, ci));
                }
            }
        }
    }
    for (i, x) in acc.iter().enumerate() {
        if i < rows {
            for (q, v) in x.iter().enumerate() {
                _mm512_mask_storeu_ps(c.add(i * ldc + q * NR), masks[q], *v);
            }
        }
    }
}

/// Panels one row of A meets at once in [`row_panels`].
pub const ROW_PANELS: usize = 4;

/// One row of C against ROW_PANELS consecutive B panels: the single-sequence decode step, where
/// a one-panel tile has only two accumulator chains and waits on each multiply-add's latency.
/// Eight chains (and four weight streams) in flight instead; every element is still the one
/// chain over k of [`tile`], so the bits are the same. `cols` ≤ ROW_PANELS·NR valid columns.
///
/// # Safety
/// `a` holds k floats, each `b[q]` is a packed panel of k·NR elements, C is valid for `cols`
/// floats.
#[allow(clippy::too_many_arguments)]
pub unsafe fn row_panels<E: PanelElem>(
    isa: Isa,
    k: usize,
    a: *const f32,
    b: [*const E; ROW_PANELS],
    c: *mut f32,
    cols: usize,
    ep: Epilogue,
) {
    #[cfg(target_arch = "x86_64")]
    if isa.avx512() && !ep.resume {
        return row_panels_avx512(k, a, b, c, cols, ep);
    }
    #[cfg(target_arch = "x86_64")]
    if isa.avx2() && !ep.resume {
        return row_panels_avx2(k, a, b, c, cols, ep);
    }
    for (q, &bq) in b.iter().enumerate() {
        if q * NR < cols {
            let w = NR.min(cols - q * NR);
            tile(
                Isa::Portable,
                1,
                k,
                a,
                ARows::Packed,
                bq,
                NR,
                c.add(q * NR),
                w,
                1,
                w,
                ep,
            );
        }
    }
}

/// Panel rows the one-row kernels prefetch ahead (0: none). Narrow weights stream half the bytes
/// per instruction and the hardware prefetchers alone keep too few lines in flight (bf16 decode
/// read 13 GB/s where f32 reached 18), so a bf16 panel is also prefetched a kilobyte ahead.
#[cfg(target_arch = "x86_64")]
fn prefetch_rows<E: PanelElem>() -> usize {
    if E::IS_F32 {
        0
    } else {
        1024 / (NR * std::mem::size_of::<E>())
    }
}

/// [`row_panels`] with one 16-lane chain per panel: half the instructions per weight of the
/// AVX2 version, which matters where the weights come from cache rather than DRAM (bf16 weights
/// are widened in registers: two instructions per 16 weights here, per 8 with AVX2).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn row_panels_avx512<E: PanelElem>(
    k: usize,
    a: *const f32,
    b: [*const E; ROW_PANELS],
    c: *mut f32,
    cols: usize,
    ep: Epilogue,
) {
    use std::arch::x86_64::*;
    const W: usize = ROW_PANELS * NR;
    let mut acc = [_mm512_setzero_ps(); ROW_PANELS];
    let ahead = prefetch_rows::<E>();
    for p in 0..k {
        let av = _mm512_set1_ps(*a.add(p));
        for (x, &bq) in acc.iter_mut().zip(&b) {
            if ahead > 0 {
                _mm_prefetch::<_MM_HINT_T0>(bq.wrapping_add((p + ahead) * NR) as *const i8);
            }
            *x = _mm512_fmadd_ps(av, E::load16(bq.add(p * NR)), *x);
        }
    }
    let mut out = [0.0f32; W];
    for (q, x) in acc.iter().enumerate() {
        _mm512_storeu_ps(out.as_mut_ptr().add(q * NR), *x);
    }
    for (j, &v) in out.iter().enumerate().take(cols) {
        *c.add(j) = ep.apply(v, *c.add(j));
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn row_panels_avx2<E: PanelElem>(
    k: usize,
    a: *const f32,
    b: [*const E; ROW_PANELS],
    c: *mut f32,
    cols: usize,
    ep: Epilogue,
) {
    use std::arch::x86_64::*;
    const W: usize = ROW_PANELS * NR;
    let mut acc = [[_mm256_setzero_ps(); 2]; ROW_PANELS];
    let ahead = prefetch_rows::<E>();
    for p in 0..k {
        let av = _mm256_set1_ps(*a.add(p));
        for (x, &bq) in acc.iter_mut().zip(&b) {
            if ahead > 0 {
                _mm_prefetch::<_MM_HINT_T0>(bq.wrapping_add((p + ahead) * NR) as *const i8);
            }
            x[0] = _mm256_fmadd_ps(av, E::load8(bq.add(p * NR)), x[0]);
            x[1] = _mm256_fmadd_ps(av, E::load8(bq.add(p * NR + 8)), x[1]);
        }
    }
    let mut out = [0.0f32; W];
    for (q, x) in acc.iter().enumerate() {
        _mm256_storeu_ps(out.as_mut_ptr().add(q * NR), x[0]);
        _mm256_storeu_ps(out.as_mut_ptr().add(q * NR + 8), x[1]);
    }
    for (j, &v) in out.iter().enumerate().take(cols) {
        *c.add(j) = ep.apply(v, *c.add(j));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_tiles_are_tall_while_they_fit_and_cover_every_row_once() {
        let tiles = |lo, hi| row_tiles(lo, hi).collect::<Vec<_>>();
        assert_eq!(tiles(0, 0), vec![]);
        assert_eq!(tiles(0, 5), vec![(0, 5)]);
        assert_eq!(tiles(0, 12), vec![(0, 12)]);
        assert_eq!(tiles(0, 13), vec![(0, 12), (12, 1)]);
        assert_eq!(tiles(5, 36), vec![(5, 12), (17, 12), (29, 6), (35, 1)]);
        assert_eq!(tiles(96, 192).len(), 8);
    }
}
