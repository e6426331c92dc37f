//! AdamW as `torch.optim.AdamW`: decoupled weight decay applied first (p ← p·(1 − lr·wd)), then
//! the bias-corrected Adam update. Moments are f32; state can be saved and restored exactly.
use crate::tensor::Tensor;
use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamWConfig {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig {
            lr: 1e-6,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
        }
    }
}

#[derive(Clone, Debug)]
pub struct AdamW {
    pub cfg: AdamWConfig,
    pub step: u64,
    pub m: Vec<Vec<f32>>,
    pub v: Vec<Vec<f32>>,
}

impl AdamW {
    pub fn new(cfg: AdamWConfig, params: &[Tensor]) -> AdamW {
        AdamW {
            cfg,
            step: 0,
            m: params.iter().map(|p| vec![0.0; p.numel()]).collect(),
            v: params.iter().map(|p| vec![0.0; p.numel()]).collect(),
        }
    }

    /// One update with learning rate `lr` (the schedule is the caller's).
    pub fn update(&mut self, params: &mut [Tensor], grads: &[Tensor], lr: f32) {
        self.step += 1;
        let c = self.cfg;
        let bc1 = 1.0 - (c.beta1 as f64).powi(self.step as i32);
        let bc2 = 1.0 - (c.beta2 as f64).powi(self.step as i32);
        let step_size = (lr as f64 / bc1) as f32;
        let bc2_sqrt = bc2.sqrt() as f32;
        for (((p, g), m), v) in params
            .iter_mut()
            .zip(grads)
            .zip(&mut self.m)
            .zip(&mut self.v)
        {
            let pd = p.data_mut();
            pd.par_iter_mut()
                .zip(g.data().par_iter())
                .zip(m.par_iter_mut())
                .zip(v.par_iter_mut())
                .for_each(|(((x, &gr), mm), vv)| {
                    *x *= 1.0 - lr * c.weight_decay;
                    *mm = c.beta1 * *mm + (1.0 - c.beta1) * gr;
                    *vv = c.beta2 * *vv + (1.0 - c.beta2) * gr * gr;
                    let denom = vv.sqrt() / bc2_sqrt + c.eps;
                    *x -= step_size * *mm / denom;
                });
        }
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let mut named = Vec::new();
        for (i, (m, v)) in self.m.iter().zip(&self.v).enumerate() {
            named.push((format!("m.{i}"), Tensor::from_vec(m.clone(), &[m.len()])?));
            named.push((format!("v.{i}"), Tensor::from_vec(v.clone(), &[v.len()])?));
        }
        let meta = std::collections::HashMap::from([("step".to_string(), self.step.to_string())]);
        let bytes =
            crate::model::weights::serialize(&named, crate::tensor::DType::F32, Some(meta))?;
        crate::util::write_atomic(path, &bytes)
    }

    pub fn load(&mut self, path: &Path) -> Result<()> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let step = meta
            .metadata()
            .as_ref()
            .and_then(|m| m.get("step"))
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("{}: no step in metadata", path.display()))?;
        let all = crate::model::weights::read_all_f32(path)?;
        for i in 0..self.m.len() {
            for (name, dst) in [
                (format!("m.{i}"), &mut self.m[i]),
                (format!("v.{i}"), &mut self.v[i]),
            ] {
                let t = all
                    .get(&name)
                    .with_context(|| format!("{}: missing {name}", path.display()))?;
                if t.numel() != dst.len() {
                    bail!(
                        "{}: {name} has {} elements, expected {}",
                        path.display(),
                        t.numel(),
                        dst.len()
                    );
                }
                dst.copy_from_slice(t.data());
            }
        }
        self.step = step;
        Ok(())
    }
}

/// Scale gradients so their global L2 norm is at most `max_norm` (torch's clip_grad_norm_:
/// coefficient max_norm / (norm + 1e-6), capped at 1). Returns the norm before clipping.
pub fn clip_grad_norm(grads: &mut [Tensor], max_norm: f32) -> f32 {
    let sq: Vec<f64> = grads.iter().map(|g| g.sq_norm()).collect();
    let norm = global_norm(&sq);
    if let Some(coef) = clip_coefficient(norm, max_norm) {
        scale_grads(grads, coef);
    }
    norm
}

/// The global L2 norm from per-tensor squared norms, added in tensor order (ZeRO-1 ranks gather
/// their tensors' squared norms and call this, so the norm is the unsharded one, bit for bit).
pub fn global_norm(per_tensor_sq: &[f64]) -> f32 {
    per_tensor_sq.iter().sum::<f64>().sqrt() as f32
}

/// The factor clipping applies to every gradient, if it applies.
pub fn clip_coefficient(norm: f32, max_norm: f32) -> Option<f32> {
    if max_norm > 0.0 && norm.is_finite() {
        let coef = max_norm / (norm + 1e-6);
        (coef < 1.0).then_some(coef)
    } else {
        None
    }
}

pub fn scale_grads(grads: &mut [Tensor], coef: f32) {
    for g in grads.iter_mut() {
        for x in g.data_mut() {
            *x *= coef;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_hand_computed_first_steps() {
        // torch.optim.AdamW(lr=0.1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01) on p=1, g=0.5
        // step 1: p = 1·(1−0.001) − 0.1·(0.05/0.1)/(sqrt(0.00025/0.001)+1e-8) = 0.999 − 0.1 = 0.899
        let mut p = vec![Tensor::from_vec(vec![1.0], &[1]).unwrap()];
        let g = vec![Tensor::from_vec(vec![0.5], &[1]).unwrap()];
        let mut opt = AdamW::new(
            AdamWConfig {
                lr: 0.1,
                ..Default::default()
            },
            &p,
        );
        opt.update(&mut p, &g, 0.1);
        assert!((p[0].item() - 0.899).abs() < 1e-6, "{}", p[0].item());
        opt.update(&mut p, &g, 0.1);
        // step 2 with a constant gradient: the bias-corrected ratio is still 1.
        assert!(
            (p[0].item() - (0.899 * 0.999 - 0.1)).abs() < 1e-5,
            "{}",
            p[0].item()
        );
    }

    #[test]
    fn clipping_scales_to_max_norm() {
        let mut g = vec![Tensor::from_vec(vec![3.0, 4.0], &[2]).unwrap()];
        let n = clip_grad_norm(&mut g, 1.0);
        assert!((n - 5.0).abs() < 1e-6);
        assert!((g[0].sq_norm().sqrt() - 1.0).abs() < 1e-5);
    }

    #[test]
    fn state_round_trips() {
        let mut p = vec![Tensor::from_vec(vec![1.0, 2.0], &[2]).unwrap()];
        let g = vec![Tensor::from_vec(vec![0.1, -0.2], &[2]).unwrap()];
        let mut a = AdamW::new(AdamWConfig::default(), &p);
        a.update(&mut p, &g, 1e-3);
        let dir = tempfile::tempdir().unwrap();
        a.save(&dir.path().join("opt.safetensors")).unwrap();
        let mut b = AdamW::new(AdamWConfig::default(), &p);
        b.load(&dir.path().join("opt.safetensors")).unwrap();
        assert_eq!(a.m, b.m);
        assert_eq!(a.v, b.v);
        assert_eq!(a.step, b.step);
    }
}
