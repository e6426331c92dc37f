//! Evaluation of an expression tree: exactly over the rationals when it has no symbols, and as a
//! complex number at a point (every symbol gets a value derived from its name and the point),
//! with a bound on the floating-point error of that number.
use super::complex::{C, NAN};
use super::parser::{Expr, Func};
use crate::verify::rational::Q;

/// Exact rational value, `None` when the expression is not (provably) rational or its value
/// passes the size cap of [`Q`].
pub fn exact(e: &Expr) -> Option<Q> {
    match e {
        Expr::Num(_, r) => r.clone(),
        Expr::Neg(a) => exact(a)?.neg(),
        Expr::Add(a, b) => exact(a)?.add(&exact(b)?),
        Expr::Sub(a, b) => exact(a)?.sub(&exact(b)?),
        Expr::Mul(a, b) => exact(a)?.mul(&exact(b)?),
        Expr::Div(a, b) => exact(a)?.div(&exact(b)?),
        Expr::Pow(a, b) => {
            let (base, p) = (exact(a)?, exact(b)?);
            if p.is_integer() {
                return base.pow(&p);
            }
            // base^(n/d) = (base^n)^(1/d), with n/d in lowest terms.
            let (n, d) = match &p {
                Q::Small(r) => (Q::int(r.num), Q::int(r.den)),
                Q::Big(_) => return None,
            };
            base.pow(&n)?.root(&d)
        }
        Expr::Root(a, n) => exact(a)?.root(&exact(n)?),
        Expr::Abs(a) => exact(a)?.abs(),
        Expr::Fact(a) => {
            let n = exact(a)?.to_i128().filter(|n| (0..=300).contains(n))?;
            (1..=n).try_fold(Q::int(1), |acc, k| acc.mul(&Q::int(k)))
        }
        Expr::Binom(n, k) => {
            let (n, k) = (exact(n)?.to_i128()?, exact(k)?.to_i128()?);
            if n < 0 || k < 0 {
                return None;
            }
            if k > n {
                return Some(Q::int(0));
            }
            let k = k.min(n - k);
            if k > 1000 {
                return None;
            }
            (0..k).try_fold(Q::int(1), |acc, i| {
                acc.mul(&Q::int(n - i))?.div(&Q::int(i + 1))
            })
        }
        _ => None,
    }
}

/// A value in (0.3, 2.8) for symbol `name` at evaluation point `k`, fixed per (name, k).
fn symbol_value(name: &str, k: u64) -> f64 {
    // FNV-1a, then a splitmix64 finaliser: deterministic, no global state.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ k.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for byte in name.bytes() {
        h ^= u64::from(byte);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    0.3 + 2.5 * ((h >> 11) as f64 / (1u64 << 53) as f64)
}

/// Complex value at point `k`.
pub fn at(e: &Expr, k: u64) -> C {
    approx(e, k).v
}

/// A value at an evaluation point and a bound on its floating-point error; an infinite bound
/// means the `f64` result says nothing about the true value (underflow of a nonzero numeral,
/// a power of a base ≠ 1 so close to 1 that it rounds to 1).
#[derive(Debug, Clone, Copy)]
pub struct Approx {
    pub v: C,
    pub err: f64,
}

/// Unit roundoff of `f64` arithmetic (one rounding error is at most this times the result).
const U: f64 = f64::EPSILON;
const LOST: f64 = f64::INFINITY;

fn ap(v: C, err: f64) -> Approx {
    Approx { v, err }
}

/// Result `v` of one more rounding on top of a propagated error.
fn rounded(v: C, propagated: f64) -> Approx {
    ap(v, propagated + v.abs() * U)
}

fn add(a: Approx, b: Approx) -> Approx {
    rounded(a.v + b.v, a.err + b.err)
}

fn sub(a: Approx, b: Approx) -> Approx {
    rounded(a.v - b.v, a.err + b.err)
}

/// Did a result of nonzero operands underflow to zero or a subnormal (its value is lost)?
fn underflowed(v: C, operands_nonzero: bool) -> bool {
    operands_nonzero && v.abs() < f64::MIN_POSITIVE
}

fn nonzero(x: Approx) -> bool {
    x.v.re != 0.0 || x.v.im != 0.0
}

fn mul(a: Approx, b: Approx) -> Approx {
    let v = a.v * b.v;
    if underflowed(v, nonzero(a) && nonzero(b)) {
        return ap(v, LOST);
    }
    rounded(v, a.v.abs() * b.err + b.v.abs() * a.err + a.err * b.err)
}

/// `a / b` as [`C`] divides (a zero divisor gives ∞ or NaN).
fn div(a: Approx, b: Approx) -> Approx {
    let v = a.v / b.v;
    if underflowed(v, nonzero(a)) {
        return ap(v, LOST);
    }
    let d = b.v.abs();
    if b.err >= d {
        return ap(v, LOST);
    }
    rounded(v, (a.err + v.abs() * b.err) / (d - b.err))
}

/// `base^exponent` as [`C::pow`] computes it, with the error of `x^y` propagated through
/// `y·ln x`. A tiny exponent of a base clearly ≠ 1 (`2^{10^{-100}}`) rounds to 1: lost.
fn pow(a: Approx, b: Approx) -> Approx {
    let v = a.v.pow(b.v);
    if a.v.re == 0.0 && a.v.im == 0.0 {
        return ap(
            v,
            if a.err == 0.0 && b.err == 0.0 {
                0.0
            } else {
                LOST
            },
        );
    }
    if underflowed(v, true) {
        return ap(v, LOST);
    }
    let ln_a = a.v.ln().abs();
    let y = b.v.abs();
    if y > 0.0 && y < 1e-6 && ln_a > 1e-6 && y * ln_a < 1e-12 {
        return ap(v, LOST);
    }
    let small_int = b.v.im == 0.0 && b.v.re.fract() == 0.0 && b.v.re.abs() <= 64.0;
    let steps = if small_int { b.v.re.abs() } else { 0.0 };
    let rel = y * (a.err / a.v.abs()) + ln_a * b.err + (steps + 4.0 + 4.0 * y * ln_a) * U;
    ap(v, v.abs() * rel)
}

/// Complex value at point `k` with its error bound.
pub fn approx(e: &Expr, k: u64) -> Approx {
    match e {
        Expr::Num(v, q) => {
            // A nonzero numeral that underflows (or overflows) as f64 has lost its value.
            let lost = q.as_ref().is_some_and(|q| !q.is_zero())
                && (v.abs() < f64::MIN_POSITIVE || !v.is_finite());
            ap(C::real(*v), if lost { LOST } else { v.abs() * U / 2.0 })
        }
        Expr::Var(name) => ap(C::real(symbol_value(name, k)), 0.0),
        Expr::Pi => ap(
            C::real(std::f64::consts::PI),
            std::f64::consts::PI * U / 2.0,
        ),
        Expr::E => ap(C::real(std::f64::consts::E), std::f64::consts::E * U / 2.0),
        Expr::I => ap(C { re: 0.0, im: 1.0 }, 0.0),
        Expr::Inf => ap(C::real(f64::INFINITY), 0.0),
        Expr::Neg(a) => {
            let a = approx(a, k);
            ap(-a.v, a.err)
        }
        Expr::Add(a, b) => add(approx(a, k), approx(b, k)),
        Expr::Sub(a, b) => sub(approx(a, k), approx(b, k)),
        Expr::Mul(a, b) => mul(approx(a, k), approx(b, k)),
        Expr::Div(a, b) => {
            let d = approx(b, k);
            if d.v.re == 0.0 && d.v.im == 0.0 {
                ap(NAN, 0.0)
            } else {
                div(approx(a, k), d)
            }
        }
        Expr::Pow(a, b) => pow(approx(a, k), approx(b, k)),
        Expr::Root(a, n) => {
            let (a, n) = (approx(a, k), approx(n, k));
            let v = a.v.root(n.v);
            // The error of x^(1/n), with 1/n known to err_n/|n|².
            let inv = ap(C::real(1.0) / n.v, n.err / (n.v.abs() * n.v.abs()));
            let bound = pow(ap(C::real(a.v.abs()), a.err), inv);
            ap(
                v,
                if bound.err.is_finite() {
                    bound.err + v.abs() * U
                } else {
                    LOST
                },
            )
        }
        Expr::Call(f, a) => call(*f, approx(a, k)),
        Expr::Log(base, a) => div(ln(approx(a, k)), ln(approx(base, k))),
        Expr::Fact(a) => {
            let a = approx(a, k);
            let v = gamma_plus_one(a.v);
            ap(v, v.abs() * (a.v.re.abs() + 1.0) * U)
        }
        Expr::Abs(a) => {
            let a = approx(a, k);
            ap(C::real(a.v.abs()), a.err + a.v.abs() * U)
        }
        Expr::Binom(n, r) => {
            let (n, r) = (approx(n, k).v, approx(r, k).v);
            let v = gamma_plus_one(n) / (gamma_plus_one(r) * gamma_plus_one(n - r));
            ap(v, v.abs() * 3.0 * (n.re.abs() + 2.0) * U)
        }
    }
}

fn real_only(x: Approx, f: impl Fn(f64) -> f64, slope: impl Fn(f64) -> f64) -> Approx {
    if x.v.is_real() {
        let v = C::real(f(x.v.re));
        let s = slope(x.v.re);
        let err = if x.err == 0.0 { 0.0 } else { s.abs() * x.err };
        rounded(v, if err.is_nan() { LOST } else { err })
    } else {
        ap(NAN, 0.0)
    }
}

fn ln(x: Approx) -> Approx {
    let v = x.v.ln();
    let d = x.v.abs();
    let err = if x.err == 0.0 {
        0.0
    } else if x.err >= d {
        LOST
    } else {
        x.err / (d - x.err)
    };
    ap(v, err + v.abs() * U + U)
}

fn call(f: Func, x: Approx) -> Approx {
    let one = ap(C::real(1.0), 0.0);
    // |sin'| and |cos'| are at most cosh(Im x).
    let trig_slope = x.v.im.abs().cosh();
    let sin = || ap(x.v.sin(), x.err * trig_slope + x.v.sin().abs() * U + U);
    let cos = || ap(x.v.cos(), x.err * trig_slope + x.v.cos().abs() * U + U);
    match f {
        Func::Sin => sin(),
        Func::Cos => cos(),
        Func::Tan => div(sin(), cos()),
        Func::Sec => div(one, cos()),
        Func::Csc => div(one, sin()),
        Func::Cot => div(cos(), sin()),
        Func::Asin => real_only(x, f64::asin, |t| 1.0 / (1.0 - t * t).sqrt()),
        Func::Acos => real_only(x, f64::acos, |t| 1.0 / (1.0 - t * t).sqrt()),
        Func::Atan => real_only(x, f64::atan, |t| 1.0 / (1.0 + t * t)),
        Func::Sinh => real_only(x, f64::sinh, f64::cosh),
        Func::Cosh => real_only(x, f64::cosh, f64::sinh),
        Func::Tanh => real_only(x, f64::tanh, |_| 1.0),
        Func::Ln => ln(x),
        Func::Exp => {
            let v = x.v.exp();
            if underflowed(v, true) {
                return ap(v, LOST);
            }
            rounded(v, v.abs() * x.err)
        }
    }
}

/// `x!` for real non-negative integers up to 170 (exact product), else NaN.
fn gamma_plus_one(x: C) -> C {
    if !x.is_real() || x.re.fract() != 0.0 || !(0.0..=170.0).contains(&x.re) {
        return NAN;
    }
    C::real((1..=x.re as u32).map(f64::from).product())
}

/// Does the tree contain a literal `\infty`?
pub fn has_infinity(e: &Expr) -> bool {
    match e {
        Expr::Inf => true,
        Expr::Num(..) | Expr::Var(_) | Expr::Pi | Expr::E | Expr::I => false,
        Expr::Neg(a) | Expr::Call(_, a) | Expr::Fact(a) | Expr::Abs(a) => has_infinity(a),
        Expr::Add(a, b)
        | Expr::Sub(a, b)
        | Expr::Mul(a, b)
        | Expr::Div(a, b)
        | Expr::Pow(a, b)
        | Expr::Root(a, b)
        | Expr::Log(a, b)
        | Expr::Binom(a, b) => has_infinity(a) || has_infinity(b),
    }
}

/// Does the tree contain a symbol?
pub fn has_symbols(e: &Expr) -> bool {
    match e {
        Expr::Var(_) => true,
        Expr::Num(..) | Expr::Inf | Expr::Pi | Expr::E | Expr::I => false,
        Expr::Neg(a) | Expr::Call(_, a) | Expr::Fact(a) | Expr::Abs(a) => has_symbols(a),
        Expr::Add(a, b)
        | Expr::Sub(a, b)
        | Expr::Mul(a, b)
        | Expr::Div(a, b)
        | Expr::Pow(a, b)
        | Expr::Root(a, b)
        | Expr::Log(a, b)
        | Expr::Binom(a, b) => has_symbols(a) || has_symbols(b),
    }
}
