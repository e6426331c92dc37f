//! f32 CPU references for every CUDA kernel, as plain functions over slices so the CPU backend
//! can replace them later. Inputs that are bf16 on the device are passed already rounded to bf16
//! and widened to f32.
use super::launch::AdamW;

/// Round to bf16 and back (round-to-nearest-even, as `__float2bfloat16`).
pub fn round_bf16(x: f32) -> f32 {
    half::bf16::from_f32(x).to_f32()
}

pub fn residual_add(a: &[f32], b: &[f32]) -> Vec<f32> {
    a.iter().zip(b).map(|(x, y)| x + y).collect()
}

/// RMSNorm forward over rows of `hidden`: (y, rstd per row).
pub fn rmsnorm_fwd(x: &[f32], w: &[f32], hidden: usize, eps: f32) -> (Vec<f32>, Vec<f32>) {
    let rows = x.len() / hidden;
    let mut y = vec![0.0; x.len()];
    let mut rstd = vec![0.0; rows];
    for (r, rstd_r) in rstd.iter_mut().enumerate() {
        let xr = &x[r * hidden..(r + 1) * hidden];
        let ss: f64 = xr.iter().map(|&v| (v as f64) * (v as f64)).sum();
        let rs = (1.0 / (ss / hidden as f64 + eps as f64).sqrt()) as f32;
        *rstd_r = rs;
        for c in 0..hidden {
            y[r * hidden + c] = xr[c] * rs * w[c];
        }
    }
    (y, rstd)
}

/// RMSNorm backward given the forward's rstd: (dx, dw).
pub fn rmsnorm_bwd(
    dy: &[f32],
    x: &[f32],
    w: &[f32],
    rstd: &[f32],
    hidden: usize,
) -> (Vec<f32>, Vec<f32>) {
    let mut dx = vec![0.0; x.len()];
    let mut dw = vec![0.0f64; hidden];
    for (r, &rs) in rstd.iter().enumerate().take(x.len() / hidden) {
        let o = r * hidden;
        let rs = rs as f64;
        let dot: f64 = (0..hidden)
            .map(|c| dy[o + c] as f64 * w[c] as f64 * x[o + c] as f64 * rs)
            .sum();
        let mean = dot / hidden as f64;
        for c in 0..hidden {
            let xhat = x[o + c] as f64 * rs;
            let g = dy[o + c] as f64 * w[c] as f64;
            dx[o + c] = (rs * (g - xhat * mean)) as f32;
            dw[c] += dy[o + c] as f64 * xhat;
        }
    }
    (dx, dw.into_iter().map(|v| v as f32).collect())
}

/// RoPE (HF rotate_half) on [tokens, heads, head_dim]; `inverse` applies the backward rotation.
pub fn rope(
    x: &[f32],
    pos: &[i32],
    inv_freq: &[f32],
    heads: usize,
    head_dim: usize,
    inverse: bool,
) -> Vec<f32> {
    let half = head_dim / 2;
    let mut out = vec![0.0; x.len()];
    for (t, &p) in pos.iter().enumerate() {
        for h in 0..heads {
            let base = (t * heads + h) * head_dim;
            for i in 0..half {
                let ang = (p as f32 * inv_freq[i]) as f64; // the f32 product, as HF and the kernel
                let (s, c) = ang.sin_cos();
                let s = if inverse { -s } else { s };
                let (a, b) = (x[base + i] as f64, x[base + i + half] as f64);
                out[base + i] = (a * c - b * s) as f32;
                out[base + i + half] = (b * c + a * s) as f32;
            }
        }
    }
    out
}

/// Default RoPE inverse frequencies: theta^(-2i/d).
pub fn rope_inv_freq(head_dim: usize, theta: f32) -> Vec<f32> {
    (0..head_dim / 2)
        .map(|i| 1.0 / (theta as f64).powf(2.0 * i as f64 / head_dim as f64) as f32)
        .collect()
}

fn sigmoid(g: f64) -> f64 {
    1.0 / (1.0 + (-g).exp())
}

pub fn swiglu_fwd(gate: &[f32], up: &[f32]) -> Vec<f32> {
    gate.iter()
        .zip(up)
        .map(|(&g, &u)| (g as f64 * sigmoid(g as f64) * u as f64) as f32)
        .collect()
}

/// (dgate, dup).
pub fn swiglu_bwd(dout: &[f32], gate: &[f32], up: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let mut dg = Vec::with_capacity(gate.len());
    let mut du = Vec::with_capacity(gate.len());
    for i in 0..gate.len() {
        let (g, u, d) = (gate[i] as f64, up[i] as f64, dout[i] as f64);
        let s = sigmoid(g);
        du.push((d * g * s) as f32);
        dg.push((d * u * s * (1.0 + g * (1.0 - s))) as f32);
    }
    (dg, du)
}

pub fn embedding_fwd(table: &[f32], ids: &[i32], hidden: usize) -> Vec<f32> {
    ids.iter()
        .flat_map(|&id| {
            table[id as usize * hidden..(id as usize + 1) * hidden]
                .iter()
                .copied()
        })
        .collect()
}

/// dtable (vocab x hidden) = sum over tokens of dout rows into their id's row.
pub fn embedding_bwd(dout: &[f32], ids: &[i32], vocab: usize, hidden: usize) -> Vec<f32> {
    let mut d = vec![0.0f64; vocab * hidden];
    for (t, &id) in ids.iter().enumerate() {
        for c in 0..hidden {
            d[id as usize * hidden + c] += dout[t * hidden + c] as f64;
        }
    }
    d.into_iter().map(|v| v as f32).collect()
}

/// (global L2 norm over all tensors, clip coefficient as torch.nn.utils.clip_grad_norm_).
pub fn grad_norm(tensors: &[&[f32]], max_norm: f32) -> (f32, f32) {
    let ss: f64 = tensors
        .iter()
        .flat_map(|t| t.iter())
        .map(|&v| v as f64 * v as f64)
        .sum();
    let norm = ss.sqrt() as f32;
    let coef = if max_norm > 0.0 {
        (max_norm / (norm + 1e-6)).min(1.0)
    } else {
        1.0
    };
    (norm, coef)
}

/// One AdamW step in place on (param, m, v), gradient scaled by `grad_scale`.
pub fn adamw_step(
    param: &mut [f32],
    m: &mut [f32],
    v: &mut [f32],
    grad: &[f32],
    grad_scale: f32,
    h: &AdamW,
) {
    let (c1, c2) = h.bias_corrections();
    let step = h.lr / c1;
    let sqrt_c2 = c2.sqrt();
    for i in 0..param.len() {
        let g = grad[i] * grad_scale;
        let mut p = param[i] * (1.0 - h.lr * h.weight_decay);
        m[i] = h.beta1 * m[i] + (1.0 - h.beta1) * g;
        v[i] = h.beta2 * v[i] + (1.0 - h.beta2) * g * g;
        p -= step * m[i] / (v[i].sqrt() / sqrt_c2 + h.eps);
        param[i] = p;
    }
}

/// Strided batched GEMM: c[z][m][n] = alpha * sum_k A(z,m,k) * B(z,n,k) + beta * c_in[z][m][n],
/// with A(z,m,k) = a[z*batch_a + m*sam + k*sak] and B(z,n,k) = b[z*batch_b + n*sbn + k*sbk];
/// c is dense [batch, m, n].
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    a: &[f32],
    b: &[f32],
    c_in: Option<&[f32]>,
    (batch, m, n, k): (usize, usize, usize, usize),
    (sam, sak, batch_a): (usize, usize, usize),
    (sbn, sbk, batch_b): (usize, usize, usize),
    alpha: f32,
    beta: f32,
) -> Vec<f32> {
    let mut c = vec![0.0f32; batch * m * n];
    for z in 0..batch {
        for i in 0..m {
            for j in 0..n {
                let mut s = 0.0f64;
                for p in 0..k {
                    s += a[z * batch_a + i * sam + p * sak] as f64
                        * b[z * batch_b + j * sbn + p * sbk] as f64;
                }
                let idx = (z * m + i) * n + j;
                let prior = c_in.map_or(0.0, |c| beta as f64 * c[idx] as f64);
                c[idx] = (alpha as f64 * s + prior) as f32;
            }
        }
    }
    c
}

/// Row softmax (or log-softmax) over rows of `cols`.
pub fn softmax(x: &[f32], cols: usize, log: bool) -> Vec<f32> {
    let mut out = Vec::with_capacity(x.len());
    for row in x.chunks(cols) {
        let m = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
        let s: f64 = row.iter().map(|&v| (v as f64 - m).exp()).sum();
        out.extend(row.iter().map(|&v| {
            let z = v as f64 - m;
            (if log { z - s.ln() } else { z.exp() / s }) as f32
        }));
    }
    out
}

/// x[r, :] + bias for x [rows, bias.len()].
pub fn bias_add(x: &[f32], bias: &[f32]) -> Vec<f32> {
    x.iter()
        .enumerate()
        .map(|(i, &v)| v + bias[i % bias.len()])
        .collect()
}

/// Σ over rows of x [rows, cols]: the gradient of a bias.
pub fn colsum(x: &[f32], cols: usize) -> Vec<f32> {
    let mut s = vec![0.0f64; cols];
    for row in x.chunks(cols) {
        for (a, &v) in s.iter_mut().zip(row) {
            *a += v as f64;
        }
    }
    s.into_iter().map(|v| v as f32).collect()
}

/// The left fold ((p0 + p1) + p2) + … in f32: the order the host's ordered reduce-scatter adds
/// gradient shards in (`dist::reduce`), which the device sum must match bit for bit.
pub fn sum_parts(parts: &[Vec<f32>]) -> Vec<f32> {
    let mut it = parts.iter();
    let mut acc = it.next().cloned().unwrap_or_default();
    for p in it {
        acc.iter_mut().zip(p).for_each(|(a, b)| *a += b);
    }
    acc
}
