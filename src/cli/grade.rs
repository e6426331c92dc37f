//! `rlvr grade`: grade model responses against gold answers (JSONL in, JSONL out).
use crate::verify::{grade, Mode};
use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use serde_json::Value;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

/// Grade responses: each IN line `{"response": str, "answer": str, ...}` becomes the same object
/// (fields and key order kept) plus `"correct": bool` and `"pred": str|null`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Input JSONL file; every line needs string fields `response` and `answer`.
    #[arg(long)]
    pub input: PathBuf,
    /// Output JSONL file (written atomically).
    #[arg(long)]
    pub output: PathBuf,
    /// `correct` (mathematically correct, default) or `paper` (the paper's math_equal with its quirks).
    #[arg(long, value_enum, default_value_t = ModeArg::Correct)]
    pub mode: ModeArg,
    /// Print, per line, the extracted answer, the normalised forms and the rule that decided.
    #[arg(long)]
    pub explain: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum ModeArg {
    Correct,
    Paper,
}

impl From<ModeArg> for Mode {
    fn from(m: ModeArg) -> Mode {
        match m {
            ModeArg::Correct => Mode::Correct,
            ModeArg::Paper => Mode::Paper,
        }
    }
}

fn field<'a>(obj: &'a Value, key: &str, path: &Path, line: usize) -> Result<&'a str> {
    match obj.get(key) {
        Some(Value::String(s)) => Ok(s),
        Some(other) => bail!("{}:{line}: field `{key}` must be a string, found {other}", path.display()),
        None => bail!("{}:{line}: missing field `{key}`", path.display()),
    }
}

/// Read the input as (1-based line number, object) pairs; blank lines are skipped.
fn read_lines(path: &Path) -> Result<Vec<(usize, Value)>> {
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.with_context(|| format!("{}:{}: reading line", path.display(), i + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(&line)
            .with_context(|| format!("{}:{}: malformed JSON", path.display(), i + 1))?;
        if !v.is_object() {
            bail!("{}:{}: expected a JSON object", path.display(), i + 1);
        }
        out.push((i + 1, v));
    }
    Ok(out)
}

pub fn run(args: Args) -> Result<()> {
    let mode = Mode::from(args.mode);
    let rows = read_lines(&args.input)?;
    for (line, v) in &rows {
        field(v, "response", &args.input, *line)?;
        field(v, "answer", &args.input, *line)?;
    }
    let grades: Vec<_> = rows
        .par_iter()
        .map(|(_, v)| {
            let resp = v.get("response").and_then(Value::as_str).unwrap_or("");
            let ans = v.get("answer").and_then(Value::as_str).unwrap_or("");
            grade(resp, ans, mode)
        })
        .collect();
    let mut out = Vec::new();
    let stdout = std::io::stdout();
    let mut so = stdout.lock();
    let mut n_correct = 0usize;
    for ((line, mut v), g) in rows.into_iter().zip(grades) {
        n_correct += usize::from(g.correct);
        if args.explain {
            writeln!(
                so,
                "line {line}: correct={} pred={:?} pred_norm={:?} ref_norm={:?} rule={}",
                g.correct, g.pred, g.pred_norm, g.ref_norm, g.rule
            )?;
        }
        if let Value::Object(map) = &mut v {
            map.insert("correct".into(), Value::Bool(g.correct));
            map.insert("pred".into(), g.pred.map_or(Value::Null, Value::String));
        }
        serde_json::to_writer(&mut out, &v)?;
        out.push(b'\n');
    }
    crate::util::write_atomic(&args.output, &out)?;
    eprintln!("graded {} lines: {n_correct} correct ({:?} mode) → {}", out.iter().filter(|&&b| b == b'\n').count(), mode, args.output.display());
    Ok(())
}
