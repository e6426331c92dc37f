//! Safetensors load (single file or sharded index; f32/f16/bf16, memory-mapped) and save.
use super::params::ParamLayout;
use crate::tensor::{DType, Tensor};
use anyhow::{anyhow, bail, Context, Result};
use half::{bf16, f16};
use safetensors::{Dtype, SafeTensors};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Which file holds each tensor.
fn weight_files(dir: &Path) -> Result<(Vec<PathBuf>, HashMap<String, usize>)> {
    let single = dir.join("model.safetensors");
    let index = dir.join("model.safetensors.index.json");
    if index.exists() {
        let text = std::fs::read_to_string(&index)
            .with_context(|| format!("reading {}", index.display()))?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{}: malformed JSON", index.display()))?;
        let map = v
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| anyhow!("{}: no `weight_map` object", index.display()))?;
        let mut files: Vec<PathBuf> = Vec::new();
        let mut by_name = HashMap::new();
        for (name, file) in map {
            let file = file.as_str().ok_or_else(|| {
                anyhow!("{}: weight_map[{name}] is not a string", index.display())
            })?;
            if file.contains('/') || file.contains("..") {
                bail!(
                    "{}: weight_map[{name}] = {file:?} leaves the model directory",
                    index.display()
                );
            }
            let path = dir.join(file);
            let i = match files.iter().position(|p| *p == path) {
                Some(i) => i,
                None => {
                    files.push(path);
                    files.len() - 1
                }
            };
            by_name.insert(name.clone(), i);
        }
        Ok((files, by_name))
    } else if single.exists() {
        Ok((vec![single], HashMap::new()))
    } else {
        bail!(
            "{}: neither model.safetensors nor model.safetensors.index.json found",
            dir.display()
        )
    }
}

fn to_f32(dtype: Dtype, bytes: &[u8], file: &Path, name: &str) -> Result<Vec<f32>> {
    Ok(match dtype {
        Dtype::F32 => bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Dtype::BF16 => bytes
            .chunks_exact(2)
            .map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        Dtype::F16 => bytes
            .chunks_exact(2)
            .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        other => bail!(
            "{}: tensor {name} has unsupported dtype {other:?} (supported: F32, F16, BF16)",
            file.display()
        ),
    })
}

/// Load every tensor of `layout` from `dir`, converted to f32. Returns the tensors and the
/// dtype they were stored in (the first one seen).
pub fn load(dir: &Path, layout: &ParamLayout) -> Result<(Vec<Tensor>, DType)> {
    let (files, by_name) = weight_files(dir)?;
    let mut maps = Vec::new();
    for f in &files {
        let file = std::fs::File::open(f).with_context(|| format!("opening {}", f.display()))?;
        // SAFETY: the file is opened read-only; we only read it while the map lives.
        let mmap = unsafe { memmap2::Mmap::map(&file) }
            .with_context(|| format!("mapping {}", f.display()))?;
        maps.push(mmap);
    }
    let mut parsed = Vec::new();
    for (fi, (m, f)) in maps.iter().zip(&files).enumerate() {
        let expected = layout
            .specs
            .iter()
            .map(|(name, _)| name)
            .filter(|name| by_name.get(*name).copied().unwrap_or(0) == fi);
        parsed.push(SafeTensors::deserialize(m).map_err(|e| {
            match missing_from_header(m, expected) {
                Some(missing) => anyhow!("{}: missing tensor {missing}", f.display()),
                None => anyhow!("{}: not a valid safetensors file ({e})", f.display()),
            }
        })?);
    }
    let mut out = Vec::with_capacity(layout.specs.len());
    let mut stored = None;
    for (name, shape) in &layout.specs {
        let fi = by_name.get(name).copied().unwrap_or(0);
        let (file, st) = (&files[fi], &parsed[fi]);
        let view = st
            .tensor(name)
            .map_err(|_| anyhow!("{}: missing tensor {name}", file.display()))?;
        if view.shape() != shape.as_slice() {
            bail!(
                "{}: tensor {name} has shape {:?}, the config implies {:?}",
                file.display(),
                view.shape(),
                shape
            );
        }
        let data = to_f32(view.dtype(), view.data(), file, name)?;
        stored.get_or_insert(if view.dtype() == Dtype::F32 {
            DType::F32
        } else {
            DType::BF16
        });
        if let Some(i) = data.iter().position(|x| !x.is_finite()) {
            bail!(
                "{}: tensor {name} holds a non-finite value at element {i}",
                file.display()
            );
        }
        out.push(Tensor::from_vec(data, shape)?);
    }
    Ok((out, stored.unwrap_or(DType::F32)))
}

/// When a header fails to parse, the first of `expected` that its JSON does not list: a tensor
/// left out of a header makes the parser blame the next tensor's offsets, not the absent one.
fn missing_from_header<'a>(
    bytes: &[u8],
    mut expected: impl Iterator<Item = &'a String>,
) -> Option<String> {
    let n = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    let end = 8usize.checked_add(usize::try_from(n).ok()?)?;
    let header: serde_json::Value = serde_json::from_slice(bytes.get(8..end)?).ok()?;
    let listed = header.as_object()?;
    expected
        .find(|name| !listed.contains_key(name.as_str()))
        .cloned()
}

/// Serialise named tensors to safetensors bytes in the given dtype.
pub fn serialize(
    named: &[(String, Tensor)],
    dtype: DType,
    metadata: Option<HashMap<String, String>>,
) -> Result<Vec<u8>> {
    let buffers: Vec<(String, Vec<usize>, Vec<u8>)> = named
        .iter()
        .map(|(n, t)| {
            let bytes = match dtype {
                DType::F32 => bytemuck::cast_slice::<f32, u8>(t.data()).to_vec(),
                DType::BF16 => t
                    .data()
                    .iter()
                    .flat_map(|&x| bf16::from_f32(x).to_le_bytes())
                    .collect(),
            };
            (n.clone(), t.dims().to_vec(), bytes)
        })
        .collect();
    let st_dtype = match dtype {
        DType::F32 => Dtype::F32,
        DType::BF16 => Dtype::BF16,
    };
    let mut views = BTreeMap::new();
    for (n, shape, bytes) in &buffers {
        views.insert(
            n.clone(),
            safetensors::tensor::TensorView::new(st_dtype, shape.clone(), bytes)?,
        );
    }
    Ok(safetensors::serialize(views, metadata)?)
}

/// Read every tensor of a safetensors file as f32, by name (for fixtures and tools).
pub fn read_all_f32(path: &Path) -> Result<BTreeMap<String, Tensor>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| anyhow!("{}: not a valid safetensors file ({e})", path.display()))?;
    let mut out = BTreeMap::new();
    for (name, view) in st.tensors() {
        let data = to_f32(view.dtype(), view.data(), path, &name)?;
        out.insert(name.clone(), Tensor::from_vec(data, view.shape())?);
    }
    Ok(out)
}
