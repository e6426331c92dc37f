//! sympy's `parse_expr` on plain arithmetic, for the paper mode: the paper tries `parse_expr`
//! before latex2sympy, and Python reads `^` as bitwise XOR, so the paper judges `2^10` to be 8
//! (XOR of 2 and 10) while `2^{10}` (not Python syntax) goes to latex2sympy and is 1024.
//!
//! Only strings made of numbers, `+ - * / ^ **` and parentheses are handled here; anything else is
//! `None` (the caller falls back to the LaTeX parser, as the paper falls back to latex2sympy).
use super::parser::Expr;
use crate::verify::number::{parse_decimal, Rat};

#[derive(Clone, Copy)]
enum Val {
    Exact(Rat),
    Float(f64),
}

impl Val {
    fn f(self) -> f64 {
        match self {
            Val::Exact(r) => r.to_f64(),
            Val::Float(x) => x,
        }
    }
}

/// Python-syntax arithmetic with `^` present, evaluated as sympy would; `None` otherwise.
pub fn parse_python_arith(s: &str) -> Option<Expr> {
    if !s.contains('^') || s.len() > 200 {
        return None;
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_digit() || " .+-*/^()".contains(c))
    {
        return None;
    }
    let b: Vec<u8> = s.bytes().filter(|c| *c != b' ').collect();
    let mut p = P {
        b,
        pos: 0,
        depth: 0,
    };
    let v = p.xor()?;
    if p.pos != p.b.len() {
        return None;
    }
    Some(match v {
        Val::Exact(r) => Expr::Num(r.to_f64(), Some(r.into())),
        Val::Float(x) => Expr::Num(x, None),
    })
}

struct P {
    b: Vec<u8>,
    pos: usize,
    depth: usize,
}

impl P {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    /// Python precedence: `^` binds looser than `+ -`, which bind looser than `* /`.
    fn xor(&mut self) -> Option<Val> {
        self.depth += 1;
        if self.depth > 40 {
            return None;
        }
        let mut acc = self.arith()?;
        while self.peek() == Some(b'^') {
            self.pos += 1;
            let rhs = self.arith()?;
            acc = match (acc, rhs) {
                (Val::Exact(a), Val::Exact(b)) if a.den == 1 && b.den == 1 => {
                    Val::Exact(Rat::int(a.num ^ b.num))
                }
                _ => return None, // TypeError in Python: parse_expr fails
            };
        }
        self.depth -= 1;
        Some(acc)
    }

    fn arith(&mut self) -> Option<Val> {
        let mut acc = self.term()?;
        while let Some(op @ (b'+' | b'-')) = self.peek() {
            self.pos += 1;
            let rhs = self.term()?;
            acc = combine(acc, rhs, op)?;
        }
        Some(acc)
    }

    fn term(&mut self) -> Option<Val> {
        let mut acc = self.unary()?;
        while let Some(op @ (b'*' | b'/')) = self.peek() {
            if self.b.get(self.pos + 1) == Some(&b'*') {
                break;
            }
            self.pos += 1;
            let rhs = self.unary()?;
            acc = combine(acc, rhs, op)?;
        }
        Some(acc)
    }

    fn unary(&mut self) -> Option<Val> {
        self.depth += 1;
        if self.depth > 40 {
            return None;
        }
        let v = match self.peek()? {
            b'-' => {
                self.pos += 1;
                combine(Val::Exact(Rat::int(0)), self.unary()?, b'-')?
            }
            b'+' => {
                self.pos += 1;
                self.unary()?
            }
            _ => self.power()?,
        };
        self.depth -= 1;
        Some(v)
    }

    fn power(&mut self) -> Option<Val> {
        let base = self.atom()?;
        if self.b.get(self.pos..self.pos + 2) == Some(b"**".as_slice()) {
            self.pos += 2;
            let e = self.unary()?;
            return Some(match (base, e) {
                (Val::Exact(b), Val::Exact(e)) if e.den == 1 => match b.powi(e.num) {
                    Some(r) => Val::Exact(r),
                    None => Val::Float(b.to_f64().powf(e.to_f64())),
                },
                (b, e) => Val::Float(b.f().powf(e.f())),
            });
        }
        Some(base)
    }

    fn atom(&mut self) -> Option<Val> {
        if self.peek()? == b'(' {
            self.pos += 1;
            let v = self.xor()?;
            if self.peek()? != b')' {
                return None;
            }
            self.pos += 1;
            return Some(v);
        }
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit() || c == b'.') {
            self.pos += 1;
        }
        let text = std::str::from_utf8(&self.b[start..self.pos]).ok()?;
        if text.is_empty() {
            return None;
        }
        if text.contains('.') {
            return text.parse().ok().map(Val::Float);
        }
        parse_decimal(text).map(Val::Exact)
    }
}

fn combine(a: Val, b: Val, op: u8) -> Option<Val> {
    if let (Val::Exact(x), Val::Exact(y)) = (a, b) {
        let r = match op {
            b'+' => x.checked_add(y),
            b'-' => x.checked_sub(y),
            b'*' => x.checked_mul(y),
            _ => x.checked_div(y),
        };
        if let Some(r) = r {
            return Some(Val::Exact(r));
        }
    }
    let (x, y) = (a.f(), b.f());
    Some(Val::Float(match op {
        b'+' => x + y,
        b'-' => x - y,
        b'*' => x * y,
        _ => x / y,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn val(s: &str) -> Option<f64> {
        match parse_python_arith(s)? {
            Expr::Num(v, _) => Some(v),
            _ => None,
        }
    }

    #[test]
    fn xor_semantics() {
        assert_eq!(val("2^10"), Some(8.0));
        assert_eq!(val("10^6"), Some(12.0));
        assert_eq!(val("(-2)^3"), Some(-3.0));
        assert_eq!(val("2^10+1"), Some(9.0));
        assert_eq!(val("2**10"), None); // no `^`: the LaTeX parser handles it
        assert_eq!(val("2^{10}"), None);
        assert_eq!(val("2.5^2"), None);
        assert_eq!(val("x^2"), None);
    }
}
