//! GEMM through `matrixmultiply` (f32, multithreaded): `C = alpha·op(A)·op(B) + beta·C`.

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
    assert!(a.len() >= m * k, "gemm: A too small");
    assert!(b.len() >= k * n, "gemm: B too small");
    assert!(c.len() >= m * n, "gemm: C too small");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        for x in c[..m * n].iter_mut() {
            *x *= beta;
        }
        return;
    }
    let (rsa, csa) = if trans_a {
        (1, m as isize)
    } else {
        (k as isize, 1)
    };
    let (rsb, csb) = if trans_b {
        (1, k as isize)
    } else {
        (n as isize, 1)
    };
    // SAFETY: the asserts above guarantee every index the strides reach is inside the slices.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            alpha,
            a.as_ptr(),
            rsa,
            csa,
            b.as_ptr(),
            rsb,
            csb,
            beta,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

/// `y[rows, out] = x[rows, in] · Wᵀ` for a weight stored [out, in] (the HF Linear layout).
pub fn linear(x: &[f32], w: &[f32], rows: usize, inp: usize, out: usize) -> Vec<f32> {
    let mut y = vec![0.0f32; rows * out];
    gemm(rows, out, inp, 1.0, x, false, w, true, 0.0, &mut y);
    y
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn all_transpose_combinations_match_naive() {
        let (m, n, k) = (7, 5, 11);
        let a: Vec<f32> = (0..m * k)
            .map(|i| ((i * 37 % 17) as f32 - 8.0) * 0.1)
            .collect();
        let b: Vec<f32> = (0..k * n)
            .map(|i| ((i * 53 % 19) as f32 - 9.0) * 0.1)
            .collect();
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
