//! `rlvr grade`: grade model responses against gold answers (JSONL in, JSONL out).
use crate::verify::Mode;
use anyhow::{bail, Result};
use serde_json::Value;
use std::io::Write;
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

/// A string field; `answer` may also be a JSON number (AIME/AMC golds are integers).
fn field(obj: &Value, key: &str, path: &Path, line: usize) -> Result<String> {
    match obj.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) if key == "answer" => Ok(n.to_string()),
        Some(other) => bail!(
            "{}:{line}: field `{key}` must be a string, found {other}",
            path.display()
        ),
        None => bail!("{}:{line}: missing field `{key}`", path.display()),
    }
}

/// Read the input as (1-based line number, object) pairs; blank lines are skipped.
fn read_lines(path: &Path) -> Result<Vec<(usize, Value)>> {
    let lines = crate::util::read_jsonl_numbered(path)?;
    if let Some((line, _)) = lines.iter().find(|(_, v)| !v.is_object()) {
        bail!("{}:{line}: expected a JSON object", path.display());
    }
    Ok(lines)
}

pub fn run(args: Args) -> Result<()> {
    let mode = Mode::from(args.mode);
    crate::util::output::check_output_file(&args.output)?;
    let rows = read_lines(&args.input)?;
    let pairs = rows
        .iter()
        .map(|(line, v)| {
            Ok((
                field(v, "response", &args.input, *line)?,
                field(v, "answer", &args.input, *line)?,
            ))
        })
        .collect::<Result<Vec<(String, String)>>>()?;
    let grades = crate::verify::grade_batch(&pairs, mode);
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
    eprintln!(
        "graded {} lines: {n_correct} correct ({:?} mode) → {}",
        out.iter().filter(|&&b| b == b'\n').count(),
        mode,
        args.output.display()
    );
    Ok(())
}
