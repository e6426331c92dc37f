//! LaTeX expressions: tokenizer, parser, exact rational and complex point evaluation, and the
//! equivalence test built on them.
//!
//! Two expressions are equal when both are rational and equal exactly (no decimal literals on
//! either side), or otherwise when their values agree at every evaluation point (symbols get
//! pseudo-random values fixed by name and point, so `x^2+2x+1` and `(x+1)^2` meet at each point).
mod complex;
pub mod eval;
pub mod lexer;
pub mod parser;

pub use parser::{parse, Expr};

/// Number of evaluation points for expressions with symbols.
const POINTS: u64 = 5;

/// Does the text contain a decimal literal like `3.14`? Such inputs are compared with the
/// numeric tolerance instead of exactly.
pub fn has_decimal(s: &str) -> bool {
    let b = s.as_bytes();
    b.windows(2).any(|w| w[0] == b'.' && w[1].is_ascii_digit())
}

/// Equality of two parsed expressions. `rel_tol` is used when exact comparison does not apply.
/// `None`: undecidable here (overflow, undefined everywhere); the caller treats it as not equal.
pub fn equal(a: &Expr, b: &Expr, rel_tol: f64, allow_exact: bool) -> Option<(bool, &'static str)> {
    if allow_exact {
        if let (Some(x), Some(y)) = (eval::exact(a), eval::exact(b)) {
            return Some((x == y, "exact rational"));
        }
    }
    let symbolic = eval::has_symbols(a) || eval::has_symbols(b);
    let points = if symbolic { POINTS } else { 1 };
    let inf_ok = eval::has_infinity(a) && eval::has_infinity(b);
    let mut compared = 0;
    for k in 0..points {
        let (x, y) = (eval::at(a, k), eval::at(b, k));
        match (x.is_nan(), y.is_nan()) {
            (true, true) => continue,
            (true, false) | (false, true) => return Some((false, "undefined on one side")),
            _ => {}
        }
        if !x.is_finite() || !y.is_finite() {
            if !inf_ok {
                return None;
            }
            let same = x.re == y.re && x.im.is_finite() && y.im.is_finite() && (x.im - y.im).abs() < 1e-9;
            if !same {
                return Some((false, "infinity"));
            }
            compared += 1;
            continue;
        }
        let scale = x.abs().max(y.abs());
        let diff = (x - y).abs();
        if diff > rel_tol * scale && diff > 1e-12 {
            return Some((false, if symbolic { "random points" } else { "numeric value" }));
        }
        compared += 1;
    }
    (compared > 0).then_some((true, if symbolic { "random points" } else { "numeric value" }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eq(a: &str, b: &str) -> bool {
        let (Some(x), Some(y)) = (parse(a), parse(b)) else { panic!("parse {a} / {b}") };
        let tol = if has_decimal(a) || has_decimal(b) { 1e-4 } else { 1e-9 };
        equal(&x, &y, tol, !(has_decimal(a) || has_decimal(b))).is_some_and(|r| r.0)
    }

    #[test]
    fn algebra() {
        assert!(eq("x^2+2x+1", "(x+1)^2"));
        assert!(eq("2\\sqrt{2}", "\\sqrt{8}"));
        assert!(eq("\\frac{\\sqrt{3}}{3}", "\\frac{1}{\\sqrt{3}}"));
        assert!(eq("3.14159", "\\pi"));
        assert!(eq("\\frac{1}{2}", "0.5"));
        assert!(eq("\\sqrt[3]{-8}", "-2"));
        assert!(eq("i^2", "-1"));
        assert!(eq("\\sqrt{-4}", "2i"));
        assert!(eq("2\\cdot3", "6"));
        assert!(eq("6\\div3", "2"));
        assert!(eq("\\sin^2x+\\cos^2x", "1"));
        assert!(eq("\\log_2 8", "3"));
        assert!(eq("5!", "120"));
        assert!(eq("\\binom{5}{2}", "10"));
        assert!(eq("e^{\\ln 2}", "2"));
        assert!(eq("\\frac12", "\\frac{1}{2}"));
        assert!(!eq("x^2", "x^3"));
        assert!(!eq("\\frac{12}{3}", "\\frac{1}{23}"));
        assert!(!eq("x", "y"));
        assert!(!eq("\\sqrt{2}", "1.41"));
    }

    #[test]
    fn bounded_inputs() {
        assert!(parse(&"(".repeat(5000)).is_none());
        assert!(parse(&"{".repeat(100)).is_none());
        let big = parse("10^{10^{10}}").expect("parses");
        let other = parse("10^{10^{11}}").expect("parses");
        assert!(!equal(&big, &other, 1e-9, true).is_some_and(|r| r.0));
        assert!(parse("1011_2").is_none());
    }
}
