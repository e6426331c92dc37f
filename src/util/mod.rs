//! Small shared helpers: safe output writes, whole-record appends, the output-directory policy,
//! run fingerprints, process CPU time and load, JSONL reading with line-numbered errors,
//! catching a dependency's panics on malformed input, and the allocator policy for large tensors.
pub mod alloc_policy;
pub mod append;
pub mod cpu_time;
pub mod fingerprint;
pub mod limits;
pub mod output;
pub mod output_dir;
pub mod panics;
pub mod pool;

pub use output::write_atomic;

use anyhow::{Context, Result};
use std::io::BufRead;
use std::path::Path;

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
