//! Minimal complex arithmetic on f64 for point evaluation (answers like `3+4i`, `\sqrt{-4}`).
use std::ops::{Add, Div, Mul, Neg, Sub};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct C {
    pub re: f64,
    pub im: f64,
}

pub const NAN: C = C { re: f64::NAN, im: f64::NAN };

impl C {
    pub fn real(re: f64) -> C {
        C { re, im: 0.0 }
    }
    pub fn is_real(self) -> bool {
        self.im.abs() <= 1e-12 * self.re.abs().max(1.0)
    }
    pub fn is_nan(self) -> bool {
        self.re.is_nan() || self.im.is_nan()
    }
    pub fn is_finite(self) -> bool {
        self.re.is_finite() && self.im.is_finite()
    }
    pub fn abs(self) -> f64 {
        self.re.hypot(self.im)
    }
    pub fn exp(self) -> C {
        let m = self.re.exp();
        if self.im == 0.0 {
            return C::real(m);
        }
        C { re: m * self.im.cos(), im: m * self.im.sin() }
    }
    pub fn ln(self) -> C {
        if self.im == 0.0 && self.re > 0.0 {
            return C::real(self.re.ln());
        }
        // -0.0 imaginary parts (from negation) must not select the lower branch.
        let im = if self.im == 0.0 { 0.0 } else { self.im };
        C { re: self.abs().ln(), im: im.atan2(self.re) }
    }
    pub fn sin(self) -> C {
        C { re: self.re.sin() * self.im.cosh(), im: self.re.cos() * self.im.sinh() }
    }
    pub fn cos(self) -> C {
        C { re: self.re.cos() * self.im.cosh(), im: -self.re.sin() * self.im.sinh() }
    }
    /// Principal power; exact repeated multiplication for small integer exponents, a real
    /// result for a real positive base.
    pub fn pow(self, e: C) -> C {
        if e.im == 0.0 && e.re.fract() == 0.0 && e.re.abs() <= 64.0 {
            let n = e.re as i32;
            let mut acc = C::real(1.0);
            for _ in 0..n.unsigned_abs() {
                acc = acc * self;
            }
            return if n < 0 { C::real(1.0) / acc } else { acc };
        }
        if self.im == 0.0 && e.im == 0.0 && self.re >= 0.0 {
            return C::real(self.re.powf(e.re));
        }
        if self.re == 0.0 && self.im == 0.0 {
            return if e.re > 0.0 { C::real(0.0) } else { NAN };
        }
        (e * self.ln()).exp()
    }
    /// `n`-th root; the real root for a negative real radicand and odd integer `n`.
    pub fn root(self, n: C) -> C {
        if self.im == 0.0 && n.im == 0.0 && self.re < 0.0 && n.re.fract() == 0.0 && (n.re as i64) % 2 != 0 {
            return C::real(-(-self.re).powf(1.0 / n.re));
        }
        self.pow(C::real(1.0) / n)
    }
}

impl Add for C {
    type Output = C;
    fn add(self, o: C) -> C {
        C { re: self.re + o.re, im: self.im + o.im }
    }
}
impl Sub for C {
    type Output = C;
    fn sub(self, o: C) -> C {
        C { re: self.re - o.re, im: self.im - o.im }
    }
}
impl Mul for C {
    type Output = C;
    fn mul(self, o: C) -> C {
        if self.im == 0.0 && o.im == 0.0 {
            return C::real(self.re * o.re);
        }
        C { re: self.re * o.re - self.im * o.im, im: self.re * o.im + self.im * o.re }
    }
}
impl Div for C {
    type Output = C;
    fn div(self, o: C) -> C {
        if self.im == 0.0 && o.im == 0.0 {
            return C::real(self.re / o.re);
        }
        let d = o.re * o.re + o.im * o.im;
        C { re: (self.re * o.re + self.im * o.im) / d, im: (self.im * o.re - self.re * o.im) / d }
    }
}
impl Neg for C {
    type Output = C;
    fn neg(self) -> C {
        C { re: -self.re, im: -self.im }
    }
}
