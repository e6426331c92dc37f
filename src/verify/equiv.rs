//! The correct mode's equivalence: numbers, choice letters and words first, then stated values
//! (labels `x = 5`, chains `= 11`, `\approx`), relations and the sets they describe, structure
//! (matrices and matrix arithmetic, tuples/intervals, sets, unions, equations), then LaTeX
//! expressions, then text.
use super::labels::{is_label, stated_value};
use super::latex;
use super::matrix_expr;
use super::number::{is_close, parse_number, REL_TOL_EXACT};
use super::relation::{has_relation, real_set, same_relations, same_set, OR};
use super::structure::{
    bracketed, choice_letter, equals_split, matrix, set_literal, split_top, union_parts,
};

/// Relative tolerance for numbers and decimal literals (the paper's `isclose` tolerance).
pub const NUMERIC_REL_TOL: f64 = 1e-4;
/// Longest answer compared by structure and value; longer ones only by string.
pub const MAX_LEN: usize = 1000;
/// Most items in a tuple, set or matrix row that are compared.
const MAX_ITEMS: usize = 64;
const MAX_DEPTH: usize = 6;
/// Most element comparisons one top-level check may make (nested unordered sets would
/// otherwise multiply: bounded work).
const MAX_COMPARISONS: usize = 2048;

/// Remaining comparison budget of one top-level check.
struct Budget(std::cell::Cell<usize>);

impl Budget {
    fn take(&self) -> bool {
        let left = self.0.get();
        self.0.set(left.saturating_sub(1));
        left > 0
    }
}

/// Are two normalised answers equal? Returns the decision and the rule that made it.
pub fn equal(pred: &str, reference: &str) -> (bool, &'static str) {
    let budget = Budget(std::cell::Cell::new(MAX_COMPARISONS));
    eq_at(pred.trim(), reference.trim(), 0, &budget)
}

fn eq_at(p: &str, r: &str, depth: usize, budget: &Budget) -> (bool, &'static str) {
    if p == r {
        return (true, "string");
    }
    if !budget.take() {
        return (false, "work budget exhausted");
    }
    if p.is_empty() || r.is_empty() {
        return (false, "empty");
    }
    if depth > MAX_DEPTH || p.len() > MAX_LEN || r.len() > MAX_LEN {
        return (false, "too large (string only)");
    }
    if let (Some(a), Some(b)) = (parse_number(p), parse_number(r)) {
        // Integers and fractions written exactly compare exactly (100001 ≠ 100000); a decimal
        // or scientific literal on either side is an approximation: rel tol 1e-4, decided
        // exactly when both values are exact (`1e-400` is not 0).
        let approximate = |s: &str| s.contains(['.', 'e', 'E']);
        return match (&a.exact, &b.exact) {
            (Some(x), Some(y)) if !approximate(p) && !approximate(r) => (x == y, "number (exact)"),
            (Some(x), Some(y)) => (x.is_close(y, REL_TOL_EXACT), "number"),
            _ => (is_close(a.value, b.value, NUMERIC_REL_TOL), "number"),
        };
    }
    if let (Some(a), Some(b)) = (choice_letter(p), choice_letter(r)) {
        return (a == b, "choice letter");
    }
    let word = |s: &str| s.len() >= 2 && s.chars().all(|c| c.is_alphabetic());
    if word(p) && word(r) && p.to_lowercase() == r.to_lowercase() {
        return (true, "text (case-insensitive)");
    }
    if let Some(v) = stated(p, r, depth, budget) {
        return v;
    }
    if let Some(v) = relations(p, r, depth, budget) {
        return v;
    }
    if let Some(v) = structured(p, r, depth, budget) {
        return v;
    }
    if let Some(v) = equations(p, r, depth, budget) {
        return v;
    }
    if let Some(v) = expressions(p, r) {
        return v;
    }
    text(p, r)
}

fn all_pairs(a: &[String], b: &[String], depth: usize, budget: &Budget) -> bool {
    a.len() == b.len()
        && a.len() <= MAX_ITEMS
        && a.iter()
            .zip(b)
            .all(|(x, y)| eq_at(x.trim(), y.trim(), depth + 1, budget).0)
}

/// Multiset equality: every item of `a` matched to a distinct equal item of `b`.
fn unordered(a: &[String], b: &[String], depth: usize, budget: &Budget) -> bool {
    if a.len() != b.len() || a.len() > MAX_ITEMS {
        return false;
    }
    let mut used = vec![false; b.len()];
    a.iter().all(|x| {
        let hit =
            (0..b.len()).find(|&j| !used[j] && eq_at(x.trim(), b[j].trim(), depth + 1, budget).0);
        hit.map(|j| used[j] = true).is_some()
    })
}

/// Does `s` state an equation or approximation at top level?
fn has_equation(s: &str) -> bool {
    (s.contains('=') && split_top(s, "=").len() > 1) || s.contains("\\approx")
}

/// A labelled or chained value against a plain answer: the value is compared (the exact one, or
/// the approximation when the other side is a decimal). Two chains compare their values.
fn stated(p: &str, r: &str, depth: usize, budget: &Budget) -> Option<(bool, &'static str)> {
    if !has_equation(p) && !has_equation(r) {
        return None;
    }
    // `x = 1 \lor x = 2`, `AB=9,CD=4`: lists of statements compare item by item.
    let list =
        |s: &str| s.contains(OR) || split_top(s, ",").len() > 1 || split_top(s, ";").len() > 1;
    if list(p) || list(r) {
        return None;
    }
    let pick = |v: &super::labels::Stated, other: &str| {
        if latex::has_decimal(other) {
            v.last.clone()
        } else {
            v.exact.clone()
        }
    };
    match (stated_value(p), stated_value(r)) {
        (Some(a), None) if !has_equation(r) => {
            Some((eq_at(&pick(&a, r), r, depth + 1, budget).0, "stated value"))
        }
        (None, Some(b)) if !has_equation(p) => {
            Some((eq_at(p, &pick(&b, p), depth + 1, budget).0, "stated value"))
        }
        (Some(a), Some(b)) if a.chained || b.chained => Some((
            eq_at(&a.exact, &b.exact, depth + 1, budget).0,
            "stated values",
        )),
        _ => None,
    }
}

/// Relations: the sets of reals they describe (against each other or interval notation), else
/// relation chains between expressions side by side.
fn relations(p: &str, r: &str, depth: usize, budget: &Budget) -> Option<(bool, &'static str)> {
    if !has_relation(p) && !has_relation(r) {
        return None;
    }
    if let (Some(a), Some(b)) = (real_set(p), real_set(r)) {
        if let (Some(x), Some(y)) = (&a.variable, &b.variable) {
            if x != y {
                return Some((false, "relation variables"));
            }
        }
        let same = same_set(&a.parts, &b.parts, &mut |x, y| {
            eq_at(x, y, depth + 1, budget).0
        });
        return Some((same, "solution set"));
    }
    same_relations(p, r).map(|same| (same, "relation"))
}

/// The set-like items of an answer: `\{a,b\}`, `{a,b}`, or a bare top-level list `a,b` (also
/// separated by `;` or "or").
fn set_items(s: &str) -> Option<Vec<String>> {
    if let Some(items) = set_literal(s) {
        return Some(items);
    }
    if bracketed(s).is_some() {
        return None;
    }
    // `a\pm b` is the pair {a+b, a-b}.
    if s.matches("\\pm").count() == 1 && split_top(s, ",").len() == 1 {
        return Some(vec![s.replace("\\pm", "+"), s.replace("\\pm", "-")]);
    }
    // `{a,b}`: a set written with plain braces.
    let s = match s.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
        Some(inner) if split_top(s, ",").len() == 1 && split_top(inner, ",").len() > 1 => inner,
        _ => s,
    };
    // `strip_string` leaves `2,3,{}4` of "2, 3, \text{and} 4" and `-2{or}-12` of "\text{ or }".
    let mut cleaned = s.to_string();
    for sep in ["{,,}", "{,}", "{or}", "{}", OR, ";"] {
        if cleaned.contains(sep) {
            cleaned = cleaned.replace(sep, ",");
        }
    }
    let items: Vec<String> = split_top(&cleaned, ",")
        .into_iter()
        .filter(|x| !x.trim().is_empty())
        .collect();
    (items.len() >= 2).then_some(items)
}

/// A matrix literal, or the value of matrix arithmetic (`A+B`, `2A`, `AB`, `A^T`).
fn matrix_value(s: &str) -> Option<Vec<Vec<String>>> {
    matrix(s).or_else(|| matrix_expr::evaluate(s))
}

fn structured(p: &str, r: &str, depth: usize, budget: &Budget) -> Option<(bool, &'static str)> {
    if let (Some(a), Some(b)) = (union_parts(p), union_parts(r)) {
        return Some((unordered(&a, &b, depth, budget), "union"));
    }
    match (matrix_value(p), matrix_value(r)) {
        (Some(a), Some(b)) => {
            let ok = a.len() == b.len()
                && a.iter()
                    .zip(&b)
                    .all(|(x, y)| all_pairs(x, y, depth, budget));
            return Some((ok, "matrix"));
        }
        (Some(m), None) | (None, Some(m)) => {
            // A row or column vector against a tuple `(a,b,c)`.
            let other = if matrix_value(p).is_some() { r } else { p };
            let flat: Vec<String> = m.iter().flatten().cloned().collect();
            let vector = m.len() == 1 || m.iter().all(|row| row.len() == 1);
            return Some(match bracketed(other) {
                Some(('(', ')', items)) if vector => {
                    (all_pairs(&flat, &items, depth, budget), "matrix vs tuple")
                }
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
            return Some((all_pairs(&pi, &ri, depth, budget), "tuple/interval"));
        }
        (Some(_), None) | (None, Some(_)) => return Some((false, "tuple vs non-tuple")),
        (None, None) => {}
    }
    match (set_items(p), set_items(r)) {
        (Some(a), Some(b)) => Some((unordered(&a, &b, depth, budget), "set")),
        (Some(a), None) if a.len() == 1 => Some(eq_at(a[0].trim(), r, depth + 1, budget)),
        (None, Some(b)) if b.len() == 1 => Some(eq_at(p, b[0].trim(), depth + 1, budget)),
        (Some(_), None) | (None, Some(_)) => Some((false, "set vs non-set")),
        (None, None) => None,
    }
}

fn equations(p: &str, r: &str, depth: usize, budget: &Budget) -> Option<(bool, &'static str)> {
    match (equals_split(p), equals_split(r)) {
        (Some((pl, pr)), Some((rl, rr))) => {
            if eq_at(&pl, &rl, depth + 1, budget).0 && eq_at(&pr, &rr, depth + 1, budget).0 {
                return Some((true, "equation sides"));
            }
            if eq_at(&pl, &rr, depth + 1, budget).0 && eq_at(&pr, &rl, depth + 1, budget).0 {
                return Some((true, "equation sides swapped"));
            }
            let a = latex::parse(&format!("({pl})-({pr})"))?;
            let b = latex::parse(&format!("({rl})-({rr})"))?;
            Some((proportional(&a, &b), "equation (lhs-rhs proportional)"))
        }
        (Some((pl, pr)), None) if is_label(&pl) => Some(eq_at(&pr, r, depth + 1, budget)),
        (None, Some((rl, rr))) if is_label(&rl) => Some(eq_at(p, &rr, depth + 1, budget)),
        _ => None,
    }
}

/// Are `a = 0` and `b = 0` the same equation, i.e. `a = c·b` for a constant `c ≠ 0`?
fn proportional(a: &latex::Expr, b: &latex::Expr) -> bool {
    latex::ratio(a, b).is_some()
}

fn expressions(p: &str, r: &str) -> Option<(bool, &'static str)> {
    let (a, b) = (expression(p)?, expression(r)?);
    let decimal = latex::has_decimal(p) || latex::has_decimal(r);
    Some(latex::equivalent(&a, &b, decimal).unwrap_or((false, "undecidable value")))
}

/// A numeral in any of [`parse_number`]'s forms (`1e-400` is one number, not `1·e − 400`), else
/// a LaTeX expression.
fn expression(s: &str) -> Option<latex::Expr> {
    match parse_number(s) {
        Some(n) => Some(latex::Expr::Num(n.value, n.exact)),
        None => latex::parse(s),
    }
}

/// Words: equal after dropping braces, text commands and spaces (case-insensitive for plain
/// words). Strings with fractions, powers or roots are never compared this way.
fn text(p: &str, r: &str) -> (bool, &'static str) {
    let risky = |s: &str| s.contains("\\frac") || s.contains('^') || s.contains("\\sqrt");
    if risky(p) || risky(r) {
        return (false, "no rule matched");
    }
    let clean = |s: &str| {
        s.replace("\\text", "")
            .replace("\\mathrm", "")
            .replace("\\mbox", "")
            .replace(['{', '}', ' ', '~'], "")
    };
    let (a, b) = (clean(p), clean(r));
    let words = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_alphabetic());
    let same = a == b || (words(&a) && words(&b) && a.to_lowercase() == b.to_lowercase());
    (same, "text")
}

#[cfg(test)]
mod tests {
    use super::equal;

    #[test]
    fn each_rule_decides() {
        assert_eq!(equal("x", "x"), (true, "string"));
        assert_eq!(equal("1000", "1e3"), (true, "number"));
        assert_eq!(equal("1e-400", "0"), (false, "number"));
        assert_eq!(equal("100001", "100000"), (false, "number (exact)"));
        assert_eq!(equal("1.0001", "1"), (true, "number"));
        assert_eq!(equal("", "1"), (false, "empty"));
        assert_eq!(equal("A", "(A)"), (true, "choice letter"));
        assert_eq!(equal("Yes", "yes"), (true, "text (case-insensitive)"));
        assert_eq!(equal("(1,2)\\cup(3,4)", "(3,4)\\cup(1,2)"), (true, "union"));
        assert_eq!(
            equal(
                "\\begin{pmatrix}1\\\\2\\end{pmatrix}",
                "\\begin{pmatrix}1\\\\2.0\\end{pmatrix}"
            ),
            (true, "matrix")
        );
        assert_eq!(
            equal("\\begin{pmatrix}1\\\\2\\end{pmatrix}", "(1,2)"),
            (true, "matrix vs tuple")
        );
        assert_eq!(equal("(1,2]", "(1,2)"), (false, "bracket type"));
        assert_eq!(equal("(1,2)", "(1,2.0)"), (true, "tuple/interval"));
        assert_eq!(equal("(1,2)", "3"), (false, "tuple vs non-tuple"));
        assert_eq!(equal("\\{3,1\\}", "1,3"), (true, "set"));
        assert_eq!(
            equal("1\\pm\\sqrt{2}", "1-\\sqrt{2},1+\\sqrt{2}"),
            (true, "set")
        );
        assert_eq!(equal("\\pm2", "2,-2"), (true, "set"));
        assert_eq!(equal("x+1=y", "y=x+1"), (true, "equation sides swapped"));
        assert_eq!(
            equal("2y=4x", "y=2x"),
            (true, "equation (lhs-rhs proportional)")
        );
        assert_eq!(
            equal("y=x^2", "y=x"),
            (false, "equation (lhs-rhs proportional)")
        );
        assert_eq!(
            equal("\\frac{4}{6}", "\\frac{2}{3}"),
            (true, "number (exact)")
        );
        assert_eq!(equal("2^{-1}", "\\frac{1}{2}"), (true, "exact rational"));
        assert_eq!(equal("\\sqrt{2}", "2^{1/2}"), (true, "numeric value"));
        assert_eq!(equal("(x+1)^2", "x^2+2x+1"), (true, "random points"));
        assert_eq!(equal("\\text{blue}", "blue"), (true, "random points"));
        assert_eq!(equal("\\text{it's}", "it's"), (true, "text"));
        assert_eq!(
            equal("10^{10^{10}}", "10^{10^{10}}+1"),
            (false, "undecidable value")
        );
    }
}
