//! Small shared helpers: atomic file writes, JSONL reading with line-numbered errors.
use anyhow::{Context, Result};
use std::io::{BufRead, Write};
use std::path::Path;

/// Write `bytes` to `path` atomically: write a sibling temp file, fsync, then rename over.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    {
        let mut f =
            std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(bytes)
            .with_context(|| format!("writing {}", tmp.display()))?;
        f.sync_all().ok();
    }
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

/// Read a JSONL file into values; errors name the file and the 1-based line.
pub fn read_jsonl(path: &Path) -> Result<Vec<serde_json::Value>> {
    Ok(read_jsonl_numbered(path)?
        .into_iter()
        .map(|(_, v)| v)
        .collect())
}

/// Read a JSONL file as (1-based line number, value) pairs, skipping blank lines, so callers
/// can name the line in their own errors.
pub fn read_jsonl_numbered(path: &Path) -> Result<Vec<(usize, serde_json::Value)>> {
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.with_context(|| format!("{}:{}: reading line", path.display(), i + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&line)
            .with_context(|| format!("{}:{}: malformed JSON", path.display(), i + 1))?;
        out.push((i + 1, v));
    }
    Ok(out)
}
