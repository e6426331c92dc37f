//! Finite-difference gradient checks for every differentiable op (central differences in f32
//! with f64 accumulation inside the ops; tolerances sized for that).
use super::{RopeTables, Tape, Var};
use crate::backend::cpu::attention::AttnDims;
use crate::tensor::Tensor;

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as f32 / (1u64 << 31) as f32) * 2.0 - 1.0
    }
    fn tensor(&mut self, dims: &[usize], scale: f32) -> Tensor {
        let n = dims.iter().product();
        Tensor::new_cpu((0..n).map(|_| self.next() * scale).collect(), dims)
    }
}

/// Checks d f / d inputs[i] for every input, at up to 24 elements each.
fn check(name: &str, inputs: Vec<Tensor>, f: impl Fn(&Tape, &[Var]) -> Var) {
    let tape = Tape::new();
    let vars: Vec<Var> = inputs.iter().map(|t| tape.leaf(t.clone())).collect();
    let loss = f(&tape, &vars);
    let grads = tape.backward(&loss);
    let eval = |xs: &[Tensor]| -> f64 {
        let t = Tape::no_grad();
        let v: Vec<Var> = xs.iter().map(|x| t.constant(x.clone())).collect();
        f(&t, &v).value.item() as f64
    };
    for (i, x) in inputs.iter().enumerate() {
        let g = grads
            .get(&vars[i])
            .unwrap_or_else(|| panic!("{name}: input {i} got no gradient"));
        assert_eq!(g.dims(), x.dims(), "{name}: gradient shape of input {i}");
        let n = x.numel();
        let step = (n / 24).max(1);
        for j in (0..n).step_by(step) {
            let eps = 1e-2f32;
            let mut xs = inputs.clone();
            xs[i].data_mut()[j] = x.data()[j] + eps;
            let fp = eval(&xs);
            xs[i].data_mut()[j] = x.data()[j] - eps;
            let fm = eval(&xs);
            let num = (fp - fm) / (2.0 * eps as f64);
            let ana = g.data()[j] as f64;
            let tol = 2e-3 + 2e-2 * num.abs();
            assert!(
                (num - ana).abs() <= tol,
                "{name}: d/d input{i}[{j}] analytic {ana} vs numeric {num}"
            );
        }
    }
}

fn coefs(r: &mut Lcg, n: usize) -> Vec<f32> {
    (0..n).map(|_| r.next()).collect()
}

#[test]
fn linear_with_and_without_bias() {
    let mut r = Lcg(1);
    let c = coefs(&mut r, 3 * 5);
    let (x, w, b) = (
        r.tensor(&[3, 4], 1.0),
        r.tensor(&[5, 4], 1.0),
        r.tensor(&[5], 1.0),
    );
    check("linear+bias", vec![x.clone(), w.clone(), b], |t, v| {
        let y = t.linear(&v[0], &v[1], Some(&v[2]));
        t.weighted_sum(&y, &c)
    });
    check("linear", vec![x, w], |t, v| {
        let y = t.linear(&v[0], &v[1], None);
        t.weighted_sum(&y, &c)
    });
}

#[test]
fn embedding_repeated_ids() {
    let mut r = Lcg(2);
    let ids = [3u32, 0, 3, 1];
    let c = coefs(&mut r, 4 * 3);
    check("embedding", vec![r.tensor(&[5, 3], 1.0)], |t, v| {
        let y = t.embedding(&v[0], &ids);
        t.weighted_sum(&y, &c)
    });
}

#[test]
fn rmsnorm_rope_swiglu_add_scale_reshape_sum() {
    let mut r = Lcg(3);
    let c = coefs(&mut r, 3 * 8);
    check(
        "rmsnorm",
        vec![r.tensor(&[3, 8], 1.0), r.tensor(&[8], 1.0)],
        |t, v| {
            let y = t.rmsnorm(&v[0], &v[1], 1e-5);
            t.weighted_sum(&y, &c)
        },
    );
    let tables = RopeTables::new(&[0, 5, 17], &[1.0, 0.1]);
    check("rope", vec![r.tensor(&[3, 8], 1.0)], |t, v| {
        let y = t.rope(&v[0], 2, 4, &tables);
        t.weighted_sum(&y, &c)
    });
    check(
        "swiglu",
        vec![r.tensor(&[3, 8], 2.0), r.tensor(&[3, 8], 1.0)],
        |t, v| {
            let y = t.swiglu(&v[0], &v[1]);
            t.weighted_sum(&y, &c)
        },
    );
    check(
        "add/scale/reshape/sum",
        vec![r.tensor(&[3, 8], 1.0), r.tensor(&[3, 8], 1.0)],
        |t, v| {
            let y = t.add(&v[0], &v[1]);
            let y = t.scale(&y, -1.5);
            let y = t.reshape(&y, &[24]);
            let a = t.weighted_sum(&y, &c);
            let b = t.sum(&v[0]);
            t.add(&a, &b)
        },
    );
}

#[test]
fn attention_packed_gqa() {
    let mut r = Lcg(4);
    let dims = AttnDims {
        n_q_heads: 4,
        n_kv_heads: 2,
        head_dim: 3,
    };
    let seqs = [(0usize, 3usize), (3, 1), (4, 4)];
    let n = 8;
    let c = coefs(&mut r, n * 12);
    check(
        "attention",
        vec![
            r.tensor(&[n, 12], 1.0),
            r.tensor(&[n, 6], 1.0),
            r.tensor(&[n, 6], 1.0),
        ],
        |t, v| {
            let y = t.attention(&v[0], &v[1], &v[2], &seqs, dims);
            t.weighted_sum(&y, &c)
        },
    );
}

#[test]
fn logprob_unfused_and_fused() {
    let mut r = Lcg(5);
    let targets = [2u32, 0, 6, 6, 1];
    let (cl, ch) = (coefs(&mut r, 5), coefs(&mut r, 5));
    check(
        "logprob_from_logits",
        vec![r.tensor(&[5, 7], 2.0)],
        |t, v| {
            let (lp, h) = t.logprob_from_logits(&v[0], &targets, 0.8);
            let a = t.weighted_sum(&lp, &cl);
            let b = t.weighted_sum(&h, &ch);
            t.add(&a, &b)
        },
    );
    let (hidden, head) = (r.tensor(&[5, 4], 1.0), r.tensor(&[7, 4], 1.0));
    // Logits recomputed by the backward (keep 0) and kept from the forward (keep 35 = 5 × 7).
    for (name, keep) in [("fused_logprob", 0), ("fused_logprob kept logits", 35)] {
        check(name, vec![hidden.clone(), head.clone()], |t, v| {
            let (lp, h) = t.fused_logprob_with_budget(&v[0], &v[1], &targets, 1.3, 14, keep);
            let a = t.weighted_sum(&lp, &cl);
            let b = t.weighted_sum(&h, &ch);
            t.add(&a, &b)
        });
    }
}

#[test]
fn no_grad_records_nothing() {
    let t = Tape::no_grad();
    let a = t.leaf(Tensor::full(&[2], 1.0));
    let b = t.scale(&a, 2.0);
    assert!(!b.requires_grad());
    assert!(t.inner.borrow().nodes.is_empty());
}

/// A small residual block: RMSNorm → two linears → SwiGLU → add back to the input.
fn block(t: &Tape, v: &[Var]) -> Var {
    let a = t.rmsnorm(&v[0], &v[1], 1e-5);
    let g = t.linear(&a, &v[2], None);
    let u = t.linear(&a, &v[3], None);
    let s = t.swiglu(&g, &u);
    t.add(&v[0], &s)
}

#[test]
fn checkpoint_gradcheck_and_bit_identity() {
    let mut r = Lcg(6);
    let c = coefs(&mut r, 3 * 6);
    let inputs = vec![
        r.tensor(&[3, 6], 1.0),
        r.tensor(&[6], 1.0),
        r.tensor(&[6, 6], 0.5),
        r.tensor(&[6, 6], 0.5),
    ];
    // Two checkpointed blocks in a row, so gradients flow through one recompute into another.
    check("checkpoint", inputs.clone(), |t, v| {
        let p: Vec<&Var> = v.iter().collect();
        let y = t.checkpoint(&p, block);
        let p2: Vec<&Var> = std::iter::once(&y).chain(&v[1..]).collect();
        let y = t.checkpoint(&p2, block);
        t.weighted_sum(&y, &c)
    });
    // Bit-identical to the plain tape, including with an input that needs no gradient.
    for frozen in [None, Some(2)] {
        let grads_of = |ckpt: bool| {
            let tape = Tape::new();
            let vars: Vec<Var> = inputs
                .iter()
                .enumerate()
                .map(|(i, x)| match Some(i) == frozen {
                    true => tape.constant(x.clone()),
                    false => tape.leaf(x.clone()),
                })
                .collect();
            let y = if ckpt {
                t_checkpoint(&tape, &vars)
            } else {
                block(&tape, &vars)
            };
            let loss = tape.weighted_sum(&y, &c);
            let saved = tape.stats().saved_bytes;
            let mut g = tape.backward(&loss);
            let grads: Vec<Option<Vec<f32>>> =
                vars.iter().map(|v| g.take(v).map(|t| t.to_vec())).collect();
            (y.value.to_vec(), grads, saved)
        };
        let (y0, g0, s0) = grads_of(false);
        let (y1, g1, s1) = grads_of(true);
        assert_eq!(y0, y1);
        assert_eq!(g0, g1);
        assert_eq!(
            g1.iter().filter(|g| g.is_none()).count(),
            frozen.iter().count()
        );
        // The checkpointed tape keeps no activation (its inputs are leaves), only the loss
        // coefficients.
        assert_eq!(s1, 4 * 3 * 6);
        assert!(s0 > s1);
    }
}

fn t_checkpoint(tape: &Tape, vars: &[Var]) -> Var {
    let p: Vec<&Var> = vars.iter().collect();
    tape.checkpoint(&p, block)
}
