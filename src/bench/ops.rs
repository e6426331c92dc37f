//! Where a forward's (and a backward's) time goes: each kernel of one decoder layer run on its
//! own at the model's shapes (same calls the tape makes, no tape), scaled by the layer count, plus
//! the fused LM head. Bench-only instrumented passes, so the hot path carries no timing code.
use super::gemm::operand;
use super::median_secs;
use crate::backend::cpu::{attention, gemm, logprob, mlp, norm, rope};
use crate::model::ModelConfig;
use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct OpTime {
    pub op: String,
    /// Seconds for the whole model (per-layer time × layers where the op is per layer).
    pub seconds: f64,
    pub share: f64,
}

/// The operands of one layer's kernels and of the LM head at the model's shapes (deterministic
/// values), shared by the forward and backward breakdowns.
struct Operands {
    n: usize,
    d: usize,
    f: usize,
    qd: usize,
    kvd: usize,
    layers: f64,
    x: Vec<f32>,
    w_norm: Vec<f32>,
    wq: Vec<f32>,
    wkv: Vec<f32>,
    wo: Vec<f32>,
    wg: Vec<f32>,
    wd: Vec<f32>,
    emb: Vec<f32>,
    q: Vec<f32>,
    k: Vec<f32>,
    g: Vec<f32>,
    s: Vec<f32>,
    cos: Vec<f32>,
    sin: Vec<f32>,
    packed: Vec<(usize, usize)>,
    dims: attention::AttnDims,
    /// The next token of every position but each sequence's last.
    targets: Vec<u32>,
    eps: f32,
}

impl Operands {
    fn new(cfg: &ModelConfig, seqs: usize, len: usize) -> Operands {
        let n = seqs * len;
        let (d, f, v) = (cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size);
        let (qd, kvd) = (cfg.q_dim(), cfg.kv_dim());
        let positions: Vec<u32> = (0..seqs).flat_map(|_| 0..len as u32).collect();
        let (cos, sin) = rope::rope_tables(&positions, &cfg.inv_freq());
        Operands {
            n,
            d,
            f,
            qd,
            kvd,
            layers: cfg.num_layers as f64,
            x: operand(n * d, 1),
            w_norm: vec![1.0f32; d],
            wq: operand(qd * d, 2),
            wkv: operand(kvd * d, 3),
            wo: operand(d * qd, 4),
            wg: operand(f * d, 5),
            wd: operand(d * f, 6),
            emb: operand(v * d, 7),
            q: operand(n * qd, 8),
            k: operand(n * kvd, 9),
            g: operand(n * f, 10),
            s: operand(n * f, 11),
            cos,
            sin,
            packed: (0..seqs).map(|i| (i * len, len)).collect(),
            dims: attention::AttnDims {
                n_q_heads: cfg.num_heads,
                n_kv_heads: cfg.num_kv_heads,
                head_dim: cfg.head_dim,
            },
            targets: (0..n - seqs).map(|i| (i * 7 % v) as u32).collect(),
            eps: cfg.rms_norm_eps,
        }
    }
}

/// Per-op forward times for `seqs` sequences of `len` tokens.
pub fn forward_breakdown(
    cfg: &ModelConfig,
    seqs: usize,
    len: usize,
    repeats: usize,
) -> Vec<OpTime> {
    let Operands {
        n,
        d,
        f,
        qd,
        kvd,
        layers,
        x,
        w_norm,
        wq,
        wkv,
        wo,
        wg,
        wd,
        emb,
        q,
        k,
        g,
        s,
        cos,
        sin,
        packed,
        dims,
        targets,
        eps,
    } = Operands::new(cfg, seqs, len);
    let t = |f: &mut dyn FnMut()| median_secs(1, repeats, f);
    let out: Vec<(String, f64)> = vec![
        (
            "rmsnorm x2".into(),
            2.0 * layers * t(&mut || drop(norm::rmsnorm_fwd(&x, &w_norm, eps))),
        ),
        (
            "q,k,v proj".into(),
            layers
                * t(&mut || {
                    drop(gemm::linear(&x, &wq, n, d, qd));
                    drop(gemm::linear(&x, &wkv, n, d, kvd));
                    drop(gemm::linear(&x, &wkv, n, d, kvd));
                }),
        ),
        (
            "rope q,k".into(),
            layers
                * t(&mut || {
                    let mut a = q.clone();
                    rope::rope_apply(&mut a, cfg.num_heads, cfg.head_dim, &cos, &sin, false);
                    let mut b = k.clone();
                    rope::rope_apply(&mut b, cfg.num_kv_heads, cfg.head_dim, &cos, &sin, false);
                }),
        ),
        (
            "attention".into(),
            layers * t(&mut || drop(attention::attention_fwd(&q, &k, &k, &packed, dims))),
        ),
        (
            "o proj".into(),
            layers * t(&mut || drop(gemm::linear(&q, &wo, n, qd, d))),
        ),
        (
            "residual add x2".into(),
            2.0 * layers
                * t(&mut || {
                    let y: Vec<f32> = x.iter().zip(&x).map(|(a, b)| a + b).collect();
                    std::hint::black_box(y);
                }),
        ),
        (
            "gate,up proj".into(),
            layers
                * t(&mut || {
                    drop(gemm::linear(&x, &wg, n, d, f));
                    drop(gemm::linear(&x, &wg, n, d, f));
                }),
        ),
        (
            "swiglu".into(),
            layers * t(&mut || drop(mlp::swiglu_fwd(&g, &s))),
        ),
        (
            "down proj".into(),
            layers * t(&mut || drop(gemm::linear(&s, &wd, n, f, d))),
        ),
        (
            "lm head + logprob (fused)".into(),
            t(&mut || {
                drop(logprob::fused_logprob_fwd_keep(
                    &x[..targets.len() * d],
                    &emb,
                    d,
                    &targets,
                    1.0,
                    logprob::FUSED_BUDGET_FLOATS,
                    logprob::KEEP_LOGITS_FLOATS,
                ))
            }),
        ),
    ];
    shares(out)
}

fn shares(mut out: Vec<(String, f64)>) -> Vec<OpTime> {
    let total: f64 = out.iter().map(|o| o.1).sum();
    out.sort_by(|a, b| b.1.total_cmp(&a.1));
    out.into_iter()
        .map(|(op, seconds)| OpTime {
            op,
            seconds,
            share: seconds / total,
        })
        .collect()
}

/// `dX = dY·W` and `dW = dYᵀ·X` of a linear layer y = x·Wᵀ (x [n, inp], W [out, inp]).
fn linear_bwd(dy: &[f32], x: &[f32], w: &[f32], n: usize, inp: usize, out: usize) {
    let dx = gemm::gemm_new(n, inp, out, 1.0, dy, false, w, false);
    let dw = gemm::gemm_new(out, inp, n, 1.0, dy, true, x, false);
    std::hint::black_box((dx, dw));
}

/// Per-op backward times for `seqs` sequences of `len` tokens (the kernels the tape's backward
/// runs, on their own: each projection's dX and dW products, attention, the fused LM head's
/// backward from the logits its forward kept (rows beyond the keep budget recomputed), the
/// element-wise ops).
pub fn backward_breakdown(
    cfg: &ModelConfig,
    seqs: usize,
    len: usize,
    repeats: usize,
) -> Vec<OpTime> {
    let Operands {
        n,
        d,
        f,
        qd,
        kvd,
        layers,
        x,
        w_norm,
        wq,
        wkv,
        wo,
        wg,
        wd,
        emb,
        q,
        k,
        g,
        s,
        cos,
        sin,
        packed,
        dims,
        targets,
        ..
    } = Operands::new(cfg, seqs, len);
    let rstd = vec![1.0f32; n];
    let (o, lse) = attention::attention_fwd(&q, &k, &k, &packed, dims);
    let rows = targets.len();
    let budget = logprob::FUSED_BUDGET_FLOATS;
    let keep = logprob::KEEP_LOGITS_FLOATS;
    let (head, kept) =
        logprob::fused_logprob_fwd_keep(&x[..rows * d], &emb, d, &targets, 1.0, budget, keep);
    let g_lp = vec![1.0 / rows as f32; rows];
    let g_h = vec![0.0f32; rows];
    let t = |f: &mut dyn FnMut()| median_secs(1, repeats, f);
    let out: Vec<(String, f64)> = vec![
        (
            "rmsnorm x2".into(),
            2.0 * layers * t(&mut || drop(norm::rmsnorm_bwd(&x, &x, &w_norm, &rstd))),
        ),
        (
            "q,k,v proj (dX, dW)".into(),
            layers
                * t(&mut || {
                    linear_bwd(&q, &x, &wq, n, d, qd);
                    linear_bwd(&k, &x, &wkv, n, d, kvd);
                    linear_bwd(&k, &x, &wkv, n, d, kvd);
                }),
        ),
        (
            "rope q,k".into(),
            layers
                * t(&mut || {
                    let mut a = q.clone();
                    rope::rope_apply(&mut a, cfg.num_heads, cfg.head_dim, &cos, &sin, true);
                    let mut b = k.clone();
                    rope::rope_apply(&mut b, cfg.num_kv_heads, cfg.head_dim, &cos, &sin, true);
                }),
        ),
        (
            "attention".into(),
            layers
                * t(&mut || {
                    drop(attention::attention_bwd(
                        &o, &q, &k, &k, &o, &lse, &packed, dims,
                    ))
                }),
        ),
        (
            "o proj (dX, dW)".into(),
            layers * t(&mut || linear_bwd(&x, &q, &wo, n, qd, d)),
        ),
        (
            "gate,up proj (dX, dW)".into(),
            layers
                * t(&mut || {
                    linear_bwd(&g, &x, &wg, n, d, f);
                    linear_bwd(&g, &x, &wg, n, d, f);
                }),
        ),
        (
            "swiglu".into(),
            layers * t(&mut || drop(mlp::swiglu_bwd(&s, &g, &s))),
        ),
        (
            "down proj (dX, dW)".into(),
            layers * t(&mut || linear_bwd(&x, &s, &wd, n, f, d)),
        ),
        (
            "lm head + logprob (fused)".into(),
            t(&mut || {
                // The backward consumes the kept logits, so each repeat starts from a copy (a
                // memcpy of them is counted too).
                let mut logits = kept.clone();
                drop(logprob::fused_logprob_bwd_kept(
                    &x[..rows * d],
                    &emb,
                    d,
                    &targets,
                    1.0,
                    &head,
                    &g_lp,
                    &g_h,
                    budget,
                    logits.as_deref_mut(),
                ))
            }),
        ),
    ];
    shares(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::init::llama_config_json;

    #[test]
    fn breakdown_covers_every_op_and_shares_sum_to_one() {
        let cfg =
            ModelConfig::from_json(llama_config_json(40, 16, 24, 2, 4, 2, true, 1, 2)).unwrap();
        let b = forward_breakdown(&cfg, 2, 8, 1);
        assert_eq!(b.len(), 10);
        let s: f64 = b.iter().map(|o| o.share).sum();
        assert!((s - 1.0).abs() < 1e-9);
        let b = backward_breakdown(&cfg, 2, 8, 1);
        assert_eq!(b.len(), 9);
        let s: f64 = b.iter().map(|o| o.share).sum();
        assert!((s - 1.0).abs() < 1e-9);
        assert!(b.iter().all(|o| o.seconds > 0.0), "{b:?}");
    }
}
