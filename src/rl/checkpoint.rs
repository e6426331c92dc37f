//! Checkpoints: a Hugging Face directory (loadable by transformers) plus optimizer state and the
//! trainer's position, written into a temporary directory and renamed into place, so a crash
//! never leaves a half-written checkpoint.
use crate::model::Model;
use crate::optim::AdamW;
use crate::tensor::{DType, Tensor};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

pub fn step_dir(root: &Path, step: usize) -> PathBuf {
    root.join("checkpoints").join(format!("step-{step:06}"))
}

/// Files copied from the source model so a checkpoint is a complete model directory.
const MODEL_SIDE_FILES: &[&str] = &[
    "tokenizer.json",
    "tokenizer_config.json",
    "generation_config.json",
    "special_tokens_map.json",
];

pub struct CheckpointParts<'a> {
    pub model: &'a Model,
    pub source_dir: &'a Path,
    pub optimizer: &'a AdamW,
    pub state: serde_json::Value,
    /// PPO: critic transformer + value head and its optimizer.
    pub critic: Option<(&'a Model, &'a [Tensor], &'a AdamW)>,
}

/// The prefix of a checkpoint being written: `.tmp-step-NNNNNN-PID`.
const TMP_PREFIX: &str = ".tmp-step-";

/// Writes the checkpoint after `step` steps; a failed write removes its temporary directory.
pub fn save(root: &Path, step: usize, parts: CheckpointParts<'_>) -> Result<PathBuf> {
    let tmp = root
        .join("checkpoints")
        .join(format!("{TMP_PREFIX}{step:06}-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).with_context(|| format!("removing {}", tmp.display()))?;
    }
    let saved = write_into(&tmp, root, step, parts);
    if saved.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    saved
}

/// Removes what interrupted writes of dead processes left in a run directory: checkpoint
/// temporary directories and temporary files (never a `step-N` checkpoint).
pub fn remove_interrupted(root: &Path) -> Result<()> {
    use crate::util::output::{process_alive, remove_stale_temp_files};
    remove_stale_temp_files(root)?;
    let dir = root.join("checkpoints");
    remove_stale_temp_files(&dir)?;
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(());
    };
    for e in entries {
        let e = e.with_context(|| format!("listing {}", dir.display()))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let pid = name
            .strip_prefix(TMP_PREFIX)
            .and_then(|rest| rest.rsplit_once('-'))
            .and_then(|(_, pid)| pid.parse::<u32>().ok());
        if pid.is_some_and(|p| !process_alive(p)) {
            std::fs::remove_dir_all(e.path())
                .with_context(|| format!("removing {}", e.path().display()))?;
        }
    }
    Ok(())
}

fn write_into(tmp: &Path, root: &Path, step: usize, parts: CheckpointParts<'_>) -> Result<PathBuf> {
    let final_dir = step_dir(root, step);
    std::fs::create_dir_all(tmp).with_context(|| format!("creating {}", tmp.display()))?;
    parts.model.save(tmp, DType::F32)?;
    for f in MODEL_SIDE_FILES {
        let src = parts.source_dir.join(f);
        if src.exists() {
            std::fs::copy(&src, tmp.join(f))
                .with_context(|| format!("copying {}", src.display()))?;
        }
    }
    parts.optimizer.save(&tmp.join("optimizer.safetensors"))?;
    if let Some((critic, head, opt)) = parts.critic {
        let cdir = tmp.join("critic");
        critic.save(&cdir, DType::F32)?;
        let named = vec![
            ("value_head.weight".to_string(), head[0].clone()),
            ("value_head.bias".to_string(), head[1].clone()),
        ];
        crate::util::write_atomic(
            &cdir.join("value_head.safetensors"),
            &crate::model::weights::serialize(&named, DType::F32, None)?,
        )?;
        opt.save(&cdir.join("optimizer.safetensors"))?;
    }
    crate::util::write_atomic(
        &tmp.join("trainer_state.json"),
        serde_json::to_string_pretty(&parts.state)?.as_bytes(),
    )?;
    if final_dir.exists() {
        std::fs::remove_dir_all(&final_dir)
            .with_context(|| format!("replacing {}", final_dir.display()))?;
    }
    std::fs::rename(tmp, &final_dir)
        .with_context(|| format!("renaming {} to {}", tmp.display(), final_dir.display()))?;
    Ok(final_dir)
}

/// The newest complete checkpoint (by step number), if any.
pub fn latest(root: &Path) -> Result<Option<(usize, PathBuf)>> {
    let dir = root.join("checkpoints");
    if !dir.exists() {
        return Ok(None);
    }
    let mut best: Option<(usize, PathBuf)> = None;
    for e in std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(n) = name
            .strip_prefix("step-")
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<usize>().ok())
        {
            if e.path().join("trainer_state.json").exists() && best.as_ref().is_none_or(|b| n > b.0)
            {
                best = Some((n, e.path()));
            }
        }
    }
    Ok(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_debris_of_dead_writers_is_removed_and_never_taken_for_a_checkpoint() {
        let d = tempfile::tempdir().unwrap();
        let ck = d.path().join("checkpoints");
        let real = step_dir(d.path(), 3);
        std::fs::create_dir_all(&real).unwrap();
        std::fs::write(real.join("trainer_state.json"), "{}").unwrap();
        let dead = ck.join(format!("{TMP_PREFIX}000007-999999999"));
        let live = ck.join(format!("{TMP_PREFIX}000009-{}", std::process::id()));
        for t in [&dead, &live] {
            std::fs::create_dir_all(t).unwrap();
            std::fs::write(t.join("trainer_state.json"), "{}").unwrap();
        }
        let user = ck.join("step-5-notes");
        std::fs::create_dir_all(&user).unwrap();
        std::fs::write(user.join("trainer_state.json"), "{}").unwrap();
        assert_eq!(latest(d.path()).unwrap().unwrap().0, 3);
        remove_interrupted(d.path()).unwrap();
        assert!(!dead.exists() && live.exists() && real.exists() && user.exists());
    }
}
