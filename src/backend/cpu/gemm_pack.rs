//! Packed GEMM operands. B is stored as panels of 16 columns, each panel [k][16] contiguous
//! (zero-padded past the last column), so a micro-kernel streams it once, front to back. A
//! weight matrix used many times (generation) is packed once, in f32 or bf16; a one-off
//! product packs its B on the fly.
use super::gemm::matmul;
use super::gemm_kernel::{Bf16, PanelElem, MR, NR};
use super::simd::Isa;
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
        let fill = |p0: usize, chunk: &mut [MaybeUninit<E>]| {
            for (pi, panel) in chunk.chunks_mut(k * NR).enumerate() {
                let j0 = (p0 + pi) * NR;
                let w = NR.min(n - j0);
                if b.cs == 1 {
                    for (p, dst) in panel.chunks_exact_mut(NR).enumerate() {
                        let src = &b.data[p * b.rs + j0..p * b.rs + j0 + w];
                        // A whole row of the panel as a fixed-size copy (no memcpy call).
                        let full = <&mut [MaybeUninit<E>; NR]>::try_from(&mut *dst)
                            .ok()
                            .zip(<&[f32; NR]>::try_from(src).ok());
                        if let Some((d, s)) = full {
                            for (d, &x) in d.iter_mut().zip(s) {
                                *d = MaybeUninit::new(E::from_f32(x));
                            }
                        } else {
                            dst.fill(zero);
                            for (d, &x) in dst.iter_mut().zip(src) {
                                *d = MaybeUninit::new(E::from_f32(x));
                            }
                        }
                    }
                } else {
                    if w < NR {
                        panel.fill(zero);
                    }
                    if b.rs == 1 {
                        // Columns of B are contiguous (a weight's rows): read each once, in order.
                        for jj in 0..w {
                            let src = &b.data[(j0 + jj) * b.cs..(j0 + jj) * b.cs + k];
                            for (dst, &x) in panel.chunks_exact_mut(NR).zip(src) {
                                dst[jj] = MaybeUninit::new(E::from_f32(x));
                            }
                        }
                    } else {
                        for jj in 0..w {
                            for p in 0..k {
                                panel[p * NR + jj] =
                                    MaybeUninit::new(E::from_f32(b.at(p, j0 + jj)));
                            }
                        }
                    }
                }
            }
        };
        let spare = &mut data.spare_capacity_mut()[..len];
        if k * n < 1 << 16 {
            fill(0, spare);
        } else {
            spare
                .par_chunks_mut(PACK_PANELS_PER_TASK * k * NR)
                .enumerate()
                .for_each(|(t, chunk)| fill(t * PACK_PANELS_PER_TASK, chunk));
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

/// Packs rows `i0..i0+r` (r ≤ MR) and columns `p0..p0+kc` of A into `dst` as [kc][r].
#[inline]
pub fn pack_a_panel(a: View<'_>, i0: usize, r: usize, p0: usize, kc: usize, dst: &mut [f32]) {
    debug_assert!(r <= MR && dst.len() >= kc * r);
    if a.cs == 1 {
        for i in 0..r {
            let row = &a.data[(i0 + i) * a.rs + p0..(i0 + i) * a.rs + p0 + kc];
            for (p, &x) in row.iter().enumerate() {
                dst[p * r + i] = x;
            }
        }
    } else if a.rs == 1 {
        // The r rows are contiguous at each k (a transposed operand).
        for (p, d) in dst[..kc * r].chunks_exact_mut(r).enumerate() {
            let at = i0 + (p0 + p) * a.cs;
            let src = &a.data[at..at + r];
            // Whole micro-panel rows as fixed-size copies (no memcpy call per six floats).
            match (
                <&mut [f32; MR]>::try_from(&mut *d),
                <&[f32; MR]>::try_from(src),
            ) {
                (Ok(d), Ok(s)) => *d = *s,
                _ => d.copy_from_slice(src),
            }
        }
    } else {
        for p in 0..kc {
            for i in 0..r {
                dst[p * r + i] = a.at(i0 + i, p0 + p);
            }
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
