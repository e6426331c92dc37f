//! Fingerprints of the inputs that define a run (model directory, data files), so a resumed run
//! or evaluation can tell that it continues the same thing and not something replaced under the
//! same path.
//!
//! Files up to [`FULL_HASH_LIMIT`] are hashed whole; larger ones (multi-GB weights) by their
//! size, modification time and the hash of their first and last MiB, which a copy, conversion
//! or retraining changes. The hash is 64-bit FNV-1a: stable across builds and platforms, enough
//! to detect changes (it is no defence against a forger).
use anyhow::{Context, Result};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Files larger than this are fingerprinted by size, mtime, head and tail.
pub const FULL_HASH_LIMIT: u64 = 64 << 20;
const EDGE: u64 = 1 << 20;

/// 64-bit FNV-1a, streaming.
#[derive(Clone, Copy)]
pub struct Fnv64(u64);

impl Default for Fnv64 {
    fn default() -> Self {
        Fnv64(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv64 {
    pub fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    pub fn hex(self) -> String {
        format!("{:016x}", self.0)
    }
}

/// The fingerprint of one file (see the module docs).
pub fn file_fingerprint(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let meta = f
        .metadata()
        .with_context(|| format!("inspecting {}", path.display()))?;
    let len = meta.len();
    let mut h = Fnv64::default();
    h.update(&len.to_le_bytes());
    let read_err = || format!("reading {}", path.display());
    if len <= FULL_HASH_LIMIT {
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = f.read(&mut buf).with_context(read_err)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
    } else {
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        h.update(&mtime.to_le_bytes());
        let mut buf = vec![0u8; EDGE as usize];
        f.read_exact(&mut buf).with_context(read_err)?;
        h.update(&buf);
        f.seek(SeekFrom::Start(len - EDGE)).with_context(read_err)?;
        f.read_exact(&mut buf).with_context(read_err)?;
        h.update(&buf);
    }
    Ok(h.hex())
}

/// The fingerprint of a model directory: every regular file in it (config, tokenizer, weights;
/// not subdirectories), by name and content.
pub fn dir_fingerprint(dir: &Path) -> Result<String> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| std::fs::metadata(e.path()).is_ok_and(|m| m.is_file()))
        .map(|e| e.file_name())
        .filter(|n| !n.to_string_lossy().starts_with('.'))
        .collect();
    names.sort();
    let mut h = Fnv64::default();
    for n in names {
        h.update(n.as_encoded_bytes());
        h.update(file_fingerprint(&dir.join(&n))?.as_bytes());
    }
    Ok(h.hex())
}

/// The fingerprint of a list of data files, in order.
pub fn files_fingerprint(paths: &[impl AsRef<Path>]) -> Result<String> {
    let mut h = Fnv64::default();
    for p in paths {
        h.update(file_fingerprint(p.as_ref())?.as_bytes());
    }
    Ok(h.hex())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_the_reference_vectors() {
        let hex = |s: &[u8]| {
            let mut h = Fnv64::default();
            h.update(s);
            h.hex()
        };
        assert_eq!(hex(b""), "cbf29ce484222325");
        assert_eq!(hex(b"a"), "af63dc4c8601ec8c");
        assert_eq!(hex(b"foobar"), "85944171f73967e8");
    }

    #[test]
    fn content_changes_under_the_same_name_change_the_fingerprint() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("data.jsonl");
        std::fs::write(&f, "{\"answer\": \"1\"}\n").unwrap();
        let a = dir_fingerprint(d.path()).unwrap();
        let fa = files_fingerprint(&[&f]).unwrap();
        std::fs::write(&f, "{\"answer\": \"2\"}\n").unwrap();
        assert_ne!(dir_fingerprint(d.path()).unwrap(), a);
        assert_ne!(files_fingerprint(&[&f]).unwrap(), fa);
        std::fs::write(d.path().join(".hidden.tmp-1"), "x").unwrap();
        std::fs::write(&f, "{\"answer\": \"1\"}\n").unwrap();
        assert_eq!(dir_fingerprint(d.path()).unwrap(), a);
    }
}
