//! Exact rationals of any size up to a bit cap: `i128` arithmetic first (no allocation), big
//! integers only when that overflows. Very small and very large numbers (`10^{-400}`, `1e-400`,
//! forty-digit integers) are decided exactly instead of underflowing or rounding in `f64`.
use super::number::Rat;
use num_bigint::{BigInt, Sign};
use num_integer::Integer;
use num_traits::{One, Signed, ToPrimitive, Zero};
use std::cmp::Ordering;

/// Most bits a numerator or denominator may have (about 10^1233); a larger result is "not exact"
/// and the caller falls back to a bounded approximate comparison.
pub const MAX_BITS: u64 = 4096;

/// An exact rational in lowest terms. `Big` is used only when the value does not fit `Small`,
/// so equal values have equal representations and `==` is value equality.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Q {
    Small(Rat),
    Big(Box<BigQ>),
}

/// A big rational: `den > 0`, `gcd(num, den) = 1`, both under [`MAX_BITS`] bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BigQ {
    num: BigInt,
    den: BigInt,
}

impl Q {
    pub fn int(n: i128) -> Q {
        Q::Small(Rat::int(n))
    }

    /// `num/den` of big integers, reduced; `None` for a zero denominator or past the bit cap.
    pub fn from_big(num: BigInt, den: BigInt) -> Option<Q> {
        if den.is_zero() {
            return None;
        }
        let g = num.gcd(&den);
        let (mut num, mut den) = if g.is_one() {
            (num, den)
        } else {
            (num / &g, den / &g)
        };
        if den.is_negative() {
            num = -num;
            den = -den;
        }
        if num.bits() > MAX_BITS || den.bits() > MAX_BITS {
            return None;
        }
        if let (Some(n), Some(d)) = (num.to_i128(), den.to_i128()) {
            if n != i128::MIN {
                return Some(Q::Small(Rat { num: n, den: d }));
            }
        }
        Some(Q::Big(Box::new(BigQ { num, den })))
    }

    /// Parse `digits[.digits]` (no sign) exactly; `None` past the bit cap.
    pub fn from_decimal_digits(int_part: &str, frac_part: &str) -> Option<Q> {
        let digits = int_part.len() + frac_part.len();
        // 1233 decimal digits ≈ MAX_BITS bits: longer numerals are never exact.
        if digits == 0 || digits > 1233 {
            return None;
        }
        if digits <= 30 {
            let mut num: i128 = 0;
            for b in int_part.bytes().chain(frac_part.bytes()) {
                num = num * 10 + i128::from(b - b'0');
            }
            return Rat::new(num, 10i128.pow(frac_part.len() as u32)).map(Q::Small);
        }
        let text = format!("{int_part}{frac_part}");
        let num = BigInt::parse_bytes(text.as_bytes(), 10)?;
        let den = BigInt::from(10u32).pow(u32::try_from(frac_part.len()).ok()?);
        Q::from_big(num, den)
    }

    fn parts(&self) -> (BigInt, BigInt) {
        match self {
            Q::Small(r) => (BigInt::from(r.num), BigInt::from(r.den)),
            Q::Big(b) => (b.num.clone(), b.den.clone()),
        }
    }

    /// The small form, when the value fits.
    pub fn small(&self) -> Option<Rat> {
        match self {
            Q::Small(r) => Some(*r),
            Q::Big(_) => None,
        }
    }

    pub fn signum(&self) -> i32 {
        match self {
            Q::Small(r) => r.num.signum() as i32,
            Q::Big(b) => match b.num.sign() {
                Sign::Minus => -1,
                Sign::NoSign => 0,
                Sign::Plus => 1,
            },
        }
    }

    pub fn is_zero(&self) -> bool {
        self.signum() == 0
    }

    pub fn is_integer(&self) -> bool {
        match self {
            Q::Small(r) => r.den == 1,
            Q::Big(b) => b.den.is_one(),
        }
    }

    /// The integer value when it fits `i128`.
    pub fn to_i128(&self) -> Option<i128> {
        self.small().filter(|r| r.den == 1).map(|r| r.num)
    }

    pub fn neg(&self) -> Option<Q> {
        match self {
            Q::Small(r) => match r.checked_neg() {
                Some(n) => Some(Q::Small(n)),
                None => Q::from_big(-BigInt::from(r.num), BigInt::from(r.den)),
            },
            Q::Big(b) => Q::from_big(-b.num.clone(), b.den.clone()),
        }
    }

    pub fn abs(&self) -> Option<Q> {
        if self.signum() < 0 {
            self.neg()
        } else {
            Some(self.clone())
        }
    }

    pub fn add(&self, o: &Q) -> Option<Q> {
        if let (Q::Small(a), Q::Small(b)) = (self, o) {
            if let Some(r) = a.checked_add(*b) {
                return Some(Q::Small(r));
            }
        }
        let ((an, ad), (bn, bd)) = (self.parts(), o.parts());
        Q::from_big(an * &bd + bn * &ad, ad * bd)
    }

    pub fn sub(&self, o: &Q) -> Option<Q> {
        self.add(&o.neg()?)
    }

    pub fn mul(&self, o: &Q) -> Option<Q> {
        if let (Q::Small(a), Q::Small(b)) = (self, o) {
            if let Some(r) = a.checked_mul(*b) {
                return Some(Q::Small(r));
            }
        }
        let ((an, ad), (bn, bd)) = (self.parts(), o.parts());
        Q::from_big(an * bn, ad * bd)
    }

    pub fn div(&self, o: &Q) -> Option<Q> {
        if o.is_zero() {
            return None;
        }
        if let (Q::Small(a), Q::Small(b)) = (self, o) {
            if let Some(r) = a.checked_div(*b) {
                return Some(Q::Small(r));
            }
        }
        let ((an, ad), (bn, bd)) = (self.parts(), o.parts());
        Q::from_big(an * bd, ad * bn)
    }

    /// Bits of the larger of numerator and denominator.
    fn bits(&self) -> u64 {
        match self {
            Q::Small(r) => u64::from(128 - r.num.unsigned_abs().max(r.den as u128).leading_zeros()),
            Q::Big(b) => b.num.bits().max(b.den.bits()),
        }
    }

    fn is_unit(&self) -> bool {
        matches!(self, Q::Small(r) if r.den == 1 && r.num.abs() == 1)
    }

    /// `self^e` for an integer `e`; `None` when the result would pass the bit cap (checked
    /// before computing: `10^{10^{10}}` costs nothing).
    pub fn pow(&self, e: &Q) -> Option<Q> {
        if !e.is_integer() {
            return None;
        }
        if self.is_zero() {
            return (e.signum() > 0).then(|| Q::int(0));
        }
        if self.is_unit() {
            let odd = match e {
                Q::Small(r) => r.num % 2 != 0,
                Q::Big(b) => b.num.is_odd(),
            };
            let negative = self.signum() < 0 && odd;
            return Some(Q::int(if negative { -1 } else { 1 }));
        }
        let n = e.to_i128()?;
        let k = u32::try_from(n.unsigned_abs()).ok()?;
        if self.bits().saturating_sub(1).saturating_mul(u64::from(k)) > MAX_BITS {
            return None;
        }
        let base = if n < 0 {
            Q::int(1).div(self)?
        } else {
            self.clone()
        };
        if let Q::Small(r) = base {
            if k <= 256 {
                if let Some(p) = r.powi(i128::from(k)) {
                    return Some(Q::Small(p));
                }
            }
        }
        let (bn, bd) = base.parts();
        Q::from_big(bn.pow(k), bd.pow(k))
    }

    /// The exact `n`-th root (`n` a positive integer) when it is rational; `None` otherwise.
    pub fn root(&self, n: &Q) -> Option<Q> {
        if !n.is_integer() || n.signum() <= 0 {
            return None;
        }
        let odd = match n {
            Q::Small(r) => r.num % 2 != 0,
            Q::Big(b) => b.num.is_odd(),
        };
        if self.signum() < 0 && !odd {
            return None;
        }
        if self.is_zero() || self.is_unit() {
            return Some(self.clone());
        }
        // A rational other than 0 and ±1 is a perfect n-th power only for n below its bit length.
        let k = u32::try_from(n.to_i128()?).ok()?;
        if u64::from(k) > self.bits() {
            return None;
        }
        if let Q::Small(r) = self {
            if k <= 64 {
                return r.root(k).map(Q::Small);
            }
        }
        let (num, den) = self.parts();
        let (rn, rd) = (num.nth_root(k), den.nth_root(k));
        (rn.pow(k) == num && rd.pow(k) == den)
            .then(|| Q::from_big(rn, rd))
            .flatten()
    }

    /// Nearest `f64` (0 or ±∞ when out of range).
    pub fn to_f64(&self) -> f64 {
        match self {
            Q::Small(r) => r.to_f64(),
            Q::Big(b) => {
                // Keep the top 64 bits of each part so the quotient neither overflows nor
                // underflows before the final scaling.
                let shift = |x: &BigInt| x.bits().saturating_sub(64);
                let (sn, sd) = (shift(&b.num), shift(&b.den));
                let n = (&b.num >> sn).to_f64().unwrap_or(f64::NAN);
                let d = (&b.den >> sd).to_f64().unwrap_or(f64::NAN);
                let exp = sn as i64 - sd as i64;
                let e = i32::try_from(exp.clamp(-4000, 4000)).unwrap_or(0);
                // Two steps: 2^e alone may overflow while the product does not.
                let half = e / 2;
                (n / d) * 2f64.powi(half) * 2f64.powi(e - half)
            }
        }
    }

    /// `|self - o| <= tol * max(|self|, |o|)`, decided exactly (`math.isclose` with `abs_tol = 0`).
    pub fn is_close(&self, o: &Q, tol: Rat) -> bool {
        if self == o {
            return true;
        }
        let ((an, ad), (bn, bd)) = (self.parts(), o.parts());
        let (x, y) = (an * &bd, bn * &ad);
        let diff = (&x - &y).abs() * BigInt::from(tol.den);
        let scale = x.abs().max(y.abs()) * BigInt::from(tol.num);
        diff.cmp(&scale) != Ordering::Greater
    }
}

impl From<Rat> for Q {
    fn from(r: Rat) -> Q {
        Q::Small(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Q {
        let (a, b) = s.split_once('.').unwrap_or((s, ""));
        Q::from_decimal_digits(a, b).expect("decimal")
    }

    #[test]
    fn promotes_and_demotes() {
        let big = Q::int(10).pow(&Q::int(60)).expect("10^60");
        assert!(matches!(big, Q::Big(_)));
        let back = big.div(&Q::int(10).pow(&Q::int(50)).expect("10^50"));
        assert_eq!(back, Some(Q::int(10_000_000_000)));
        assert_eq!(q("0.5"), Q::Small(Rat::new(1, 2).expect("1/2")));
        let tiny = Q::int(10).pow(&Q::int(-400)).expect("10^-400");
        assert!(!tiny.is_zero());
        assert_eq!(
            q(&format!("0.{}1", "0".repeat(399))),
            tiny,
            "a 400-digit decimal is exact"
        );
        assert!(tiny.to_f64() == 0.0 && tiny.signum() == 1);
        assert!((q(&"9".repeat(300)).to_f64() / 1e300 - 1.0).abs() < 1e-12);
    }

    #[test]
    fn bounded_powers_and_roots() {
        assert_eq!(Q::int(10).pow(&Q::int(2000)), None);
        assert_eq!(Q::int(-1).pow(&Q::int(1_000_000_000_001)), Some(Q::int(-1)));
        let two = Q::int(2);
        let huge_index = Q::int(10).pow(&Q::int(100)).expect("10^100");
        assert_eq!(two.root(&huge_index), None, "2^(1/10^100) is irrational");
        assert_eq!(Q::int(1).root(&huge_index), Some(Q::int(1)));
        let p = Q::int(3).pow(&Q::int(300)).expect("3^300");
        assert_eq!(p.root(&Q::int(100)), Some(Q::int(27)));
        assert_eq!(p.add(&Q::int(1)).and_then(|x| x.root(&Q::int(100))), None);
    }

    #[test]
    fn closeness_is_exact() {
        let tol = Rat::new(1, 10_000).expect("tol");
        let tiny = Q::int(10).pow(&Q::int(-400)).expect("10^-400");
        assert!(!tiny.is_close(&Q::int(0), tol));
        let a = q(&format!("1{}", "0".repeat(50)));
        let b = a.add(&Q::int(1)).expect("sum");
        assert!(a.is_close(&b, tol) && a != b);
    }
}
