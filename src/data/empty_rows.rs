//! Problems with an empty prompt or an empty gold answer score 0 whatever the model answers, so
//! training and evaluation would silently count them as failures. The loader names them (a
//! warning with the file, how many, and which rows), and refuses a file in which no problem has
//! both, since there would be nothing to score.
use super::verl::Problem;
use anyhow::{bail, Result};
use std::path::Path;

/// How a file numbers its rows in messages: JSONL records from 1 (as its other errors do),
/// parquet rows from 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowNumbers {
    Records,
    Rows,
}

impl RowNumbers {
    fn name(self, index: usize) -> String {
        match self {
            RowNumbers::Records => format!("record {}", index + 1),
            RowNumbers::Rows => format!("row {index}"),
        }
    }
}

/// Rows named in a message before the rest are only counted.
const SHOWN: usize = 5;

fn blank(s: &str) -> bool {
    s.trim().is_empty()
}

/// `rows` as "record 3 (id a/2), record 7 (id a/6) and 4 more".
fn describe(problems: &[Problem], rows: &[usize], numbers: RowNumbers) -> String {
    let mut text = rows
        .iter()
        .take(SHOWN)
        .map(|&i| format!("{} (id {})", numbers.name(i), problems[i].id))
        .collect::<Vec<_>>()
        .join(", ");
    if rows.len() > SHOWN {
        text.push_str(&format!(" and {} more", rows.len() - SHOWN));
    }
    text
}

/// The warning about `problems` (loaded from `path`) with an empty prompt or gold answer, if any;
/// an error when every problem has one.
pub fn check(path: &Path, problems: &[Problem], numbers: RowNumbers) -> Result<Option<String>> {
    let rows = |f: fn(&Problem) -> bool| -> Vec<usize> {
        (0..problems.len()).filter(|&i| f(&problems[i])).collect()
    };
    let no_prompt = rows(|p| blank(&p.question));
    let no_answer = rows(|p| blank(&p.answer));
    if no_prompt.is_empty() && no_answer.is_empty() {
        return Ok(None);
    }
    let unusable = rows(|p| blank(&p.question) || blank(&p.answer));
    if unusable.len() == problems.len() {
        bail!(
            "{}: every one of its {} problems has an empty prompt or gold answer ({}): nothing could be scored",
            path.display(),
            problems.len(),
            describe(problems, &unusable, numbers)
        );
    }
    let mut parts = Vec::new();
    for (rows, what) in [(&no_prompt, "prompt"), (&no_answer, "gold answer")] {
        if !rows.is_empty() {
            parts.push(format!(
                "{} with an empty {what} ({})",
                rows.len(),
                describe(problems, rows, numbers)
            ));
        }
    }
    Ok(Some(format!(
        "{}: {} of {} problems cannot be scored and count as failures: {}",
        path.display(),
        unusable.len(),
        problems.len(),
        parts.join("; ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(i: usize, question: &str, answer: &str) -> Problem {
        Problem {
            id: format!("d/{i}"),
            data_source: "d".into(),
            question: question.into(),
            answer: answer.into(),
            solution: None,
            level: None,
            subject: None,
        }
    }

    #[test]
    fn empty_prompts_and_answers_are_counted_and_named() {
        let path = Path::new("data.jsonl");
        let full: Vec<Problem> = (0..3).map(|i| problem(i, "1+1?", "2")).collect();
        assert_eq!(check(path, &full, RowNumbers::Records).unwrap(), None);
        let mut ps = full.clone();
        ps[1].answer = " ".into();
        ps[2].question = String::new();
        let w = check(path, &ps, RowNumbers::Records).unwrap().unwrap();
        assert_eq!(
            w,
            "data.jsonl: 2 of 3 problems cannot be scored and count as failures: 1 with an empty \
             prompt (record 3 (id d/2)); 1 with an empty gold answer (record 2 (id d/1))"
        );
        let many: Vec<Problem> = (0..9).map(|i| problem(i, "", "")).collect();
        let e = check(path, &many, RowNumbers::Rows)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("every one of its 9 problems")
                && e.contains("row 0 (id d/0)")
                && e.contains("and 4 more"),
            "{e}"
        );
    }
}
