//! Packed GEMM operands. B is stored as panels of 16 columns, each panel [k][16] contiguous
//! (zero-padded past the last column), so a micro-kernel streams it once, front to back. A
//! weight matrix used many times (generation) is packed once, in f32 or bf16; a one-off
//! product packs its B on the fly.
use super::gemm::matmul;
use super::gemm_kernel::{Bf16, PanelElem, MR, NR};
use super::simd::{isa, Isa};
use crate::tensor::DType;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// A [k, n] matrix as 16-column panels of element type `E`.
#[derive(Clone, Debug)]
pub struct PackedB<E: PanelElem = f32> {
    k: usize,
    n: usize,
    data: Vec<E>,
}

/// A strided read-only matrix view: element (i, j) at `data[i·rs + j·cs]`.
#[derive(Clone, Copy, Debug)]
pub struct View<'a> {
    pub data: &'a [f32],
    pub rs: usize,
    pub cs: usize,
}

impl<'a> View<'a> {
    /// Row-major [rows, cols].
    pub fn rows(data: &'a [f32], cols: usize) -> View<'a> {
        View {
            data,
            rs: cols,
            cs: 1,
        }
    }
    /// The transpose of a row-major [cols, rows] matrix.
    pub fn transposed(data: &'a [f32], rows: usize) -> View<'a> {
        View {
            data,
            rs: 1,
            cs: rows,
        }
    }
    #[inline(always)]
    pub fn at(&self, i: usize, j: usize) -> f32 {
        self.data[i * self.rs + j * self.cs]
    }
}

/// Panels per rayon task when packing (a panel of a 576-deep matrix is 36 KiB).
const PACK_PANELS_PER_TASK: usize = 8;

impl<E: PanelElem> PackedB<E> {
    /// Packs B = `b` ([k, n] through the view).
    pub fn pack(b: View<'_>, k: usize, n: usize) -> PackedB<E> {
        if k == 0 {
            return PackedB {
                k,
                n,
                data: Vec::new(),
            };
        }
        // Every element is written below (padding lanes with zeros), so the buffer starts
        // uninitialised rather than zeroed: a memset of the whole matrix saved per product.
        let len = n.div_ceil(NR) * k * NR;
        let mut data: Vec<E> = Vec::with_capacity(len);
        let zero = MaybeUninit::new(E::default());
        let fast_transpose = isa().avx512();
        let fill_panels = |p0: usize, chunk: &mut [MaybeUninit<E>]| {
            for (pi, panel) in chunk.chunks_mut(k * NR).enumerate() {
                let j0 = (p0 + pi) * NR;
                let w = NR.min(n - j0);
                if w < NR {
                    panel.fill(zero);
                }
                if b.rs == 1 {
                    // Columns of B are contiguous (a weight's rows): read each once, in order,
                    // sixteen k at a time through a register transpose where it applies.
                    let done = if E::IS_F32 && w == NR && fast_transpose {
                        let src = &b.data[j0 * b.cs..(j0 + NR - 1) * b.cs + k];
                        // SAFETY: the 16 columns of k floats, `cs` apart, lie in `src`; the
                        // panel holds k·NR elements; E is f32 (IS_F32), so the panel's
                        // elements are f32 slots.
                        unsafe { transpose_columns(src, b.cs, k, panel.as_mut_ptr() as *mut f32) }
                    } else {
                        0
                    };
                    for jj in 0..w {
                        let src = &b.data[(j0 + jj) * b.cs + done..(j0 + jj) * b.cs + k];
                        let rows = panel[done * NR..].chunks_exact_mut(NR);
                        for (dst, &x) in rows.zip(src) {
                            dst[jj] = MaybeUninit::new(E::from_f32(x));
                        }
                    }
                } else {
                    for jj in 0..w {
                        for p in 0..k {
                            panel[p * NR + jj] = MaybeUninit::new(E::from_f32(b.at(p, j0 + jj)));
                        }
                    }
                }
            }
        };
        let spare = &mut data.spare_capacity_mut()[..len];
        let parallel = k * n >= 1 << 16;
        if b.cs == 1 {
            pack_rows(b, k, n, spare, parallel);
        } else if !parallel {
            fill_panels(0, spare);
        } else {
            spare
                .par_chunks_mut(PACK_PANELS_PER_TASK * k * NR)
                .enumerate()
                .for_each(|(t, chunk)| fill_panels(t * PACK_PANELS_PER_TASK, chunk));
        }
        // SAFETY: `fill` wrote all k·NR elements of every panel (the padding lanes too).
        unsafe { data.set_len(len) };
        PackedB { k, n, data }
    }

    /// Packs the transpose of a weight stored [n, k] (the Hugging Face Linear layout, one row
    /// per output), so that `x · Wᵀ` is a product with this B.
    pub fn from_weight(w: &[f32], n: usize, k: usize) -> PackedB<E> {
        Self::pack(View::transposed(w, k), k, n)
    }

    /// Like [`PackedB::from_weight`] for weights stacked along the output dimension (fused
    /// q|k|v or gate|up): the product's columns are those of each part in turn.
    pub fn from_weights(parts: &[&[f32]], k: usize) -> PackedB<E> {
        let stacked: Vec<f32> = parts.iter().flat_map(|p| p.iter().copied()).collect();
        Self::from_weight(&stacked, stacked.len() / k.max(1), k)
    }

    /// A [k, 0] matrix that grows one column at a time ([`PackedB::push_column`]).
    pub fn empty(k: usize) -> PackedB<E> {
        PackedB {
            k,
            n: 0,
            data: Vec::new(),
        }
    }

    /// Appends column n (k values).
    pub fn push_column(&mut self, col: &[f32]) {
        assert_eq!(col.len(), self.k, "push_column: column of the wrong height");
        let (p, lane) = (self.n / NR, self.n % NR);
        if lane == 0 {
            self.data.resize((p + 1) * self.k * NR, E::default());
        }
        let panel = &mut self.data[p * self.k * NR..];
        for (i, &x) in col.iter().enumerate() {
            panel[i * NR + lane] = E::from_f32(x);
        }
        self.n += 1;
    }

    pub fn k(&self) -> usize {
        self.k
    }
    pub fn n(&self) -> usize {
        self.n
    }
    pub fn panels(&self) -> usize {
        self.n.div_ceil(NR)
    }
    /// Panel `p`, rows `k0..k0+kc`: kc·16 elements.
    #[inline(always)]
    pub fn panel_ptr(&self, p: usize, k0: usize) -> *const E {
        debug_assert!(p < self.panels() && k0 <= self.k);
        // SAFETY: inside `data` by the debug assertion's bounds (panel p spans k·NR elements).
        unsafe { self.data.as_ptr().add(p * self.k * NR + k0 * NR) }
    }
    /// Bytes of storage (what a product streams).
    pub fn bytes(&self) -> usize {
        std::mem::size_of_val(self.data.as_slice())
    }
}

/// Rows of B per task of [`pack_rows`].
const PACK_ROWS_PER_TASK: usize = 32;

/// Packs a row-major B [k, n] into `dst` (its panels, padding lanes zeroed): tasks over blocks
/// of rows, each reading its rows whole and in order — one sequential stream the hardware
/// prefetches — and writing each row's sixteen-element stretch into every panel. Split by
/// panels instead, every task reads a short stretch of every row, a stride the prefetchers
/// follow badly: the backward's dX = dY·W packed its weights at a third of this speed.
fn pack_rows<E: PanelElem>(
    b: View<'_>,
    k: usize,
    n: usize,
    dst: &mut [MaybeUninit<E>],
    parallel: bool,
) {
    let panels = n.div_ceil(NR);
    assert!(dst.len() >= panels * k * NR && b.cs == 1);
    let base = SharedDst(dst.as_mut_ptr());
    let zero = MaybeUninit::new(E::default());
    let block = |t: usize| {
        for p in t * PACK_ROWS_PER_TASK..(t * PACK_ROWS_PER_TASK + PACK_ROWS_PER_TASK).min(k) {
            let row = &b.data[p * b.rs..p * b.rs + n];
            for pi in 0..panels {
                let j0 = pi * NR;
                let w = NR.min(n - j0);
                // SAFETY: row p of panel pi is NR elements at pi·k·NR + p·NR, inside `dst`
                // (checked above); tasks write disjoint rows.
                let out =
                    unsafe { std::slice::from_raw_parts_mut(base.at(pi * k * NR + p * NR), NR) };
                if w < NR {
                    out.fill(zero);
                }
                copy_run::<E, NR>(out, &row[j0..j0 + w]);
            }
        }
    };
    let tasks = k.div_ceil(PACK_ROWS_PER_TASK);
    if parallel {
        (0..tasks).into_par_iter().for_each(block);
    } else {
        (0..tasks).for_each(block);
    }
}

/// The packed buffer's base, shared by tasks that write disjoint rows of its panels.
#[derive(Clone, Copy)]
struct SharedDst<E>(*mut MaybeUninit<E>);
// SAFETY: tasks write disjoint elements, and `pack_rows` holds `&mut` of the buffer until all
// have finished.
unsafe impl<E> Send for SharedDst<E> {}
unsafe impl<E> Sync for SharedDst<E> {}
impl<E> SharedDst<E> {
    fn at(self, off: usize) -> *mut MaybeUninit<E> {
        // SAFETY: callers pass offsets inside the buffer.
        unsafe { self.0.add(off) }
    }
}

/// Sixteen columns of B, each k contiguous floats `cs` apart from `src`, into a packed panel
/// [k][16] at `dst`, sixteen k at a time: sixteen 16-float loads, a 16×16 transpose in
/// registers, sixteen stores (the scalar loop moves one float per load and store). Returns how
/// many k it packed (a multiple of 16); the caller packs the rest.
///
/// # Safety
/// `src` holds the 16 columns (15·cs + k floats); `dst` is valid for k·16 floats; the
/// processor has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn transpose_columns_avx512(src: &[f32], cs: usize, k: usize, dst: *mut f32) -> usize {
    use std::arch::x86_64::*;
    debug_assert!(k == 0 || src.len() >= 15 * cs + k);
    let s = src.as_ptr();
    let mut p = 0;
    while p + NR <= k {
        let mut r = [_mm512_setzero_ps(); NR];
        for (j, x) in r.iter_mut().enumerate() {
            *x = _mm512_loadu_ps(s.add(j * cs + p));
        }
        // Pairs of rows interleaved, then 4×4 blocks within each 128-bit lane, then the lanes.
        let mut t = [_mm512_setzero_ps(); NR];
        for i in 0..NR / 2 {
            t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
        }
        for g in 0..NR / 4 {
            let (a, b, c, d) = (t[4 * g], t[4 * g + 1], t[4 * g + 2], t[4 * g + 3]);
            r[4 * g] = _mm512_shuffle_ps::<0x44>(a, c);
            r[4 * g + 1] = _mm512_shuffle_ps::<0xEE>(a, c);
            r[4 * g + 2] = _mm512_shuffle_ps::<0x44>(b, d);
            r[4 * g + 3] = _mm512_shuffle_ps::<0xEE>(b, d);
        }
        // r[4g + m] now holds, in lane L, column 4L + m of rows 4g..4g+4.
        for m in 0..4 {
            let v0 = _mm512_shuffle_f32x4::<0x88>(r[m], r[4 + m]);
            let v1 = _mm512_shuffle_f32x4::<0xDD>(r[m], r[4 + m]);
            let w0 = _mm512_shuffle_f32x4::<0x88>(r[8 + m], r[12 + m]);
            let w1 = _mm512_shuffle_f32x4::<0xDD>(r[8 + m], r[12 + m]);
            let out = [
                _mm512_shuffle_f32x4::<0x88>(v0, w0),
                _mm512_shuffle_f32x4::<0x88>(v1, w1),
                _mm512_shuffle_f32x4::<0xDD>(v0, w0),
                _mm512_shuffle_f32x4::<0xDD>(v1, w1),
            ];
            for (lane, x) in out.iter().enumerate() {
                _mm512_storeu_ps(dst.add((p + 4 * lane + m) * NR), *x);
            }
        }
        p += NR;
    }
    p
}

/// [`transpose_columns_avx512`] where the processor has AVX-512 (callers check [`Isa`]); none
/// of k otherwise.
///
/// # Safety
/// As for [`transpose_columns_avx512`], AVX-512F checked by the caller.
unsafe fn transpose_columns(src: &[f32], cs: usize, k: usize, dst: *mut f32) -> usize {
    #[cfg(target_arch = "x86_64")]
    return transpose_columns_avx512(src, cs, k, dst);
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (src, cs, k, dst);
        0
    }
}

/// `src` converted into the start of `dst`; a run of exactly N as one fixed-size copy (no
/// memcpy call per few floats).
#[inline(always)]
fn copy_run<E: PanelElem, const N: usize>(dst: &mut [MaybeUninit<E>], src: &[f32]) {
    match (
        <&mut [MaybeUninit<E>; N]>::try_from(&mut *dst),
        <&[f32; N]>::try_from(src),
    ) {
        (Ok(d), Ok(s)) => *d = s.map(|x| MaybeUninit::new(E::from_f32(x))),
        _ => {
            for (d, &x) in dst.iter_mut().zip(src) {
                *d = MaybeUninit::new(E::from_f32(x));
            }
        }
    }
}

/// Packs rows `i0..i0+r` (r ≤ MR) and columns `p0..p0+kc` of A into `dst` as [kc][r],
/// writing every one of its first kc·r elements (so `dst` need not be initialised).
#[inline]
fn pack_a_panel(
    a: View<'_>,
    i0: usize,
    r: usize,
    p0: usize,
    kc: usize,
    dst: &mut [MaybeUninit<f32>],
) {
    debug_assert!(r <= MR && dst.len() >= kc * r);
    if a.cs == 1 {
        for i in 0..r {
            let row = &a.data[(i0 + i) * a.rs + p0..(i0 + i) * a.rs + p0 + kc];
            for (p, &x) in row.iter().enumerate() {
                dst[p * r + i] = MaybeUninit::new(x);
            }
        }
    } else if a.rs == 1 {
        // The r rows are contiguous at each k (a transposed operand).
        for (p, d) in dst[..kc * r].chunks_exact_mut(r).enumerate() {
            let at = i0 + (p0 + p) * a.cs;
            copy_run::<f32, MR>(d, &a.data[at..at + r]);
        }
    } else {
        for p in 0..kc {
            for i in 0..r {
                dst[p * r + i] = MaybeUninit::new(a.at(i0 + i, p0 + p));
            }
        }
    }
}

/// Packs rows `i0..i0+rows` of A, all k columns, as consecutive MR-row micro-panels ([k][r]
/// each, the last r = rows mod MR) into `dst`, writing all rows·k elements. A transposed A is
/// read a row of its storage at a time across every micro-panel — one stretch of `rows`
/// contiguous floats per k — rather than six floats per k for each micro-panel in turn.
pub fn pack_a_panels(a: View<'_>, i0: usize, rows: usize, k: usize, dst: &mut [MaybeUninit<f32>]) {
    debug_assert!(dst.len() >= rows * k);
    if a.rs != 1 || a.cs == 1 {
        for (q, d) in dst[..rows * k].chunks_mut(MR * k.max(1)).enumerate() {
            pack_a_panel(a, i0 + q * MR, MR.min(rows - q * MR), 0, k, d);
        }
        return;
    }
    for p in 0..k {
        let src = &a.data[i0 + p * a.cs..i0 + p * a.cs + rows];
        for (q, s) in src.chunks(MR).enumerate() {
            let r = s.len();
            copy_run::<f32, MR>(&mut dst[q * MR * k + p * r..q * MR * k + (p + 1) * r], s);
        }
    }
}

/// A weight matrix packed once for many products (generation), in f32 or bf16.
#[derive(Clone, Debug)]
pub enum PackedWeight {
    F32(PackedB<f32>),
    Bf16(PackedB<Bf16>),
}

impl PackedWeight {
    /// Weights stored [n_i, k] (HF layout), stacked along the output dimension.
    pub fn from_weights(parts: &[&[f32]], k: usize, dtype: DType) -> PackedWeight {
        match dtype {
            DType::F32 => PackedWeight::F32(PackedB::from_weights(parts, k)),
            DType::BF16 => PackedWeight::Bf16(PackedB::from_weights(parts, k)),
        }
    }

    /// `x [rows, k] · W` → [rows, n].
    pub fn matmul(&self, isa: Isa, x: &[f32], rows: usize) -> Vec<f32> {
        let mut y = vec![0.0f32; rows * self.n()];
        match self {
            PackedWeight::F32(b) => matmul(isa, rows, View::rows(x, b.k()), b, 1.0, 0.0, &mut y),
            PackedWeight::Bf16(b) => matmul(isa, rows, View::rows(x, b.k()), b, 1.0, 0.0, &mut y),
        }
        y
    }

    pub fn n(&self) -> usize {
        match self {
            PackedWeight::F32(b) => b.n(),
            PackedWeight::Bf16(b) => b.n(),
        }
    }

    pub fn bytes(&self) -> usize {
        match self {
            PackedWeight::F32(b) => b.bytes(),
            PackedWeight::Bf16(b) => b.bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_transpose_packs_what_the_scalar_loop_packs() {
        if !crate::backend::cpu::simd::detected().avx512() {
            eprintln!("skipped: this processor has no AVX-512 (the scalar loop is all there is)");
            return;
        }
        for (k, cs) in [(0, 3), (15, 15), (16, 16), (17, 20), (33, 40), (576, 576)] {
            let src: Vec<f32> = (0..15 * cs + k).map(|i| i as f32 * 0.5 - 7.0).collect();
            let mut got = vec![f32::NAN; k * NR];
            // SAFETY: 16 columns of k floats `cs` apart fit in `src`; `got` holds k·16 floats.
            let done = unsafe { transpose_columns(&src, cs, k, got.as_mut_ptr()) };
            assert_eq!(done, k / NR * NR, "k={k}");
            for p in 0..done {
                for j in 0..NR {
                    assert_eq!(got[p * NR + j], src[j * cs + p], "k={k} p={p} j={j}");
                }
            }
        }
        // Through the packer: a transposed B of odd depth and width, against element reads.
        let (k, n) = (45, 37);
        let w: Vec<f32> = (0..n * k).map(|i| (i % 97) as f32 - 48.0).collect();
        let b = PackedB::<f32>::from_weight(&w, n, k);
        for j in 0..n {
            for p in 0..k {
                // SAFETY: panel j/16 holds k·16 floats.
                let x = unsafe { *b.panel_ptr(j / NR, 0).add(p * NR + j % NR) };
                assert_eq!(x, w[j * k + p], "p={p} j={j}");
            }
        }
    }
}
