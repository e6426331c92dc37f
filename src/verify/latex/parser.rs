//! Recursive-descent parser from tokens to an expression tree, with a nesting-depth cap.
//!
//! Grammar (loosest first): sum := term (± term)*; term := factor ((* / \cdot \times \div |
//! implicit) factor)*; factor := ± factor | power; power := postfix (^ exponent)?;
//! postfix := atom !*; atom := number | symbol | constant | (expr) | {expr} | \frac | \sqrt |
//! function | |expr|.
use super::lexer::{tokenize, Tok};
use crate::verify::rational::Q;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    Sin,
    Cos,
    Tan,
    Sec,
    Csc,
    Cot,
    Asin,
    Acos,
    Atan,
    Sinh,
    Cosh,
    Tanh,
    Ln,
    Exp,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A numeral: its nearest `f64` and its exact value.
    Num(f64, Option<Q>),
    Var(String),
    Pi,
    E,
    I,
    Inf,
    Neg(Box<Expr>),
    Add(Box<Expr>, Box<Expr>),
    Sub(Box<Expr>, Box<Expr>),
    Mul(Box<Expr>, Box<Expr>),
    Div(Box<Expr>, Box<Expr>),
    Pow(Box<Expr>, Box<Expr>),
    /// `\sqrt[index]{radicand}`.
    Root(Box<Expr>, Box<Expr>),
    Call(Func, Box<Expr>),
    /// `\log_{base}(arg)`.
    Log(Box<Expr>, Box<Expr>),
    Fact(Box<Expr>),
    Abs(Box<Expr>),
    Binom(Box<Expr>, Box<Expr>),
}

/// Deepest nesting the parser follows before giving up.
const MAX_DEPTH: usize = 40;

/// Parse a whole answer as one expression; `None` when it is not one. `i` is the imaginary unit.
pub fn parse(s: &str) -> Option<Expr> {
    parse_with(s, true)
}

/// As [`parse`], but `i` is an ordinary symbol (as for sympy/latex2sympy in the paper mode).
pub fn parse_symbolic_i(s: &str) -> Option<Expr> {
    parse_with(s, false)
}

fn parse_with(s: &str, imaginary_i: bool) -> Option<Expr> {
    let toks = tokenize(s)?;
    if toks.is_empty() {
        return None;
    }
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
        imaginary_i,
    };
    let e = p.sum()?;
    (p.pos == p.toks.len()).then_some(e)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
    imaginary_i: bool,
}

fn func_of(name: &str) -> Option<Func> {
    Some(match name {
        "sin" => Func::Sin,
        "cos" => Func::Cos,
        "tan" => Func::Tan,
        "sec" => Func::Sec,
        "csc" => Func::Csc,
        "cot" => Func::Cot,
        "arcsin" => Func::Asin,
        "arccos" => Func::Acos,
        "arctan" => Func::Atan,
        "sinh" => Func::Sinh,
        "cosh" => Func::Cosh,
        "tanh" => Func::Tanh,
        "ln" => Func::Ln,
        "exp" => Func::Exp,
        _ => return None,
    })
}

fn b(e: Expr) -> Box<Expr> {
    Box::new(e)
}

/// Commands that stand for a symbol (Greek letters and the like) rather than an operation.
fn is_symbol_cmd(name: &str) -> bool {
    matches!(
        name,
        "alpha"
            | "beta"
            | "gamma"
            | "delta"
            | "epsilon"
            | "varepsilon"
            | "zeta"
            | "eta"
            | "theta"
            | "vartheta"
            | "iota"
            | "kappa"
            | "lambda"
            | "mu"
            | "nu"
            | "xi"
            | "rho"
            | "sigma"
            | "tau"
            | "upsilon"
            | "phi"
            | "varphi"
            | "chi"
            | "psi"
            | "omega"
            | "Gamma"
            | "Delta"
            | "Theta"
            | "Lambda"
            | "Xi"
            | "Pi"
            | "Sigma"
            | "Phi"
            | "Psi"
            | "Omega"
            | "circ"
            | "ell"
    )
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn is_sym(&self, c: char) -> bool {
        self.peek() == Some(&Tok::Sym(c))
    }

    fn is_cmd(&self, name: &str) -> bool {
        matches!(self.peek(), Some(Tok::Cmd(n)) if n == name)
    }

    fn eat_sym(&mut self, c: char) -> bool {
        if self.is_sym(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= MAX_DEPTH).then_some(())
    }

    fn sum(&mut self) -> Option<Expr> {
        self.enter()?;
        let mut acc = self.term()?;
        loop {
            if self.eat_sym('+') {
                acc = Expr::Add(b(acc), b(self.term()?));
            } else if self.eat_sym('-') {
                acc = Expr::Sub(b(acc), b(self.term()?));
            } else {
                break;
            }
        }
        self.depth -= 1;
        Some(acc)
    }

    fn starts_atom(&self) -> bool {
        match self.peek() {
            Some(Tok::Num(_) | Tok::Letter(_) | Tok::Word(_)) => true,
            Some(Tok::Sym(c)) => matches!(c, '(' | '{'),
            Some(Tok::Cmd(n)) => {
                matches!(
                    n.as_str(),
                    "frac"
                        | "dfrac"
                        | "tfrac"
                        | "cfrac"
                        | "sqrt"
                        | "pi"
                        | "infty"
                        | "log"
                        | "binom"
                        | "dbinom"
                        | "tbinom"
                        | "vec"
                        | "hat"
                        | "bar"
                        | "overline"
                ) || func_of(n).is_some()
                    || is_symbol_cmd(n)
            }
            None => false,
        }
    }

    fn term(&mut self) -> Option<Expr> {
        let mut acc = self.factor()?;
        loop {
            if self.is_sym('*') || self.is_cmd("times") || self.is_cmd("cdot") {
                self.pos += 1;
                acc = Expr::Mul(b(acc), b(self.factor()?));
            } else if self.is_sym('/') || self.is_cmd("div") {
                self.pos += 1;
                acc = Expr::Div(b(acc), b(self.factor()?));
            } else if self.starts_atom() {
                acc = Expr::Mul(b(acc), b(self.power()?));
            } else {
                break;
            }
        }
        Some(acc)
    }

    fn factor(&mut self) -> Option<Expr> {
        self.enter()?;
        let e = if self.eat_sym('-') {
            Expr::Neg(b(self.factor()?))
        } else if self.eat_sym('+') {
            self.factor()?
        } else {
            self.power()?
        };
        self.depth -= 1;
        Some(e)
    }

    fn power(&mut self) -> Option<Expr> {
        let base = self.postfix()?;
        if self.eat_sym('^') {
            let exp = self.exponent()?;
            return Some(Expr::Pow(b(base), b(exp)));
        }
        Some(base)
    }

    /// An exponent: a braced group, or one signed atom (possibly with its own exponent).
    fn exponent(&mut self) -> Option<Expr> {
        self.enter()?;
        let e = if self.eat_sym('-') {
            Expr::Neg(b(self.exponent()?))
        } else if self.eat_sym('+') {
            self.exponent()?
        } else {
            self.power()?
        };
        self.depth -= 1;
        Some(e)
    }

    fn postfix(&mut self) -> Option<Expr> {
        let mut e = self.atom()?;
        while self.eat_sym('!') {
            e = Expr::Fact(b(e));
        }
        Some(e)
    }

    /// A LaTeX macro argument: `{group}`, or a single token (one digit of a number).
    fn arg(&mut self) -> Option<Expr> {
        if self.eat_sym('{') {
            return self.closed_by('}');
        }
        if let Some(Tok::Num(n)) = self.peek() {
            if n.len() > 1 {
                let (first, rest) = n.split_at(1);
                let (first, rest) = (first.to_string(), rest.to_string());
                self.toks[self.pos] = Tok::Num(rest);
                return number(&first);
            }
        }
        self.enter()?;
        let e = self.atom();
        self.depth -= 1;
        e
    }

    fn closed_by(&mut self, close: char) -> Option<Expr> {
        let e = self.sum()?;
        self.eat_sym(close).then_some(e)
    }

    /// Text of a subscript: `_x`, `_12`, `_{..}` (kept as a name, not evaluated).
    fn subscript(&mut self) -> Option<String> {
        if !self.eat_sym('_') {
            return Some(String::new());
        }
        let mut out = String::from("_");
        let mut depth = 0usize;
        loop {
            let t = self.peek()?.clone();
            self.pos += 1;
            match &t {
                Tok::Sym('{') => depth += 1,
                Tok::Sym('}') => depth = depth.checked_sub(1)?,
                _ => {}
            }
            out.push_str(&format!("{t:?}"));
            if depth == 0 {
                return Some(out);
            }
        }
    }

    fn atom(&mut self) -> Option<Expr> {
        let tok = self.peek()?.clone();
        self.pos += 1;
        match tok {
            Tok::Num(n) => {
                if self.is_sym('_') {
                    return None; // `1011_2`: a base-n numeral, not arithmetic
                }
                number(&n)
            }
            Tok::Letter(c) => {
                let sub = self.subscript()?;
                Some(match (c, sub.is_empty()) {
                    ('e', true) => Expr::E,
                    ('i', true) if self.imaginary_i => Expr::I,
                    _ => Expr::Var(format!("{c}{sub}")),
                })
            }
            Tok::Word(w) => Some(Expr::Var(format!("text:{w}{}", self.subscript()?))),
            Tok::Sym('(') => {
                self.enter()?;
                let e = self.closed_by(')');
                self.depth -= 1;
                e
            }
            Tok::Sym('{') => {
                self.enter()?;
                let e = self.closed_by('}');
                self.depth -= 1;
                e
            }
            Tok::Sym('|') => {
                self.enter()?;
                let e = self.closed_by('|');
                self.depth -= 1;
                Some(Expr::Abs(b(e?)))
            }
            Tok::Cmd(name) => self.command(&name),
            Tok::Sym(_) => None,
        }
    }

    fn command(&mut self, name: &str) -> Option<Expr> {
        self.enter()?;
        let e = match name {
            "frac" | "dfrac" | "tfrac" | "cfrac" => {
                let n = self.arg()?;
                let d = self.arg()?;
                Some(Expr::Div(b(n), b(d)))
            }
            "binom" | "dbinom" | "tbinom" => {
                let n = self.arg()?;
                let k = self.arg()?;
                Some(Expr::Binom(b(n), b(k)))
            }
            "sqrt" => {
                let index = if self.eat_sym('[') {
                    self.closed_by(']')?
                } else {
                    Expr::Num(2.0, Some(Q::int(2)))
                };
                let radicand = if self.is_sym('(') {
                    self.atom()?
                } else {
                    self.arg()?
                };
                Some(Expr::Root(b(radicand), b(index)))
            }
            "pi" => Some(Expr::Pi),
            "infty" => Some(Expr::Inf),
            "vec" | "hat" | "bar" | "overline" => self.arg(),
            "log" => {
                let base = if self.eat_sym('_') {
                    Some(self.arg()?)
                } else {
                    None
                };
                let power = if self.eat_sym('^') {
                    Some(self.exponent()?)
                } else {
                    None
                };
                let arg = self.func_arg()?;
                let v = match base {
                    Some(base) => Expr::Log(b(base), b(arg)),
                    None => Expr::Call(Func::Ln, b(arg)),
                };
                Some(match power {
                    Some(p) => Expr::Pow(b(v), b(p)),
                    None => v,
                })
            }
            n if is_symbol_cmd(n) => Some(Expr::Var(format!("\\{n}{}", self.subscript()?))),
            n => {
                let f = func_of(n)?;
                let power = if self.eat_sym('^') {
                    Some(self.exponent()?)
                } else {
                    None
                };
                let arg = self.func_arg()?;
                let v = Expr::Call(f, b(arg));
                Some(match power {
                    Some(p) => Expr::Pow(b(v), b(p)),
                    None => v,
                })
            }
        };
        self.depth -= 1;
        e
    }

    /// `\sin(x)`, `\sin{x}`, `\sin x`, `\sin 2x` (= sin(2)·x, as LaTeX binds one factor).
    fn func_arg(&mut self) -> Option<Expr> {
        if self.is_sym('(') || self.is_sym('{') {
            return self.atom();
        }
        self.power()
    }
}

fn number(text: &str) -> Option<Expr> {
    let value: f64 = text.parse().ok()?;
    let (int_part, frac_part) = text.split_once('.').unwrap_or((text, ""));
    Some(Expr::Num(
        value,
        Q::from_decimal_digits(int_part, frac_part),
    ))
}
