//! The output-directory policy of every command that writes a directory: a new or empty
//! directory is used; an existing non-empty one only when the user said what to do with it
//! (continue it, or replace it with `--force`). Nothing a user made is deleted without `--force`.
use anyhow::{bail, Context, Result};
use std::path::Path;

/// What the user asked for an existing output directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirPolicy {
    /// Only a new or empty directory.
    New,
    /// Continue what is there (the command checks it is its own, compatible run).
    Continue,
    /// Delete what is there and start over.
    Replace,
}

impl DirPolicy {
    /// [`DirPolicy::Replace`] with `--force`, else [`DirPolicy::New`].
    pub fn new_or_replace(force: bool) -> Self {
        if force {
            DirPolicy::Replace
        } else {
            DirPolicy::New
        }
    }
}

/// Whether `dir` exists and holds anything.
pub fn is_non_empty(dir: &Path) -> Result<bool> {
    match std::fs::read_dir(dir) {
        Ok(mut it) => Ok(it.next().is_some()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("listing {}", dir.display())),
    }
}

/// Prepares `dir` for a command's output under `policy` and creates it, first removing the
/// temporary files of writers that died in it. `how` names the flags
/// that continue or replace a run (e.g. "--resume to continue it, --force to replace it"; empty
/// when there are none) in the one-line refusal of a non-empty directory under
/// [`DirPolicy::New`].
pub fn prepare_output_dir(dir: &Path, policy: DirPolicy, how: &str) -> Result<()> {
    if let Ok(m) = std::fs::symlink_metadata(dir) {
        if !m.is_dir() && !std::fs::metadata(dir).is_ok_and(|m| m.is_dir()) {
            bail!(
                "{}: exists and is not a directory; choose another output path",
                dir.display()
            );
        }
    }
    // A dead writer's temporary file (a command killed inside an atomic write) is ours, not the
    // user's: it goes before the directory is judged empty or not.
    crate::util::output::remove_stale_temp_files(dir)?;
    match policy {
        DirPolicy::New if is_non_empty(dir)? => {
            let advice = if how.is_empty() {
                String::new()
            } else {
                format!("pass {how}, or ")
            };
            bail!(
                "{}: exists and is not empty; {advice}choose a new output directory",
                dir.display()
            )
        }
        DirPolicy::Replace if is_non_empty(dir)? => {
            refuse_dangerous_delete(dir)?;
            std::fs::remove_dir_all(dir)
                .with_context(|| format!("removing {} (--force)", dir.display()))?;
        }
        _ => {}
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
}

/// `--force` deletes a run directory, never the root, the working directory or one above it.
fn refuse_dangerous_delete(dir: &Path) -> Result<()> {
    let real =
        std::fs::canonicalize(dir).with_context(|| format!("resolving {}", dir.display()))?;
    let cwd = std::env::current_dir()
        .ok()
        .and_then(|c| std::fs::canonicalize(c).ok());
    if real.parent().is_none() || cwd.is_some_and(|c| c.starts_with(&real)) {
        bail!(
            "{}: refusing to delete the root or a directory that contains the working directory",
            dir.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_empty_directories_need_a_decision() {
        let d = tempfile::tempdir().unwrap();
        let run = d.path().join("run");
        prepare_output_dir(&run, DirPolicy::New, "--resume").unwrap();
        prepare_output_dir(&run, DirPolicy::New, "--resume").unwrap();
        std::fs::write(run.join("metrics.jsonl"), "{}\n").unwrap();
        let e = prepare_output_dir(&run, DirPolicy::New, "--resume or --force").unwrap_err();
        assert!(
            e.to_string()
                .contains("not empty; pass --resume or --force"),
            "{e}"
        );
        prepare_output_dir(&run, DirPolicy::Continue, "").unwrap();
        assert!(run.join("metrics.jsonl").exists());
        prepare_output_dir(&run, DirPolicy::Replace, "").unwrap();
        assert!(run.exists() && !is_non_empty(&run).unwrap());
        let file = d.path().join("file");
        std::fs::write(&file, "x").unwrap();
        for p in [DirPolicy::New, DirPolicy::Continue, DirPolicy::Replace] {
            let e = prepare_output_dir(&file, p, "").unwrap_err();
            assert!(e.to_string().contains("not a directory"), "{e}");
        }
        assert!(file.exists());
    }

    #[test]
    fn a_dead_writers_temp_file_does_not_make_a_directory_non_empty() {
        let d = tempfile::tempdir().unwrap();
        let run = d.path().join("run");
        std::fs::create_dir_all(&run).unwrap();
        // Pid 999999999 is above any pid Linux hands out: its writer is dead.
        let dead = run.join(".run.json.tmp-999999999");
        std::fs::write(&dead, "{").unwrap();
        prepare_output_dir(&run, DirPolicy::New, "").unwrap();
        assert!(!dead.exists());
        let live = run.join(format!(".run.json.tmp-{}", std::process::id()));
        std::fs::write(&live, "{").unwrap();
        assert!(prepare_output_dir(&run, DirPolicy::New, "").is_err());
        assert!(live.exists());
    }
}
