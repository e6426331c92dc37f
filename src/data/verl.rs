//! Loader for verl-style problem files: parquet (the paper's `data/*.parquet`, read with the
//! `parquet` row API, no arrow) and JSONL.
//!
//! Parquet layout (the paper's released data files): `data_source: str`, `prompt: list<struct{content, role}>`,
//! `reward_model: struct{style, ground_truth: struct{question, target, solution?}}`,
//! `extra_info: struct{index, split}`, optional `level`, `type`.
//!
//! JSONL layout: one object per line with `prompt` (a string or a list of `{role, content}`;
//! `question` is accepted as a synonym) and `answer`; `data_source`, `id`/`index`, `solution`,
//! `level`, `subject`/`type` are optional.
use super::empty_rows::RowNumbers;
use anyhow::{anyhow, bail, Context, Result};
use parquet::record::{Field, Row};
use serde_json::Value;
use std::path::Path;

/// One problem with its gold answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// `data_source/index` (index from `extra_info.index`, else the 0-based row number).
    pub id: String,
    pub data_source: String,
    /// The user turn: `prompt[0].content`.
    pub question: String,
    /// `reward_model.ground_truth.target` (parquet) or `answer` (JSONL).
    pub answer: String,
    pub solution: Option<String>,
    pub level: Option<String>,
    pub subject: Option<String>,
}

/// Load problems to train or evaluate on (see [`read_problems`]). Problems with an empty prompt
/// or gold answer are reported on stderr (see [`super::empty_rows`]); a file where every problem
/// has one is an error.
pub fn load_problems(path: &Path) -> Result<Vec<Problem>> {
    let (problems, numbers) = read_with_numbering(path)?;
    if let Some(warning) = super::empty_rows::check(path, &problems, numbers)? {
        eprintln!("warning: {warning}");
    }
    Ok(problems)
}

/// Read problems as they are, dispatching on the extension: `.parquet`, or `.jsonl` / `.json`
/// (JSON lines).
pub fn read_problems(path: &Path) -> Result<Vec<Problem>> {
    Ok(read_with_numbering(path)?.0)
}

fn read_with_numbering(path: &Path) -> Result<(Vec<Problem>, RowNumbers)> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "parquet" => Ok((load_parquet(path)?, RowNumbers::Rows)),
        "jsonl" | "json" => Ok((load_jsonl(path)?, RowNumbers::Records)),
        _ => bail!(
            "{}: unknown problem file type (expected .parquet, .jsonl or .json)",
            path.display()
        ),
    }
}

fn load_parquet(path: &Path) -> Result<Vec<Problem>> {
    super::parquet_rows::read_rows(path)?
        .iter()
        .enumerate()
        .map(|(i, row)| {
            problem_from_row(row, i).with_context(|| format!("{}: row {i}", path.display()))
        })
        .collect()
}

fn get<'a>(row: &'a Row, name: &str) -> Option<&'a Field> {
    row.get_column_iter()
        .find(|(k, _)| k.as_str() == name)
        .map(|(_, v)| v)
}

fn require<'a>(row: &'a Row, name: &str) -> Result<&'a Field> {
    get(row, name).ok_or_else(|| anyhow!("missing column `{name}`"))
}

fn as_str(f: &Field, what: &str) -> Result<String> {
    match f {
        Field::Str(s) => Ok(s.clone()),
        other => bail!("column `{what}`: expected a string, found {other:?}"),
    }
}

fn opt_str(row: &Row, name: &str) -> Result<Option<String>> {
    match get(row, name) {
        None | Some(Field::Null) => Ok(None),
        Some(f) => as_str(f, name).map(Some),
    }
}

fn as_group<'a>(f: &'a Field, what: &str) -> Result<&'a Row> {
    match f {
        Field::Group(r) => Ok(r),
        other => bail!("column `{what}`: expected a struct, found {other:?}"),
    }
}

fn index_of(f: &Field) -> Option<i64> {
    match f {
        Field::Long(v) => Some(*v),
        Field::Int(v) => Some(i64::from(*v)),
        Field::Short(v) => Some(i64::from(*v)),
        Field::UInt(v) => Some(i64::from(*v)),
        Field::Str(s) => s.parse().ok(),
        _ => None,
    }
}

fn first_prompt_content(f: &Field) -> Result<String> {
    match f {
        Field::Str(s) => Ok(s.clone()),
        Field::ListInternal(list) => {
            let first = list
                .elements()
                .first()
                .ok_or_else(|| anyhow!("column `prompt`: empty list"))?;
            let turn = as_group(first, "prompt[0]")?;
            as_str(
                require(turn, "content").context("column `prompt[0]`")?,
                "prompt[0].content",
            )
        }
        other => bail!("column `prompt`: expected a list of {{role, content}}, found {other:?}"),
    }
}

fn problem_from_row(row: &Row, row_no: usize) -> Result<Problem> {
    let data_source = opt_str(row, "data_source")?.unwrap_or_default();
    let question = first_prompt_content(require(row, "prompt")?)?;
    let rm = as_group(require(row, "reward_model")?, "reward_model")?;
    let gt = as_group(
        get(rm, "ground_truth")
            .ok_or_else(|| anyhow!("missing column `reward_model.ground_truth`"))?,
        "reward_model.ground_truth",
    )?;
    let answer = as_str(
        get(gt, "target")
            .ok_or_else(|| anyhow!("missing column `reward_model.ground_truth.target`"))?,
        "reward_model.ground_truth.target",
    )?;
    let solution = opt_str(gt, "solution")?;
    let index = match get(row, "extra_info") {
        Some(Field::Group(info)) => get(info, "index").and_then(index_of),
        _ => None,
    }
    .unwrap_or(row_no as i64);
    Ok(Problem {
        id: format!("{data_source}/{index}"),
        data_source,
        question,
        answer,
        solution,
        level: opt_str(row, "level")?,
        subject: opt_str(row, "type")?,
    })
}

fn load_jsonl(path: &Path) -> Result<Vec<Problem>> {
    let rows = crate::util::read_jsonl(path)?;
    rows.iter()
        .enumerate()
        .map(|(i, v)| {
            problem_from_json(v, i).with_context(|| format!("{}: record {}", path.display(), i + 1))
        })
        .collect()
}

fn json_str(v: &Value, key: &str) -> Result<Option<String>> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => bail!("field `{key}`: expected a string, found {other}"),
    }
}

fn json_prompt(v: &Value) -> Result<String> {
    let (key, p) = match (v.get("prompt"), v.get("question")) {
        (Some(p), _) => ("prompt", p),
        (None, Some(q)) => ("question", q),
        (None, None) => bail!("missing field `prompt` (or `question`)"),
    };
    match p {
        Value::String(s) => Ok(s.clone()),
        Value::Array(turns) => {
            let first = turns
                .first()
                .ok_or_else(|| anyhow!("field `{key}`: empty list"))?;
            match first.get("content") {
                Some(Value::String(s)) => Ok(s.clone()),
                _ => bail!("field `{key}[0].content`: missing or not a string"),
            }
        }
        other => {
            bail!("field `{key}`: expected a string or a list of {{role, content}}, found {other}")
        }
    }
}

fn problem_from_json(v: &Value, i: usize) -> Result<Problem> {
    if !v.is_object() {
        bail!("expected a JSON object");
    }
    let question = json_prompt(v)?;
    let nested = v.pointer("/reward_model/ground_truth/target");
    let answer = match (json_str(v, "answer")?, nested) {
        (Some(a), _) => a,
        (None, Some(Value::String(t))) => t.clone(),
        (None, Some(Value::Number(n))) => n.to_string(),
        _ => bail!("missing field `answer` (or `reward_model.ground_truth.target`)"),
    };
    let data_source = json_str(v, "data_source")?.unwrap_or_default();
    let id = match json_str(v, "id")? {
        Some(id) => id,
        None => format!(
            "{data_source}/{}",
            json_str(v, "index")?.unwrap_or_else(|| i.to_string())
        ),
    };
    let subject = match json_str(v, "subject")? {
        Some(s) => Some(s),
        None => json_str(v, "type")?,
    };
    Ok(Problem {
        id,
        data_source,
        question,
        answer,
        solution: json_str(v, "solution")?,
        level: json_str(v, "level")?,
        subject,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(ext: &str, text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::Builder::new()
            .suffix(ext)
            .tempfile()
            .expect("tempfile");
        f.write_all(text.as_bytes()).expect("write");
        f
    }

    #[test]
    fn jsonl_prompt_forms() {
        let f = write(
            ".jsonl",
            concat!(
                r#"{"prompt": "What is 1+1?", "answer": "2"}"#,
                "\n",
                r#"{"prompt": [{"role": "user", "content": "Q2"}], "answer": "3", "data_source": "d", "index": 7}"#,
                "\n\n",
                r#"{"question": "Q3", "answer": 4, "level": "Level 1", "type": "Algebra"}"#,
                "\n",
                r#"{"prompt": [{"role": "user", "content": "Q4"}], "reward_model": {"ground_truth": {"target": "5"}}}"#,
                "\n"
            ),
        );
        let ps = load_problems(f.path()).expect("load");
        assert_eq!(ps.len(), 4);
        assert_eq!(ps[3].answer, "5");
        assert_eq!(ps[0].question, "What is 1+1?");
        assert_eq!(ps[1].question, "Q2");
        assert_eq!(ps[1].id, "d/7");
        assert_eq!(ps[2].answer, "4");
        assert_eq!(ps[2].subject.as_deref(), Some("Algebra"));
    }

    #[test]
    fn jsonl_errors_name_the_problem() {
        let f = write(".jsonl", "{\"prompt\": \"q\"}\n");
        let e = format!("{:#}", load_problems(f.path()).unwrap_err());
        assert!(e.contains("answer") && e.contains("record 1"), "{e}");
        let f = write(".jsonl", "{\"prompt\": \"q\", \"answer\": \"1\"}\n{oops\n");
        let e = format!("{:#}", load_problems(f.path()).unwrap_err());
        assert!(e.contains(":2"), "{e}");
        let f = write(".jsonl", "{\"prompt\": 5, \"answer\": \"1\"}\n");
        let e = format!("{:#}", load_problems(f.path()).unwrap_err());
        assert!(e.contains("prompt"), "{e}");
    }

    /// A flat parquet file with the given message type and one row of values per column.
    fn flat_parquet(message: &str, columns: &[ColumnValue]) -> tempfile::NamedTempFile {
        use parquet::data_type::{ByteArray, ByteArrayType, Int32Type};
        use parquet::file::properties::WriterProperties;
        use parquet::file::writer::SerializedFileWriter;
        use std::sync::Arc;
        let f = tempfile::Builder::new()
            .suffix(".parquet")
            .tempfile()
            .expect("tempfile");
        let schema =
            Arc::new(parquet::schema::parser::parse_message_type(message).expect("schema"));
        let props = Arc::new(WriterProperties::builder().build());
        let file = f.reopen().expect("reopen");
        let mut writer = SerializedFileWriter::new(file, schema, props).expect("writer");
        let mut rg = writer.next_row_group().expect("row group");
        let mut i = 0;
        while let Some(mut col) = rg.next_column().expect("column") {
            match &columns[i] {
                ColumnValue::Str(v) => {
                    col.typed::<ByteArrayType>()
                        .write_batch(&[ByteArray::from(*v)], None, None)
                        .expect("write");
                }
                ColumnValue::Int(v) => {
                    col.typed::<Int32Type>()
                        .write_batch(&[*v], None, None)
                        .expect("write");
                }
            }
            col.close().expect("close column");
            i += 1;
        }
        rg.close().expect("close row group");
        writer.close().expect("close file");
        f
    }

    enum ColumnValue {
        Str(&'static str),
        Int(i32),
    }

    #[test]
    fn parquet_errors_name_file_row_and_column() {
        let f = flat_parquet(
            "message m { required binary data_source (UTF8); required binary prompt (UTF8); }",
            &[ColumnValue::Str("d"), ColumnValue::Str("What?")],
        );
        let e = format!("{:#}", load_problems(f.path()).unwrap_err());
        assert!(
            e.contains("row 0") && e.contains("missing column `reward_model`"),
            "{e}"
        );
        assert!(e.contains(&f.path().display().to_string()), "{e}");

        let f = flat_parquet(
            "message m { required binary data_source (UTF8); required int32 prompt; }",
            &[ColumnValue::Str("d"), ColumnValue::Int(3)],
        );
        let e = format!("{:#}", load_problems(f.path()).unwrap_err());
        assert!(
            e.contains("row 0") && e.contains("column `prompt`") && e.contains("expected"),
            "{e}"
        );

        let f = flat_parquet(
            "message m { required binary prompt (UTF8); required binary reward_model (UTF8); }",
            &[ColumnValue::Str("q"), ColumnValue::Str("5")],
        );
        let e = format!("{:#}", load_problems(f.path()).unwrap_err());
        assert!(
            e.contains("column `reward_model`: expected a struct"),
            "{e}"
        );
    }

    #[test]
    fn bad_parquet_and_extension() {
        let f = write(".parquet", "not parquet at all");
        let e = format!("{:#}", load_problems(f.path()).unwrap_err());
        assert!(e.contains("parquet"), "{e}");
        let f = write(".csv", "a,b");
        assert!(load_problems(f.path()).is_err());
    }
}
