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

pub mod python;

pub use parser::{parse, parse_symbolic_i, Expr};

use crate::verify::number::REL_TOL_EXACT;

/// Number of evaluation points for expressions with symbols.
const POINTS: u64 = 5;

/// Does the text contain a decimal literal like `3.14`? Such inputs are compared with the
/// numeric tolerance instead of exactly.
pub fn has_decimal(s: &str) -> bool {
    let b = s.as_bytes();
    b.windows(2).any(|w| w[0] == b'.' && w[1].is_ascii_digit())
}

/// Relative tolerance for values written with decimals (the paper's `isclose` tolerance).
const APPROX_REL_TOL: f64 = 1e-4;
/// How many times its error bound a difference must exceed to count as real.
const NOISE_FACTOR: f64 = 16.0;
/// Values within their error bounds are equal when those bounds are at most this relative to
/// the values (the evaluation resolved them), or at most [`ABS_NOISE`] (both are zero within
/// rounding, like `\sin\pi` and 0).
const RESOLVED_REL: f64 = 1e-12;
const ABS_NOISE: f64 = 1e-12;

/// The correct mode's equality of two parsed expressions: exact rational arithmetic when both are
/// rational (within the relative tolerance 1e-4 when `approximate`, a decimal literal being
/// involved), else values at the evaluation points compared with
/// their error bounds: a difference beyond the tolerance plus the bounds is a decision "unequal",
/// a difference within them is "equal" only where the evaluation resolved the values (so
/// `\sqrt[10^{100}]{2}` is not 1 and `\sqrt{2}\cdot10^{-20}` is not 0). `None`: undecidable.
pub fn equivalent(a: &Expr, b: &Expr, approximate: bool) -> Option<(bool, &'static str)> {
    let rel_tol = if approximate { APPROX_REL_TOL } else { 0.0 };
    if let (Some(x), Some(y)) = (eval::exact(a), eval::exact(b)) {
        return Some(if approximate {
            (
                x.is_close(&y, REL_TOL_EXACT),
                "exact rational (rel tol 1e-4)",
            )
        } else {
            (x == y, "exact rational")
        });
    }
    let symbolic = eval::has_symbols(a) || eval::has_symbols(b);
    let (points, rule) = if symbolic {
        (POINTS, "random points")
    } else {
        (1, "numeric value")
    };
    let inf_ok = eval::has_infinity(a) && eval::has_infinity(b);
    let mut compared = 0;
    for k in 0..points {
        let (x, y) = (eval::approx(a, k), eval::approx(b, k));
        match (x.v.is_nan(), y.v.is_nan()) {
            (true, true) => continue,
            (true, false) | (false, true) => return Some((false, "undefined on one side")),
            _ => {}
        }
        if !x.v.is_finite() || !y.v.is_finite() {
            if !inf_ok {
                return None;
            }
            let same = x.v.re == y.v.re
                && x.v.im.is_finite()
                && y.v.im.is_finite()
                && (x.v.im - y.v.im).abs() < 1e-9;
            if !same {
                return Some((false, "infinity"));
            }
            compared += 1;
            continue;
        }
        let noise = x.err + y.err;
        let diff = (x.v - y.v).abs();
        let scale = x.v.abs().max(y.v.abs());
        if diff > rel_tol * scale + NOISE_FACTOR * noise {
            return Some((false, rule));
        }
        if NOISE_FACTOR * noise <= rel_tol.max(RESOLVED_REL) * scale || noise <= ABS_NOISE {
            compared += 1;
        }
    }
    (compared > 0).then_some((true, rule))
}

/// The constant `c` with `a = c·b` at every evaluation point, when there is one and it is
/// nonzero (`2x-4` and `x-2` give 2); `None` otherwise.
pub fn ratio(a: &Expr, b: &Expr) -> Option<f64> {
    const TOL: f64 = 1e-9;
    let mut ratio: Option<f64> = None;
    for k in 0..POINTS {
        let (x, y) = (eval::at(a, k), eval::at(b, k));
        if !x.is_finite() || !y.is_finite() || !x.is_real() || !y.is_real() {
            return None;
        }
        if y.re.abs() < 1e-12 || x.re.abs() < 1e-12 {
            if y.re.abs() < 1e-12 && x.re.abs() < 1e-12 {
                continue;
            }
            return None;
        }
        let q = x.re / y.re;
        match ratio {
            None => ratio = Some(q),
            Some(r0) if (r0 - q).abs() <= TOL * r0.abs().max(q.abs()) => {}
            Some(_) => return None,
        }
    }
    ratio
}

/// The paper mode's equality of two parsed expressions (sympy's `isclose(N(a), N(b))` and
/// `simplify(a - b) == 0` stand-ins). `rel_tol` is used when exact comparison does not apply.
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
            let same =
                x.re == y.re && x.im.is_finite() && y.im.is_finite() && (x.im - y.im).abs() < 1e-9;
            if !same {
                return Some((false, "infinity"));
            }
            compared += 1;
            continue;
        }
        let scale = x.abs().max(y.abs());
        let diff = (x - y).abs();
        if diff > rel_tol * scale && diff > 1e-12 {
            return Some((
                false,
                if symbolic {
                    "random points"
                } else {
                    "numeric value"
                },
            ));
        }
        compared += 1;
    }
    (compared > 0).then_some((
        true,
        if symbolic {
            "random points"
        } else {
            "numeric value"
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eq(a: &str, b: &str) -> bool {
        let (Some(x), Some(y)) = (parse(a), parse(b)) else {
            panic!("parse {a} / {b}")
        };
        let tol = if has_decimal(a) || has_decimal(b) {
            1e-4
        } else {
            1e-9
        };
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

    fn strict(a: &str, b: &str) -> Option<bool> {
        let (Some(x), Some(y)) = (parse(a), parse(b)) else {
            panic!("parse {a} / {b}")
        };
        let decimal = has_decimal(a) || has_decimal(b);
        equivalent(&x, &y, decimal).map(|r| r.0)
    }

    #[test]
    fn tiny_and_huge_values_are_decided() {
        assert_eq!(strict("10^{-400}", "0"), Some(false));
        assert_eq!(strict("10^{-400}", "10^{-401}"), Some(false));
        assert_eq!(strict("10^{400}+1", "1+10^{400}"), Some(true));
        assert_eq!(
            strict("\\sqrt[10^{100}]{2}", "1"),
            None,
            "rounds to 1 in f64"
        );
        assert_eq!(strict("\\sqrt{2}\\cdot10^{-20}", "0"), Some(false));
        assert_eq!(strict("\\sqrt{2}\\cdot10^{-400}", "0"), None, "underflows");
        assert_eq!(strict("\\pi+10^{-10}", "\\pi"), Some(false));
        assert_eq!(
            strict("\\sqrt{10^{40}+1}-10^{20}", "0"),
            None,
            "cancellation"
        );
        assert_eq!(strict("\\sin\\pi", "0"), Some(true));
        assert_eq!(strict("\\sqrt{2}", "2^{1/2}"), Some(true));
        assert_eq!(strict("x^2+2x+1", "(x+1)^2"), Some(true));
        assert_eq!(strict("\\sin^2x+\\cos^2x", "1"), Some(true));
        assert_eq!(strict("3.14159", "\\pi"), Some(true));
        assert_eq!(strict("\\sqrt{2}", "1.41"), Some(false));
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
