//! How a training run opens its directory: the output-directory policy (new, `--resume`,
//! `--force`) and the run's fingerprint, which a resume compares so that it continues the same
//! run: same model and data contents, same settings, unless `--allow-changes` names a key, in
//! which case the change is recorded in `history.jsonl`.
use super::config::TrainConfig;
use crate::util::fingerprint::{dir_fingerprint, files_fingerprint};
use crate::util::output_dir::{prepare_output_dir, DirPolicy};
use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value};
use std::path::Path;

/// What the user asked for the run directory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Opening {
    /// Continue from the newest checkpoint (`--resume`).
    pub resume: bool,
    /// Delete an existing run directory and start over (`--force`).
    pub force: bool,
    /// Keys of the fingerprint a resume may find changed (`--allow-changes`).
    pub allow_changes: Vec<String>,
}

impl From<bool> for Opening {
    fn from(resume: bool) -> Self {
        Opening {
            resume,
            ..Opening::default()
        }
    }
}

/// Settings that do not change what the run computes: a resume may change them freely.
const FREE_KEYS: &[&str] = &[
    "output",
    "steps",
    "save_every",
    "val_every",
    "val_max_problems",
    "activation_checkpointing",
    // Where the optimizer state lives and how ranks exchange it: the weights depend on
    // dp_shards only, so a ZeRO-1 run may continue without ZeRO, on one process.
    "zero",
    "nccl",
    // Replaced by the contents' fingerprints below: a moved file is the same input.
    "model",
    "data",
    "val_data",
];

pub const FINGERPRINT_FILE: &str = "fingerprint.json";
pub const HISTORY_FILE: &str = "history.jsonl";

/// What defines the run of `cfg`: the contents of its model directory and data files, and every
/// setting that changes results.
pub fn fingerprint(cfg: &TrainConfig) -> Result<Map<String, Value>> {
    let mut m = Map::new();
    m.insert("model".into(), json!(dir_fingerprint(&cfg.model)?));
    m.insert("data".into(), json!(files_fingerprint(&cfg.data)?));
    m.insert("val_data".into(), json!(files_fingerprint(&cfg.val_data)?));
    let settings = serde_json::to_value(cfg)?;
    for (k, v) in settings.as_object().into_iter().flatten() {
        if !FREE_KEYS.contains(&k.as_str()) {
            m.insert(k.clone(), json!(canonical(v)));
        }
    }
    Ok(m)
}

/// A setting as text that reads back the same: the settings' reals are f32, written in their
/// shortest form (a JSON f64 round trip would change their last digits).
fn canonical(v: &Value) -> String {
    match v {
        Value::Number(n) if n.is_f64() => {
            let x = n.as_f64().unwrap_or(f64::NAN);
            if f64::from(x as f32) == x {
                (x as f32).to_string()
            } else {
                x.to_string()
            }
        }
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Applies the directory policy to `cfg.output` (rank 0 only), before anything is written.
pub fn prepare_run_dir(cfg: &TrainConfig, opening: &Opening) -> Result<()> {
    if opening.resume && opening.force {
        bail!(
            "--resume continues the run in the output directory and --force deletes it: pass one"
        );
    }
    if !opening.allow_changes.is_empty() && !opening.resume {
        bail!("--allow-changes only applies with --resume");
    }
    let policy = if opening.resume {
        DirPolicy::Continue
    } else if opening.force {
        DirPolicy::Replace
    } else {
        DirPolicy::New
    };
    prepare_output_dir(
        &cfg.output,
        policy,
        "--resume to continue its run or --force to delete it",
    )
}

/// Records the run's fingerprint (rank 0 only). A resume first compares it with the one the run
/// recorded and refuses changes the user did not allow; what it continues with is appended to
/// the run's history.
pub fn record_fingerprint(
    cfg: &TrainConfig,
    opening: &Opening,
    start_step: usize,
    now: &Map<String, Value>,
) -> Result<()> {
    let dir = &cfg.output;
    let path = dir.join(FINGERPRINT_FILE);
    for k in &opening.allow_changes {
        if !now.contains_key(k) {
            let keys: Vec<&str> = now.keys().map(String::as_str).collect();
            bail!(
                "--allow-changes {k}: not a key of the run's fingerprint ({})",
                keys.join(", ")
            );
        }
    }
    let mut event =
        json!({"event": if opening.resume { "resume" } else { "start" }, "step": start_step});
    if opening.resume && path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let was: Map<String, Value> = serde_json::from_str(&text)
            .with_context(|| format!("{}: malformed JSON", path.display()))?;
        let changed = diff(&was, now);
        let refused: Vec<&String> = changed
            .keys()
            .filter(|k| !opening.allow_changes.contains(k))
            .collect();
        if !refused.is_empty() {
            let what: Vec<String> = refused
                .iter()
                .map(|k| describe_change(k, &changed[k.as_str()]))
                .collect();
            let keys: Vec<&str> = refused.iter().map(|k| k.as_str()).collect();
            bail!(
                "{}: the run was started with other inputs or settings: {}; resume with the original ones, or pass --allow-changes {} to continue with the new ones (recorded in {HISTORY_FILE})",
                dir.display(),
                what.join("; "),
                keys.join(" ")
            );
        }
        event["changed"] = Value::Object(changed);
    }
    crate::util::write_atomic(&path, serde_json::to_string_pretty(now)?.as_bytes())?;
    append_line(&dir.join(HISTORY_FILE), &event)
}

/// Keys whose values differ (either side missing counts), as {"was", "now"}.
fn diff(was: &Map<String, Value>, now: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for k in was.keys().chain(now.keys()) {
        let (a, b) = (was.get(k), now.get(k));
        if a != b && !out.contains_key(k) {
            out.insert(k.clone(), json!({"was": a, "now": b}));
        }
    }
    out
}

fn describe_change(key: &str, change: &Value) -> String {
    match key {
        "model" => "the model directory's contents changed".into(),
        "data" | "val_data" => format!("the contents of the {key} files changed"),
        _ => {
            let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_string);
            format!(
                "{key} was {} and is now {}",
                text(&change["was"]),
                text(&change["now"])
            )
        }
    }
}

fn append_line(path: &Path, v: &Value) -> Result<()> {
    crate::util::append::Appender::open(path)?.append(format!("{v}\n").as_bytes())
}
