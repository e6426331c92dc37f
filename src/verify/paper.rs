//! The paper mode: `math_equal` of the paper's `grader.py`, step for step with
//! its quirks, and `symbolic_equal` approximated by our LaTeX parser (sympy is not available).
use super::latex;
use super::number::{is_close, paper_parse_digits};

/// Recursion cap (the paper recurses into tuple items, matrix cells and equation sides).
const MAX_DEPTH: usize = 6;

/// `math_equal(pred, ref, include_percentage=True, is_close=True)`, with the deciding rule.
pub fn math_equal(pred: &str, reference: &str) -> (bool, &'static str) {
    eq_at(pred, reference, 0)
}

fn eq_at(pred: &str, reference: &str, depth: usize) -> (bool, &'static str) {
    // 1. String equality (also "" == "").
    if pred == reference {
        return (true, "string");
    }
    if depth > MAX_DEPTH
        || pred.len() > super::equiv::MAX_LEN
        || reference.len() > super::equiv::MAX_LEN
    {
        return (false, "too large (string only)");
    }
    // 2. Numbers: decisive; accepts ref/100 and ref*100.
    if let (Some(p), Some(r)) = (paper_parse_digits(pred), paper_parse_digits(reference)) {
        let hit = [r / 100.0, r, r * 100.0]
            .iter()
            .any(|&x| is_close(x, p, 1e-4));
        return (hit, "number (incl. x100, /100)");
    }
    // 3. An empty prediction is wrong.
    if pred.is_empty() {
        return (false, "empty");
    }
    // 4. Strip; pmatrix in pred only → turn `{a,b}` in ref into a pmatrix.
    let pred = pred.trim();
    let mut reference = reference.trim().to_string();
    if pred.contains("pmatrix") && !reference.contains("pmatrix") {
        reference = str_to_pmatrix(&reference);
    }
    let reference = reference.as_str();
    // 5. Brackets: strip `[]()` at the ends (conditions as in the paper), drop `{}()`, compare
    //    case-insensitively.
    let strip_ends = (pred.starts_with('[') && pred.ends_with(']') && !reference.starts_with('('))
        || (pred.starts_with('(') && pred.ends_with(')') && !reference.starts_with('['));
    let (mut ps, mut rs) = (pred.to_string(), reference.to_string());
    if strip_ends {
        ps = ps.trim_matches(['[', ']', '(', ')']).to_string();
        rs = rs.trim_matches(['[', ']', '(', ')']).to_string();
    }
    let drop = |s: &str| s.replace(['{', '}', '(', ')'], "").to_lowercase();
    if drop(&ps) == drop(&rs) {
        return (true, "string without brackets");
    }
    // 6. Both look like `(..)`/`[..]`: split the inner text on every `,`, compare element-wise
    //    (bracket types are not compared).
    if looks_bracketed(pred) && looks_bracketed(reference) {
        let pp: Vec<&str> = inner(pred).split(',').collect();
        let rp: Vec<&str> = inner(reference).split(',').collect();
        if pp.len() == rp.len() && pp.iter().zip(&rp).all(|(a, b)| eq_at(a, b, depth + 1).0) {
            return (true, "tuple elements");
        }
    }
    // 7. Matrices: rows split on `\\`, cells on `&`.
    if is_matrix(pred) && is_matrix(reference) && matrices_equal(pred, reference, depth) {
        return (true, "matrix cells");
    }
    // 8. Equations.
    let (pe, re) = (pred.matches('=').count(), reference.matches('=').count());
    if pe == 1 && re == 1 {
        let side = |s: &str| {
            let (l, r) = s.split_once('=').unwrap_or((s, ""));
            format!("{} - ({})", l.trim(), r.trim())
        };
        let (a, b) = (side(pred), side(reference));
        if symbolic_equal(&a, &b) || symbolic_equal(&format!("-({a})"), &b) {
            return (true, "equation (lhs-rhs)");
        }
    } else if pe == 1 && lhs_len(pred) <= 2 && re == 0 {
        if eq_at(pred.split('=').nth(1).unwrap_or(""), reference, depth + 1).0 {
            return (true, "equation rhs");
        }
    } else if re == 1
        && lhs_len(reference) <= 2
        && pe == 0
        && eq_at(pred, reference.split('=').nth(1).unwrap_or(""), depth + 1).0
    {
        return (true, "equation rhs");
    }
    // 9. Symbolic.
    if symbolic_equal(pred, reference) {
        return (true, "symbolic");
    }
    (false, "no rule matched")
}

fn lhs_len(s: &str) -> usize {
    s.split('=').next().unwrap_or("").trim().chars().count()
}

/// Regex `^(\(|\[).+(\)|\])`: an opening bracket, at least one char, a closing bracket later.
fn looks_bracketed(s: &str) -> bool {
    s.starts_with(['(', '[']) && s.chars().skip(2).any(|c| c == ')' || c == ']')
}

/// Python `s[1:-1]`.
fn inner(s: &str) -> &str {
    let mut cs = s.char_indices();
    let start = cs.next().map(|(_, c)| c.len_utf8()).unwrap_or(0);
    let end = s.char_indices().last().map(|(i, _)| i).unwrap_or(0);
    if end <= start {
        ""
    } else {
        &s[start..end]
    }
}

const BEGINS: [&str; 2] = ["\\begin{pmatrix}", "\\begin{bmatrix}"];
const ENDS: [&str; 2] = ["\\end{pmatrix}", "\\end{bmatrix}"];

fn is_matrix(s: &str) -> bool {
    BEGINS.iter().any(|b| s.starts_with(b)) && ENDS.iter().any(|e| s.ends_with(e))
}

/// `s[len("\begin{pmatrix}"):-len("\end{pmatrix}")]` split into stripped, non-empty lines.
fn matrix_lines(s: &str) -> Vec<String> {
    let body = s
        .get(BEGINS[0].len()..s.len().saturating_sub(ENDS[0].len()))
        .unwrap_or("");
    body.split("\\\\")
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

fn matrices_equal(p: &str, r: &str, depth: usize) -> bool {
    let (pl, rl) = (matrix_lines(p), matrix_lines(r));
    pl.len() == rl.len()
        && pl.iter().zip(&rl).all(|(a, b)| {
            let (ac, bc): (Vec<&str>, Vec<&str>) = (a.split('&').collect(), b.split('&').collect());
            ac.len() == bc.len() && ac.iter().zip(&bc).all(|(x, y)| eq_at(x, y, depth + 1).0)
        })
}

/// `str_to_pmatrix`: the greedy regex `\{.*,.*\}` → one pmatrix per match, joined by ", "
/// ("" when nothing matches — a quirk that makes such references unmatchable).
fn str_to_pmatrix(s: &str) -> String {
    let s = s.trim();
    let Some(open) = s.find('{') else {
        return String::new();
    };
    let Some(close) = s.rfind('}') else {
        return String::new();
    };
    if close <= open || !s[open..close].contains(',') {
        return String::new();
    }
    let m = s[open..=close].trim_matches(['{', '}']);
    format!("\\begin{{pmatrix}}{}\\end{{pmatrix}}", m.replace(',', "\\"))
}

/// `symbolic_equal`: parse both (our parser stands in for parse_expr/latex2sympy); unparsable
/// sides compare as strings. Constants are equal within rel 1e-4 (`isclose(N(a), N(b))`),
/// expressions with symbols when they agree at every evaluation point (`simplify(a-b) == 0`).
fn symbolic_equal(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    let parse =
        |s: &str| latex::python::parse_python_arith(s).or_else(|| latex::parse_symbolic_i(s));
    let (Some(x), Some(y)) = (parse(a), parse(b)) else {
        return false;
    };
    let symbolic = latex::eval::has_symbols(&x) || latex::eval::has_symbols(&y);
    let tol = if symbolic { 1e-9 } else { 1e-4 };
    latex::equal(&x, &y, tol, false).is_some_and(|r| r.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(p: &str, r: &str) -> (bool, &'static str) {
        math_equal(p, r)
    }

    #[test]
    fn each_step_decides() {
        assert_eq!(rule("", ""), (true, "string"));
        assert_eq!(rule("0.5", "50"), (true, "number (incl. x100, /100)"));
        assert_eq!(rule("1.0001", "1"), (true, "number (incl. x100, /100)"));
        assert_eq!(rule("2", "3"), (false, "number (incl. x100, /100)"));
        assert_eq!(rule("", "x"), (false, "empty"));
        assert_eq!(rule("(1,2)", "1,2"), (true, "string without brackets"));
        assert_eq!(
            rule("\\frac{12}{3}", "\\frac{1}{23}"),
            (true, "string without brackets")
        );
        assert_eq!(rule("[1,2)", "(1,2]"), (true, "tuple elements"));
        assert_eq!(
            rule("(0.5,1)", "(\\frac{1}{2},1)"),
            (true, "tuple elements")
        );
        assert_eq!(
            rule(
                "\\begin{pmatrix}1&0.5\\end{pmatrix}",
                "\\begin{pmatrix}1&\\frac{1}{2}\\end{pmatrix}"
            ),
            (true, "matrix cells")
        );
        assert_eq!(rule("x+y=1", "1=y+x"), (true, "equation (lhs-rhs)"));
        assert_eq!(rule("x=\\frac{1}{2}", "0.5"), (true, "equation rhs"));
        assert_eq!(rule("\\sqrt{8}", "2\\sqrt{2}"), (true, "symbolic"));
        assert_eq!(rule("336", "336^\\circ"), (false, "no rule matched"));
    }

    #[test]
    fn pmatrix_conversion_quirk() {
        assert_eq!(
            str_to_pmatrix("{1,2}"),
            "\\begin{pmatrix}1\\2\\end{pmatrix}"
        );
        assert_eq!(str_to_pmatrix("5"), "");
        assert!(!math_equal("\\begin{pmatrix}5\\end{pmatrix}", "5").0);
    }

    #[test]
    fn bracket_regex() {
        assert!(looks_bracketed("(1,2)"));
        assert!(looks_bracketed("[a)b"));
        assert!(!looks_bracketed("()"));
        assert!(!looks_bracketed("(é"));
        assert_eq!(inner("(é,1)"), "é,1");
        assert_eq!(inner("("), "");
    }
}
