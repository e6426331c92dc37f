//! The math answer verifier: the RL reward and the evaluation grader.
//!
//! Pipeline: [`extract`] the answer of a response (last `\boxed{…}`, else "the answer is", else
//! the last number), [`normalize`] it with the paper's `strip_string` steps, then decide
//! equivalence with the reference: exact string, numbers, structure (tuples, intervals, sets,
//! matrices, equations, choice letters) and LaTeX expressions (exact rational arithmetic, else
//! evaluation at several pseudo-random points). No Python, no sympy; every check is bounded
//! (length, nesting depth, exponent and factorial sizes are capped; an undecidable comparison is
//! "not equal"), so none takes more than a few microseconds to a millisecond.
//!
//! Two modes:
//! - [`Mode::Correct`] (default): mathematically correct decisions.
//! - [`Mode::Paper`]: the paper's `math_equal` decisions including its quirks. Its
//!   `symbolic_equal` (sympy) is approximated by our parser (with sympy's `parse_expr` reading
//!   of plain arithmetic, see the table), so rare sympy-specific outcomes can differ: against a
//!   sympy 1.14 + latex2sympy2 1.9.1 run of `math_equal` it agreed on 5023 of 5033 pairs
//!   (MATH targets, rewrites, cross pairs, the hand-written table).
//!
//! | aspect | `Mode::Paper` | `Mode::Correct` |
//! |---|---|---|
//! | reference | compared as given (training targets are pre-normalised; raw golds are not, so `336^\circ` never matches — the AIME25 quirk) | normalised like the prediction |
//! | extraction | `boxed`, "he answer is", last number | chat special tokens (`<|im_end|>`) removed first; also `\fbox{…}` and GSM8K `#### N` (after `boxed`, before "he answer is") |
//! | spacing | `\!` and `\ ` deleted | also `\,` `\;` `\:` `\quad` (`1\,000` ≡ `1000`) |
//! | `k = 5` → `5` | whenever the left side has ≤ 2 chars (`1=x+y` → `x+y`) | only when the left side is not a number |
//! | `\cdot` | deleted (`2\cdot3` → `23`) | multiplication |
//! | `and` | every occurrence deleted (`\text{Sandy}` → `\text{Sy}`, `1 and 2` → `12`) | whole word only, becomes a comma (`1 and 2` → `1,2`) |
//! | units | only a trailing `\text{…}` is dropped | also `\text{ cm}`, `\mbox`, `\mathrm` unit words after a value (with `^2`/`^3`), `°`, `\circ`, `\degree` |
//! | numbers | Python `float()` after deleting every comma (`1,2` = 12); pred may equal ref, ref/100 or ref×100 (`0.5` ≡ `50`); the numeric check is final | commas only as thousands separators (`1,2` is a list); scientific notation, `a/b`, `\frac{a}{b}`, mixed `2\frac12`; only ref itself; exact integers/fractions compare exactly (`100001` ≢ `100000`), decimal or scientific literals within rel tol 1e-4 |
//! | empty | `""` ≡ `""` is correct (empty targets score 1 for an empty extraction) | an empty reference or no extracted answer is never correct |
//! | brackets | `{}()` are deleted and the rest compared case-insensitively (so `\frac{12}{3}` ≡ `\frac{1}{23}`, `(1,2)` ≡ `1,2`) | brackets are structure |
//! | tuples/intervals | split on every `,`, element-wise; bracket types are not compared (`(1,2)` ≡ `[1,2]`) | top-level split; open/closed brackets must agree |
//! | sets / lists | ordered (as tuples, only when bracketed) | `\{…\}` and bare lists `a,b` unordered; `a\pm b` is the pair {a+b, a−b}; `{}`, `{,}`, `{or}` (what `strip_string` leaves of "and"/"or") separate items |
//! | matrices | rows split on `\\` only (after `strip_string` rows are single `\`, so cells only match as whole strings) | rows at `\\` or a `\` not starting a command; a row/column vector ≡ a tuple |
//! | equations | `lhs-(rhs)` equal or negated; `x=3` vs `3` for lhs ≤ 2 chars | also sides equal/swapped, lhs−rhs proportional (`2x=4` ≡ `x=2`), lhs a command name (`\theta=3`) |
//! | plain arithmetic with `^` | sympy `parse_expr` runs first and Python reads `^` as XOR: `2^10` is 8, `10^6` is 12 (`2^{10}` is not Python syntax and is 1024) | `^` is a power |
//! | `i` | an ordinary symbol (sympy): `i^2` ≢ `-1` | the imaginary unit |
//! | expressions | constants within rel 1e-4 (`isclose(N(a), N(b))`) | exact rationals compared exactly; decimal literals within rel 1e-4; otherwise rel 1e-9 |
//! | choices | letters compared as strings | `A` ≡ `(A)` ≡ `\text{(A)}` |
//! | words | case-insensitive after deleting `{}()` | case-insensitive for plain words after deleting text commands and braces |
//! | over-long answers | answers over 8 KiB are not normalised (only trimmed) and compare as strings, in both modes (bounded work) | same |
//! | `336` vs `336^\circ` | false when the reference is raw (eval.py) | true |
use rayon::prelude::*;

pub mod equiv;
pub mod extract;
pub mod labels;
pub mod latex;
pub mod matrix_expr;
pub mod normalize;
pub mod number;
pub mod paper;
pub mod rational;
pub mod relation;
pub mod spelling;
pub mod structure;

/// Which decisions to reproduce (`correct` or `paper` in config files and on the command line).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Mathematically correct (default).
    #[default]
    Correct,
    /// The paper's `math_equal`, quirks included.
    Paper,
}

/// The outcome of grading one response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grade {
    pub correct: bool,
    /// The normalised extracted answer; `None` when nothing was extractable.
    pub pred: Option<String>,
    /// Which rule decided.
    pub rule: &'static str,
    /// The prediction as compared ("" when none).
    pub pred_norm: String,
    /// The reference as compared.
    pub ref_norm: String,
}

/// The normalised answer of a response (correct-mode extraction and normalisation); `None` when
/// nothing is extractable.
pub fn extract_answer(response: &str) -> Option<String> {
    extract::extract_normalized(response, Mode::Correct)
}

/// Is the (already extracted) prediction equivalent to the reference? `Paper` compares both
/// strings as given (the paper's `math_equal(pred, ref)`; its `pred` is already `strip_string`ed),
/// `Correct` normalises both first.
pub fn is_equivalent(pred: &str, reference: &str, mode: Mode) -> bool {
    match mode {
        Mode::Paper => paper::math_equal(pred, reference).0,
        Mode::Correct => {
            if pred == reference {
                // Same text, same normal form: only an empty one is not an answer.
                return !normalize::normalize(pred, mode).is_empty();
            }
            let p = normalize::normalize(pred, mode);
            let (r, other) = reference_forms(reference);
            !p.is_empty() && !r.is_empty() && equal_to_either(&p, &r, other.as_deref()).0
        }
    }
}

/// Extract the answer of `response` and compare it with `reference`.
pub fn grade(response: &str, reference: &str, mode: Mode) -> Grade {
    match mode {
        Mode::Paper => {
            let pred_norm = extract::extract_raw(response, mode)
                .map(|r| normalize::strip_string(&r))
                .unwrap_or_default();
            let (correct, rule) = paper::math_equal(&pred_norm, reference);
            let pred = (!pred_norm.is_empty()).then(|| pred_norm.clone());
            Grade {
                correct,
                pred,
                rule,
                pred_norm,
                ref_norm: reference.to_string(),
            }
        }
        Mode::Correct => {
            let pred = extract::extract_normalized(response, mode);
            let (ref_norm, other) = reference_forms(reference);
            let pred_norm = pred.clone().unwrap_or_default();
            let (correct, rule) = if ref_norm.is_empty() {
                (false, "empty reference")
            } else if pred.is_none() {
                (false, "no answer extracted")
            } else {
                equal_to_either(&pred_norm, &ref_norm, other.as_deref())
            };
            Grade {
                correct,
                pred,
                rule,
                pred_norm,
                ref_norm,
            }
        }
    }
}

/// The correct mode's normal form of a reference, and its second reading when its commas are
/// ambiguous: a reference without spaces (a pre-normalised target, whose spaces `strip_string`
/// deleted) can write a list `81, 256` as `81,256`, which also reads as 81256.
fn reference_forms(reference: &str) -> (String, Option<String>) {
    let norm = normalize::normalize(reference, Mode::Correct);
    let other = (reference.contains(',') && !reference.contains(char::is_whitespace))
        .then(|| normalize::normalize_commas_as_separators(reference))
        .filter(|other| *other != norm);
    (norm, other)
}

fn equal_to_either(pred: &str, reference: &str, other: Option<&str>) -> (bool, &'static str) {
    let first = equiv::equal(pred, reference);
    match other {
        Some(other) if !first.0 => {
            let second = equiv::equal(pred, other);
            if second.0 {
                (true, "commas as separators")
            } else {
                first
            }
        }
        _ => first,
    }
}

/// Grade `(response, reference)` pairs in parallel (rayon), in input order.
pub fn grade_batch(items: &[(String, String)], mode: Mode) -> Vec<Grade> {
    items
        .par_iter()
        .map(|(resp, reference)| grade(resp, reference, mode))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_is_send_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Grade>();
        assert_send_sync::<Mode>();
    }

    #[test]
    fn paper_vs_correct() {
        assert!(is_equivalent("0.5", "50", Mode::Paper));
        assert!(!is_equivalent("0.5", "50", Mode::Correct));
        assert!(!grade("\\boxed{336}", "336^\\circ", Mode::Paper).correct);
        assert!(grade("\\boxed{336}", "336^\\circ", Mode::Correct).correct);
        assert!(grade("no answer", "", Mode::Paper).correct);
        assert!(!grade("no answer", "", Mode::Correct).correct);
    }

    #[test]
    fn trainer_style_responses() {
        let resp =
            "Let me think.\n\nSo $x = \\dfrac{3}{4}$, i.e. \\boxed{\\dfrac{3}{4}}.<|im_end|>";
        assert_eq!(extract_answer(resp).as_deref(), Some("\\frac{3}{4}"));
        let g = grade(resp, "0.75", Mode::Correct);
        assert!(g.correct, "{g:?}");
        assert_eq!(g.rule, "number");
        let g = grade("The answer is 12<|endoftext|>", "12", Mode::Correct);
        assert!(g.correct && g.pred.as_deref() == Some("12"), "{g:?}");
        // The paper keeps special tokens in the decoded response.
        assert!(!grade("The answer is 12<|endoftext|>", "12", Mode::Paper).correct);
        assert_eq!(extract_answer("nothing to see"), None);
        assert_eq!(extract_answer("\\boxed{}"), None);
        let g = grade("\\boxed{}", "", Mode::Paper);
        assert!(g.correct && g.pred.is_none(), "empty target quirk: {g:?}");
    }

    #[test]
    fn batch_keeps_order() {
        let items: Vec<(String, String)> = (0..50)
            .map(|i| {
                (
                    format!("\\boxed{{{i}}}"),
                    if i % 2 == 0 {
                        i.to_string()
                    } else {
                        "x".into()
                    },
                )
            })
            .collect();
        let g = grade_batch(&items, Mode::Correct);
        assert!(g.iter().enumerate().all(|(i, g)| g.correct == (i % 2 == 0)));
    }
}
