//! GGUF (v2, v3) reader: header, metadata, tensor infos, and bounds-checked tensor data.
//!
//! File layout (little-endian): magic "GGUF" | version u32 | tensor_count u64 | kv_count u64 |
//! kv_count × (key: string, type: u32, value) | tensor_count × (name: string, n_dims: u32,
//! dims: n_dims × u64, type: u32, offset: u64) | padding to `general.alignment` (default 32) |
//! tensor data. A string is a u64 byte length then UTF-8 bytes; an array is an element type u32,
//! a u64 count, then the elements. Every length read from the file is checked against the bytes
//! that remain before anything is allocated, so a corrupt file gives an error, never a panic or a
//! huge allocation.
use super::ggml_type::GgmlType;
use super::value::Value;
use anyhow::{anyhow, bail, Context, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 4] = b"GGUF";
const DEFAULT_ALIGNMENT: u64 = 32;
/// ggml's GGML_MAX_DIMS.
const MAX_DIMS: u32 = 4;
/// Nested arrays deeper than this are treated as corruption (real files use depth 1).
const MAX_ARRAY_DEPTH: u32 = 8;

/// One tensor as described by the file.
#[derive(Debug, Clone)]
pub struct TensorInfo {
    pub name: String,
    /// ggml order: dims[0] is the fastest-varying (columns). HF shape is the reverse.
    pub dims: Vec<u64>,
    pub ty: GgmlType,
    /// Byte offset of the data from the start of the data section.
    pub offset: u64,
    pub n_elems: u64,
    pub n_bytes: u64,
}

impl TensorInfo {
    /// Row-major shape, slowest dimension first (what numpy, safetensors and HF use).
    pub fn shape(&self) -> Vec<usize> {
        self.dims.iter().rev().map(|&d| d as usize).collect()
    }
}

enum Backing {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl Backing {
    fn bytes(&self) -> &[u8] {
        match self {
            Backing::Mapped(m) => m,
            Backing::Owned(v) => v,
        }
    }
}

/// A parsed GGUF file. Tensor data stays in the memory map until asked for.
pub struct GgufFile {
    path: PathBuf,
    backing: Backing,
    pub version: u32,
    pub alignment: u64,
    /// Metadata in file order.
    pub metadata: Vec<(String, Value)>,
    key_index: HashMap<String, usize>,
    pub tensors: Vec<TensorInfo>,
    tensor_index: HashMap<String, usize>,
    data_start: u64,
}

impl GgufFile {
    /// Memory-map and parse `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let file =
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        // SAFETY: the map is read-only; like every mmap reader we rely on the file not being
        // truncated by another process while it is open.
        let map = unsafe { memmap2::Mmap::map(&file) }
            .with_context(|| format!("memory-mapping {}", path.display()))?;
        Self::parse(path.to_path_buf(), Backing::Mapped(map))
    }

    /// Parse an in-memory GGUF image; `label` names it in errors.
    pub fn from_bytes(label: &str, bytes: Vec<u8>) -> Result<Self> {
        Self::parse(PathBuf::from(label), Backing::Owned(bytes))
    }

    fn parse(path: PathBuf, backing: Backing) -> Result<Self> {
        let header =
            parse_header(backing.bytes()).map_err(|e| anyhow!("{}: {e}", path.display()))?;
        let key_index = header
            .metadata
            .iter()
            .enumerate()
            .map(|(i, (k, _))| (k.clone(), i))
            .collect();
        let tensor_index = header
            .tensors
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.clone(), i))
            .collect();
        Ok(Self {
            path,
            backing,
            version: header.version,
            alignment: header.alignment,
            metadata: header.metadata,
            key_index,
            tensors: header.tensors,
            tensor_index,
            data_start: header.data_start,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A metadata value by key.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.key_index.get(key).map(|&i| &self.metadata[i].1)
    }

    fn require(&self, key: &str) -> Result<&Value> {
        self.get(key)
            .ok_or_else(|| anyhow!("{}: missing metadata key {key}", self.path.display()))
    }

    fn wrong_type(&self, key: &str, v: &Value, want: &str) -> anyhow::Error {
        anyhow!(
            "{}: metadata {key} is {} {v}, expected {want}",
            self.path.display(),
            v.type_name()
        )
    }

    /// A required non-negative integer.
    pub fn get_u64(&self, key: &str) -> Result<u64> {
        let v = self.require(key)?;
        v.as_u64()
            .ok_or_else(|| self.wrong_type(key, v, "a non-negative integer"))
    }

    /// An optional non-negative integer (error only when present with the wrong type).
    pub fn opt_u64(&self, key: &str) -> Result<Option<u64>> {
        self.get(key).map(|_| self.get_u64(key)).transpose()
    }

    /// A required number (any integer or float type).
    pub fn get_f64(&self, key: &str) -> Result<f64> {
        let v = self.require(key)?;
        v.as_f64()
            .ok_or_else(|| self.wrong_type(key, v, "a number"))
    }

    pub fn opt_f64(&self, key: &str) -> Result<Option<f64>> {
        self.get(key).map(|_| self.get_f64(key)).transpose()
    }

    pub fn get_str(&self, key: &str) -> Result<&str> {
        let v = self.require(key)?;
        v.as_str()
            .ok_or_else(|| self.wrong_type(key, v, "a string"))
    }

    pub fn opt_str(&self, key: &str) -> Result<Option<&str>> {
        self.get(key).map(|_| self.get_str(key)).transpose()
    }

    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_bool()
                .map(Some)
                .ok_or_else(|| self.wrong_type(key, v, "a bool")),
        }
    }

    /// A required array of strings.
    pub fn get_str_array(&self, key: &str) -> Result<Vec<&str>> {
        let v = self.require(key)?;
        let arr = v
            .as_array()
            .ok_or_else(|| self.wrong_type(key, v, "an array of strings"))?;
        arr.iter()
            .enumerate()
            .map(|(i, x)| {
                x.as_str().ok_or_else(|| {
                    anyhow!(
                        "{}: metadata {key}[{i}] is {}, expected a string",
                        self.path.display(),
                        x.type_name()
                    )
                })
            })
            .collect()
    }

    /// An optional array of integers.
    pub fn opt_i64_array(&self, key: &str) -> Result<Option<Vec<i64>>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let arr = v
            .as_array()
            .ok_or_else(|| self.wrong_type(key, v, "an array of integers"))?;
        arr.iter()
            .enumerate()
            .map(|(i, x)| {
                x.as_i64().ok_or_else(|| {
                    anyhow!(
                        "{}: metadata {key}[{i}] is {}, expected an integer",
                        self.path.display(),
                        x.type_name()
                    )
                })
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensor_index.get(name).map(|&i| &self.tensors[i])
    }

    /// The raw bytes of a tensor (bounds were checked when the file was parsed).
    pub fn tensor_bytes(&self, t: &TensorInfo) -> &[u8] {
        let start = (self.data_start + t.offset) as usize;
        &self.backing.bytes()[start..start + t.n_bytes as usize]
    }

    /// A tensor dequantised to f32, in row-major order of `TensorInfo::shape`.
    pub fn tensor_f32(&self, t: &TensorInfo) -> Result<Vec<f32>> {
        super::dequant::dequantize(t.ty, self.tensor_bytes(t), t.n_elems as usize)
            .map_err(|e| anyhow!("{}: tensor {}: {e}", self.path.display(), t.name))
    }
}

struct Header {
    version: u32,
    alignment: u64,
    metadata: Vec<(String, Value)>,
    tensors: Vec<TensorInfo>,
    data_start: u64,
}

/// A bounds-checked little-endian reader over the file image.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if n > self.remaining() {
            bail!(
                "truncated file: {what} at byte {} needs {n} bytes but only {} remain",
                self.pos,
                self.remaining()
            );
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    fn string(&mut self, what: &str) -> Result<String> {
        let at = self.pos;
        let len = self.u64(what)?;
        if len > self.remaining() as u64 {
            bail!(
                "truncated or corrupt file: {what} at byte {at} claims {len} bytes but only {} remain",
                self.remaining()
            );
        }
        let bytes = self.take(len as usize, what)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| anyhow!("{what} at byte {at} is not valid UTF-8"))
    }

    /// A metadata value of gguf type id `ty`.
    fn value(&mut self, ty: u32, what: &str, depth: u32) -> Result<Value> {
        Ok(match ty {
            0 => Value::U8(self.array::<1>(what)?[0]),
            1 => Value::I8(self.array::<1>(what)?[0] as i8),
            2 => Value::U16(u16::from_le_bytes(self.array(what)?)),
            3 => Value::I16(i16::from_le_bytes(self.array(what)?)),
            4 => Value::U32(self.u32(what)?),
            5 => Value::I32(i32::from_le_bytes(self.array(what)?)),
            6 => Value::F32(f32::from_le_bytes(self.array(what)?)),
            7 => match self.array::<1>(what)?[0] {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => bail!(
                    "{what}: bool byte {b} at byte {} is neither 0 nor 1",
                    self.pos - 1
                ),
            },
            8 => Value::String(self.string(what)?),
            9 => self.array_value(what, depth)?,
            10 => Value::U64(self.u64(what)?),
            11 => Value::I64(i64::from_le_bytes(self.array(what)?)),
            12 => Value::F64(f64::from_le_bytes(self.array(what)?)),
            other => bail!(
                "{what}: unknown metadata value type {other} at byte {}",
                self.pos.saturating_sub(4)
            ),
        })
    }

    fn array_value(&mut self, what: &str, depth: u32) -> Result<Value> {
        if depth >= MAX_ARRAY_DEPTH {
            bail!("{what}: arrays nested deeper than {MAX_ARRAY_DEPTH}");
        }
        let at = self.pos;
        let elem_ty = self.u32(what)?;
        let count = self.u64(what)?;
        let min_elem_bytes: u64 = match elem_ty {
            0 | 1 | 7 => 1,
            2 | 3 => 2,
            4..=6 => 4,
            8 | 10..=12 => 8,
            9 => 12,
            other => bail!("{what}: unknown array element type {other} at byte {at}"),
        };
        if count.saturating_mul(min_elem_bytes) > self.remaining() as u64 {
            bail!(
                "truncated or corrupt file: {what} at byte {at} claims {count} elements, more than the {} remaining bytes can hold",
                self.remaining()
            );
        }
        let mut items = Vec::with_capacity(count as usize);
        for _ in 0..count {
            items.push(self.value(elem_ty, what, depth + 1)?);
        }
        Ok(Value::Array(items))
    }
}

fn parse_header(buf: &[u8]) -> Result<Header> {
    let mut c = Cursor { buf, pos: 0 };
    let magic = c
        .take(4, "magic")
        .map_err(|_| anyhow!("not a GGUF file: shorter than the 4-byte magic"))?;
    if magic != MAGIC {
        bail!(
            "not a GGUF file: magic is {:?}, expected \"GGUF\"",
            String::from_utf8_lossy(magic)
        );
    }
    let version = c.u32("version")?;
    if version != 2 && version != 3 {
        let hint = if version.swap_bytes() == 2 || version.swap_bytes() == 3 {
            " (big-endian file?)"
        } else {
            ""
        };
        bail!("unsupported GGUF version {version}{hint}; this reader supports versions 2 and 3");
    }
    let tensor_count = c.u64("tensor count")?;
    let kv_count = c.u64("metadata count")?;
    // Each KV needs at least 8 (key length) + 4 (type) + 1 bytes; each tensor info 8+4+4+8.
    if kv_count.saturating_mul(13) > c.remaining() as u64 {
        bail!(
            "corrupt header: {kv_count} metadata entries cannot fit in the {} bytes of the file",
            buf.len()
        );
    }
    if tensor_count.saturating_mul(24) > c.remaining() as u64 {
        bail!(
            "corrupt header: {tensor_count} tensors cannot fit in the {} bytes of the file",
            buf.len()
        );
    }

    let mut metadata = Vec::with_capacity(kv_count as usize);
    for i in 0..kv_count {
        let key = c.string(&format!("metadata key #{i}"))?;
        let ty = c.u32(&format!("type of metadata {key}"))?;
        let value = c.value(ty, &format!("metadata {key}"), 0)?;
        metadata.push((key, value));
    }

    let mut alignment = DEFAULT_ALIGNMENT;
    if let Some((_, v)) = metadata.iter().find(|(k, _)| k == "general.alignment") {
        alignment = match v {
            Value::U32(a) if a.is_power_of_two() => *a as u64,
            other => bail!(
                "general.alignment must be a power-of-two u32, got {} {other}",
                other.type_name()
            ),
        };
    }

    let mut tensors = Vec::with_capacity(tensor_count as usize);
    for i in 0..tensor_count {
        let name = c.string(&format!("name of tensor #{i}"))?;
        let n_dims = c.u32(&format!("tensor {name}: n_dims"))?;
        if n_dims == 0 || n_dims > MAX_DIMS {
            bail!("tensor {name}: {n_dims} dimensions (must be 1..={MAX_DIMS})");
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            dims.push(c.u64(&format!("tensor {name}: dims"))?);
        }
        let ty_id = c.u32(&format!("tensor {name}: type"))?;
        let ty = GgmlType::from_id(ty_id).map_err(|e| anyhow!("tensor {name}: {e}"))?;
        let offset = c.u64(&format!("tensor {name}: offset"))?;
        let n_elems = dims
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .filter(|&n| n > 0 && n <= usize::MAX as u64 / 4)
            .ok_or_else(|| anyhow!("tensor {name}: invalid dimensions {dims:?}"))?;
        if !dims[0].is_multiple_of(ty.block_elems() as u64) {
            bail!(
                "tensor {name}: row length {} is not a multiple of the {}-value {} block",
                dims[0],
                ty.block_elems(),
                ty.name()
            );
        }
        let n_bytes = ty
            .bytes_for(n_elems)
            .ok_or_else(|| anyhow!("tensor {name}: size of {dims:?} {} overflows", ty.name()))?;
        if !offset.is_multiple_of(alignment) {
            bail!("tensor {name}: data offset {offset} is not a multiple of the alignment {alignment}");
        }
        tensors.push(TensorInfo {
            name,
            dims,
            ty,
            offset,
            n_elems,
            n_bytes,
        });
    }

    let data_start = (c.pos as u64).div_ceil(alignment) * alignment;
    let file_len = buf.len() as u64;
    let mut seen = std::collections::HashSet::new();
    for t in &tensors {
        if !seen.insert(t.name.as_str()) {
            bail!("tensor {} appears twice", t.name);
        }
        let end = data_start
            .checked_add(t.offset)
            .and_then(|s| s.checked_add(t.n_bytes));
        match end {
            Some(end) if end <= file_len => {}
            _ => bail!(
                "tensor {} ({} {:?}, {} bytes at data offset {}) runs past the end of the file ({file_len} bytes, data section starts at {data_start}); truncated file?",
                t.name,
                t.ty.name(),
                t.dims,
                t.n_bytes,
                t.offset
            ),
        }
    }
    Ok(Header {
        version,
        alignment,
        metadata,
        tensors,
        data_start,
    })
}
