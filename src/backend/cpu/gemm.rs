//! GEMM on f32, multithreaded: `C = alpha·op(A)·op(B) + beta·C`.
//!
//! B is packed into 16-column panels (or comes packed: generation packs its weights once, in
//! f32 or bf16) and the micro-kernels of [`super::gemm_kernel`] do the arithmetic, in an order
//! that makes every element of C independent of how the product is cut up (see there). Two
//! drivers share those kernels:
//! - few rows (decode, M ≤ 64): all of A is packed once and each B panel is streamed from
//!   memory exactly once, the panels split across threads — a GEMV at memory speed;
//! - many rows (prefill, training): BLIS-style blocking, A packed once, an A block of 96 rows ×
//!   ≤ 320 k in L2, a ≤ 320 × 16 B micro-panel in L1, tasks over (row block, column chunk).
use super::gemm_kernel::{
    panels_per_tile, row_panels, row_tiles, tile_rows, ARows, Epilogue, PanelElem, MR, NR,
    ROW_PANELS, TALL_ROWS,
};
use super::gemm_pack::{pack_a_panels, PackedB, View};
use super::simd::{isa, Isa};
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Up to this many rows, the few-rows driver (each B panel read once).
const SMALL_M: usize = 64;
/// Rows of A per block of the blocked driver (a multiple of MR).
const MC: usize = 96;
/// Most depth of one k-block of the blocked driver.
const KC: usize = 320;
/// B panels per task of the blocked driver (512 columns).
const PANELS_PER_TASK: usize = 32;
/// Micro-panels of A per packing task of the blocked driver (48 rows: 192 contiguous bytes of
/// a transposed A per k).
const A_PACK_PANELS: usize = 8;
/// Most floats of A the blocked driver packs at once (16 MiB); taller products go in slabs.
const A_PACK_MAX: usize = 1 << 22;
/// Multiply-adds below which a product runs on the calling thread.
const PARALLEL_MIN_WORK: usize = 1 << 18;

/// Row-major operands. `op(A)` is [m, k]: A is stored [m, k], or [k, m] when `trans_a`.
/// `op(B)` is [k, n]: B is stored [k, n], or [n, k] when `trans_b`. C is [m, n].
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: &[f32],
    trans_a: bool,
    b: &[f32],
    trans_b: bool,
    beta: f32,
    c: &mut [f32],
) {
    assert!(c.len() >= m * n, "gemm: C too small");
    let (av, bp) = operands(m, n, k, a, trans_a, b, trans_b);
    matmul(isa(), m, av, &bp, alpha, beta, c);
}

/// [`gemm`] with beta = 0 into uninitialised storage: every element of C [m, n] is written
/// and none is read, so a fresh output need not be zeroed first (a memset of a buffer about to
/// be overwritten moves as many bytes as a copy of it).
#[allow(clippy::too_many_arguments)]
pub fn gemm_uninit(
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: &[f32],
    trans_a: bool,
    b: &[f32],
    trans_b: bool,
    c: &mut [MaybeUninit<f32>],
) {
    assert!(c.len() >= m * n, "gemm: C too small");
    let (av, bp) = operands(m, n, k, a, trans_a, b, trans_b);
    // SAFETY: C holds m·n elements (checked just above); with beta = 0 every one is written
    // and none is read.
    unsafe {
        matmul_ptr(
            isa(),
            m,
            av,
            &bp,
            alpha,
            0.0,
            SharedC(c.as_mut_ptr().cast()),
        )
    }
}

/// A new C [m, n] = alpha·op(A)·op(B) (see [`gemm_uninit`]).
#[allow(clippy::too_many_arguments)]
pub fn gemm_new(
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: &[f32],
    trans_a: bool,
    b: &[f32],
    trans_b: bool,
) -> Vec<f32> {
    // SAFETY: `gemm_uninit` writes all m·n elements.
    unsafe {
        filled(m * n, |c| {
            gemm_uninit(m, n, k, alpha, a, trans_a, b, trans_b, c)
        })
    }
}

/// The views of A and B, B packed.
fn operands<'a>(
    m: usize,
    n: usize,
    k: usize,
    a: &'a [f32],
    trans_a: bool,
    b: &[f32],
    trans_b: bool,
) -> (View<'a>, PackedB<f32>) {
    assert!(a.len() >= m * k, "gemm: A too small");
    assert!(b.len() >= k * n, "gemm: B too small");
    let av = if trans_a {
        View::transposed(a, m)
    } else {
        View::rows(a, k)
    };
    let bv = if trans_b {
        View::transposed(b, k)
    } else {
        View::rows(b, n)
    };
    (av, PackedB::pack(bv, k, n))
}

/// `len` floats, every one of which `fill` writes: no zeroing first.
///
/// # Safety
/// `fill` must write every element of the slice it is given.
unsafe fn filled(len: usize, fill: impl FnOnce(&mut [MaybeUninit<f32>])) -> Vec<f32> {
    let mut v = Vec::with_capacity(len);
    fill(&mut v.spare_capacity_mut()[..len]);
    // SAFETY: the caller's `fill` wrote all `len` elements.
    unsafe { v.set_len(len) };
    v
}

/// `y[rows, out] = x[rows, in] · Wᵀ` for a weight stored [out, in] (the HF Linear layout).
pub fn linear(x: &[f32], w: &[f32], rows: usize, inp: usize, out: usize) -> Vec<f32> {
    gemm_new(rows, out, inp, 1.0, x, false, w, true)
}

/// `y[rows, n] = x[rows, k] · B` for a packed B (row-major x and y).
pub fn matmul_packed<E: PanelElem>(x: &[f32], rows: usize, b: &PackedB<E>) -> Vec<f32> {
    matmul_new(isa(), rows, View::rows(x, b.k()), b, 1.0)
}

/// A new C [m, n] = alpha·A·B ([`matmul`] with beta = 0, C never zeroed: every element is
/// written, none read).
pub fn matmul_new<E: PanelElem>(
    isa: Isa,
    m: usize,
    a: View<'_>,
    b: &PackedB<E>,
    alpha: f32,
) -> Vec<f32> {
    // SAFETY: C holds m·n elements; with beta = 0 all are written and none read.
    unsafe {
        filled(m * b.n(), |c| {
            matmul_ptr(isa, m, a, b, alpha, 0.0, SharedC(c.as_mut_ptr().cast()))
        })
    }
}

/// C [m, n] (row-major, contiguous) = alpha·A·B + beta·C with A a [m, k] view, on the given
/// instruction set (tests pass [`Isa::Portable`] to check the fallback).
pub fn matmul<E: PanelElem>(
    isa: Isa,
    m: usize,
    a: View<'_>,
    b: &PackedB<E>,
    alpha: f32,
    beta: f32,
    c: &mut [f32],
) {
    assert!(c.len() >= m * b.n(), "matmul: C too small");
    // SAFETY: C holds m·n elements (checked just above) and is initialised.
    unsafe { matmul_ptr(isa, m, a, b, alpha, beta, SharedC(c.as_mut_ptr())) }
}

/// [`matmul`] on C's base pointer.
///
/// # Safety
/// C is valid for m·n elements; they must be initialised unless beta = 0 (then C is only
/// written).
unsafe fn matmul_ptr<E: PanelElem>(
    isa: Isa,
    m: usize,
    a: View<'_>,
    b: &PackedB<E>,
    alpha: f32,
    beta: f32,
    cp: SharedC,
) {
    let (k, n) = (b.k(), b.n());
    if m == 0 || n == 0 {
        return;
    }
    let parallel = m * n * k >= PARALLEL_MIN_WORK;
    if m <= SMALL_M {
        few_rows(isa, m, a, b, alpha, beta, cp, parallel);
    } else {
        blocked(isa, m, a, b, alpha, beta, cp, parallel, A_PACK_MAX);
    }
}

/// C's base pointer shared by tasks that write disjoint tiles.
#[derive(Clone, Copy)]
struct SharedC(*mut f32);
// SAFETY: every task writes a tile no other task touches, and `matmul` holds `&mut C` until all
// tasks have finished.
unsafe impl Send for SharedC {}
unsafe impl Sync for SharedC {}
impl SharedC {
    fn at(self, off: usize) -> *mut f32 {
        // SAFETY: callers pass offsets inside C (tile origins of a product C covers).
        unsafe { self.0.add(off) }
    }
}

/// Few rows: A packed whole ([k][r] micro-panels), one pass over B's panels.
#[allow(clippy::too_many_arguments)]
fn few_rows<E: PanelElem>(
    isa: Isa,
    m: usize,
    a: View<'_>,
    b: &PackedB<E>,
    alpha: f32,
    beta: f32,
    cp: SharedC,
    parallel: bool,
) {
    let (k, n) = (b.k(), b.n());
    // SAFETY: `pack_a_panels` writes all m·k elements.
    let ap = unsafe { filled(m * k, |ap| pack_a_panels(a, 0, m, k, ap)) };
    let ep = Epilogue {
        resume: false,
        finish: true,
        alpha,
        beta,
    };
    // A non-f32 panel read by several row blocks is widened to f32 once (exactly), not per block.
    let widen = !E::IS_F32 && m > MR;
    let panels = b.panels();
    let pw = panels_per_tile(isa);
    // One unit: `pw` consecutive panels (fewer at the right edge) against every row block.
    let unit = |u: usize| {
        let p0 = u * pw;
        let np = pw.min(panels - p0);
        let j0 = p0 * NR;
        let cols = (np * NR).min(n - j0);
        let wide: Vec<f32> = if widen {
            // SAFETY: consecutive panels are contiguous, k·NR elements each.
            let src = unsafe { std::slice::from_raw_parts(b.panel_ptr(p0, 0), np * k * NR) };
            src.iter().map(|x| x.to_f32()).collect()
        } else {
            Vec::new()
        };
        // SAFETY: `wide` holds the np panels, k·NR floats each; B's panels k·NR elements each.
        unsafe {
            if widen {
                let w = wide.as_ptr();
                let bs = [w, w.add((np - 1) * k * NR)];
                column_tiles(isa, m, k, &ap, bs, cp.at(j0), n, cols, ep)
            } else {
                let bs = [b.panel_ptr(p0, 0), b.panel_ptr(p0 + np - 1, 0)];
                column_tiles(isa, m, k, &ap, bs, cp.at(j0), n, cols, ep)
            }
        }
    };
    let units = panels.div_ceil(pw);
    if m == 1 {
        // One row: ROW_PANELS panels at a time (more chains in flight, same bits).
        let group = |g: usize| {
            let p0 = g * ROW_PANELS;
            if p0 + ROW_PANELS > panels {
                // ROW_PANELS is a multiple of the unit's panels, so units start here too.
                return (p0 / pw..units).for_each(unit);
            }
            let bs: [*const E; ROW_PANELS] = std::array::from_fn(|q| b.panel_ptr(p0 + q, 0));
            let cols = (ROW_PANELS * NR).min(n - p0 * NR);
            // SAFETY: A holds k floats, each panel k·NR elements, and C's columns
            // p0·NR..p0·NR+cols lie inside its one row.
            unsafe { row_panels(isa, k, ap.as_ptr(), bs, cp.at(p0 * NR), cols, ep) }
        };
        let groups = panels.div_ceil(ROW_PANELS);
        if parallel {
            let per_task = groups.div_ceil(4 * rayon::current_num_threads()).max(1);
            (0..groups)
                .into_par_iter()
                .with_min_len(per_task)
                .for_each(group);
        } else {
            (0..groups).for_each(group);
        }
    } else if parallel {
        let per_task = units.div_ceil(4 * rayon::current_num_threads()).max(1);
        (0..units)
            .into_par_iter()
            .with_min_len(per_task)
            .for_each(unit);
    } else {
        (0..units).for_each(unit);
    }
}

/// All m rows of packed A (`ap`, MR-row micro-panels) against one unit of B panels (`bs`,
/// the second read only past NR columns), into the C columns at `c` (rows n apart): tall tiles
/// while 12 rows remain, so each B panel is read from cache half as often.
///
/// # Safety
/// `ap` holds m·k floats; each panel k·NR elements; C is valid for m rows of `cols` columns.
#[allow(clippy::too_many_arguments)]
unsafe fn column_tiles<E: PanelElem>(
    isa: Isa,
    m: usize,
    k: usize,
    ap: &[f32],
    bs: [*const E; 2],
    c: *mut f32,
    n: usize,
    cols: usize,
    ep: Epilogue,
) {
    let a_panel = |i: usize| ap[i.min(m) * k..].as_ptr();
    for (i0, r) in row_tiles(0, m) {
        let a2 = [a_panel(i0), a_panel(i0 + MR)];
        tile_rows(
            isa,
            r,
            k,
            a2,
            ARows::Packed,
            bs,
            NR,
            c.add(i0 * n),
            n,
            cols,
            ep,
        )
    }
}

/// Many rows: tasks over (MC-row block, column chunk); within a task, k-blocks of KC, partial
/// sums kept in C between k-blocks (with beta ≠ 0, C's input values wait in a copy of the
/// task's own tile region, added once the chain is done). A row-major A is read in place; any other A is packed once
/// per slab of rows (each MR-row micro-panel [k][r], contiguous) rather than once per task,
/// which matters for wide products: the LM head's 3072 panels would otherwise repack the same
/// rows 96 times.
#[allow(clippy::too_many_arguments)]
fn blocked<E: PanelElem>(
    isa: Isa,
    m: usize,
    a: View<'_>,
    b: &PackedB<E>,
    alpha: f32,
    beta: f32,
    cp: SharedC,
    parallel: bool,
    a_pack_max: usize,
) {
    let (k, n) = (b.k(), b.n());
    let panels = b.panels();
    // Equal column chunks of at most PANELS_PER_TASK panels (36 = 18 + 18, not 32 + 4), each a
    // whole number of tile units.
    let pw = panels_per_tile(isa);
    let per_chunk = panels
        .div_ceil(panels.div_ceil(PANELS_PER_TASK))
        .next_multiple_of(pw);
    let chunks = panels.div_ceil(per_chunk);
    // Equal k-blocks of at most KC (576 = 2 × 288, not 256 + 256 + 64).
    let kc = k.div_ceil(k.div_ceil(KC).max(1)).max(1);
    let k_blocks: Vec<(usize, usize)> = if k == 0 {
        vec![(0, 0)]
    } else {
        (0..k).step_by(kc).map(|k0| (k0, kc.min(k - k0))).collect()
    };
    let in_place = a.cs == 1;
    let slab_rows = if in_place {
        m
    } else {
        ((a_pack_max / k.max(1)) / MC).max(1) * MC
    };
    let mut ap: Vec<f32> = Vec::with_capacity(if in_place { 0 } else { slab_rows.min(m) * k });
    for s0 in (0..m).step_by(slab_rows) {
        let rows = slab_rows.min(m - s0);
        // Groups of A_PACK_PANELS micro-panels per task.
        let group = A_PACK_PANELS * MR;
        let pack = |(g, dst): (usize, &mut [MaybeUninit<f32>])| {
            let i0 = g * group;
            pack_a_panels(a, s0 + i0, group.min(rows - i0), k, dst);
        };
        if !in_place {
            // The slab's micro-panels are packed whole over the spare capacity (the first
            // slab is the largest), then the length covers them.
            ap.clear();
            let packed = &mut ap.spare_capacity_mut()[..rows * k];
            if parallel {
                packed
                    .par_chunks_mut(group * k.max(1))
                    .enumerate()
                    .for_each(pack);
            } else {
                packed
                    .chunks_mut(group * k.max(1))
                    .enumerate()
                    .for_each(pack);
            }
            // SAFETY: the groups of micro-panels (the last shorter) cover 0..rows·k, and
            // `pack_a_panels` wrote each whole.
            unsafe { ap.set_len(rows * k) };
        }
        let ap = &ap[..];
        let row_blocks = rows.div_ceil(MC);
        let task = |t: usize| {
            let (jb, ib) = (t / row_blocks, t % row_blocks);
            let (i_lo, i_hi) = (ib * MC, (ib * MC + MC).min(rows));
            let (p_lo, p_hi) = (jb * per_chunk, (jb * per_chunk + per_chunk).min(panels));
            let (j_lo, j_hi) = (p_lo * NR, (p_hi * NR).min(n));
            // SAFETY (all accesses to C here): rows s0+i_lo..s0+i_hi, columns j_lo..j_hi are
            // this task's region of C, which no other task touches.
            let c_row = |i: usize| unsafe {
                std::slice::from_raw_parts_mut(cp.at((s0 + i) * n + j_lo), j_hi - j_lo)
            };
            let mut c_in: Vec<f32> = Vec::new();
            if beta != 0.0 {
                c_in.reserve_exact((i_hi - i_lo) * (j_hi - j_lo));
                for i in i_lo..i_hi {
                    c_in.extend_from_slice(c_row(i));
                }
            }
            for &(k0, kc) in &k_blocks {
                let ep = Epilogue {
                    resume: k0 > 0,
                    finish: k0 + kc == k,
                    alpha,
                    beta: 0.0,
                };
                // SAFETY (pointers): as in `few_rows`. In place, rows s0+i0.. of A start at
                // (s0+i0)·rs, k-block k0 at k0 into each row; packed, the micro-panel of rows
                // i0.. holds [k][r] from i0·k in the slab, k-block k0 at k0·r.
                let a_at = |i0: usize, r: usize| unsafe {
                    if in_place {
                        let at = (s0 + i0) * a.rs + k0;
                        (a.data.as_ptr().add(at), ARows::RowMajor(a.rs))
                    } else {
                        (ap.as_ptr().add(i0 * k + k0 * r), ARows::Packed)
                    }
                };
                // Panels outer: the B panels stay in L1 while the A rows stream from L2 (the
                // other order, A in L1 and B streaming, measured 5-10% slower with AVX-512).
                for p in (p_lo..p_hi).step_by(pw) {
                    let np = pw.min(p_hi - p);
                    let j0 = p * NR;
                    let cols = (np * NR).min(n - j0);
                    let bs = [b.panel_ptr(p, k0), b.panel_ptr(p + np - 1, k0)];
                    for (i0, r) in row_tiles(i_lo, i_hi) {
                        let (a0, arows) = a_at(i0, r.min(MR));
                        let a1 = if r == TALL_ROWS {
                            a_at(i0 + MR, MR).0
                        } else {
                            a0
                        };
                        let c_tile = cp.at((s0 + i0) * n + j0);
                        // SAFETY: as above; a tall tile's halves are full micro-panels of this
                        // task's rows.
                        unsafe {
                            tile_rows(isa, r, kc, [a0, a1], arows, bs, NR, c_tile, n, cols, ep)
                        };
                    }
                }
            }
            if beta != 0.0 {
                // The tiles applied alpha; beta·C_in completes the epilogue's arithmetic
                // (`Epilogue::apply` with alpha = 1, written out so that it vectorises).
                for (i, saved) in (i_lo..i_hi).zip(c_in.chunks(j_hi - j_lo)) {
                    for (x, &ci) in c_row(i).iter_mut().zip(saved) {
                        *x += beta * ci;
                    }
                }
            }
        };
        let tasks = row_blocks * chunks;
        if parallel {
            (0..tasks).into_par_iter().for_each(task);
        } else {
            (0..tasks).for_each(task);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu::gemm_kernel::{Bf16, PanelElem};
    use crate::backend::cpu::simd::detected;

    fn naive(m: usize, n: usize, k: usize, a: &[f32], ta: bool, b: &[f32], tb: bool) -> Vec<f32> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = 0.0f64;
                for p in 0..k {
                    let av = if ta { a[p * m + i] } else { a[i * k + p] };
                    let bv = if tb { b[j * k + p] } else { b[p * n + j] };
                    s += av as f64 * bv as f64;
                }
                c[i * n + j] = s as f32;
            }
        }
        c
    }

    fn vals(len: usize, salt: usize) -> Vec<f32> {
        (0..len)
            .map(|i| (((i * 7919 + salt * 104_729) % 2003) as f32 - 1001.0) * 1e-3)
            .collect()
    }

    /// The chain of the kernel contract, one element at a time.
    fn chain(m: usize, n: usize, k: usize, a: &[f32], b: &[f32]) -> Vec<f32> {
        let mut c = vec![0.0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut acc = 0.0f32;
                for p in 0..k {
                    acc = a[i * k + p].mul_add(b[p * n + j], acc);
                }
                c[i * n + j] = acc;
            }
        }
        c
    }

    #[test]
    fn all_transpose_combinations_match_naive() {
        for (m, n, k) in [(7, 5, 11), (70, 37, 300), (130, 40, 9)] {
            let a = vals(m * k, 1);
            let b = vals(k * n, 2);
            for ta in [false, true] {
                for tb in [false, true] {
                    let mut c = vec![0.0; m * n];
                    gemm(m, n, k, 1.0, &a, ta, &b, tb, 0.0, &mut c);
                    let r = naive(m, n, k, &a, ta, &b, tb);
                    for (x, y) in c.iter().zip(&r) {
                        assert!((x - y).abs() < 1e-4, "ta={ta} tb={tb}: {x} vs {y}");
                    }
                }
            }
        }
    }

    #[test]
    fn every_element_is_one_fma_chain_whatever_the_shape() {
        // Few rows, blocked with several k-blocks, edges in every direction.
        for (m, n, k) in [
            (1, 33, 40),
            (1, 64, 17),
            (1, 100, 300),
            (5, 16, 600),
            (64, 50, 513),
            (65, 50, 513),
            (200, 70, 257),
        ] {
            let a = vals(m * k, 3);
            let b = vals(k * n, 4);
            let mut c = vec![0.0; m * n];
            gemm(m, n, k, 1.0, &a, false, &b, false, 0.0, &mut c);
            assert_eq!(c, chain(m, n, k, &a, &b), "{m}x{n}x{k}");
        }
    }

    #[test]
    fn a_read_in_place_or_packed_in_slabs_gives_the_same_bits() {
        // A tall product, A row-major (read in place) and transposed (packed in several slabs
        // of one row block each, the last partial), serial and parallel, against the chain.
        let (m, n, k) = (250, 40, 600);
        let a = vals(m * k, 12);
        let at = transpose(&a, m, k);
        let b = vals(k * n, 13);
        let bp = PackedB::<f32>::pack(View::rows(&b, n), k, n);
        let want = chain(m, n, k, &a, &b);
        for view in [View::rows(&a, k), View::transposed(&at, m)] {
            for parallel in [false, true] {
                let mut c = vec![0.0; m * n];
                let cp = SharedC(c.as_mut_ptr());
                blocked(detected(), m, view, &bp, 1.0, 0.0, cp, parallel, MC * k);
                assert_eq!(c, want, "cs={} parallel={parallel}", view.cs);
            }
        }
    }

    #[test]
    fn a_row_is_the_same_alone_or_in_a_batch() {
        let (n, k) = (40, 700);
        let b = vals(k * n, 5);
        let a = vals(200 * k, 6);
        let mut all = vec![0.0; 200 * n];
        gemm(200, n, k, 0.5, &a, false, &b, true, 0.0, &mut all);
        for i in [0, 63, 64, 150, 199] {
            let mut one = vec![0.0; n];
            gemm(
                1,
                n,
                k,
                0.5,
                &a[i * k..(i + 1) * k],
                false,
                &b,
                true,
                0.0,
                &mut one,
            );
            assert_eq!(one, all[i * n..(i + 1) * n], "row {i}");
        }
    }

    #[test]
    fn alpha_beta_and_empty_k() {
        for (m, n, k) in [(3, 20, 10), (100, 20, 300), (130, 600, 700)] {
            let a = vals(m * k, 7);
            let b = vals(k * n, 8);
            let c0 = vals(m * n, 9);
            let mut c = c0.clone();
            gemm(m, n, k, 0.25, &a, false, &b, false, -2.0, &mut c);
            let r = chain(m, n, k, &a, &b);
            for i in 0..m * n {
                assert_eq!(c[i], 0.25 * r[i] + -2.0 * c0[i], "{m}x{n}x{k} at {i}");
            }
        }
        let mut c = vec![1.5f32; 6];
        gemm(2, 3, 0, 1.0, &[], false, &[], false, 2.0, &mut c);
        assert_eq!(c, vec![3.0; 6]);
        gemm(2, 3, 0, 1.0, &[], false, &[], false, 0.0, &mut c);
        assert_eq!(c, vec![0.0; 6]);
    }

    #[test]
    fn portable_fallback_is_bit_identical() {
        for (m, n, k) in [(1, 50, 300), (9, 17, 64), (150, 40, 520)] {
            let a = vals(m * k, 10);
            let w = vals(n * k, 11);
            let f = PackedB::<f32>::from_weight(&w, n, k);
            let h = PackedB::<Bf16>::from_weight(&w, n, k);
            for isa in crate::backend::cpu::simd::supported() {
                let mut cf = vec![0.0; m * n];
                matmul(isa, m, View::rows(&a, k), &f, 1.0, 0.0, &mut cf);
                assert_eq!(cf, chain(m, n, k, &a, &transpose(&w, n, k)), "{isa:?}");
                let mut ch = vec![0.0; m * n];
                matmul(isa, m, View::rows(&a, k), &h, 1.0, 0.0, &mut ch);
                let wb: Vec<f32> = w.iter().map(|&x| Bf16::from_f32(x).to_f32()).collect();
                assert_eq!(
                    ch,
                    chain(m, n, k, &a, &transpose(&wb, n, k)),
                    "{isa:?} bf16"
                );
            }
        }
    }

    #[test]
    fn every_instruction_set_gives_the_chain_at_every_edge() {
        // Odd widths leave a half-full and a one-panel unit at the right edge of the two-panel
        // AVX-512 tiles; row counts past a multiple of the 12-row tiles leave 6-row and shorter
        // tiles; k past KC resumes from partial sums; alpha and beta on top.
        for isa in crate::backend::cpu::simd::supported() {
            for (m, n, k) in [
                (1, 47, 33),
                (5, 33, 700),
                (7, 16, 9),
                (65, 50, 650),
                (130, 81, 40),
            ] {
                let a = vals(m * k, 14);
                let b = vals(k * n, 15);
                let c0 = vals(m * n, 16);
                let bp = PackedB::<f32>::pack(View::rows(&b, n), k, n);
                let r = chain(m, n, k, &a, &b);
                let mut c = c0.clone();
                matmul(isa, m, View::rows(&a, k), &bp, 0.5, 0.0, &mut c);
                let want: Vec<f32> = r.iter().map(|&x| 0.5 * x).collect();
                assert_eq!(c, want, "{isa:?} {m}x{n}x{k}");
                let mut c = c0.clone();
                matmul(isa, m, View::rows(&a, k), &bp, 1.0, -2.0, &mut c);
                for i in 0..m * n {
                    assert_eq!(c[i], r[i] + -2.0 * c0[i], "{isa:?} {m}x{n}x{k} beta at {i}");
                }
            }
        }
    }

    fn transpose(w: &[f32], n: usize, k: usize) -> Vec<f32> {
        let mut t = vec![0.0; n * k];
        for j in 0..n {
            for p in 0..k {
                t[p * n + j] = w[j * k + p];
            }
        }
        t
    }
}
