//! Unevaluated matrix arithmetic: sums, differences, scalar multiples, products, small powers
//! and transposes of literal matrices (`\begin{pmatrix}1&2\\3&4\end{pmatrix}+2\begin{pmatrix}…`)
//! become one matrix whose cells are expressions (`(1)+(2)*(0)`), compared cell by cell by the
//! caller with the usual exact arithmetic.
use super::structure::{matrix, matrix_span};

/// Largest matrix side and power handled (bounded work and cell length).
const MAX_SIDE: usize = 8;
const MAX_POWER: u32 = 6;
/// Longest cell expression built; longer results are not compared.
const MAX_CELL: usize = 1000;

type Cells = Vec<Vec<String>>;

#[derive(Debug, Clone)]
enum Val {
    Scalar(String),
    Mat(Cells),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Mat(Cells),
    Scalar(String),
    Plus,
    Minus,
    Times,
    Power(String),
}

/// The value of a matrix expression, when `s` is one (at least one matrix and one operation).
pub fn evaluate(s: &str) -> Option<Cells> {
    if !s.contains("\\begin{") {
        return None;
    }
    let toks = tokens(s)?;
    let matrices = toks.iter().filter(|t| matches!(t, Tok::Mat(_))).count();
    if matrices == 0 || toks.len() < 2 {
        return None;
    }
    let mut p = Parser { toks, pos: 0 };
    let v = p.sum()?;
    if p.pos != p.toks.len() {
        return None;
    }
    match v {
        Val::Mat(m) if m.iter().flatten().all(|c| c.len() <= MAX_CELL) => Some(m),
        _ => None,
    }
}

/// Split into matrices, operators, `^` exponents and scalar text between them.
fn tokens(s: &str) -> Option<Vec<Tok>> {
    let mut out = Vec::new();
    let mut scalar = String::new();
    let flush = |scalar: &mut String, out: &mut Vec<Tok>| {
        if !scalar.trim().is_empty() {
            out.push(Tok::Scalar(std::mem::take(scalar).trim().to_string()));
        }
        scalar.clear();
    };
    let mut rest = s;
    let mut depth = 0i32;
    while let Some(c) = rest.chars().next() {
        if depth == 0 {
            if let Some(len) = matrix_span(rest) {
                flush(&mut scalar, &mut out);
                let m = matrix(&rest[..len])?;
                if m.len() > MAX_SIDE || m.iter().any(|r| r.len() > MAX_SIDE) {
                    return None;
                }
                out.push(Tok::Mat(m));
                rest = &rest[len..];
                continue;
            }
            let op = match c {
                '+' => Some(Tok::Plus),
                '-' => Some(Tok::Minus),
                '*' => Some(Tok::Times),
                _ if rest.starts_with("\\times") => Some(Tok::Times),
                '^' => {
                    flush(&mut scalar, &mut out);
                    let (exp, len) = exponent(&rest[1..])?;
                    out.push(Tok::Power(exp));
                    rest = &rest[1 + len..];
                    continue;
                }
                _ => None,
            };
            if let Some(op) = op {
                flush(&mut scalar, &mut out);
                let len = if op == Tok::Times && c == '\\' { 6 } else { 1 };
                out.push(op);
                rest = &rest[len..];
                continue;
            }
        }
        match c {
            '{' | '(' | '[' => depth += 1,
            '}' | ')' | ']' => depth -= 1,
            _ => {}
        }
        scalar.push(c);
        rest = &rest[c.len_utf8()..];
    }
    flush(&mut scalar, &mut out);
    Some(out)
}

/// `^2`, `^{2}`, `^T`, `^{T}`, `^\top`: the exponent text and the bytes it took.
fn exponent(s: &str) -> Option<(String, usize)> {
    if let Some(body) = s.strip_prefix('{') {
        let end = body.find('}')?;
        return Some((body[..end].to_string(), end + 2));
    }
    if s.starts_with("\\top") {
        return Some(("T".into(), 4));
    }
    let c = s.chars().next()?;
    Some((c.to_string(), c.len_utf8()))
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

fn wrap(s: &str) -> String {
    format!("({s})")
}

fn elementwise(a: &Cells, b: &Cells, op: &str) -> Option<Cells> {
    if a.len() != b.len() || a.iter().zip(b).any(|(x, y)| x.len() != y.len()) {
        return None;
    }
    Some(
        a.iter()
            .zip(b)
            .map(|(x, y)| {
                x.iter()
                    .zip(y)
                    .map(|(p, q)| format!("{}{op}{}", wrap(p), wrap(q)))
                    .collect()
            })
            .collect(),
    )
}

fn scale(c: &str, m: &Cells) -> Cells {
    m.iter()
        .map(|row| {
            row.iter()
                .map(|x| format!("{}*{}", wrap(c), wrap(x)))
                .collect()
        })
        .collect()
}

fn product(a: &Cells, b: &Cells) -> Option<Cells> {
    let inner = b.len();
    if a.iter().any(|row| row.len() != inner) || inner == 0 {
        return None;
    }
    let cols = b[0].len();
    if b.iter().any(|row| row.len() != cols) {
        return None;
    }
    Some(
        a.iter()
            .map(|row| {
                (0..cols)
                    .map(|j| {
                        (0..inner)
                            .map(|k| format!("{}*{}", wrap(&row[k]), wrap(&b[k][j])))
                            .collect::<Vec<_>>()
                            .join("+")
                    })
                    .collect()
            })
            .collect(),
    )
}

fn multiply(a: Val, b: Val) -> Option<Val> {
    Some(match (a, b) {
        (Val::Scalar(x), Val::Scalar(y)) => Val::Scalar(format!("{}*{}", wrap(&x), wrap(&y))),
        (Val::Scalar(x), Val::Mat(m)) | (Val::Mat(m), Val::Scalar(x)) => Val::Mat(scale(&x, &m)),
        (Val::Mat(x), Val::Mat(y)) => Val::Mat(product(&x, &y)?),
    })
}

fn transpose(m: &Cells) -> Option<Cells> {
    let cols = m.first()?.len();
    if m.iter().any(|r| r.len() != cols) {
        return None;
    }
    Some(
        (0..cols)
            .map(|j| m.iter().map(|r| r[j].clone()).collect())
            .collect(),
    )
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn sum(&mut self) -> Option<Val> {
        let mut acc = self.signed_term()?;
        while let Some(op @ (Tok::Plus | Tok::Minus)) = self.peek().cloned() {
            self.pos += 1;
            let rhs = self.term()?;
            let sign = if op == Tok::Plus { "+" } else { "-" };
            acc = match (acc, rhs) {
                (Val::Mat(a), Val::Mat(b)) => Val::Mat(elementwise(&a, &b, sign)?),
                (Val::Scalar(a), Val::Scalar(b)) => {
                    Val::Scalar(format!("{}{sign}{}", wrap(&a), wrap(&b)))
                }
                _ => return None,
            };
        }
        Some(acc)
    }

    fn signed_term(&mut self) -> Option<Val> {
        if self.peek() == Some(&Tok::Minus) {
            self.pos += 1;
            return multiply(Val::Scalar("-1".into()), self.term()?);
        }
        if self.peek() == Some(&Tok::Plus) {
            self.pos += 1;
        }
        self.term()
    }

    fn term(&mut self) -> Option<Val> {
        let mut acc = self.factor()?;
        loop {
            match self.peek() {
                Some(Tok::Times) => {
                    self.pos += 1;
                    acc = multiply(acc, self.factor()?)?;
                }
                Some(Tok::Mat(_) | Tok::Scalar(_)) => acc = multiply(acc, self.factor()?)?,
                _ => return Some(acc),
            }
        }
    }

    fn factor(&mut self) -> Option<Val> {
        let base = match self.peek()?.clone() {
            Tok::Mat(m) => Val::Mat(m),
            Tok::Scalar(s) => Val::Scalar(s),
            _ => return None,
        };
        self.pos += 1;
        let Some(Tok::Power(e)) = self.peek().cloned() else {
            return Some(base);
        };
        self.pos += 1;
        match base {
            Val::Scalar(s) => Some(Val::Scalar(format!("{}^{{{e}}}", wrap(&s)))),
            Val::Mat(m) if e == "T" || e == "\\top" => Some(Val::Mat(transpose(&m)?)),
            Val::Mat(m) => {
                let n: u32 = e
                    .trim()
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_POWER).contains(n))?;
                let mut acc = m.clone();
                for _ in 1..n {
                    acc = product(&acc, &m)?;
                }
                Some(Val::Mat(acc))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_cell_expressions() {
        let a = "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}";
        let i = "\\begin{pmatrix}1&0\\\\0&1\\end{pmatrix}";
        let sum = evaluate(&format!("{a}+{i}")).expect("sum");
        assert_eq!(sum[0][0], "(1)+(1)");
        let prod = evaluate(&format!("{a}{i}")).expect("product");
        assert_eq!(prod[1][0], "(3)*(1)+(4)*(0)");
        let scaled = evaluate(&format!("2{a}")).expect("scaled");
        assert_eq!(scaled[0][1], "(2)*(2)");
        let t = evaluate(&format!("{a}^T")).expect("transpose");
        assert_eq!(t[0][1], "3");
        assert_eq!(evaluate(a), None, "a lone matrix is not an expression");
        assert_eq!(evaluate(&format!("{a}+1")), None);
        assert_eq!(evaluate(&format!("{a}^{{99}}")), None);
    }
}
