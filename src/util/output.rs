//! Writing output files without ever destroying what the path names.
//!
//! A regular file (or a new path) is replaced atomically: a sibling temporary file is written,
//! synced and renamed over it, so a kill leaves the old file or the new one, never half of one.
//! A symlink is followed, so its target is replaced and the link stays. A character device or a
//! FIFO (`/dev/null`, `/dev/stdout`, a named pipe) is written in place: renaming over it would
//! replace a device node that every program on the machine relies on. Block devices, sockets and
//! directories are refused.
use anyhow::{anyhow, bail, Context, Result};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

/// The marker of a temporary file: `.NAME.tmp-PID`.
const TMP_TAG: &str = ".tmp-";

/// What a write does with an output path.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    /// Atomic replacement of this (symlink-resolved) path.
    Replace(PathBuf),
    /// Write into the existing device or FIFO.
    InPlace,
}

fn classify(path: &Path) -> Result<Target> {
    match std::fs::metadata(path) {
        Ok(m) => {
            let t = m.file_type();
            if t.is_file() {
                Ok(Target::Replace(resolve_links(path)?))
            } else if t.is_char_device() || t.is_fifo() {
                Ok(Target::InPlace)
            } else if t.is_dir() {
                bail!("{}: is a directory, not a file", path.display())
            } else if t.is_block_device() {
                bail!(
                    "{}: is a block device; refusing to write output onto a disk",
                    path.display()
                )
            } else {
                bail!(
                    "{}: is a socket or other special file; refusing to write there",
                    path.display()
                )
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Ok(Target::Replace(resolve_links(path)?))
        }
        Err(e) => Err(e).with_context(|| format!("inspecting {}", path.display())),
    }
}

/// `path` with every symlink in its last component followed (a dangling link resolves to the
/// path it points at, which the write then creates).
fn resolve_links(path: &Path) -> Result<PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = std::fs::read_link(&p)
                    .with_context(|| format!("reading link {}", p.display()))?;
                p = match p.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                };
            }
            _ => return Ok(p),
        }
    }
    bail!("{}: too many levels of symbolic links", path.display())
}

/// The directory a file lives in (`.` for a bare name).
fn parent_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// The temporary sibling a write of `path` by this process uses.
fn temp_path(path: &Path) -> Result<PathBuf> {
    let name = path
        .file_name()
        .ok_or_else(|| anyhow!("output path {} has no file name", path.display()))?
        .to_string_lossy();
    Ok(parent_dir(path).join(format!(".{name}{TMP_TAG}{}", std::process::id())))
}

/// Write `bytes` to `path` without harming what is there: atomically for a regular file or a new
/// path (following symlinks), in place for a device or FIFO; refused for anything else. A failed
/// write removes its temporary file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    match classify(path)? {
        Target::InPlace => write_in_place(path, bytes),
        Target::Replace(real) => {
            let dir = parent_dir(&real);
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            let tmp = temp_path(&real)?;
            remove_stale_temps_of(&real);
            let written = write_synced(&tmp, bytes).and_then(|()| {
                std::fs::rename(&tmp, &real)
                    .with_context(|| format!("renaming {} to {}", tmp.display(), real.display()))
            });
            if written.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            written.with_context(|| {
                format!(
                    "{}: not written (a file already there is unchanged)",
                    real.display()
                )
            })
        }
    }
}

fn write_synced(tmp: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = File::create(tmp).with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("writing {}", tmp.display()))?;
    f.sync_all()
        .with_context(|| format!("syncing {}", tmp.display()))
}

/// A device or FIFO: opened for writing as it is (no create, no truncate, no rename).
fn write_in_place(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .open(path)
        .with_context(|| format!("opening {} for writing", path.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))?;
    f.flush()
        .with_context(|| format!("writing {}", path.display()))
}

/// Checks, before any work, that `path` can take an output file (see [`write_atomic`]), so a
/// long command fails at once instead of after hours.
pub fn check_output_file(path: &Path) -> Result<()> {
    classify(path).map(|_| ())
}

/// Whether `name` is a temporary file of [`write_atomic`] (`.NAME.tmp-PID`); returns the PID.
pub fn temp_file_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?;
    let (_, pid) = rest.rsplit_once(TMP_TAG)?;
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

/// Whether a process with this id is running (a write of a live process is not debris).
pub fn process_alive(pid: u32) -> bool {
    pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists()
}

/// Removes temporary files that killed writers left for `path` (best effort: debris must not
/// stop a write).
fn remove_stale_temps_of(path: &Path) {
    let (Some(name), Ok(entries)) = (path.file_name(), std::fs::read_dir(parent_dir(path))) else {
        return;
    };
    let prefix = format!(".{}{TMP_TAG}", name.to_string_lossy());
    for e in entries.flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        let stale = file.starts_with(&prefix)
            && temp_file_pid(&file).is_some_and(|pid| !process_alive(pid));
        if stale && e.file_type().is_ok_and(|t| t.is_file()) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Removes the temporary files that interrupted writes of dead processes left in `dir` (not
/// recursive); returns how many. Only names this module makes are touched.
pub fn remove_stale_temp_files(dir: &Path) -> Result<usize> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(0);
    };
    let mut removed = 0;
    for e in entries {
        let e = e.with_context(|| format!("listing {}", dir.display()))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let stale = temp_file_pid(&name).is_some_and(|pid| !process_alive(pid));
        if stale && e.file_type().is_ok_and(|t| t.is_file()) {
            std::fs::remove_file(e.path())
                .with_context(|| format!("removing {}", e.path().display()))?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_round_trip_and_nothing_else_matches() {
        let t = temp_path(Path::new("d/out.jsonl")).unwrap();
        let name = t.file_name().unwrap().to_str().unwrap();
        assert_eq!(temp_file_pid(name), Some(std::process::id()));
        for other in [
            "out.jsonl",
            ".out.tmp-",
            ".out.tmp-12a",
            "out.tmp-12",
            ".tmp-step-000003-9",
        ] {
            assert_eq!(temp_file_pid(other), None, "{other}");
        }
    }

    #[test]
    fn regular_files_and_symlinks_are_replaced_atomically() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("a.txt");
        write_atomic(&f, b"one").unwrap();
        write_atomic(&f, b"two").unwrap();
        assert_eq!(std::fs::read(&f).unwrap(), b"two");
        let sub = d.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let link = sub.join("link");
        std::os::unix::fs::symlink("../a.txt", &link).unwrap();
        write_atomic(&link, b"three").unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read(&f).unwrap(), b"three");
        let dangling = d.path().join("dangling");
        std::os::unix::fs::symlink("made.txt", &dangling).unwrap();
        write_atomic(&dangling, b"new").unwrap();
        assert_eq!(std::fs::read(d.path().join("made.txt")).unwrap(), b"new");
        let names: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(
            names
                .iter()
                .all(|n| temp_file_pid(&n.to_string_lossy()).is_none()),
            "{names:?}"
        );
    }

    #[test]
    fn directories_are_refused_and_failed_writes_leave_nothing() {
        let d = tempfile::tempdir().unwrap();
        let e = format!("{:#}", write_atomic(d.path(), b"x").unwrap_err());
        assert!(e.contains("is a directory"), "{e}");
        let dead = d.path().join(format!(".x{TMP_TAG}999999999"));
        std::fs::write(&dead, b"debris").unwrap();
        let live = d.path().join(format!(".y{TMP_TAG}{}", std::process::id()));
        std::fs::write(&live, b"mine").unwrap();
        assert_eq!(remove_stale_temp_files(d.path()).unwrap(), 1);
        assert!(!dead.exists() && live.exists());
    }
}
