//! Evaluation of an expression tree: exactly over the rationals when it has no symbols, and as a
//! complex number at a point (every symbol gets a value derived from its name and the point).
use super::complex::{C, NAN};
use super::parser::{Expr, Func};
use crate::verify::number::Rat;

/// Exact rational value, `None` when the expression is not (provably) rational.
pub fn exact(e: &Expr) -> Option<Rat> {
    match e {
        Expr::Num(_, r) => *r,
        Expr::Neg(a) => exact(a)?.neg(),
        Expr::Add(a, b) => exact(a)?.add(exact(b)?),
        Expr::Sub(a, b) => exact(a)?.sub(exact(b)?),
        Expr::Mul(a, b) => exact(a)?.mul(exact(b)?),
        Expr::Div(a, b) => exact(a)?.div(exact(b)?),
        Expr::Pow(a, b) => {
            let (base, p) = (exact(a)?, exact(b)?);
            if base.is_zero() && p.num <= 0 {
                return None;
            }
            let den = u32::try_from(p.den).ok().filter(|&d| d <= 64)?;
            base.powi(p.num)?.root(den)
        }
        Expr::Root(a, n) => {
            let n = exact(n)?;
            if n.den != 1 {
                return None;
            }
            exact(a)?.root(u32::try_from(n.num).ok().filter(|&d| (1..=64).contains(&d))?)
        }
        Expr::Abs(a) => {
            let r = exact(a)?;
            if r.num < 0 {
                r.neg()
            } else {
                Some(r)
            }
        }
        Expr::Fact(a) => {
            let r = exact(a)?;
            if r.den != 1 || !(0..=33).contains(&r.num) {
                return None;
            }
            (1..=r.num).try_fold(Rat::int(1), |acc, k| acc.mul(Rat::int(k)))
        }
        Expr::Binom(n, k) => {
            let (n, k) = (exact(n)?, exact(k)?);
            if n.den != 1 || k.den != 1 || k.num < 0 || n.num < 0 || k.num > n.num || n.num > 1000 {
                return if k.num > n.num && n.den == 1 && k.den == 1 && n.num >= 0 { Some(Rat::int(0)) } else { None };
            }
            let k = k.num.min(n.num - k.num);
            (0..k).try_fold(Rat::int(1), |acc, i| acc.mul(Rat::int(n.num - i))?.div(Rat::int(i + 1)))
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
    match e {
        Expr::Num(v, _) => C::real(*v),
        Expr::Var(name) => C::real(symbol_value(name, k)),
        Expr::Pi => C::real(std::f64::consts::PI),
        Expr::E => C::real(std::f64::consts::E),
        Expr::I => C { re: 0.0, im: 1.0 },
        Expr::Inf => C::real(f64::INFINITY),
        Expr::Neg(a) => -at(a, k),
        Expr::Add(a, b) => at(a, k) + at(b, k),
        Expr::Sub(a, b) => at(a, k) - at(b, k),
        Expr::Mul(a, b) => at(a, k) * at(b, k),
        Expr::Div(a, b) => {
            let d = at(b, k);
            if d.re == 0.0 && d.im == 0.0 {
                NAN
            } else {
                at(a, k) / d
            }
        }
        Expr::Pow(a, b) => at(a, k).pow(at(b, k)),
        Expr::Root(a, n) => at(a, k).root(at(n, k)),
        Expr::Call(f, a) => call(*f, at(a, k)),
        Expr::Log(base, a) => at(a, k).ln() / at(base, k).ln(),
        Expr::Fact(a) => gamma_plus_one(at(a, k)),
        Expr::Abs(a) => C::real(at(a, k).abs()),
        Expr::Binom(n, r) => {
            let (n, r) = (at(n, k), at(r, k));
            gamma_plus_one(n) / (gamma_plus_one(r) * gamma_plus_one(n - r))
        }
    }
}

fn real_only(x: C, f: impl Fn(f64) -> f64) -> C {
    if x.is_real() {
        C::real(f(x.re))
    } else {
        NAN
    }
}

fn call(f: Func, x: C) -> C {
    let one = C::real(1.0);
    match f {
        Func::Sin => x.sin(),
        Func::Cos => x.cos(),
        Func::Tan => x.sin() / x.cos(),
        Func::Sec => one / x.cos(),
        Func::Csc => one / x.sin(),
        Func::Cot => x.cos() / x.sin(),
        Func::Asin => real_only(x, f64::asin),
        Func::Acos => real_only(x, f64::acos),
        Func::Atan => real_only(x, f64::atan),
        Func::Sinh => real_only(x, f64::sinh),
        Func::Cosh => real_only(x, f64::cosh),
        Func::Tanh => real_only(x, f64::tanh),
        Func::Ln => x.ln(),
        Func::Exp => x.exp(),
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
