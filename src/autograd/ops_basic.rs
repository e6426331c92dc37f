//! Shape and arithmetic ops: add, scale, reshape, sum, weighted sum.
use super::{grad_or_zeros, Saved, Tape, Var};
use crate::tensor::Tensor;

impl Tape {
    pub fn add(&self, a: &Var, b: &Var) -> Var {
        let out = a.value.add(&b.value);
        let back = Box::new(|g: &[Option<Tensor>], _: &[bool]| vec![g[0].clone(), g[0].clone()]);
        self.record(&[a, b], vec![out], back).remove(0)
    }

    pub fn scale(&self, a: &Var, s: f32) -> Var {
        let out = a.value.scale(s);
        let back = Box::new(move |g: &[Option<Tensor>], _: &[bool]| {
            vec![g[0].as_ref().map(|g| g.scale(s))]
        });
        self.record(&[a], vec![out], back).remove(0)
    }

    pub fn reshape(&self, a: &Var, dims: &[usize]) -> Var {
        let out = a
            .value
            .reshape(dims)
            .expect("reshape: element count must match");
        let orig = a.dims().to_vec();
        let back = Box::new(move |g: &[Option<Tensor>], _: &[bool]| {
            vec![g[0]
                .as_ref()
                .map(|g| g.reshape(&orig).expect("reshape backward"))]
        });
        self.record(&[a], vec![out], back).remove(0)
    }

    /// Sum of all elements → scalar.
    pub fn sum(&self, a: &Var) -> Var {
        let out = Tensor::scalar(a.value.sum_all() as f32);
        let dims = a.dims().to_vec();
        let back = Box::new(move |g: &[Option<Tensor>], _: &[bool]| {
            let s = g[0].as_ref().map(|g| g.item()).unwrap_or(0.0);
            vec![Some(Tensor::full(&dims, s))]
        });
        self.record(&[a], vec![out], back).remove(0)
    }

    /// `Σ_i coef_i · a_i` → scalar. The loss of every policy-gradient objective is this over
    /// token log-probs (and entropies) once the per-token coefficients are known.
    pub fn weighted_sum(&self, a: &Var, coef: &[f32]) -> Var {
        assert_eq!(
            a.value.numel(),
            coef.len(),
            "weighted_sum: one coefficient per element"
        );
        let s: f64 = a
            .value
            .data()
            .iter()
            .zip(coef)
            .map(|(&x, &c)| x as f64 * c as f64)
            .sum();
        let coef = coef.to_vec();
        let saved = Saved::default().plus_floats(coef.len());
        let dims = a.dims().to_vec();
        let back = Box::new(move |g: &[Option<Tensor>], _: &[bool]| {
            let s = grad_or_zeros(g, 0, &[]).item();
            vec![Some(Tensor::new_cpu(
                coef.iter().map(|c| c * s).collect(),
                &dims,
            ))]
        });
        self.record_saving(&[a], vec![Tensor::scalar(s as f32)], saved, back)
            .remove(0)
    }
}

impl Tape {
    /// Rows `rows` of a [N, d] matrix → [rows.len(), d]; backward scatter-adds in row order.
    pub fn gather_rows(&self, x: &Var, rows: &[usize]) -> Var {
        let n = x.dims()[0];
        let d = x.value.numel() / n.max(1);
        let src = x.value.data();
        let mut out = Vec::with_capacity(rows.len() * d);
        for &r in rows {
            out.extend_from_slice(&src[r * d..(r + 1) * d]);
        }
        let y = Tensor::new_cpu(out, &[rows.len(), d]);
        let rows = rows.to_vec();
        let saved = Saved {
            tensors: vec![],
            extra_bytes: std::mem::size_of_val(rows.as_slice()),
        };
        let dims = x.dims().to_vec();
        let back = Box::new(move |g: &[Option<Tensor>], _: &[bool]| {
            let dy = grad_or_zeros(g, 0, &[rows.len(), d]);
            let mut dx = vec![0.0f32; n * d];
            for (i, &r) in rows.iter().enumerate() {
                for (a, b) in dx[r * d..(r + 1) * d]
                    .iter_mut()
                    .zip(&dy.data()[i * d..(i + 1) * d])
                {
                    *a += b;
                }
            }
            vec![Some(Tensor::new_cpu(dx, &dims))]
        });
        self.record_saving(&[x], vec![y], saved, back).remove(0)
    }
}
