//! `Tensor`: a shape plus storage. Storage is reference-counted so clones are cheap and the
//! autograd tape can keep what a backward needs without copying.
//!
//! The CPU backend computes in f32 everywhere; `DType::BF16` describes how weights
//! are stored on disk and, on the GPU, in memory.

mod shape;
pub use shape::Shape;

use anyhow::{bail, Result};
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType {
    F32,
    BF16,
}

impl DType {
    pub fn size_in_bytes(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::BF16 => 2,
        }
    }
}

/// Where a tensor's elements live.
#[derive(Clone, Debug)]
pub enum Storage {
    Cpu(Arc<Vec<f32>>),
}

#[derive(Clone, Debug)]
pub struct Tensor {
    shape: Shape,
    storage: Storage,
}

impl Tensor {
    pub fn from_vec(data: Vec<f32>, dims: &[usize]) -> Result<Tensor> {
        let shape = Shape::new(dims);
        if shape.numel() != data.len() {
            bail!(
                "tensor of shape {shape} needs {} elements, got {}",
                shape.numel(),
                data.len()
            );
        }
        Ok(Tensor {
            shape,
            storage: Storage::Cpu(Arc::new(data)),
        })
    }

    /// For internal call sites whose sizes are correct by construction.
    pub(crate) fn new_cpu(data: Vec<f32>, dims: &[usize]) -> Tensor {
        let shape = Shape::new(dims);
        assert_eq!(
            shape.numel(),
            data.len(),
            "internal shape/data mismatch for {shape}"
        );
        Tensor {
            shape,
            storage: Storage::Cpu(Arc::new(data)),
        }
    }

    pub fn zeros(dims: &[usize]) -> Tensor {
        let n = dims.iter().product();
        Tensor::new_cpu(vec![0.0; n], dims)
    }

    pub fn full(dims: &[usize], v: f32) -> Tensor {
        let n = dims.iter().product();
        Tensor::new_cpu(vec![v; n], dims)
    }

    pub fn scalar(v: f32) -> Tensor {
        Tensor::new_cpu(vec![v], &[])
    }

    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    pub fn dims(&self) -> &[usize] {
        self.shape.dims()
    }

    pub fn numel(&self) -> usize {
        self.shape.numel()
    }

    pub fn dtype(&self) -> DType {
        DType::F32
    }

    /// The elements as a host slice (CPU storage).
    pub fn data(&self) -> &[f32] {
        match &self.storage {
            Storage::Cpu(v) => v.as_slice(),
        }
    }

    /// Mutable access, copying the storage first if it is shared.
    pub fn data_mut(&mut self) -> &mut [f32] {
        match &mut self.storage {
            Storage::Cpu(v) => Arc::make_mut(v).as_mut_slice(),
        }
    }

    pub fn to_vec(&self) -> Vec<f32> {
        self.data().to_vec()
    }

    pub fn into_vec(self) -> Vec<f32> {
        match self.storage {
            Storage::Cpu(v) => Arc::try_unwrap(v).unwrap_or_else(|a| (*a).clone()),
        }
    }

    /// Same storage, new shape (element count must match).
    pub fn reshape(&self, dims: &[usize]) -> Result<Tensor> {
        let shape = Shape::new(dims);
        if shape.numel() != self.numel() {
            bail!("cannot reshape {} into {shape}", self.shape);
        }
        Ok(Tensor {
            shape,
            storage: self.storage.clone(),
        })
    }

    /// Rows `start..end` of a tensor viewed as [rows, cols] (cols = product of trailing dims).
    pub fn narrow_rows(&self, start: usize, end: usize) -> Tensor {
        let rows = self.dims().first().copied().unwrap_or(1);
        assert!(
            start <= end && end <= rows,
            "narrow_rows {start}..{end} of {rows}"
        );
        let cols = self.numel().checked_div(rows).unwrap_or(0);
        let mut dims = self.dims().to_vec();
        dims[0] = end - start;
        Tensor::new_cpu(self.data()[start * cols..end * cols].to_vec(), &dims)
    }

    pub fn item(&self) -> f32 {
        self.data()[0]
    }

    pub fn sum_all(&self) -> f64 {
        self.data().iter().map(|&x| x as f64).sum()
    }

    pub fn sq_norm(&self) -> f64 {
        self.data().iter().map(|&x| (x as f64) * (x as f64)).sum()
    }

    pub fn has_non_finite(&self) -> bool {
        self.data().iter().any(|x| !x.is_finite())
    }

    /// Elementwise sum of two tensors of the same shape.
    pub fn add(&self, other: &Tensor) -> Tensor {
        assert_eq!(self.dims(), other.dims(), "add: shape mismatch");
        let v = self
            .data()
            .iter()
            .zip(other.data())
            .map(|(a, b)| a + b)
            .collect();
        Tensor::new_cpu(v, self.dims())
    }

    pub fn scale(&self, s: f32) -> Tensor {
        Tensor::new_cpu(self.data().iter().map(|a| a * s).collect(), self.dims())
    }

    /// `self += other` in place (copy-on-write if shared).
    pub fn add_assign(&mut self, other: &Tensor) {
        assert_eq!(self.dims(), other.dims(), "add_assign: shape mismatch");
        for (a, b) in self.data_mut().iter_mut().zip(other.data()) {
            *a += b;
        }
    }

    pub fn max_abs_diff(&self, other: &Tensor) -> f32 {
        self.data()
            .iter()
            .zip(other.data())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max)
    }
}
