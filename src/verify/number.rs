//! Plain numbers: exact rationals on `i128` (every operation checked: overflow means "not exact";
//! [`super::rational::Q`] carries on with big integers), Python's `float()` for the paper mode,
//! and the correct mode's number syntax.
use super::rational::Q;

/// An exact rational `num/den`, `den > 0`, in lowest terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rat {
    pub num: i128,
    pub den: i128,
}

fn gcd(a: i128, b: i128) -> i128 {
    let (mut a, mut b) = (a.unsigned_abs(), b.unsigned_abs());
    while b != 0 {
        let t = a % b;
        a = b;
        b = t;
    }
    i128::try_from(a).unwrap_or(1)
}

impl Rat {
    pub fn int(n: i128) -> Rat {
        Rat { num: n, den: 1 }
    }

    /// `num/den` reduced; `None` for a zero denominator or overflow.
    pub fn new(num: i128, den: i128) -> Option<Rat> {
        if den == 0 || num == i128::MIN || den == i128::MIN {
            return None;
        }
        let g = gcd(num, den).max(1);
        let (mut n, mut d) = (num / g, den / g);
        if d < 0 {
            n = -n;
            d = -d;
        }
        Some(Rat { num: n, den: d })
    }

    pub fn to_f64(self) -> f64 {
        self.num as f64 / self.den as f64
    }

    pub fn is_zero(self) -> bool {
        self.num == 0
    }

    pub fn checked_add(self, o: Rat) -> Option<Rat> {
        let g = gcd(self.den, o.den).max(1);
        let l = (self.den / g).checked_mul(o.den)?;
        let a = self.num.checked_mul(l / self.den)?;
        let b = o.num.checked_mul(l / o.den)?;
        Rat::new(a.checked_add(b)?, l)
    }

    pub fn checked_neg(self) -> Option<Rat> {
        Some(Rat {
            num: self.num.checked_neg()?,
            den: self.den,
        })
    }

    pub fn checked_sub(self, o: Rat) -> Option<Rat> {
        self.checked_add(o.checked_neg()?)
    }

    pub fn checked_mul(self, o: Rat) -> Option<Rat> {
        let g1 = gcd(self.num, o.den).max(1);
        let g2 = gcd(o.num, self.den).max(1);
        Rat::new(
            (self.num / g1).checked_mul(o.num / g2)?,
            (self.den / g2).checked_mul(o.den / g1)?,
        )
    }

    pub fn checked_div(self, o: Rat) -> Option<Rat> {
        if o.num == 0 {
            return None;
        }
        self.checked_mul(Rat::new(o.den, o.num)?)
    }

    /// Integer power, exponent capped at |e| <= 256 (beyond that the result overflows anyway).
    pub fn powi(self, e: i128) -> Option<Rat> {
        if e.abs() > 256 {
            return None;
        }
        let base = if e < 0 {
            Rat::new(self.den, self.num)?
        } else {
            self
        };
        let mut acc = Rat::int(1);
        for _ in 0..e.abs() {
            acc = acc.checked_mul(base)?;
        }
        Some(acc)
    }

    /// Exact integer root when `self` is a perfect `n`-th power.
    pub fn root(self, n: u32) -> Option<Rat> {
        if n == 0 || (self.num < 0 && n.is_multiple_of(2)) {
            return None;
        }
        let sign = if self.num < 0 { -1 } else { 1 };
        let r_num = int_root(self.num.unsigned_abs(), n)?;
        let r_den = int_root(self.den.unsigned_abs(), n)?;
        Rat::new(sign * r_num as i128, r_den as i128)
    }
}

/// Exact `n`-th root of `x` when it exists.
fn int_root(x: u128, n: u32) -> Option<u128> {
    if x < 2 || n == 1 {
        return Some(x);
    }
    let guess = (x as f64).powf(1.0 / n as f64).round();
    if !guess.is_finite() || guess < 0.0 {
        return None;
    }
    let g = guess as u128;
    [g.saturating_sub(1), g, g.saturating_add(1)]
        .into_iter()
        .find(|c| c.checked_pow(n) == Some(x))
}

/// Parse `[-+]?digits[.digits]` (also `.5`, `5.`) as an exact rational; `None` past 30 digits.
pub fn parse_decimal(s: &str) -> Option<Rat> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (int_part, frac_part) = match body.split_once('.') {
        Some((a, b)) => (a, b),
        None => (body, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    if !int_part
        .bytes()
        .chain(frac_part.bytes())
        .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    if int_part.len() + frac_part.len() > 30 {
        return None;
    }
    let mut num: i128 = 0;
    for b in int_part.bytes().chain(frac_part.bytes()) {
        num = num * 10 + i128::from(b - b'0');
    }
    let den = 10i128.pow(frac_part.len() as u32);
    Rat::new(if neg { -num } else { num }, den)
}

/// Python `float(s)`: surrounding whitespace, sign, digits with single `_` between digits,
/// decimal point, exponent, `inf`/`infinity`/`nan` (any case).
pub fn py_float(s: &str) -> Option<f64> {
    let t = s.trim_matches(|c: char| c.is_whitespace());
    if t.is_empty() {
        return None;
    }
    let lower = t.to_ascii_lowercase();
    let unsigned = lower.trim_start_matches(['+', '-']);
    if lower.len() - unsigned.len() > 1 {
        return None;
    }
    if matches!(unsigned, "inf" | "infinity" | "nan") {
        return lower.parse().ok();
    }
    let b = t.as_bytes();
    let mut cleaned = String::with_capacity(t.len());
    for (i, &c) in b.iter().enumerate() {
        if c == b'_' {
            let ok =
                i > 0 && i + 1 < b.len() && b[i - 1].is_ascii_digit() && b[i + 1].is_ascii_digit();
            if !ok {
                return None;
            }
            continue;
        }
        if !(c.is_ascii_digit() || matches!(c, b'+' | b'-' | b'.' | b'e' | b'E')) {
            return None;
        }
        cleaned.push(c as char);
    }
    cleaned.parse().ok()
}

/// The paper grader's `parse_digits`: drop commas, `float()`, else a trailing `%` (and `\`)
/// means value/100.
pub fn paper_parse_digits(s: &str) -> Option<f64> {
    let no_commas = s.replace(',', "");
    if let Some(v) = py_float(&no_commas) {
        return Some(v);
    }
    let p = no_commas.strip_suffix('%')?;
    let p = p.strip_suffix('\\').unwrap_or(p);
    py_float(p).map(|v| v / 100.0)
}

/// The paper's relative tolerance 1e-4 (`isclose(…, rel_tol=1e-4)`) as an exact rational, for
/// approximate values compared exactly.
pub const REL_TOL_EXACT: Rat = Rat {
    num: 1,
    den: 10_000,
};

/// A number in the correct mode's syntax, with its exact value when it has one.
#[derive(Debug, Clone)]
pub struct Number {
    /// Nearest `f64`; NaN when the value is out of `f64` range and has no exact form (such a
    /// number is equal to nothing but its own string).
    pub value: f64,
    pub exact: Option<Q>,
}

impl Number {
    fn of(exact: Q) -> Number {
        Number {
            value: exact.to_f64(),
            exact: Some(exact),
        }
    }

    fn map(self, f: impl Fn(&Q) -> Option<Q>, g: impl Fn(f64) -> f64) -> Number {
        Number {
            value: g(self.value),
            exact: self.exact.as_ref().and_then(f),
        }
    }
}

/// Longest numeral parsed as a number (a digit string of up to [`super::rational::MAX_BITS`]
/// bits, with sign, point, exponent or fraction bar).
const MAX_NUMBER_LEN: usize = 1300;

/// Correct-mode number: integers, decimals, scientific `1.5e3`, a trailing percent (value/100),
/// fractions `a/b` and `\frac{a}{b}` of integers, mixed numbers `2\frac{1}{2}`, with an optional
/// sign. Thousands separators are removed by normalisation, so a comma here is never part of a
/// number (`32,349` written `32, 349` is a list).
pub fn parse_number(s: &str) -> Option<Number> {
    let s = s.trim();
    if s.is_empty() || s.len() > MAX_NUMBER_LEN {
        return None;
    }
    if let Some(p) = s.strip_suffix("\\%").or_else(|| s.strip_suffix('%')) {
        let hundred = Q::int(100);
        return Some(parse_number(p)?.map(|q| q.div(&hundred), |v| v / 100.0));
    }
    let (neg, body) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let n = parse_unsigned(body)?;
    Some(if neg { n.map(Q::neg, |v| -v) } else { n })
}

fn parse_unsigned(s: &str) -> Option<Number> {
    if let Some(r) = parse_plain(s) {
        return Some(r);
    }
    if let Some((a, b)) = s.split_once('/') {
        return Some(Number::of(parse_int(a)?.div(&parse_int(b)?)?));
    }
    // `\frac{a}{b}` or mixed `w\frac{a}{b}`.
    let pos = s.find("\\frac{")?;
    let whole = if pos == 0 {
        Q::int(0)
    } else {
        parse_int(&s[..pos])?
    };
    let rest = &s[pos + 6..];
    let (a, rest) = rest.split_once("}{")?;
    let b = rest.strip_suffix('}')?;
    let frac = parse_int(a)?.div(&parse_int(b)?)?;
    Some(Number::of(whole.add(&frac)?))
}

fn parse_int(s: &str) -> Option<Q> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Q::from_decimal_digits(s, "")
}

/// Digits, decimals, exponent.
fn parse_plain(s: &str) -> Option<Number> {
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(p) => {
            let e: i64 = s[p + 1..].parse().ok()?;
            (&s[..p], Some(e))
        }
        None => (s, None),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits_ok = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if (int_part.is_empty() && frac_part.is_empty())
        || !digits_ok(int_part)
        || !digits_ok(frac_part)
    {
        return None;
    }
    let exact = Q::from_decimal_digits(int_part, frac_part);
    let base: f64 = mantissa.parse().ok()?;
    let nonzero = mantissa.bytes().any(|b| (b'1'..=b'9').contains(&b));
    let (value, exact) = match exp {
        None => (base, exact),
        Some(e) => {
            let exact = exact.and_then(|m| m.mul(&Q::int(10).pow(&Q::int(i128::from(e)))?));
            let value = match &exact {
                Some(q) => q.to_f64(),
                None => base * 10f64.powi(i32::try_from(e.clamp(-400, 400)).unwrap_or(0)),
            };
            (value, exact)
        }
    };
    // Out of f64 range with no exact form: equal to nothing (never silently 0 or ∞).
    let unrepresentable = exact.is_none() && nonzero && (value == 0.0 || !value.is_finite());
    Some(Number {
        value: if unrepresentable { f64::NAN } else { value },
        exact,
    })
}

/// Python `math.isclose(a, b, rel_tol)` with `abs_tol = 0`.
pub fn is_close(a: f64, b: f64, rel_tol: f64) -> bool {
    if a == b {
        return true;
    }
    if !a.is_finite() || !b.is_finite() {
        return false;
    }
    (a - b).abs() <= rel_tol * a.abs().max(b.abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_float() {
        assert_eq!(py_float(" 1_000 "), Some(1000.0));
        assert_eq!(py_float("1e3"), Some(1000.0));
        assert_eq!(py_float("-.5"), Some(-0.5));
        assert_eq!(py_float("5."), Some(5.0));
        assert_eq!(py_float("inf"), Some(f64::INFINITY));
        assert_eq!(py_float("1__0"), None);
        assert_eq!(py_float("0x10"), None);
        assert_eq!(py_float("--1"), None);
        assert_eq!(paper_parse_digits("1,000"), Some(1000.0));
        assert_eq!(paper_parse_digits("50\\%"), Some(0.5));
        assert_eq!(paper_parse_digits("1,2"), Some(12.0));
    }

    #[test]
    fn correct_numbers() {
        let v = |s: &str| parse_number(s).map(|n| n.value);
        assert_eq!(
            v("1,000"),
            None,
            "normalisation removes thousands separators"
        );
        assert_eq!(v("1,2"), None);
        assert_eq!(v("12,34"), None);
        assert_eq!(v("1.5e3"), Some(1500.0));
        assert_eq!(v("50%"), Some(0.5));
        assert_eq!(v("-3/4"), Some(-0.75));
        assert_eq!(v("2\\frac{1}{2}"), Some(2.5));
        assert_eq!(v("\\frac{1}{2}"), Some(0.5));
        assert_eq!(v("x"), None);
        assert_eq!(v("1.2.3"), None);
        assert_eq!(v("."), None);
        assert_eq!(
            parse_number("0.125").and_then(|n| n.exact),
            Rat::new(1, 8).map(Q::from)
        );
        let tiny = parse_number("1e-400").expect("number");
        assert!(tiny.value == 0.0 && tiny.exact.is_some_and(|q| q.signum() == 1));
        assert!(parse_number("1e-99999").is_some_and(|n| n.value.is_nan() && n.exact.is_none()));
        let long = format!("0.{}1", "0".repeat(399));
        assert!(parse_number(&long).is_some_and(|n| n.exact.is_some_and(|q| !q.is_zero())));
    }

    #[test]
    fn rationals() {
        let r = |a, b| Rat::new(a, b).expect("rat");
        assert_eq!(r(2, 4), r(1, 2));
        assert_eq!(r(1, 2).checked_add(r(1, 3)), Some(r(5, 6)));
        assert_eq!(r(4, 9).root(2), Some(r(2, 3)));
        assert_eq!(r(2, 1).root(2), None);
        assert_eq!(r(2, 1).powi(-2), Some(r(1, 4)));
        assert_eq!(r(10, 1).powi(200), None);
        assert_eq!(r(1, 1).checked_div(r(0, 1)), None);
    }
}
