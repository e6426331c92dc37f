//! The correct mode's equivalence: structure first (choices, matrices, tuples/intervals, sets,
//! unions, equations), then numbers, then LaTeX expressions, then text.
use super::latex;
use super::number::{is_close, parse_number};
use super::structure::{bracketed, choice_letter, equals_split, matrix, set_literal, split_top, union_parts};

/// Relative tolerance for numbers and decimal literals (method.md §4.4).
pub const NUMERIC_REL_TOL: f64 = 1e-4;
/// Tolerance for exact-looking expressions evaluated in floating point.
const EXACT_REL_TOL: f64 = 1e-9;
/// Longest answer compared by structure and value; longer ones only by string.
pub const MAX_LEN: usize = 1000;
/// Most items in a tuple, set or matrix row that are compared.
const MAX_ITEMS: usize = 64;
const MAX_DEPTH: usize = 6;

/// Are two normalised answers equal? Returns the decision and the rule that made it.
pub fn equal(pred: &str, reference: &str) -> (bool, &'static str) {
    eq_at(pred.trim(), reference.trim(), 0)
}

fn eq_at(p: &str, r: &str, depth: usize) -> (bool, &'static str) {
    if p == r {
        return (true, "string");
    }
    if p.is_empty() || r.is_empty() {
        return (false, "empty");
    }
    if depth > MAX_DEPTH || p.len() > MAX_LEN || r.len() > MAX_LEN {
        return (false, "too large (string only)");
    }
    if let (Some(a), Some(b)) = (parse_number(p), parse_number(r)) {
        return (is_close(a.value, b.value, NUMERIC_REL_TOL), "number");
    }
    if let (Some(a), Some(b)) = (choice_letter(p), choice_letter(r)) {
        return (a == b, "choice letter");
    }
    if let Some(v) = structured(p, r, depth) {
        return v;
    }
    if let Some(v) = equations(p, r, depth) {
        return v;
    }
    if let Some(v) = expressions(p, r) {
        return v;
    }
    text(p, r)
}

fn all_pairs(a: &[String], b: &[String], depth: usize) -> bool {
    a.len() == b.len() && a.len() <= MAX_ITEMS && a.iter().zip(b).all(|(x, y)| eq_at(x.trim(), y.trim(), depth + 1).0)
}

/// Multiset equality: every item of `a` matched to a distinct equal item of `b`.
fn unordered(a: &[String], b: &[String], depth: usize) -> bool {
    if a.len() != b.len() || a.len() > MAX_ITEMS {
        return false;
    }
    let mut used = vec![false; b.len()];
    a.iter().all(|x| {
        let hit = (0..b.len()).find(|&j| !used[j] && eq_at(x.trim(), b[j].trim(), depth + 1).0);
        hit.map(|j| used[j] = true).is_some()
    })
}

/// The set-like items of an answer: `\{a,b\}` or a bare top-level list `a,b`.
fn set_items(s: &str) -> Option<Vec<String>> {
    if let Some(items) = set_literal(s) {
        return Some(items);
    }
    let items = split_top(s, ",");
    (items.len() >= 2 && bracketed(s).is_none()).then_some(items)
}

fn structured(p: &str, r: &str, depth: usize) -> Option<(bool, &'static str)> {
    if let (Some(a), Some(b)) = (union_parts(p), union_parts(r)) {
        return Some((unordered(&a, &b, depth), "union"));
    }
    match (matrix(p), matrix(r)) {
        (Some(a), Some(b)) => {
            let ok = a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| all_pairs(x, y, depth));
            return Some((ok, "matrix"));
        }
        (Some(m), None) | (None, Some(m)) => {
            // A row or column vector against a tuple `(a,b,c)`.
            let other = if matrix(p).is_some() { r } else { p };
            let flat: Vec<String> = m.iter().flatten().cloned().collect();
            let vector = m.len() == 1 || m.iter().all(|row| row.len() == 1);
            return Some(match bracketed(other) {
                Some(('(', ')', items)) if vector => (all_pairs(&flat, &items, depth), "matrix vs tuple"),
                _ => (false, "matrix vs non-matrix"),
            });
        }
        (None, None) => {}
    }
    match (bracketed(p), bracketed(r)) {
        (Some((po, pc, pi)), Some((ro, rc, ri))) => {
            if po != ro || pc != rc {
                return Some((false, "bracket type"));
            }
            return Some((all_pairs(&pi, &ri, depth), "tuple/interval"));
        }
        (Some(_), None) | (None, Some(_)) => return Some((false, "tuple vs non-tuple")),
        (None, None) => {}
    }
    match (set_items(p), set_items(r)) {
        (Some(a), Some(b)) => Some((unordered(&a, &b, depth), "set")),
        (Some(a), None) if a.len() == 1 => Some(eq_at(a[0].trim(), r, depth + 1)),
        (None, Some(b)) if b.len() == 1 => Some(eq_at(p, b[0].trim(), depth + 1)),
        (Some(_), None) | (None, Some(_)) => Some((false, "set vs non-set")),
        (None, None) => None,
    }
}

/// A short left side that names the answer (`x`, `k`, `\theta`, `f(x)`), not an equation.
fn is_name(lhs: &str) -> bool {
    let t = lhs.trim();
    t.chars().count() <= 2 || (t.starts_with('\\') && t[1..].chars().all(|c| c.is_ascii_alphabetic()))
}

fn equations(p: &str, r: &str, depth: usize) -> Option<(bool, &'static str)> {
    match (equals_split(p), equals_split(r)) {
        (Some((pl, pr)), Some((rl, rr))) => {
            if eq_at(&pl, &rl, depth + 1).0 && eq_at(&pr, &rr, depth + 1).0 {
                return Some((true, "equation sides"));
            }
            if eq_at(&pl, &rr, depth + 1).0 && eq_at(&pr, &rl, depth + 1).0 {
                return Some((true, "equation sides swapped"));
            }
            let a = latex::parse(&format!("({pl})-({pr})"))?;
            let b = latex::parse(&format!("({rl})-({rr})"))?;
            Some((proportional(&a, &b), "equation (lhs-rhs proportional)"))
        }
        (Some((pl, pr)), None) if is_name(&pl) => Some(eq_at(&pr, r, depth + 1)),
        (None, Some((rl, rr))) if is_name(&rl) => Some(eq_at(p, &rr, depth + 1)),
        _ => None,
    }
}

/// Are `a = 0` and `b = 0` the same equation, i.e. `a = c·b` for a constant `c ≠ 0`?
fn proportional(a: &latex::Expr, b: &latex::Expr) -> bool {
    let mut ratio: Option<f64> = None;
    for k in 0..5 {
        let (x, y) = (latex::eval::at(a, k), latex::eval::at(b, k));
        if !x.is_finite() || !y.is_finite() || !x.is_real() || !y.is_real() {
            return false;
        }
        if y.re.abs() < 1e-12 || x.re.abs() < 1e-12 {
            if y.re.abs() < 1e-12 && x.re.abs() < 1e-12 {
                continue;
            }
            return false;
        }
        let q = x.re / y.re;
        match ratio {
            None => ratio = Some(q),
            Some(r0) if is_close(r0, q, EXACT_REL_TOL) => {}
            Some(_) => return false,
        }
    }
    ratio.is_some()
}

fn expressions(p: &str, r: &str) -> Option<(bool, &'static str)> {
    let (a, b) = (latex::parse(p)?, latex::parse(r)?);
    let decimal = latex::has_decimal(p) || latex::has_decimal(r);
    let tol = if decimal { NUMERIC_REL_TOL } else { EXACT_REL_TOL };
    Some(latex::equal(&a, &b, tol, !decimal).unwrap_or((false, "undecidable value")))
}

/// Words: equal after dropping braces, text commands and spaces (case-insensitive for plain
/// words). Strings with fractions, powers or roots are never compared this way.
fn text(p: &str, r: &str) -> (bool, &'static str) {
    let risky = |s: &str| s.contains("\\frac") || s.contains('^') || s.contains('_') || s.contains("\\sqrt");
    if risky(p) || risky(r) {
        return (false, "no rule matched");
    }
    let clean = |s: &str| {
        s.replace("\\text", "").replace("\\mathrm", "").replace("\\mbox", "").replace(['{', '}', ' ', '~'], "")
    };
    let (a, b) = (clean(p), clean(r));
    let words = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_alphabetic());
    let same = a == b || (words(&a) && words(&b) && a.to_lowercase() == b.to_lowercase());
    (same, "text")
}
