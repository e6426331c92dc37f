//! Reader for the paper's evaluation JSONL (`eval.py` output): one line per sampled response with
//! `question_id`, `generation_id`, `label` and optionally `prompt`, `response`, `answer`,
//! `gold_answer`, `pred_answer` (other fields are ignored). Only `question_id` and `label` are
//! required, so outputs of the paper's code and ours score the same way.

use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::io::BufRead;
use std::path::Path;

/// The labels of one question's samples, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct QuestionSamples {
    /// `question_id` as text: a JSON string as is, a JSON integer in decimal.
    pub question_id: String,
    pub labels: Vec<bool>,
}

impl QuestionSamples {
    /// `(n, c)`: samples and correct samples.
    pub fn counts(&self) -> (usize, usize) {
        (
            self.labels.len(),
            self.labels.iter().filter(|&&l| l).count(),
        )
    }
}

/// All questions of one evaluation file, in order of first appearance.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalSamples {
    pub questions: Vec<QuestionSamples>,
    /// Lines whose (`question_id`, `generation_id`) pair was already seen, e.g. after a resumed
    /// run appended a question twice. They are kept, as the paper's `calculate_metrics.py` does.
    pub duplicate_generations: usize,
}

impl EvalSamples {
    /// `(n, c)` per question.
    pub fn counts(&self) -> Vec<(usize, usize)> {
        self.questions.iter().map(QuestionSamples::counts).collect()
    }

    /// Keep the first `n` samples of each question (what `calculate_metrics.py` does);
    /// errors when a question has fewer than `n`.
    pub fn take_first(&self, n: usize) -> Result<EvalSamples> {
        let mut questions = Vec::with_capacity(self.questions.len());
        for q in &self.questions {
            if q.labels.len() < n {
                bail!(
                    "question_id {} has {} samples, fewer than --n {}",
                    q.question_id,
                    q.labels.len(),
                    n
                );
            }
            questions.push(QuestionSamples {
                question_id: q.question_id.clone(),
                labels: q.labels[..n].to_vec(),
            });
        }
        Ok(EvalSamples {
            questions,
            duplicate_generations: self.duplicate_generations,
        })
    }
}

/// Read an evaluation JSONL file; errors name `file:line` and the problem.
pub fn read_eval_samples(path: &Path) -> Result<EvalSamples> {
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    parse_eval_samples(std::io::BufReader::new(f), &path.display().to_string())
}

/// Parse evaluation JSONL from any reader; `name` is used in error messages.
pub fn parse_eval_samples(reader: impl BufRead, name: &str) -> Result<EvalSamples> {
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut questions: Vec<QuestionSamples> = Vec::new();
    let mut seen: HashSet<(String, String)> = HashSet::new();
    let mut duplicate_generations = 0usize;
    for (i, line) in reader.lines().enumerate() {
        let at = || format!("{name}:{}", i + 1);
        let line = line.with_context(|| format!("{}: reading line", at()))?;
        if line.trim().is_empty() {
            continue;
        }
        let v: Value =
            serde_json::from_str(&line).with_context(|| format!("{}: malformed JSON", at()))?;
        let Value::Object(obj) = &v else {
            bail!("{}: expected a JSON object", at());
        };
        let qid = match obj.get("question_id") {
            Some(v) => id_text(v).with_context(|| format!("{}: bad question_id", at()))?,
            None => bail!("{}: missing \"question_id\"", at()),
        };
        let label = match obj.get("label") {
            Some(v) => label_value(v).with_context(|| format!("{}: bad label", at()))?,
            None => bail!("{}: missing \"label\"", at()),
        };
        if let Some(g) = obj.get("generation_id") {
            let gid = id_text(g).with_context(|| format!("{}: bad generation_id", at()))?;
            if !seen.insert((qid.clone(), gid)) {
                duplicate_generations += 1;
            }
        }
        for key in ["prompt", "response", "answer", "gold_answer", "pred_answer"] {
            match obj.get(key) {
                None | Some(Value::String(_)) | Some(Value::Null) => {}
                Some(other) => bail!("{}: \"{key}\" must be a string or null, got {other}", at()),
            }
        }
        let slot = *index.entry(qid.clone()).or_insert_with(|| {
            questions.push(QuestionSamples {
                question_id: qid,
                labels: Vec::new(),
            });
            questions.len() - 1
        });
        questions[slot].labels.push(label);
    }
    Ok(EvalSamples {
        questions,
        duplicate_generations,
    })
}

fn id_text(v: &Value) -> Result<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
        other => bail!("expected a string or an integer, got {other}"),
    }
}

fn label_value(v: &Value) -> Result<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::Number(n) if n.as_f64() == Some(0.0) => Ok(false),
        Value::Number(n) if n.as_f64() == Some(1.0) => Ok(true),
        other => bail!("expected true/false or 0/1, got {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<EvalSamples> {
        parse_eval_samples(text.as_bytes(), "t.jsonl")
    }

    #[test]
    fn groups_in_file_order() {
        let s = parse(
            "{\"question_id\": 7, \"generation_id\": 0, \"label\": true}\n\n\
             {\"question_id\": \"a\", \"label\": 0}\n\
             {\"question_id\": 7, \"generation_id\": 1, \"label\": 1, \"pred_answer\": null}\n",
        )
        .unwrap();
        assert_eq!(s.questions.len(), 2);
        assert_eq!(s.questions[0].question_id, "7");
        assert_eq!(s.questions[0].labels, vec![true, true]);
        assert_eq!(s.questions[1].labels, vec![false]);
        assert_eq!(s.counts(), vec![(2, 2), (1, 0)]);
        assert_eq!(s.duplicate_generations, 0);
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            ("{\"label\": true}", "t.jsonl:2: missing \"question_id\""),
            ("{\"question_id\": 1}", "t.jsonl:2: missing \"label\""),
            ("{\"question_id\": 1, \"label\": 2}", "t.jsonl:2: bad label"),
            (
                "{\"question_id\": 1.5, \"label\": 1}",
                "t.jsonl:2: bad question_id",
            ),
            (
                "{\"question_id\": 1, \"label\"",
                "t.jsonl:2: malformed JSON",
            ),
            ("[1]", "t.jsonl:2: expected a JSON object"),
            (
                "{\"question_id\": 1, \"label\": 1, \"response\": 3}",
                "t.jsonl:2: \"response\" must be",
            ),
        ];
        for (bad, want) in cases {
            let text = format!("{{\"question_id\": 0, \"label\": true}}\n{bad}\n");
            let err = format!("{:#}", parse(&text).unwrap_err());
            assert!(err.starts_with(want), "{err} vs {want}");
        }
    }

    #[test]
    fn take_first_and_duplicates() {
        let s = parse(
            "{\"question_id\": 1, \"generation_id\": 0, \"label\": false}\n\
             {\"question_id\": 1, \"generation_id\": 0, \"label\": true}\n\
             {\"question_id\": 1, \"generation_id\": 1, \"label\": true}\n",
        )
        .unwrap();
        assert_eq!(s.duplicate_generations, 1);
        assert_eq!(s.take_first(1).unwrap().counts(), vec![(1, 0)]);
        let err = format!("{:#}", s.take_first(4).unwrap_err());
        assert!(err.contains("question_id 1 has 3 samples"), "{err}");
    }
}
