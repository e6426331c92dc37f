//! GGUF file → Hugging Face directory (config.json, generation_config.json, model.safetensors,
//! tokenizer.json, tokenizer_config.json), written into a temporary sibling directory and renamed
//! into place only when everything succeeded.
use super::hf_config::HParams;
use super::reader::{GgufFile, TensorInfo};
use super::tensor_map::{
    map_tensor, required_layer_tensors, unpermute_rows, HfTensor, RowPermutation,
};
use super::tokenizer_json::GgufVocab;
use crate::util::write_atomic;
use anyhow::{anyhow, bail, Context, Result};
use safetensors::tensor::{Dtype, View};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Element type of the written safetensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutDtype {
    F32,
    Bf16,
}

impl OutDtype {
    fn torch_name(self) -> &'static str {
        match self {
            OutDtype::F32 => "float32",
            OutDtype::Bf16 => "bfloat16",
        }
    }
}

/// What a conversion did, for the CLI to print.
#[derive(Debug)]
pub struct ConvertSummary {
    pub hparams: HParams,
    pub n_tensors: usize,
    /// Count of source tensors per ggml type name.
    pub source_types: BTreeMap<&'static str, usize>,
    pub safetensors_bytes: u64,
    pub vocab_len: usize,
}

/// A tensor that is dequantised (and un-permuted) only when the safetensors writer asks for its
/// bytes, so peak memory is one tensor, not the whole model.
struct LazyTensor<'a> {
    file: &'a GgufFile,
    info: &'a TensorInfo,
    hf: HfTensor,
    dtype: OutDtype,
    errors: &'a Mutex<Vec<String>>,
}

impl LazyTensor<'_> {
    fn values(&self) -> Result<Vec<f32>> {
        let w = self.file.tensor_f32(self.info)?;
        if let Some(i) = w.iter().position(|x| !x.is_finite()) {
            bail!(
                "{}: tensor {} holds a non-finite value ({}) at element {i}",
                self.file.path().display(),
                self.info.name,
                w[i]
            );
        }
        Ok(match self.hf.permutation {
            RowPermutation::None => w,
            RowPermutation::Heads(n) => unpermute_rows(&w, self.hf.shape[0], n),
        })
    }
}

impl View for LazyTensor<'_> {
    fn dtype(&self) -> Dtype {
        match self.dtype {
            OutDtype::F32 => Dtype::F32,
            OutDtype::Bf16 => Dtype::BF16,
        }
    }

    fn shape(&self) -> &[usize] {
        &self.hf.shape
    }

    fn data(&self) -> Cow<'_, [u8]> {
        let values = match self.values() {
            Ok(v) => v,
            Err(e) => {
                // The writer cannot fail from here; record the error and fail after it returns.
                if let Ok(mut errs) = self.errors.lock() {
                    errs.push(format!("{e:#}"));
                }
                return Cow::Owned(vec![0u8; self.data_len()]);
            }
        };
        Cow::Owned(match self.dtype {
            OutDtype::F32 => values.iter().flat_map(|x| x.to_le_bytes()).collect(),
            OutDtype::Bf16 => values
                .iter()
                .flat_map(|&x| half::bf16::from_f32(x).to_le_bytes())
                .collect(),
        })
    }

    fn data_len(&self) -> usize {
        let per = match self.dtype {
            OutDtype::F32 => 4,
            OutDtype::Bf16 => 2,
        };
        self.info.n_elems as usize * per
    }
}

/// Map every tensor and check that each layer is complete.
fn plan_tensors(f: &GgufFile, hp: &HParams) -> Result<Vec<(usize, HfTensor)>> {
    let file = f.path().display();
    let mut plan = Vec::with_capacity(f.tensors.len());
    for (i, t) in f.tensors.iter().enumerate() {
        let hf = map_tensor(&t.name, &t.shape(), hp).map_err(|e| anyhow!("{file}: {e}"))?;
        plan.push((i, hf));
    }
    let mut missing: Vec<String> = (0..hp.num_hidden_layers)
        .flat_map(required_layer_tensors)
        .chain(["output_norm.weight".to_string()])
        .filter(|n| f.tensor(n).is_none())
        .collect();
    if !missing.is_empty() {
        let more = if missing.len() > 5 {
            format!(" and {} more", missing.len() - 5)
        } else {
            String::new()
        };
        missing.truncate(5);
        bail!("{file}: missing tensors {}{more}", missing.join(", "));
    }
    Ok(plan)
}

fn sibling(output: &Path, tag: &str) -> Result<PathBuf> {
    let name = output
        .file_name()
        .ok_or_else(|| anyhow!("output path {} has no directory name", output.display()))?
        .to_string_lossy();
    let parent = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    Ok(parent.join(format!(".{name}.{tag}-{}", std::process::id())))
}

fn write_json(dir: &Path, name: &str, v: &serde_json::Value) -> Result<()> {
    write_atomic(&dir.join(name), serde_json::to_string_pretty(v)?.as_bytes())
}

/// Write the whole HF directory into `dir` (which exists and is empty).
fn write_model_dir(
    f: &GgufFile,
    hp: &HParams,
    vocab: &GgufVocab,
    dtype: OutDtype,
    dir: &Path,
) -> Result<u64> {
    let plan = plan_tensors(f, hp)?;
    let tokenizer = vocab
        .tokenizer_json()
        .with_context(|| f.path().display().to_string())?;
    write_json(dir, "config.json", &hp.config_json(dtype.torch_name()))?;
    write_json(dir, "generation_config.json", &hp.generation_config_json())?;
    write_atomic(&dir.join("tokenizer.json"), tokenizer.as_bytes())?;
    let tok_cfg = vocab.tokenizer_config_json(Some(hp.max_position_embeddings))?;
    write_atomic(&dir.join("tokenizer_config.json"), tok_cfg.as_bytes())?;

    let errors = Mutex::new(Vec::new());
    let views = plan.into_iter().map(|(i, hf)| {
        let view = LazyTensor {
            file: f,
            info: &f.tensors[i],
            hf,
            dtype,
            errors: &errors,
        };
        (view.hf.name.clone(), view)
    });
    let st_path = dir.join("model.safetensors");
    let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
    safetensors::serialize_to_file(views, Some(meta), &st_path)
        .map_err(|e| anyhow!("writing {}: {e}", st_path.display()))?;
    if let Some(e) = errors
        .lock()
        .map_err(|_| anyhow!("dequantisation worker panicked"))?
        .first()
    {
        bail!("{e}");
    }
    // The safetensors writer creates a private (0600) temp file; give it the usual file mode.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&st_path, std::fs::Permissions::from_mode(0o644))
            .with_context(|| format!("setting permissions of {}", st_path.display()))?;
    }
    Ok(std::fs::metadata(&st_path)
        .with_context(|| st_path.display().to_string())?
        .len())
}

/// Convert `input` (GGUF) to a Hugging Face directory at `output`. With `force`, an existing
/// `output` is replaced; without it, an existing `output` is an error. On failure nothing is left
/// at `output` (nor in a temp directory).
pub fn convert_gguf(
    input: &Path,
    output: &Path,
    dtype: OutDtype,
    force: bool,
) -> Result<ConvertSummary> {
    if std::fs::symlink_metadata(output).is_ok() && !output.is_dir() {
        bail!(
            "{}: exists and is not a directory; choose another --output",
            output.display()
        );
    }
    if !force && crate::util::output_dir::is_non_empty(output)? {
        bail!(
            "{}: exists and is not empty; pass --force to replace it, or choose a new output directory",
            output.display()
        );
    }
    recover_interrupted(output)?;
    let f = GgufFile::open(input)?;
    let hp = HParams::read(&f)?;
    let vocab = GgufVocab::read(&f)?;
    if vocab.tokens.len() as u64 > hp.vocab_size {
        bail!(
            "{}: {} tokens but token_embd.weight has only {} rows",
            input.display(),
            vocab.tokens.len(),
            hp.vocab_size
        );
    }

    let tmp = sibling(output, "tmp")?;
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)
            .with_context(|| format!("removing stale {}", tmp.display()))?;
    }
    std::fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let written = write_model_dir(&f, &hp, &vocab, dtype, &tmp).and_then(|bytes| {
        install_dir(&tmp, output)?;
        Ok(bytes)
    });
    let safetensors_bytes = match written {
        Ok(b) => b,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };

    let mut source_types = BTreeMap::new();
    for t in &f.tensors {
        *source_types.entry(t.ty.name()).or_insert(0) += 1;
    }
    Ok(ConvertSummary {
        n_tensors: f.tensors.len(),
        source_types,
        safetensors_bytes,
        vocab_len: vocab.tokens.len(),
        hparams: hp,
    })
}

/// Cleans up after a conversion to `output` that a kill interrupted: its temporary directory is
/// removed, and an old output moved aside is put back when the new one never arrived (or
/// removed when it did).
fn recover_interrupted(output: &Path) -> Result<()> {
    use crate::util::output::process_alive;
    let Some(name) = output.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Ok(());
    };
    let parent = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Ok(());
    };
    for e in entries.filter_map(|e| e.ok()) {
        let file = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = file.strip_prefix(&format!(".{name}.")) else {
            continue;
        };
        let Some((tag, pid)) = rest.split_once('-') else {
            continue;
        };
        if pid.parse::<u32>().map_or(true, process_alive) || !e.path().is_dir() {
            continue;
        }
        let path = e.path();
        match tag {
            "old" if !output.exists() => std::fs::rename(&path, output)
                .with_context(|| format!("restoring {} to {}", path.display(), output.display()))?,
            "old" | "tmp" => std::fs::remove_dir_all(&path)
                .with_context(|| format!("removing {}", path.display()))?,
            _ => {}
        }
    }
    Ok(())
}

/// Move the finished `tmp` directory to `output`, replacing an old one only after the new one is
/// complete.
fn install_dir(tmp: &Path, output: &Path) -> Result<()> {
    if output.exists() {
        let old = sibling(output, "old")?;
        std::fs::rename(output, &old)
            .with_context(|| format!("moving the old {} aside", output.display()))?;
        std::fs::rename(tmp, output)
            .with_context(|| format!("renaming {} to {}", tmp.display(), output.display()))?;
        std::fs::remove_dir_all(&old).with_context(|| format!("removing {}", old.display()))?;
    } else {
        if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::rename(tmp, output)
            .with_context(|| format!("renaming {} to {}", tmp.display(), output.display()))?;
    }
    Ok(())
}

/// Human-readable list of source tensor types, e.g. "210 Q4_1, 61 F32, 1 Q8_0".
pub fn describe_types(types: &BTreeMap<&'static str, usize>) -> String {
    let mut v: Vec<_> = types.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    v.iter()
        .map(|(n, c)| format!("{c} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}
