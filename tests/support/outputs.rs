//! What the reliability tests inspect after an interrupted or failed command: leftover temporary
//! files, whole directory contents, and a run's metrics without its timings.
use std::collections::BTreeMap;
use std::path::Path;

/// Names under `dir` (recursively) that only an interrupted or failed write makes: `.NAME.tmp-PID`
/// files, `.tmp-step-…` checkpoint directories, and `.DIR.old-PID` directories moved aside.
pub fn debris(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.contains(".tmp-") || name.contains(".old-") {
            out.push(e.path().display().to_string());
        }
        if e.path().is_dir() {
            out.extend(debris(&e.path()));
        }
    }
    out
}

/// Every file under `dir` (recursively) by its path relative to `dir`, with its bytes.
pub fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().display().to_string();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// What a command wrote at `path`: its bytes if it is a file, every file under it if it is a
/// directory (an empty directory is nothing), nothing if it does not exist.
pub fn snapshot_or_file(path: &Path) -> BTreeMap<String, Vec<u8>> {
    if path.is_file() {
        BTreeMap::from([(String::new(), std::fs::read(path).unwrap())])
    } else if path.is_dir() {
        snapshot(path)
    } else {
        BTreeMap::new()
    }
}

/// The lines of a run's `metrics.jsonl` without the keys that measure time.
pub fn metrics(run: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            for k in rlvr::rl::metrics::TIMING_KEYS {
                v.as_object_mut().unwrap().remove(*k);
            }
            v
        })
        .collect()
}
