//! GGUF import, end to end on files the tests write themselves: every supported quant type
//! (quantised here from the format definitions and checked value by value), tiny llama and qwen2
//! models converted through the `rlvr` binary, and corrupt files that must fail cleanly.
use half::{bf16, f16};
use rlvr::model::gguf::{GgmlType, GgufFile};
use std::path::{Path, PathBuf};
use std::process::Command;

// ---------------------------------------------------------------------------------------------
// A minimal GGUF writer (tests only).

#[derive(Clone)]
enum Kv {
    U32(u32),
    F32(f32),
    Bool(bool),
    Str(String),
    StrArr(Vec<String>),
    I32Arr(Vec<i32>),
    /// Any value: gguf type id and its encoded bytes.
    Raw(u32, Vec<u8>),
}

struct TensorSpec {
    name: String,
    dims: Vec<u64>,
    type_id: u32,
    data: Vec<u8>,
}

struct GgufWriter {
    version: u32,
    alignment: u64,
    kvs: Vec<(String, Kv)>,
    tensors: Vec<TensorSpec>,
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend((s.len() as u64).to_le_bytes());
    out.extend(s.as_bytes());
}

impl GgufWriter {
    fn new() -> Self {
        Self {
            version: 3,
            alignment: 32,
            kvs: Vec::new(),
            tensors: Vec::new(),
        }
    }

    fn kv(&mut self, key: &str, v: Kv) -> &mut Self {
        self.kvs.push((key.to_string(), v));
        self
    }

    fn tensor(&mut self, name: &str, dims: &[u64], ty: GgmlType, data: Vec<u8>) -> &mut Self {
        self.tensors.push(TensorSpec {
            name: name.into(),
            dims: dims.to_vec(),
            type_id: ty.id(),
            data,
        });
        self
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out = b"GGUF".to_vec();
        out.extend(self.version.to_le_bytes());
        out.extend((self.tensors.len() as u64).to_le_bytes());
        out.extend((self.kvs.len() as u64).to_le_bytes());
        for (k, v) in &self.kvs {
            put_str(&mut out, k);
            match v {
                Kv::U32(x) => {
                    out.extend(4u32.to_le_bytes());
                    out.extend(x.to_le_bytes());
                }
                Kv::F32(x) => {
                    out.extend(6u32.to_le_bytes());
                    out.extend(x.to_le_bytes());
                }
                Kv::Bool(b) => {
                    out.extend(7u32.to_le_bytes());
                    out.push(*b as u8);
                }
                Kv::Str(s) => {
                    out.extend(8u32.to_le_bytes());
                    put_str(&mut out, s);
                }
                Kv::StrArr(a) => {
                    out.extend(9u32.to_le_bytes());
                    out.extend(8u32.to_le_bytes());
                    out.extend((a.len() as u64).to_le_bytes());
                    for s in a {
                        put_str(&mut out, s);
                    }
                }
                Kv::Raw(ty, bytes) => {
                    out.extend(ty.to_le_bytes());
                    out.extend(bytes);
                }
                Kv::I32Arr(a) => {
                    out.extend(9u32.to_le_bytes());
                    out.extend(5u32.to_le_bytes());
                    out.extend((a.len() as u64).to_le_bytes());
                    for x in a {
                        out.extend(x.to_le_bytes());
                    }
                }
            }
        }
        let align = |n: u64| n.div_ceil(self.alignment) * self.alignment;
        let mut offset = 0u64;
        for t in &self.tensors {
            put_str(&mut out, &t.name);
            out.extend((t.dims.len() as u32).to_le_bytes());
            for d in &t.dims {
                out.extend(d.to_le_bytes());
            }
            out.extend(t.type_id.to_le_bytes());
            out.extend(offset.to_le_bytes());
            offset = align(offset + t.data.len() as u64);
        }
        out.resize(align(out.len() as u64) as usize, 0);
        for t in &self.tensors {
            out.extend(&t.data);
            out.resize(align(out.len() as u64) as usize, 0);
        }
        out
    }

    fn write(&self, path: &Path) {
        std::fs::write(path, self.bytes()).expect("writing test GGUF");
    }
}

// ---------------------------------------------------------------------------------------------
// Quantisation per the ggml block definitions. Each quantiser returns the packed bytes and the
// values the format defines for those bytes, computed from the integer codes (not by decoding the
// bytes), so the reader's unpacking is checked against an independent packing.

fn h(x: f32) -> (u16, f32) {
    let v = f16::from_f32(x);
    (v.to_bits(), v.to_f32())
}

fn amax_signed(x: &[f32]) -> f32 {
    x.iter()
        .copied()
        .fold(0.0f32, |m, v| if v.abs() > m.abs() { v } else { m })
}

fn min_max(x: &[f32]) -> (f32, f32) {
    x.iter()
        .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)))
}

/// Q8_0: d f16 | qs[32] i8; y = d * q.
fn quant_q8_0(x: &[f32]) -> (Vec<u8>, Vec<f32>) {
    let (mut out, mut y) = (Vec::new(), Vec::new());
    for b in x.chunks(32) {
        let amax = b.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let (dbits, d) = h(amax / 127.0);
        out.extend(dbits.to_le_bytes());
        for &v in b {
            let q = if d == 0.0 {
                0
            } else {
                (v / d).round().clamp(-127.0, 127.0) as i8
            };
            out.push(q as u8);
            y.push(d * q as f32);
        }
    }
    (out, y)
}

/// Q4_0 / Q5_0: d = max / -2^(bits-1); q = x/d + offset; low nibbles of value j and j+16 share
/// byte j; Q5_0 puts bit 4 of value j in bit j of a u32 `qh` placed after d.
fn quant_q4_0_q5_0(x: &[f32], bits: u32) -> (Vec<u8>, Vec<f32>) {
    let levels = 1i32 << bits;
    let offset = levels / 2;
    let (mut out, mut y) = (Vec::new(), Vec::new());
    for b in x.chunks(32) {
        let (dbits, d) = h(amax_signed(b) / -(offset as f32));
        let q: Vec<i32> = b
            .iter()
            .map(|&v| {
                let id = if d == 0.0 { 0.0 } else { 1.0 / d };
                ((v * id + offset as f32 + 0.5) as i32).clamp(0, levels - 1)
            })
            .collect();
        out.extend(dbits.to_le_bytes());
        if bits == 5 {
            let qh = (0..32).fold(0u32, |acc, j| acc | ((((q[j] >> 4) & 1) as u32) << j));
            out.extend(qh.to_le_bytes());
        }
        for j in 0..16 {
            out.push(((q[j] & 15) | ((q[j + 16] & 15) << 4)) as u8);
        }
        y.extend(q.iter().map(|&qi| (qi - offset) as f32 * d));
    }
    (out, y)
}

/// Q4_1 / Q5_1: d = (max - min) / (2^bits - 1), m = min; y = d * q + m.
fn quant_q4_1_q5_1(x: &[f32], bits: u32) -> (Vec<u8>, Vec<f32>) {
    let top = (1i32 << bits) - 1;
    let (mut out, mut y) = (Vec::new(), Vec::new());
    for b in x.chunks(32) {
        let (lo, hi) = min_max(b);
        let (dbits, d) = h((hi - lo) / top as f32);
        let (mbits, m) = h(lo);
        let q: Vec<i32> = b
            .iter()
            .map(|&v| {
                if d == 0.0 {
                    0
                } else {
                    ((v - m) / d).round().clamp(0.0, top as f32) as i32
                }
            })
            .collect();
        out.extend(dbits.to_le_bytes());
        out.extend(mbits.to_le_bytes());
        if bits == 5 {
            let qh = (0..32).fold(0u32, |acc, j| acc | ((((q[j] >> 4) & 1) as u32) << j));
            out.extend(qh.to_le_bytes());
        }
        for j in 0..16 {
            out.push(((q[j] & 15) | ((q[j + 16] & 15) << 4)) as u8);
        }
        y.extend(q.iter().map(|&qi| d * qi as f32 + m));
    }
    (out, y)
}

/// Pack 8 six-bit scales and mins into the 12 bytes of a Q4_K/Q5_K block: bytes 0..4 hold
/// scales 0..4 (low 6 bits) and the top 2 bits of scales 4..8; bytes 4..8 the same for mins;
/// bytes 8..12 the low nibbles of scale (low) and min (high) 4..8.
fn pack_scales_k4(sc: &[u8; 8], mn: &[u8; 8]) -> [u8; 12] {
    let mut p = [0u8; 12];
    for j in 0..4 {
        p[j] = sc[j] | ((sc[j + 4] >> 4) << 6);
        p[j + 4] = mn[j] | ((mn[j + 4] >> 4) << 6);
        p[j + 8] = (sc[j + 4] & 15) | ((mn[j + 4] & 15) << 4);
    }
    p
}

/// Q4_K / Q5_K: per 32-value sub-block s, y = d*sc[s]*q - dmin*mn[s] with 6-bit sc/mn.
fn quant_q4_k_q5_k(x: &[f32], bits: u32) -> (Vec<u8>, Vec<f32>) {
    let top = ((1u32 << bits) - 1) as f32;
    let (mut out, mut y) = (Vec::new(), Vec::new());
    for b in x.chunks(256) {
        let mut scales = [0f32; 8];
        let mut mins = [0f32; 8];
        for (s, sub) in b.chunks(32).enumerate() {
            let (lo, hi) = min_max(sub);
            let lo = lo.min(0.0);
            scales[s] = (hi - lo) / top;
            mins[s] = -lo;
        }
        let (dbits, d) = h(scales.iter().fold(0.0f32, |m, &v| m.max(v)) / 63.0);
        let (mbits, dmin) = h(mins.iter().fold(0.0f32, |m, &v| m.max(v)) / 63.0);
        let mut sc = [0u8; 8];
        let mut mn = [0u8; 8];
        for s in 0..8 {
            sc[s] = if d == 0.0 {
                0
            } else {
                (scales[s] / d).round().clamp(0.0, 63.0) as u8
            };
            mn[s] = if dmin == 0.0 {
                0
            } else {
                (mins[s] / dmin).round().clamp(0.0, 63.0) as u8
            };
        }
        let q: Vec<u8> = b
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let s = i / 32;
                let step = d * sc[s] as f32;
                if step == 0.0 {
                    0
                } else {
                    ((v + dmin * mn[s] as f32) / step).round().clamp(0.0, top) as u8
                }
            })
            .collect();
        out.extend(dbits.to_le_bytes());
        out.extend(mbits.to_le_bytes());
        out.extend(pack_scales_k4(&sc, &mn));
        if bits == 5 {
            // qh[l]: bit 2c = bit 4 of value 64c + l, bit 2c+1 = bit 4 of value 64c + 32 + l.
            for l in 0..32 {
                let mut byte = 0u8;
                for c in 0..4 {
                    byte |= ((q[64 * c + l] >> 4) & 1) << (2 * c);
                    byte |= ((q[64 * c + 32 + l] >> 4) & 1) << (2 * c + 1);
                }
                out.push(byte);
            }
        }
        for c in 0..4 {
            for l in 0..32 {
                out.push((q[64 * c + l] & 15) | ((q[64 * c + 32 + l] & 15) << 4));
            }
        }
        y.extend(q.iter().enumerate().map(|(i, &qi)| {
            let s = i / 32;
            d * sc[s] as f32 * qi as f32 - dmin * mn[s] as f32
        }));
    }
    (out, y)
}

/// Q6_K: ql[128] | qh[64] | scales[16] i8 | d f16; y = d * scales[i/16] * (q - 32).
fn quant_q6_k(x: &[f32]) -> (Vec<u8>, Vec<f32>) {
    let (mut out, mut y) = (Vec::new(), Vec::new());
    for b in x.chunks(256) {
        let sub_scale: Vec<f32> = b.chunks(16).map(|s| amax_signed(s) / -32.0).collect();
        let (dbits, d) = h(amax_signed(&sub_scale).abs() / 127.0);
        let sc: Vec<i8> = sub_scale
            .iter()
            .map(|&s| {
                if d == 0.0 {
                    0
                } else {
                    (s / d).round().clamp(-128.0, 127.0) as i8
                }
            })
            .collect();
        let q: Vec<u8> = b
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let step = d * sc[i / 16] as f32;
                if step == 0.0 {
                    32
                } else {
                    ((v / step).round() + 32.0).clamp(0.0, 63.0) as u8
                }
            })
            .collect();
        let mut ql = [0u8; 128];
        let mut qh = [0u8; 64];
        for half in 0..2 {
            for l in 0..32 {
                let v = |k: usize| q[128 * half + 32 * k + l];
                ql[64 * half + l] = (v(0) & 15) | ((v(2) & 15) << 4);
                ql[64 * half + l + 32] = (v(1) & 15) | ((v(3) & 15) << 4);
                qh[32 * half + l] =
                    (v(0) >> 4) | ((v(1) >> 4) << 2) | ((v(2) >> 4) << 4) | ((v(3) >> 4) << 6);
            }
        }
        out.extend(ql);
        out.extend(qh);
        out.extend(sc.iter().map(|&s| s as u8));
        out.extend(dbits.to_le_bytes());
        y.extend(
            q.iter()
                .enumerate()
                .map(|(i, &qi)| d * sc[i / 16] as f32 * (qi as i32 - 32) as f32),
        );
    }
    (out, y)
}

/// Quantise `x` as `ty`: (bytes, values defined by the format for those bytes).
fn quantize(ty: GgmlType, x: &[f32]) -> (Vec<u8>, Vec<f32>) {
    match ty {
        GgmlType::F32 => (x.iter().flat_map(|v| v.to_le_bytes()).collect(), x.to_vec()),
        GgmlType::F16 => (
            x.iter()
                .flat_map(|&v| f16::from_f32(v).to_le_bytes())
                .collect(),
            x.iter().map(|&v| f16::from_f32(v).to_f32()).collect(),
        ),
        GgmlType::BF16 => (
            x.iter()
                .flat_map(|&v| bf16::from_f32(v).to_le_bytes())
                .collect(),
            x.iter().map(|&v| bf16::from_f32(v).to_f32()).collect(),
        ),
        GgmlType::Q8_0 => quant_q8_0(x),
        GgmlType::Q4_0 => quant_q4_0_q5_0(x, 4),
        GgmlType::Q5_0 => quant_q4_0_q5_0(x, 5),
        GgmlType::Q4_1 => quant_q4_1_q5_1(x, 4),
        GgmlType::Q5_1 => quant_q4_1_q5_1(x, 5),
        GgmlType::Q4K => quant_q4_k_q5_k(x, 4),
        GgmlType::Q5K => quant_q4_k_q5_k(x, 5),
        GgmlType::Q6K => quant_q6_k(x),
    }
}

/// Deterministic test values in [-1, 1] with varied magnitudes per block.
fn test_values(n: usize, seed: u32) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let t = i as f32 * 0.37 + seed as f32;
            let scale = 0.2 + 0.8 * ((i / 32) as f32 * 0.71).sin().abs();
            scale * (t.sin() * 0.7 + (t * 2.3).cos() * 0.3)
        })
        .collect()
}

/// How far a quantised value may sit from its source (a loose bound per bit width; the exact
/// check is against the format-defined values).
fn quant_tolerance(ty: GgmlType) -> f32 {
    match ty {
        GgmlType::F32 => 0.0,
        GgmlType::F16 => 1e-3,
        GgmlType::BF16 => 8e-3,
        GgmlType::Q8_0 => 0.01,
        GgmlType::Q6K => 0.05,
        GgmlType::Q5_0 | GgmlType::Q5_1 | GgmlType::Q5K => 0.07,
        GgmlType::Q4_0 | GgmlType::Q4_1 | GgmlType::Q4K => 0.14,
    }
}

fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

#[test]
fn every_quant_type_dequantises_to_its_definition() {
    let dir = temp_dir();
    let path = dir.path().join("quants.gguf");
    let (rows, cols) = (3u64, 512u64);
    let mut w = GgufWriter::new();
    w.kv("general.architecture", Kv::Str("test".into()));
    let mut expected = Vec::new();
    for (i, &ty) in GgmlType::ALL.iter().enumerate() {
        let x = test_values((rows * cols) as usize, i as u32);
        let (bytes, y) = quantize(ty, &x);
        assert_eq!(
            bytes.len() as u64,
            ty.bytes_for(rows * cols).unwrap(),
            "{}",
            ty.name()
        );
        w.tensor(&format!("t.{}", ty.name()), &[cols, rows], ty, bytes);
        expected.push((ty, x, y));
    }
    w.write(&path);

    let f = GgufFile::open(&path).expect("reading the quant file");
    assert_eq!(f.version, 3);
    assert_eq!(f.tensors.len(), GgmlType::ALL.len());
    for (ty, x, y) in expected {
        let t = f
            .tensor(&format!("t.{}", ty.name()))
            .expect("tensor present");
        assert_eq!(t.ty, ty);
        assert_eq!(t.shape(), vec![rows as usize, cols as usize]);
        let got = f.tensor_f32(t).expect("dequantise");
        assert_eq!(got.len(), y.len());
        for (k, (&g, &e)) in got.iter().zip(&y).enumerate() {
            assert!(
                (g - e).abs() <= 1e-6 * e.abs().max(1.0),
                "{} value {k}: got {g}, format defines {e}",
                ty.name()
            );
        }
        let worst = got
            .iter()
            .zip(&x)
            .map(|(g, x)| (g - x).abs())
            .fold(0.0f32, f32::max);
        assert!(
            worst <= quant_tolerance(ty),
            "{}: max error vs source {worst}",
            ty.name()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Tiny models.

/// GPT-2's byte → printable-unicode map used by byte-level BPE vocabularies.
fn byte_level_alphabet() -> Vec<String> {
    let printable: Vec<u32> = (33..=126).chain(161..=172).chain(174..=255).collect();
    let mut map = vec![0u32; 256];
    for &b in &printable {
        map[b as usize] = b;
    }
    let mut extra = 0;
    for b in 0..256u32 {
        if !printable.contains(&b) {
            map[b as usize] = 256 + extra;
            extra += 1;
        }
    }
    map.iter()
        .map(|&c| char::from_u32(c).unwrap().to_string())
        .collect()
}

struct TinyVocab {
    tokens: Vec<String>,
    types: Vec<i32>,
    merges: Vec<String>,
}

/// Specials 0..3 (control), one user-defined token, the 256 byte tokens, and merges for "the",
/// " the" and "12".
fn tiny_vocab() -> TinyVocab {
    let mut tokens: Vec<String> = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut types = vec![3, 3, 3, 4];
    for t in byte_level_alphabet() {
        tokens.push(t);
        types.push(1);
    }
    let merges: Vec<String> = ["t h", "th e", "Ġ the", "1 2"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for m in &merges {
        tokens.push(m.replace(' ', ""));
        types.push(1);
    }
    TinyVocab {
        tokens,
        types,
        merges,
    }
}

struct TinyDims {
    hidden: u64,
    heads: u64,
    kv_heads: u64,
    ffn: u64,
    layers: u64,
    vocab_rows: u64,
}

const TINY: TinyDims = TinyDims {
    hidden: 64,
    heads: 4,
    kv_heads: 2,
    ffn: 96,
    layers: 2,
    vocab_rows: 288,
};

/// llama.cpp's permutation of HF Q/K rows (convert_hf_to_gguf's `permute`): within each head,
/// HF row `j * hd/2 + i` goes to GGUF row `2i + j`.
fn llama_cpp_permute(w: &[f32], rows: usize, n_heads: usize) -> Vec<f32> {
    let cols = w.len() / rows;
    let hd = rows / n_heads;
    let mut out = vec![0f32; w.len()];
    for head in 0..n_heads {
        for j in 0..2 {
            for i in 0..hd / 2 {
                let hf = head * hd + j * (hd / 2) + i;
                let gg = head * hd + 2 * i + j;
                out[gg * cols..(gg + 1) * cols].copy_from_slice(&w[hf * cols..(hf + 1) * cols]);
            }
        }
    }
    out
}

/// The HF-order values of every tensor of a tiny model (what the converter must produce), keyed
/// by HF name.
type Expected = Vec<(String, Vec<usize>, Vec<f32>)>;

/// Build a tiny llama or qwen2 GGUF. Matrices use several quant types; Q/K of llama are stored
/// permuted as llama.cpp does. Returns the writer and the expected HF tensors.
fn tiny_model(arch: &str) -> (GgufWriter, Expected) {
    let d = TINY;
    let v = tiny_vocab();
    let llama = arch == "llama";
    let mut w = GgufWriter::new();
    w.kv("general.architecture", Kv::Str(arch.into()))
        .kv("general.name", Kv::Str(format!("tiny {arch}")))
        .kv(&format!("{arch}.block_count"), Kv::U32(d.layers as u32))
        .kv(&format!("{arch}.context_length"), Kv::U32(512))
        .kv(
            &format!("{arch}.embedding_length"),
            Kv::U32(d.hidden as u32),
        )
        .kv(
            &format!("{arch}.feed_forward_length"),
            Kv::U32(d.ffn as u32),
        )
        .kv(
            &format!("{arch}.attention.head_count"),
            Kv::U32(d.heads as u32),
        )
        .kv(
            &format!("{arch}.attention.head_count_kv"),
            Kv::U32(d.kv_heads as u32),
        )
        .kv(
            &format!("{arch}.attention.layer_norm_rms_epsilon"),
            Kv::F32(1e-5),
        )
        .kv(
            &format!("{arch}.rope.freq_base"),
            Kv::F32(if llama { 1e5 } else { 1e6 }),
        )
        .kv("tokenizer.ggml.model", Kv::Str("gpt2".into()))
        .kv(
            "tokenizer.ggml.pre",
            Kv::Str(if llama { "smollm" } else { "qwen2" }.into()),
        )
        .kv("tokenizer.ggml.tokens", Kv::StrArr(v.tokens.clone()))
        .kv("tokenizer.ggml.token_type", Kv::I32Arr(v.types.clone()))
        .kv("tokenizer.ggml.merges", Kv::StrArr(v.merges.clone()))
        .kv("tokenizer.ggml.bos_token_id", Kv::U32(1))
        .kv("tokenizer.ggml.eos_token_id", Kv::U32(2))
        .kv("tokenizer.ggml.padding_token_id", Kv::U32(2))
        .kv("tokenizer.ggml.add_bos_token", Kv::Bool(false))
        .kv(
            "tokenizer.chat_template",
            Kv::Str("{% for m in messages %}<|im_start|>{{ m.content }}{% endfor %}".into()),
        )
        .kv("general.alignment", Kv::U32(64));
    w.alignment = 64;
    let mut expected: Expected = Vec::new();
    let mut seed = 100;
    let mut add = |w: &mut GgufWriter,
                   gguf: &str,
                   hf: &str,
                   shape: &[u64],
                   ty: GgmlType,
                   perm_heads: Option<u64>| {
        seed += 1;
        let n: u64 = shape.iter().product();
        let hf_values = test_values(n as usize, seed);
        let (_, hf_defined) = quantize(ty, &hf_values);
        let rows = shape[0] as usize;
        // Quantise what llama.cpp would store: the permuted rows. F32/F16 round per value, so the
        // un-permuted dequantised values equal the format-defined HF values exactly.
        let stored = match perm_heads {
            Some(nh) => llama_cpp_permute(&hf_values, rows, nh as usize),
            None => hf_values.clone(),
        };
        let (bytes, _) = quantize(ty, &stored);
        let dims: Vec<u64> = shape.iter().rev().copied().collect();
        w.tensor(gguf, &dims, ty, bytes);
        expected.push((
            hf.to_string(),
            shape.iter().map(|&s| s as usize).collect(),
            hf_defined,
        ));
    };
    let hd = d.hidden / d.heads;
    add(
        &mut w,
        "token_embd.weight",
        "model.embed_tokens.weight",
        &[d.vocab_rows, d.hidden],
        GgmlType::Q8_0,
        None,
    );
    add(
        &mut w,
        "output_norm.weight",
        "model.norm.weight",
        &[d.hidden],
        GgmlType::F32,
        None,
    );
    if !llama {
        add(
            &mut w,
            "output.weight",
            "lm_head.weight",
            &[d.vocab_rows, d.hidden],
            GgmlType::Q5_0,
            None,
        );
    }
    for l in 0..d.layers {
        let g = |s: &str| format!("blk.{l}.{s}");
        let m = |s: &str| format!("model.layers.{l}.{s}");
        let (q_perm, k_perm) = if llama {
            (Some(d.heads), Some(d.kv_heads))
        } else {
            (None, None)
        };
        add(
            &mut w,
            &g("attn_norm.weight"),
            &m("input_layernorm.weight"),
            &[d.hidden],
            GgmlType::F32,
            None,
        );
        add(
            &mut w,
            &g("ffn_norm.weight"),
            &m("post_attention_layernorm.weight"),
            &[d.hidden],
            GgmlType::F32,
            None,
        );
        add(
            &mut w,
            &g("attn_q.weight"),
            &m("self_attn.q_proj.weight"),
            &[d.heads * hd, d.hidden],
            GgmlType::F16,
            q_perm,
        );
        add(
            &mut w,
            &g("attn_k.weight"),
            &m("self_attn.k_proj.weight"),
            &[d.kv_heads * hd, d.hidden],
            GgmlType::F32,
            k_perm,
        );
        add(
            &mut w,
            &g("attn_v.weight"),
            &m("self_attn.v_proj.weight"),
            &[d.kv_heads * hd, d.hidden],
            GgmlType::Q4_1,
            None,
        );
        add(
            &mut w,
            &g("attn_output.weight"),
            &m("self_attn.o_proj.weight"),
            &[d.hidden, d.heads * hd],
            GgmlType::Q4_0,
            None,
        );
        add(
            &mut w,
            &g("ffn_gate.weight"),
            &m("mlp.gate_proj.weight"),
            &[d.ffn, d.hidden],
            GgmlType::Q5_1,
            None,
        );
        add(
            &mut w,
            &g("ffn_up.weight"),
            &m("mlp.up_proj.weight"),
            &[d.ffn, d.hidden],
            GgmlType::BF16,
            None,
        );
        add(
            &mut w,
            &g("ffn_down.weight"),
            &m("mlp.down_proj.weight"),
            &[d.hidden, d.ffn],
            GgmlType::Q8_0,
            None,
        );
        if !llama {
            add(
                &mut w,
                &g("attn_q.bias"),
                &m("self_attn.q_proj.bias"),
                &[d.heads * hd],
                GgmlType::F32,
                None,
            );
            add(
                &mut w,
                &g("attn_k.bias"),
                &m("self_attn.k_proj.bias"),
                &[d.kv_heads * hd],
                GgmlType::F32,
                None,
            );
            add(
                &mut w,
                &g("attn_v.bias"),
                &m("self_attn.v_proj.bias"),
                &[d.kv_heads * hd],
                GgmlType::F32,
                None,
            );
        }
    }
    (w, expected)
}

fn rlvr() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rlvr"))
}

/// Run `rlvr convert`; returns (success, stderr).
fn convert(gguf: &Path, out: &Path, extra: &[&str]) -> (bool, String) {
    let o = rlvr()
        .args(["convert", "--from-gguf"])
        .arg(gguf)
        .arg("--output")
        .arg(out)
        .args(extra)
        .output()
        .expect("running rlvr");
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "rlvr panicked: {stderr}");
    (o.status.success(), stderr)
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("reading json"))
        .expect("parsing json")
}

/// Compare the written safetensors with the expected HF tensors (names, shapes, values).
fn check_safetensors(dir: &Path, expected: &Expected, bf16_out: bool) {
    let bytes = std::fs::read(dir.join("model.safetensors")).expect("model.safetensors");
    let st = safetensors::SafeTensors::deserialize(&bytes).expect("valid safetensors");
    let mut names: Vec<String> = st.names().into_iter().map(|s| s.to_string()).collect();
    names.sort();
    let mut want: Vec<String> = expected.iter().map(|e| e.0.clone()).collect();
    want.sort();
    assert_eq!(names, want);
    for (name, shape, values) in expected {
        let t = st.tensor(name).expect("tensor");
        assert_eq!(t.shape(), shape.as_slice(), "{name}");
        let got: Vec<f32> = if bf16_out {
            assert_eq!(t.dtype(), safetensors::Dtype::BF16);
            t.data()
                .chunks(2)
                .map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect()
        } else {
            assert_eq!(t.dtype(), safetensors::Dtype::F32);
            t.data()
                .chunks(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        };
        for (k, (&g, &e)) in got.iter().zip(values).enumerate() {
            let e = if bf16_out {
                bf16::from_f32(e).to_f32()
            } else {
                e
            };
            assert!(
                (g - e).abs() <= 1e-6 * e.abs().max(1.0),
                "{name}[{k}]: got {g}, want {e}"
            );
        }
    }
}

fn load_tokenizer(dir: &Path) -> tokenizers::Tokenizer {
    tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).expect("tokenizer.json loads")
}

fn token_id(v: &TinyVocab, s: &str) -> u32 {
    v.tokens.iter().position(|t| t == s).unwrap() as u32
}

#[test]
fn tiny_llama_converts_with_unpermuted_qk_and_working_tokenizer() {
    let dir = temp_dir();
    let gguf = dir.path().join("tiny-llama.gguf");
    let out = dir.path().join("hf");
    let (w, expected) = tiny_model("llama");
    w.write(&gguf);
    let (ok, err) = convert(&gguf, &out, &[]);
    assert!(ok, "convert failed: {err}");

    let cfg = read_json(&out.join("config.json"));
    assert_eq!(cfg["architectures"][0], "LlamaForCausalLM");
    assert_eq!(cfg["model_type"], "llama");
    assert_eq!(cfg["vocab_size"], TINY.vocab_rows);
    assert_eq!(cfg["hidden_size"], TINY.hidden);
    assert_eq!(cfg["intermediate_size"], TINY.ffn);
    assert_eq!(cfg["num_hidden_layers"], TINY.layers);
    assert_eq!(cfg["num_attention_heads"], TINY.heads);
    assert_eq!(cfg["num_key_value_heads"], TINY.kv_heads);
    assert_eq!(cfg["head_dim"], TINY.hidden / TINY.heads);
    assert_eq!(cfg["rms_norm_eps"], 1e-5);
    assert_eq!(cfg["rope_theta"], 1e5);
    assert_eq!(cfg["max_position_embeddings"], 512);
    assert_eq!(cfg["tie_word_embeddings"], true);
    assert_eq!(cfg["bos_token_id"], 1);
    assert_eq!(cfg["eos_token_id"], 2);
    assert_eq!(cfg["torch_dtype"], "float32");
    assert_eq!(
        read_json(&out.join("generation_config.json"))["eos_token_id"],
        2
    );
    let tok_cfg = read_json(&out.join("tokenizer_config.json"));
    assert_eq!(tok_cfg["eos_token"], "<|im_end|>");
    assert_eq!(tok_cfg["bos_token"], "<|im_start|>");
    assert!(tok_cfg["chat_template"]
        .as_str()
        .unwrap()
        .contains("<|im_start|>"));

    // Q/K come back in HF order (the GGUF held them permuted); no lm_head when tied.
    check_safetensors(&out, &expected, false);

    let v = tiny_vocab();
    let tok = load_tokenizer(&out);
    let text = "<|im_start|>user the 12<think><|im_end|>";
    let enc = tok.encode(text, false).expect("encode");
    let ids = enc.get_ids().to_vec();
    let want: Vec<u32> = vec![
        1,
        token_id(&v, "u"),
        token_id(&v, "s"),
        token_id(&v, "e"),
        token_id(&v, "r"),
        token_id(&v, "Ġthe"),
        token_id(&v, "Ġ"),
        token_id(&v, "1"), // smollm splits digits individually, so the "1 2" merge never applies
        token_id(&v, "2"),
        3,
        2,
    ];
    assert_eq!(ids, want, "tokens {:?}", enc.get_tokens());
    assert_eq!(tok.decode(&ids, false).expect("decode"), text);
    // Control tokens are special (skipped on request); the user-defined token is not.
    assert_eq!(
        tok.decode(&ids, true).expect("decode"),
        "user the 12<think>"
    );
    assert!(!dir.path().read_dir().unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with('.')));
}

#[test]
fn tiny_qwen2_converts_with_biases_untied_head_and_nfc_tokenizer() {
    let dir = temp_dir();
    let gguf = dir.path().join("tiny-qwen2.gguf");
    let out = dir.path().join("hf-bf16");
    let (w, expected) = tiny_model("qwen2");
    w.write(&gguf);
    let (ok, err) = convert(&gguf, &out, &["--dtype", "bf16"]);
    assert!(ok, "convert failed: {err}");

    let cfg = read_json(&out.join("config.json"));
    assert_eq!(cfg["architectures"][0], "Qwen2ForCausalLM");
    assert_eq!(cfg["model_type"], "qwen2");
    assert_eq!(cfg["attention_bias"], true);
    assert_eq!(cfg["tie_word_embeddings"], false);
    assert_eq!(cfg["rope_theta"], 1e6);
    assert_eq!(cfg["torch_dtype"], "bfloat16");
    // qwen2 is not permuted: q_proj is stored as is.
    check_safetensors(&out, &expected, true);

    let v = tiny_vocab();
    let tok = load_tokenizer(&out);
    // NFC: "e" + combining acute becomes "é" (bytes C3 A9) before byte-level mapping.
    let decomposed = tok
        .encode("e\u{301}", false)
        .expect("encode")
        .get_ids()
        .to_vec();
    let composed = tok.encode("é", false).expect("encode").get_ids().to_vec();
    assert_eq!(decomposed, composed);
    assert_eq!(composed, vec![token_id(&v, "Ã"), token_id(&v, "©")]);
    let ids = tok
        .encode("<|im_start|> the 12", false)
        .expect("encode")
        .get_ids()
        .to_vec();
    assert_eq!(
        ids,
        vec![
            1,
            token_id(&v, "Ġthe"),
            token_id(&v, "Ġ"),
            token_id(&v, "1"),
            token_id(&v, "2")
        ]
    );

    // An existing output is kept unless --force is given.
    let (ok, err) = convert(&gguf, &out, &[]);
    assert!(!ok && err.contains("already exists"), "{err}");
    let (ok, err) = convert(&gguf, &out, &["--force"]);
    assert!(ok, "{err}");
    assert_eq!(
        read_json(&out.join("config.json"))["torch_dtype"],
        "float32"
    );
}

// ---------------------------------------------------------------------------------------------
// Bad files: a clear error naming the file, exit code != 0, no panic, no output left behind.

fn expect_convert_error(name: &str, bytes: &[u8], needle: &str) {
    let dir = temp_dir();
    let gguf = dir.path().join(name);
    std::fs::write(&gguf, bytes).unwrap();
    let out = dir.path().join("out");
    let (ok, err) = convert(&gguf, &out, &[]);
    assert!(!ok, "{name}: convert should fail");
    assert!(err.starts_with("error: "), "{name}: {err}");
    assert!(
        err.contains(name),
        "{name}: error does not name the file: {err}"
    );
    assert!(
        err.contains(needle),
        "{name}: expected {needle:?} in: {err}"
    );
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "{name}: not a one-line error: {err}"
    );
    let leftovers: Vec<PathBuf> = dir
        .path()
        .read_dir()
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p != &gguf)
        .collect();
    assert!(leftovers.is_empty(), "{name}: left behind {leftovers:?}");
}

/// A file with one small tensor (and its bytes), for patching header fields.
fn single_tensor_file(ty: GgmlType) -> (GgufWriter, Vec<u8>) {
    let mut w = GgufWriter::new();
    w.kv("general.architecture", Kv::Str("llama".into()));
    let (bytes, _) = quantize(ty, &test_values(32, 1));
    w.tensor("token_embd.weight", &[32, 1], ty, bytes);
    let b = w.bytes();
    (w, b)
}

fn patch_u32(bytes: &mut [u8], at: usize, v: u32) {
    bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn find(bytes: &[u8], needle: &[u8]) -> usize {
    bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("needle in file")
}

#[test]
fn bad_files_give_clear_errors() {
    let good = tiny_model("llama").0.bytes();

    let mut magic = good.clone();
    magic[..4].copy_from_slice(b"GGML");
    expect_convert_error("magic.gguf", &magic, "not a GGUF file");

    let mut v1 = good.clone();
    patch_u32(&mut v1, 4, 1);
    expect_convert_error("v1.gguf", &v1, "unsupported GGUF version 1");
    let mut big_endian = good.clone();
    patch_u32(&mut big_endian, 4, 3u32.swap_bytes());
    expect_convert_error("be.gguf", &big_endian, "big-endian");

    expect_convert_error(
        "truncated-header.gguf",
        &good[..good.len() / 100],
        "truncated",
    );
    expect_convert_error(
        "truncated-data.gguf",
        &good[..good.len() - 100],
        "runs past the end of the file",
    );
    expect_convert_error("empty.gguf", &[], "not a GGUF file");

    // Tensor type: the type field follows the name and dims of the only tensor.
    let (_, one) = single_tensor_file(GgmlType::Q8_0);
    let type_at = find(&one, b"token_embd.weight") + "token_embd.weight".len() + 4 + 16;
    let mut q2k = one.clone();
    patch_u32(&mut q2k, type_at, 10);
    expect_convert_error("q2k.gguf", &q2k, "unsupported tensor type Q2_K");
    let mut unknown = one.clone();
    patch_u32(&mut unknown, type_at, 999);
    expect_convert_error("type999.gguf", &unknown, "unknown tensor type id 999");

    // Offsets: beyond the file, and not aligned.
    let mut far = one.clone();
    far[type_at + 4..type_at + 12].copy_from_slice(&(1u64 << 40).to_le_bytes());
    expect_convert_error("offset.gguf", &far, "runs past the end of the file");
    let mut odd = one.clone();
    odd[type_at + 4..type_at + 12].copy_from_slice(&8u64.to_le_bytes());
    expect_convert_error("misaligned.gguf", &odd, "not a multiple of the alignment");

    // Lengths that claim more than the file holds must not allocate.
    let tokens_at = find(&good, b"tokenizer.ggml.tokens") + "tokenizer.ggml.tokens".len() + 8;
    let mut huge_array = good.clone();
    huge_array[tokens_at..tokens_at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
    expect_convert_error("huge-array.gguf", &huge_array, "claims");
    let key_len_at = 24;
    let mut huge_string = good.clone();
    huge_string[key_len_at..key_len_at + 8].copy_from_slice(&(u64::MAX / 2).to_le_bytes());
    expect_convert_error("huge-string.gguf", &huge_string, "claims");
    let mut huge_count = good.clone();
    huge_count[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    expect_convert_error("huge-count.gguf", &huge_count, "cannot fit");

    // Well-formed files that the converter cannot map.
    let mut gemma = w_with(
        &tiny_model("llama").0,
        "general.architecture",
        Kv::Str("gemma".into()),
    );
    expect_convert_error(
        "gemma.gguf",
        &gemma.bytes(),
        "architecture \"gemma\" is not supported",
    );
    gemma = w_with(
        &tiny_model("llama").0,
        "tokenizer.ggml.pre",
        Kv::Str("falcon".into()),
    );
    expect_convert_error("falcon.gguf", &gemma.bytes(), "pre-tokenizer \"falcon\"");
    let mut extra = tiny_model("llama").0;
    extra.tensor(
        "blk.0.attn_qkv.weight",
        &[32, 1],
        GgmlType::F32,
        vec![0; 128],
    );
    expect_convert_error(
        "fused.gguf",
        &extra.bytes(),
        "blk.0.attn_qkv.weight has no Hugging Face equivalent",
    );
    let mut missing = tiny_model("llama").0;
    missing.tensors.retain(|t| t.name != "blk.1.ffn_up.weight");
    expect_convert_error(
        "missing.gguf",
        &missing.bytes(),
        "missing tensors blk.1.ffn_up.weight",
    );
}

/// A copy of `w` with metadata `key` replaced.
fn w_with(w: &GgufWriter, key: &str, v: Kv) -> GgufWriter {
    let mut c = GgufWriter::new();
    c.alignment = w.alignment;
    c.kvs = w
        .kvs
        .iter()
        .map(|(k, old)| (k.clone(), if k == key { v.clone() } else { old.clone() }))
        .collect();
    for t in &w.tensors {
        c.tensor_raw(&t.name, &t.dims, t.type_id, t.data.clone());
    }
    c
}

impl GgufWriter {
    fn tensor_raw(&mut self, name: &str, dims: &[u64], type_id: u32, data: Vec<u8>) {
        self.tensors.push(TensorSpec {
            name: name.into(),
            dims: dims.to_vec(),
            type_id,
            data,
        });
    }
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    let (w, _) = tiny_model("qwen2");
    let bytes = w.bytes();
    // Every prefix up to the end of the tensor infos, then a stride through the data.
    let header_end = find(&bytes, b"blk.1.attn_v.bias") + 64;
    let cuts = (0..header_end).chain((header_end..bytes.len()).step_by(997));
    for cut in cuts {
        let r = GgufFile::from_bytes("cut.gguf", bytes[..cut].to_vec());
        let e = r
            .err()
            .unwrap_or_else(|| panic!("prefix of {cut} bytes parsed"));
        assert!(format!("{e:#}").starts_with("cut.gguf: "), "{e:#}");
    }
    assert!(GgufFile::from_bytes("full.gguf", bytes).is_ok());
}

#[test]
fn version_2_files_read() {
    let (mut w, _) = single_tensor_file(GgmlType::Q4_0);
    w.version = 2;
    let f = GgufFile::from_bytes("v2.gguf", w.bytes()).expect("v2 parses");
    assert_eq!(f.version, 2);
    assert_eq!(f.get_str("general.architecture").unwrap(), "llama");
    let t = f.tensor("token_embd.weight").unwrap();
    assert_eq!(
        f.tensor_f32(t).unwrap(),
        quantize(GgmlType::Q4_0, &test_values(32, 1)).1
    );
}

#[test]
fn metadata_of_every_type_reads_back() {
    use rlvr::model::gguf::Value;
    let arr = |elem_ty: u32, items: &[&[u8]]| {
        let mut b = elem_ty.to_le_bytes().to_vec();
        b.extend((items.len() as u64).to_le_bytes());
        for i in items {
            b.extend(*i);
        }
        b
    };
    let mut s = Vec::new();
    put_str(&mut s, "héllo");
    let mut w = GgufWriter::new();
    w.kv("u8", Kv::Raw(0, vec![200]))
        .kv("i8", Kv::Raw(1, vec![0xFE]))
        .kv("u16", Kv::Raw(2, 60000u16.to_le_bytes().to_vec()))
        .kv("i16", Kv::Raw(3, (-300i16).to_le_bytes().to_vec()))
        .kv("u32", Kv::U32(4_000_000_000))
        .kv("i32", Kv::Raw(5, (-7i32).to_le_bytes().to_vec()))
        .kv("f32", Kv::F32(0.25))
        .kv("bool", Kv::Bool(true))
        .kv("string", Kv::Str("héllo".into()))
        .kv("u64", Kv::Raw(10, u64::MAX.to_le_bytes().to_vec()))
        .kv("i64", Kv::Raw(11, i64::MIN.to_le_bytes().to_vec()))
        .kv("f64", Kv::Raw(12, 1e-300f64.to_le_bytes().to_vec()))
        .kv(
            "strings",
            Kv::StrArr(vec!["a b".into(), String::new(), "Ġthe".into()]),
        )
        .kv(
            "nested",
            Kv::Raw(
                9,
                arr(9, &[&arr(8, &[&s]), &arr(6, &[&1.5f32.to_le_bytes()])]),
            ),
        );
    let f = GgufFile::from_bytes("kv.gguf", w.bytes()).expect("parses");
    let get = |k: &str| f.get(k).cloned().unwrap();
    assert_eq!(get("u8"), Value::U8(200));
    assert_eq!(get("i8"), Value::I8(-2));
    assert_eq!(get("u16"), Value::U16(60000));
    assert_eq!(get("i16"), Value::I16(-300));
    assert_eq!(f.get_u64("u32").unwrap(), 4_000_000_000);
    assert_eq!(get("i32"), Value::I32(-7));
    assert_eq!(f.get_f64("f32").unwrap(), 0.25);
    assert_eq!(f.opt_bool("bool").unwrap(), Some(true));
    assert_eq!(f.get_str("string").unwrap(), "héllo");
    assert_eq!(f.get_u64("u64").unwrap(), u64::MAX);
    assert_eq!(get("i64"), Value::I64(i64::MIN));
    assert_eq!(get("f64"), Value::F64(1e-300));
    assert_eq!(f.get_str_array("strings").unwrap(), vec!["a b", "", "Ġthe"]);
    assert_eq!(
        get("nested"),
        Value::Array(vec![
            Value::Array(vec![Value::String("héllo".into())]),
            Value::Array(vec![Value::F32(1.5)])
        ])
    );
    // Typed accessors name the key and the actual type on a mismatch.
    let e = f.get_u64("string").unwrap_err().to_string();
    assert!(
        e.contains("kv.gguf")
            && e.contains("string")
            && e.contains("expected a non-negative integer"),
        "{e}"
    );
    assert!(f.get_u64("i8").is_err(), "negative values are not u64");
    assert!(f
        .get_str("missing")
        .unwrap_err()
        .to_string()
        .contains("missing metadata key missing"));

    let mut bad_bool = GgufWriter::new();
    bad_bool.kv("b", Kv::Raw(7, vec![2]));
    let e = GgufFile::from_bytes("bool.gguf", bad_bool.bytes())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("bool byte 2"), "{e}");
    let mut bad_type = GgufWriter::new();
    bad_type.kv("x", Kv::Raw(13, vec![0; 8]));
    let e = GgufFile::from_bytes("type.gguf", bad_type.bytes())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("unknown metadata value type 13"), "{e}");
}
