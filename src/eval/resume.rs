//! Recovery of an evaluation sample file left by an interrupted run.
//!
//! The writer appends whole problems (all n lines of a problem in one write, then fsync), so a
//! kill can leave at most a half-written last line or a problem with fewer than n lines at the
//! end. Recovery keeps exactly the problems whose n lines are all present with generation ids
//! 0..n−1 in order, and rewrites the file (atomically) when anything else was there.
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::collections::HashSet;
use std::path::Path;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Question ids of the complete problems, in file order.
    pub complete: Vec<String>,
    /// Lines dropped: a trailing partial line and the lines of incomplete problems.
    pub dropped_lines: usize,
}

/// A question id and its consecutive lines (generation id, raw line).
type Group<'a> = (String, Vec<(Option<u64>, &'a [u8])>);

/// Keep the complete problems of `path` (n samples each); a missing file is empty.
pub fn recover(path: &Path, n: usize) -> Result<Recovered> {
    if !path.exists() {
        return Ok(Recovered::default());
    }
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let end = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let mut dropped_lines = usize::from(end < bytes.len());
    // Consecutive lines of one question_id form a group.
    let mut groups: Vec<Group<'_>> = Vec::new();
    for (i, line) in bytes[..end].split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let at = || format!("{}:{}", path.display(), i + 1);
        let v: Value =
            serde_json::from_slice(line).with_context(|| format!("{}: malformed JSON", at()))?;
        let qid = match v.get("question_id") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(x)) => x.to_string(),
            _ => bail!("{}: missing or bad \"question_id\"", at()),
        };
        let gid = v.get("generation_id").and_then(Value::as_u64);
        // A repeated problem starts again at generation 0: a new group.
        match groups.last_mut() {
            Some((q, lines)) if *q == qid && gid != Some(0) => lines.push((gid, line)),
            _ => groups.push((qid, vec![(gid, line)])),
        }
    }
    let mut seen = HashSet::new();
    let mut kept: Vec<u8> = Vec::with_capacity(end);
    let mut complete = Vec::new();
    for (qid, lines) in groups {
        let whole = lines.len() == n
            && lines
                .iter()
                .enumerate()
                .all(|(j, (g, _))| *g == Some(j as u64));
        if whole && seen.insert(qid.clone()) {
            for (_, l) in &lines {
                kept.extend_from_slice(l);
                kept.push(b'\n');
            }
            complete.push(qid);
        } else {
            dropped_lines += lines.len();
        }
    }
    if kept.as_slice() != &bytes[..] {
        crate::util::write_atomic(path, &kept)?;
    }
    Ok(Recovered {
        complete,
        dropped_lines,
    })
}

/// Append `bytes` (whole lines of whole problems) and fsync, so a completed problem survives a
/// kill.
pub fn append_durably(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::util::append::Appender::open(path)?
        .durable()
        .append(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(q: &str, g: u64) -> String {
        format!("{{\"question_id\": \"{q}\", \"generation_id\": {g}, \"label\": false}}\n")
    }

    #[test]
    fn keeps_complete_problems_and_drops_the_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.jsonl");
        let mut text: String = (0..2).map(|g| line("a", g)).collect();
        text += &(0..2).map(|g| line("b", g)).collect::<String>();
        let clean = text.clone();
        text += &line("c", 0);
        text += "{\"question_id\": \"c\", \"gen";
        std::fs::write(&p, &text).unwrap();
        let r = recover(&p, 2).unwrap();
        assert_eq!(r.complete, vec!["a", "b"]);
        assert_eq!(r.dropped_lines, 2);
        assert_eq!(std::fs::read_to_string(&p).unwrap(), clean);
        // Idempotent, and untouched when clean.
        let r = recover(&p, 2).unwrap();
        assert_eq!((r.complete.len(), r.dropped_lines), (2, 0));
        assert!(recover(&dir.path().join("none.jsonl"), 2)
            .unwrap()
            .complete
            .is_empty());
    }

    #[test]
    fn wrong_generation_ids_or_duplicates_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.jsonl");
        let text = line("a", 1)
            + &line("a", 0)
            + &line("b", 0)
            + &line("b", 1)
            + &line("b", 0)
            + &line("b", 1);
        std::fs::write(&p, text).unwrap();
        let r = recover(&p, 2).unwrap();
        assert_eq!(r.complete, vec!["b"]);
        assert_eq!(r.dropped_lines, 4);
        std::fs::write(&p, "{oops\n").unwrap();
        let e = format!("{:#}", recover(&p, 2).unwrap_err());
        assert!(e.contains("s.jsonl:1"), "{e}");
    }
}
