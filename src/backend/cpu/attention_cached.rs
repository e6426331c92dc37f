//! Attention over a KV cache, for generation: the keys of one (sequence, kv head) kept as a
//! packed GEMM operand (16-position panels of [head_dim][16]) and the values as rows, so that
//! the scores and the weighted sum of values run on the GEMM micro-kernels with no copy or
//! transpose per step, and give exactly the numbers of [`super::attention::attend_head`] (the
//! training forward): scores are one FMA chain over head_dim scaled once, the softmax is the
//! same function, and each output is one FMA chain over positions.
use super::attention::softmax_visible;
use super::gemm::matmul;
use super::gemm_kernel::{panels_per_tile, tile_pair, ARows, Epilogue, MR, NR};
use super::gemm_pack::{PackedB, View};
use super::simd::Isa;

/// One sequence's keys and values for one kv head.
#[derive(Clone, Debug)]
pub struct HeadCache {
    head_dim: usize,
    /// Kᵀ [head_dim, positions], packed.
    keys: PackedB<f32>,
    /// V [positions, stride]: head_dim values then zeros up to a multiple of 16, so a kernel
    /// can read whole 16-wide rows.
    values: Vec<f32>,
    stride: usize,
}

impl HeadCache {
    pub fn new(head_dim: usize) -> HeadCache {
        HeadCache {
            head_dim,
            keys: PackedB::empty(head_dim),
            values: Vec::new(),
            stride: head_dim.next_multiple_of(NR),
        }
    }

    pub fn len(&self) -> usize {
        self.keys.n()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Append one position's key and value (head_dim each).
    pub fn push(&mut self, key: &[f32], value: &[f32]) {
        debug_assert!(key.len() == self.head_dim && value.len() == self.head_dim);
        self.keys.push_column(key);
        self.values.extend_from_slice(value);
        self.values
            .resize(self.values.len() + self.stride - self.head_dim, 0.0);
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.keys.bytes() + std::mem::size_of_val(self.values.as_slice())
    }

    /// Softmax(scale · q·Kᵀ)·V for `q` [rows, head_dim], row r seeing the first `visible[r]`
    /// positions (≥ 1). Returns [rows, head_dim].
    pub fn attend(&self, isa: Isa, q: &[f32], visible: &[usize], scale: f32) -> Vec<f32> {
        let (rows, d, t) = (visible.len(), self.head_dim, self.len());
        let mut s = vec![0.0f32; rows * t];
        matmul(isa, rows, View::rows(q, d), &self.keys, scale, 0.0, &mut s);
        for (row, &vis) in s.chunks_mut(t.max(1)).zip(visible) {
            softmax_visible(row, vis);
        }
        // P·V: the probabilities as A micro-panels, V's rows as B (16 columns at a time).
        let kv = visible.iter().copied().max().unwrap_or(0);
        let mut out = vec![0.0f32; rows * d];
        let mut ap = vec![0.0f32; MR * kv];
        let ep = Epilogue {
            resume: false,
            finish: true,
            alpha: 1.0,
            beta: 0.0,
        };
        for i0 in (0..rows).step_by(MR) {
            let r = MR.min(rows - i0);
            for i in 0..r {
                for (p, &x) in s[(i0 + i) * t..(i0 + i) * t + kv].iter().enumerate() {
                    ap[p * r + i] = x;
                }
            }
            let width = panels_per_tile(isa) * NR;
            for j0 in (0..d).step_by(width) {
                let v = self.values.as_ptr();
                let bs = [v.wrapping_add(j0), v.wrapping_add(j0 + NR)];
                // SAFETY: `ap` holds kv·r floats; every V row has `stride` ≥ j0 + 16 floats and
                // there are len ≥ kv rows; the C tile (r rows, up to 16 columns) is in `out`.
                unsafe {
                    tile_pair(
                        isa,
                        r,
                        kv,
                        ap.as_ptr(),
                        ARows::Packed,
                        bs,
                        self.stride,
                        out.as_mut_ptr().add(i0 * d + j0),
                        d,
                        r,
                        width.min(d - j0),
                        ep,
                    )
                }
            }
        }
        out
    }
}
