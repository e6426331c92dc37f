//! Inequalities and the sets they describe. Normalisation spells every relation one way (`<`,
//! `>`, `≤`, `≥`, `≠`); here a chain `a < x ≤ b`, a membership `x \in [0,1)` or a union of them
//! (`\cup`, "or") in one variable becomes a set of intervals, so `-793 < a < 10` ≡ `(-793, 10)`
//! and `5 \geq x` ≡ `x \leq 5`; relations between expressions compare side by side
//! (`y > 2x` ≡ `2x < y`, with each `lhs − rhs` proportional by a positive factor).
use super::latex::{self, eval, Expr};
use super::structure::{bracketed, split_top, union_parts};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Ne,
}

impl Op {
    fn of(c: char) -> Option<Op> {
        Some(match c {
            '<' => Op::Lt,
            '>' => Op::Gt,
            '≤' => Op::Le,
            '≥' => Op::Ge,
            '≠' => Op::Ne,
            _ => return None,
        })
    }

    /// The same relation with its sides swapped (`a < b` ⇔ `b > a`).
    fn flipped(self) -> Op {
        match self {
            Op::Lt => Op::Gt,
            Op::Le => Op::Ge,
            Op::Gt => Op::Lt,
            Op::Ge => Op::Le,
            Op::Ne => Op::Ne,
        }
    }
}

/// Does `s` contain a relation sign (cheap test before any parsing)?
pub fn has_relation(s: &str) -> bool {
    s.contains(['<', '>', '≤', '≥', '≠']) || membership(s).is_some()
}

/// `x \in S` split at its `\in` (not the one of `\infty`).
fn membership(s: &str) -> Option<(&str, &str)> {
    let mut from = 0;
    while let Some(pos) = s[from..].find("\\in") {
        let at = from + pos;
        let after = &s[at + 3..];
        if !after.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return Some((&s[..at], after));
        }
        from = at + 3;
    }
    None
}

/// The separator normalisation writes for "or" between alternatives.
pub const OR: &str = "\\lor";

/// `e0 op1 e1 op2 e2 …`: split at top-level relation signs (none inside brackets).
fn chain(s: &str) -> Option<(Vec<String>, Vec<Op>)> {
    let mut terms = Vec::new();
    let mut ops = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            _ => {}
        }
        if depth != 0 {
            continue;
        }
        if let Some(op) = Op::of(c) {
            terms.push(s[start..i].trim().to_string());
            ops.push(op);
            start = i + c.len_utf8();
        }
    }
    terms.push(s[start..].trim().to_string());
    (!ops.is_empty() && terms.iter().all(|t| !t.is_empty())).then_some((terms, ops))
}

/// One end of an interval: its text (compared exactly by the caller), value for ordering, and
/// whether it is included.
#[derive(Debug, Clone)]
pub struct End {
    pub text: String,
    pub value: f64,
    pub closed: bool,
}

#[derive(Debug, Clone)]
pub struct Interval {
    pub lo: End,
    pub hi: End,
}

fn end(text: &str, closed: bool) -> Option<End> {
    let value = constant(text)?;
    Some(End {
        text: text.to_string(),
        value,
        closed: closed && value.is_finite(),
    })
}

fn infinite(negative: bool) -> End {
    End {
        text: if negative { "-\\infty" } else { "\\infty" }.to_string(),
        value: if negative {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        },
        closed: false,
    }
}

/// The real value of a constant expression (no symbols), ±∞ for infinities.
fn constant(text: &str) -> Option<f64> {
    let e: Expr = latex::parse(text)?;
    if eval::has_symbols(&e) {
        return None;
    }
    let v = eval::at(&e, 0);
    (v.is_real() && !v.re.is_nan()).then_some(v.re)
}

/// A variable: a letter or Greek letter, optionally subscripted (`x`, `a`, `x_1`, `\theta`).
fn variable(text: &str) -> Option<String> {
    let e = latex::parse(text)?;
    matches!(e, Expr::Var(_)).then(|| text.to_string())
}

/// The set of reals an answer describes, and the variable when it is written as relations.
pub struct RealSet {
    pub parts: Vec<Interval>,
    pub variable: Option<String>,
}

/// The interval set of `s`: interval notation (`(a,b]`, unions with `\cup`), a relation chain in
/// one variable (`a < x ≤ b`, `x ≠ 3`), `x \in S`, or alternatives joined by "or".
pub fn real_set(s: &str) -> Option<RealSet> {
    let mut parts = Vec::new();
    let mut variable: Option<String> = None;
    for alt in split_top(s, OR) {
        let set = real_set_one(alt.trim())?;
        if let Some(v) = set.variable {
            if variable.as_ref().is_some_and(|w| *w != v) {
                return None;
            }
            variable = Some(v);
        }
        parts.extend(set.parts);
    }
    Some(RealSet {
        parts: canonical(parts)?,
        variable,
    })
}

fn real_set_one(s: &str) -> Option<RealSet> {
    if let Some((var, set)) = membership(s) {
        return Some(RealSet {
            parts: intervals(set.trim())?,
            variable: Some(variable(var.trim())?),
        });
    }
    if let Some(parts) = intervals(s) {
        return Some(RealSet {
            parts,
            variable: None,
        });
    }
    let (terms, ops) = chain(s)?;
    let (parts, var) = match (terms.as_slice(), ops.as_slice()) {
        ([left, right], [op]) => {
            let (var, bound, op) = match (variable(left), variable(right)) {
                (Some(v), None) => (v, right, *op),
                (None, Some(v)) => (v, left, op.flipped()),
                _ => return None,
            };
            let parts = match op {
                Op::Lt | Op::Le => vec![Interval {
                    lo: infinite(true),
                    hi: end(bound, op == Op::Le)?,
                }],
                Op::Gt | Op::Ge => vec![Interval {
                    lo: end(bound, op == Op::Ge)?,
                    hi: infinite(false),
                }],
                Op::Ne => vec![
                    Interval {
                        lo: infinite(true),
                        hi: end(bound, false)?,
                    },
                    Interval {
                        lo: end(bound, false)?,
                        hi: infinite(false),
                    },
                ],
            };
            (parts, var)
        }
        ([first, middle, last], [a, b]) => {
            let var = variable(middle)?;
            let (lo, hi, lo_closed, hi_closed) = match (a, b) {
                (Op::Lt | Op::Le, Op::Lt | Op::Le) => (first, last, *a == Op::Le, *b == Op::Le),
                (Op::Gt | Op::Ge, Op::Gt | Op::Ge) => (last, first, *b == Op::Ge, *a == Op::Ge),
                _ => return None,
            };
            let part = Interval {
                lo: end(lo, lo_closed)?,
                hi: end(hi, hi_closed)?,
            };
            (vec![part], var)
        }
        _ => return None,
    };
    Some(RealSet {
        parts,
        variable: Some(var),
    })
}

/// Interval notation: `(a,b)`, `[a,b)`, …, joined by `\cup`; `\mathbb{R}` is everything.
fn intervals(s: &str) -> Option<Vec<Interval>> {
    if matches!(s, "\\mathbb{R}" | "\\mathbbR" | "\\mathbb{R}}" | "{R}") {
        return Some(vec![Interval {
            lo: infinite(true),
            hi: infinite(false),
        }]);
    }
    let parts = union_parts(s).unwrap_or_else(|| vec![s.to_string()]);
    parts
        .iter()
        .map(|p| {
            let (open, close, items) = bracketed(p.trim())?;
            if items.len() != 2 {
                return None;
            }
            let lo = end_or_infinity(items[0].trim(), open == '[')?;
            let hi = end_or_infinity(items[1].trim(), close == ']')?;
            Some(Interval { lo, hi })
        })
        .collect()
}

fn end_or_infinity(text: &str, closed: bool) -> Option<End> {
    match text {
        "-\\infty" => Some(infinite(true)),
        "\\infty" | "+\\infty" => Some(infinite(false)),
        _ => end(text, closed),
    }
}

/// Sorted by lower end, overlapping or touching parts merged, empty parts dropped: two sets are
/// equal exactly when their canonical parts are.
fn canonical(mut parts: Vec<Interval>) -> Option<Vec<Interval>> {
    if parts.len() > 32 {
        return None;
    }
    parts.retain(|p| {
        p.lo.value < p.hi.value || (p.lo.value == p.hi.value && p.lo.closed && p.hi.closed)
    });
    parts.sort_by(|a, b| a.lo.value.total_cmp(&b.lo.value));
    let mut out: Vec<Interval> = Vec::with_capacity(parts.len());
    for p in parts {
        if let Some(last) = out.last_mut() {
            let touching = last.hi.value == p.lo.value && (last.hi.closed || p.lo.closed);
            if last.hi.value > p.lo.value || touching {
                if p.hi.value > last.hi.value || (p.hi.value == last.hi.value && p.hi.closed) {
                    last.hi = p.hi;
                }
                continue;
            }
        }
        out.push(p);
    }
    Some(out)
}

/// Are two interval sets equal? Ends are compared with `same` (exact where possible).
pub fn same_set(a: &[Interval], b: &[Interval], same: &mut dyn FnMut(&str, &str) -> bool) -> bool {
    let end_eq = |x: &End, y: &End, same: &mut dyn FnMut(&str, &str) -> bool| {
        x.closed == y.closed
            && if x.value.is_infinite() || y.value.is_infinite() {
                x.value == y.value
            } else {
                same(&x.text, &y.text)
            }
    };
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| end_eq(&x.lo, &y.lo, same) && end_eq(&x.hi, &y.hi, same))
}

/// Relations as `lhs − rhs` against 0 with `<`, `≤` or `≠`: the parts of a chain, each written
/// so that `a > b` becomes `b − a < 0`.
fn links(s: &str) -> Option<Vec<(Expr, Op)>> {
    let (terms, ops) = chain(s)?;
    let exprs: Vec<Expr> = terms
        .iter()
        .map(|t| latex::parse(t))
        .collect::<Option<_>>()?;
    Some(
        ops.iter()
            .enumerate()
            .map(|(i, op)| {
                let (a, b) = (exprs[i].clone(), exprs[i + 1].clone());
                match op {
                    Op::Lt | Op::Le | Op::Ne => (Expr::Sub(Box::new(a), Box::new(b)), *op),
                    Op::Gt => (Expr::Sub(Box::new(b), Box::new(a)), Op::Lt),
                    Op::Ge => (Expr::Sub(Box::new(b), Box::new(a)), Op::Le),
                }
            })
            .collect(),
    )
}

/// Are two relation chains the same statement? Link by link (in either reading direction), each
/// `d1 op 0` ≡ `d2 op 0` when `d1 = c·d2` for a constant `c > 0` (any `c ≠ 0` for `≠`).
pub fn same_relations(p: &str, r: &str) -> Option<bool> {
    let (a, b) = (links(p)?, links(r)?);
    if a.len() != b.len() {
        return Some(false);
    }
    let forward = a
        .iter()
        .zip(&b)
        .all(|((x, ox), (y, oy))| ox == oy && positive_multiple(x, y, *ox == Op::Ne));
    Some(forward)
}

fn positive_multiple(x: &Expr, y: &Expr, any_sign: bool) -> bool {
    match latex::ratio(x, y) {
        Some(c) => c > 0.0 || (any_sign && c != 0.0),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(s: &str) -> Vec<(f64, bool, f64, bool)> {
        real_set(s)
            .unwrap_or_else(|| panic!("no set: {s}"))
            .parts
            .iter()
            .map(|p| (p.lo.value, p.lo.closed, p.hi.value, p.hi.closed))
            .collect()
    }

    #[test]
    fn sets_of_relations() {
        let inf = f64::INFINITY;
        assert_eq!(set("x≥5"), vec![(5.0, true, inf, false)]);
        assert_eq!(set("5≥x"), vec![(-inf, false, 5.0, true)]);
        assert_eq!(set("-793<a<10"), vec![(-793.0, false, 10.0, false)]);
        assert_eq!(set("7≥x≥-2"), vec![(-2.0, true, 7.0, true)]);
        assert_eq!(set("x\\in[-2,7)"), vec![(-2.0, true, 7.0, false)]);
        assert_eq!(
            set("x≠3"),
            vec![(-inf, false, 3.0, false), (3.0, false, inf, false)]
        );
        assert_eq!(
            set("x<-1\\lorx>1"),
            vec![(-inf, false, -1.0, false), (1.0, false, inf, false)]
        );
        assert_eq!(set("x≤1\\lorx≥1"), vec![(-inf, false, inf, false)]);
        assert_eq!(set("(1,2]\\cup[2,3)"), vec![(1.0, false, 3.0, false)]);
        assert!(real_set("x<y").is_none());
        assert!(real_set("1<x>2").is_none());
    }

    #[test]
    fn relations_between_expressions() {
        assert_eq!(same_relations("y>2x", "2x<y"), Some(true));
        assert_eq!(same_relations("2y>4x", "y>2x"), Some(true));
        assert_eq!(same_relations("y≥2x", "y>2x"), Some(false));
        assert_eq!(same_relations("y>2x", "y<2x"), Some(false));
        assert_eq!(same_relations("x+y≠1", "1≠y+x"), Some(true));
    }
}
