//! The math answer verifier: the RL reward and the evaluation grader (method.md §4).
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
//! - [`Mode::Paper`]: the paper's `math_equal` decisions including its quirks (method.md §4.4,
//!   §4.5). Its `symbolic_equal` (sympy) is approximated by our parser, so rare sympy-specific
//!   outcomes can differ.
//!
//! | aspect | `Mode::Paper` | `Mode::Correct` |
//! |---|---|---|
//! | reference | compared as given (training targets are pre-normalised; raw golds are not, so `336^\circ` never matches — the AIME25 quirk) | normalised like the prediction |
//! | extraction | `boxed`, "he answer is", last number | also `\fbox{…}` and GSM8K `#### N` (after `boxed`, before "he answer is") |
//! | `\cdot` | deleted (`2\cdot3` → `23`) | multiplication |
//! | `and` | every occurrence deleted (`\text{Sandy}` → `\text{Sy}`, `1 and 2` → `12`) | whole word only, becomes a comma (`1 and 2` → `1,2`) |
//! | units | only a trailing `\text{…}` is dropped | also `\text{ cm}`, `\mbox`, `\mathrm` unit words after a value (with `^2`/`^3`), `°`, `\circ`, `\degree` |
//! | numbers | Python `float()` after deleting every comma (`1,2` = 12); pred may equal ref, ref/100 or ref×100 (`0.5` ≡ `50`); the numeric check is final | commas only as thousands separators (`1,2` is a list); scientific notation, `a/b`, `\frac{a}{b}`, mixed `2\frac12`; only ref itself (rel tol 1e-4) |
//! | empty | `""` ≡ `""` is correct (empty targets score 1 for an empty extraction) | an empty reference or no extracted answer is never correct |
//! | brackets | `{}()` are deleted and the rest compared case-insensitively (so `\frac{12}{3}` ≡ `\frac{1}{23}`, `(1,2)` ≡ `1,2`) | brackets are structure |
//! | tuples/intervals | split on every `,`, element-wise; bracket types are not compared (`(1,2)` ≡ `[1,2]`) | top-level split; open/closed brackets must agree |
//! | sets / lists | ordered (as tuples, only when bracketed) | `\{…\}` and bare lists `a,b` unordered |
//! | matrices | rows split on `\\` only (after `strip_string` rows are single `\`, so cells only match as whole strings) | rows at `\\` or a `\` not starting a command; a row/column vector ≡ a tuple |
//! | equations | `lhs-(rhs)` equal or negated; `x=3` vs `3` for lhs ≤ 2 chars | also sides equal/swapped, lhs−rhs proportional (`2x=4` ≡ `x=2`), lhs a command name (`\theta=3`) |
//! | expressions | constants within rel 1e-4 (`isclose(N(a), N(b))`) | exact rationals compared exactly; decimal literals within rel 1e-4; otherwise rel 1e-9 |
//! | choices | letters compared as strings | `A` ≡ `(A)` ≡ `\text{(A)}` |
//! | words | case-insensitive after deleting `{}()` | case-insensitive for plain words after deleting text commands and braces |
//! | `336` vs `336^\circ` | false when the reference is raw (eval.py) | true |
use rayon::prelude::*;

pub mod equiv;
pub mod extract;
pub mod latex;
pub mod normalize;
pub mod number;
pub mod paper;
pub mod structure;

/// Which decisions to reproduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
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

/// Is the (already extracted) prediction equivalent to the reference?
pub fn is_equivalent(pred: &str, reference: &str, mode: Mode) -> bool {
    match mode {
        Mode::Paper => paper::math_equal(pred, reference).0,
        Mode::Correct => {
            let (p, r) = (normalize::normalize(pred, mode), normalize::normalize(reference, mode));
            !p.is_empty() && !r.is_empty() && equiv::equal(&p, &r).0
        }
    }
}

/// Extract the answer of `response` and compare it with `reference`.
pub fn grade(response: &str, reference: &str, mode: Mode) -> Grade {
    match mode {
        Mode::Paper => {
            let pred_norm = extract::extract_raw(response, mode).map(|r| normalize::strip_string(&r)).unwrap_or_default();
            let (correct, rule) = paper::math_equal(&pred_norm, reference);
            let pred = (!pred_norm.is_empty()).then(|| pred_norm.clone());
            Grade { correct, pred, rule, pred_norm, ref_norm: reference.to_string() }
        }
        Mode::Correct => {
            let pred = extract::extract_normalized(response, mode);
            let ref_norm = normalize::normalize(reference, mode);
            let pred_norm = pred.clone().unwrap_or_default();
            let (correct, rule) = if ref_norm.is_empty() {
                (false, "empty reference")
            } else if pred.is_none() {
                (false, "no answer extracted")
            } else {
                equiv::equal(&pred_norm, &ref_norm)
            };
            Grade { correct, pred, rule, pred_norm, ref_norm }
        }
    }
}

/// Grade `(response, reference)` pairs in parallel (rayon), in input order.
pub fn grade_batch(items: &[(String, String)], mode: Mode) -> Vec<Grade> {
    items.par_iter().map(|(resp, reference)| grade(resp, reference, mode)).collect()
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
    fn batch_keeps_order() {
        let items: Vec<(String, String)> =
            (0..50).map(|i| (format!("\\boxed{{{i}}}"), if i % 2 == 0 { i.to_string() } else { "x".into() })).collect();
        let g = grade_batch(&items, Mode::Correct);
        assert!(g.iter().enumerate().all(|(i, g)| g.correct == (i % 2 == 0)));
    }
}
