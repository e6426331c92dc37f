//! The verifier's claims as properties: a random answer (integer, fraction, radical, interval,
//! tuple, set, matrix) written in every spelling the verifier claims to read — LaTeX forms,
//! relation forms, separators, labels, chains, matrix arithmetic — is judged equal to its plain
//! form in both directions, and a small change (one digit, one sign, one bracket, two items
//! swapped) is judged unequal against every spelling. CI runs 256 cases; set `PROPTEST_CASES`
//! for more (`PROPTEST_CASES=20000 cargo test --release --test verify_properties`).
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::FileFailurePersistence;
use rlvr::verify::{grade, Mode};

#[derive(Debug, Clone)]
enum Answer {
    Int(i64),
    /// `p/q` in lowest terms, `q ≥ 2`.
    Frac(i64, i64),
    /// `a·√b`, `a ≠ 0`, `b` square-free.
    Radical(i64, i64),
    /// Ends `None` are infinite; at most one is.
    Interval {
        lo: Option<i64>,
        hi: Option<i64>,
        lo_closed: bool,
        hi_closed: bool,
    },
    Tuple(Vec<i64>),
    /// Distinct items.
    Set(Vec<i64>),
    Matrix(Vec<Vec<i64>>),
}

const SQUARE_FREE: &[i64] = &[
    2, 3, 5, 6, 7, 10, 11, 13, 14, 15, 17, 19, 21, 22, 23, 26, 29, 30,
];

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 {
        a.abs()
    } else {
        gcd(b, a % b)
    }
}

fn answer() -> impl Strategy<Value = Answer> {
    let int = prop_oneof![-99i64..100, -10_000_000i64..10_000_000].prop_map(Answer::Int);
    let frac = (-300i64..300, 2i64..64).prop_filter_map("lowest terms", |(p, q)| {
        (p != 0 && gcd(p, q) == 1).then_some(Answer::Frac(p, q))
    });
    let radical = (
        prop_oneof![-20i64..-1, 1i64..30],
        prop::sample::select(SQUARE_FREE),
    )
        .prop_map(|(a, b)| Answer::Radical(a, b));
    let interval = (
        -500i64..500,
        1i64..500,
        any::<bool>(),
        any::<bool>(),
        0u8..5,
    )
        .prop_map(
            |(lo, width, lo_closed, hi_closed, infinite)| Answer::Interval {
                lo: (infinite != 0).then_some(lo),
                hi: (infinite != 1).then_some(lo + width),
                lo_closed: lo_closed && infinite != 0,
                hi_closed: hi_closed && infinite != 1,
            },
        );
    let tuple = prop::collection::vec(-50i64..500, 2..5).prop_map(Answer::Tuple);
    let set = prop::collection::btree_set(-50i64..200, 2..5)
        .prop_map(|s| Answer::Set(s.into_iter().collect()));
    let matrix = (1usize..4, 1usize..4)
        .prop_flat_map(|(r, c)| prop::collection::vec(prop::collection::vec(-9i64..60, c), r))
        .prop_filter("not a single cell", |m| m.len() * m[0].len() > 1)
        .prop_map(Answer::Matrix);
    prop_oneof![int, frac, radical, interval, tuple, set, matrix]
}

fn times(a: i64, x: &str) -> String {
    match a {
        1 => x.to_string(),
        -1 => format!("-{x}"),
        _ => format!("{a}{x}"),
    }
}

fn with_separator(n: i64, sep: &str) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push_str(sep);
        }
        out.push(d);
    }
    format!("{}{out}", if n < 0 { "-" } else { "" })
}

/// `p/q` as a terminating decimal when it is one.
fn decimal(p: i64, q: i64) -> Option<String> {
    let mut d = q;
    let mut digits = 0u32;
    while d % 10 == 0 || d % 2 == 0 || d % 5 == 0 {
        if d % 2 == 0 {
            d /= 2;
        } else {
            d /= 5;
        }
        digits += 1;
    }
    if d != 1 {
        return None;
    }
    let digits = digits.max(1);
    let scaled = p * 10i64.pow(digits) / q;
    let sign = if scaled < 0 { "-" } else { "" };
    let a = scaled.unsigned_abs();
    let unit = 10u64.pow(digits);
    Some(format!(
        "{sign}{}.{:0w$}",
        a / unit,
        a % unit,
        w = digits as usize
    ))
}

fn frac(p: i64, q: i64) -> String {
    if p < 0 {
        format!("-\\frac{{{}}}{{{q}}}", -p)
    } else {
        format!("\\frac{{{p}}}{{{q}}}")
    }
}

fn ends(lo: Option<i64>, hi: Option<i64>) -> (String, String) {
    (
        lo.map_or("-\\infty".to_string(), |v| v.to_string()),
        hi.map_or("\\infty".to_string(), |v| v.to_string()),
    )
}

fn env(name: &str, m: &[Vec<i64>], f: impl Fn(i64) -> String) -> String {
    let rows: Vec<String> = m
        .iter()
        .map(|r| r.iter().map(|&x| f(x)).collect::<Vec<_>>().join("&"))
        .collect();
    format!("\\begin{{{name}}}{}\\end{{{name}}}", rows.join("\\\\"))
}

fn pmatrix(m: &[Vec<i64>]) -> String {
    env("pmatrix", m, |x| x.to_string())
}

/// Every spelling of `a`; the first is its plain form.
fn spellings(a: &Answer) -> Vec<String> {
    match a {
        Answer::Int(n) => vec![
            n.to_string(),
            with_separator(*n, "{,}"),
            with_separator(*n, ","),
            with_separator(*n, "\\,"),
            format!("{n}.0"),
            format!("\\frac{{{}}}{{2}}", 2 * n),
            format!("x = {n}"),
            format!("x = ({}) + 1 = {n}", n - 1),
            format!("${n}$"),
            format!("{n}\\%"),
            format!("{n} percent"),
        ],
        Answer::Frac(p, q) => {
            let mut v = vec![
                frac(*p, *q),
                frac(*p, *q).replace("\\frac", "\\dfrac"),
                frac(*p, *q).replace("\\frac", "\\tfrac"),
                format!("{p}/{q}"),
                format!("\\frac{{{p}}}{{{q}}}"),
                format!("\\frac{{{}}}{{{}}}", 3 * p, 3 * q),
                format!("({p}) \\div {q}"),
                format!("x = {}", frac(*p, *q)),
            ];
            if let Some(d) = decimal(*p, *q) {
                v.push(d.clone());
                v.push(format!("x = {} = {d}", frac(*p, *q)));
            } else {
                let approx = *p as f64 / *q as f64;
                v.push(format!("{} \\approx {approx:.6}", frac(*p, *q)));
            }
            if p.abs() > *q {
                let sign = if *p < 0 { "-" } else { "" };
                v.push(format!(
                    "{sign}{}\\frac{{{}}}{{{q}}}",
                    p.abs() / q,
                    p.abs() % q
                ));
            }
            v
        }
        Answer::Radical(a, b) => {
            let root = format!("\\sqrt{{{b}}}");
            let inner = if *a < 0 {
                format!("-\\sqrt{{{}}}", a * a * b)
            } else {
                format!("\\sqrt{{{}}}", a * a * b)
            };
            vec![
                times(*a, &root),
                inner,
                times(*a, &format!("\\sqrt {b}")),
                format!("\\sqrt{{{b}}}\\cdot ({a})"),
                format!("{a}\\cdot {b}^{{\\frac{{1}}{{2}}}}"),
                format!("\\frac{{{}}}{{\\sqrt{{{b}}}}}", a * b),
                format!("x = {}", times(*a, &root)),
                format!(
                    "{} \\approx {:.6}",
                    times(*a, &root),
                    *a as f64 * (*b as f64).sqrt()
                ),
            ]
        }
        Answer::Interval {
            lo,
            hi,
            lo_closed,
            hi_closed,
        } => {
            let (l, h) = ends(*lo, *hi);
            let open = if *lo_closed { "[" } else { "(" };
            let close = if *hi_closed { "]" } else { ")" };
            let notation = format!("{open}{l}, {h}{close}");
            let lt = |closed: bool, tex: bool| match (closed, tex) {
                (true, true) => "\\le",
                (true, false) => "<=",
                (false, true) => "\\lt",
                (false, false) => "<",
            };
            let gt = |closed: bool| if closed { "\\geq" } else { ">" };
            let mut v = vec![
                notation.clone(),
                format!("\\left{open} {l},{h} \\right{close}"),
                format!("x \\in {notation}"),
            ];
            match (lo, hi) {
                (Some(_), Some(_)) => {
                    v.push(format!(
                        "{l} {} x {} {h}",
                        lt(*lo_closed, true),
                        lt(*hi_closed, true)
                    ));
                    v.push(format!(
                        "{l} {} a {} {h}",
                        lt(*lo_closed, false),
                        lt(*hi_closed, false)
                    ));
                    v.push(format!("{h} {} x {} {l}", gt(*hi_closed), gt(*lo_closed)));
                }
                (Some(_), None) => {
                    v.push(format!("x {} {l}", gt(*lo_closed)));
                    v.push(format!("{l} {} x", lt(*lo_closed, true)));
                }
                (None, Some(_)) => {
                    v.push(format!("x {} {h}", lt(*hi_closed, false)));
                    v.push(format!("{h} {} x", gt(*hi_closed)));
                }
                (None, None) => {}
            }
            v
        }
        Answer::Tuple(items) => {
            let plain: Vec<String> = items.iter().map(i64::to_string).collect();
            let names = ["x", "y", "z", "w"];
            vec![
                format!("({})", plain.join(", ")),
                format!("\\left({}\\right)", plain.join(",")),
                format!(
                    "({}) = ({})",
                    names[..items.len()].join(","),
                    plain.join(", ")
                ),
                format!(
                    "({})",
                    items
                        .iter()
                        .map(|x| format!("\\frac{{{}}}{{2}}", 2 * x))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ]
        }
        Answer::Set(items) => {
            let plain: Vec<String> = items.iter().map(i64::to_string).collect();
            let mut rotated = plain.clone();
            rotated.rotate_left(1);
            vec![
                plain.join(", "),
                rotated.join(", "),
                format!("\\{{{}\\}}", rotated.join(", ")),
                format!("{{{}}}", plain.join(", ")),
                plain.join("; "),
                rotated.join(" \\text{ or } "),
                plain.join(" or "),
                plain
                    .iter()
                    .map(|x| format!("x = {x}"))
                    .collect::<Vec<_>>()
                    .join(" \\text{ or } "),
            ]
        }
        Answer::Matrix(m) => {
            let shifted: Vec<Vec<i64>> = m
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    r.iter()
                        .enumerate()
                        .map(|(j, x)| x - (i + 2 * j) as i64)
                        .collect()
                })
                .collect();
            let offsets: Vec<Vec<i64>> = m
                .iter()
                .enumerate()
                .map(|(i, r)| (0..r.len()).map(|j| (i + 2 * j) as i64).collect())
                .collect();
            let transposed: Vec<Vec<i64>> = (0..m[0].len())
                .map(|j| m.iter().map(|r| r[j]).collect())
                .collect();
            let cols = "c".repeat(m[0].len());
            vec![
                pmatrix(m),
                env("bmatrix", m, |x| x.to_string()),
                format!("\\left[{}\\right]", env("array", m, |x| x.to_string())).replacen(
                    "\\begin{array}",
                    &format!("\\begin{{array}}{{{cols}}}"),
                    1,
                ),
                env("pmatrix", m, |x| format!(" {x} ")).replace("\\\\", " \\\\\n"),
                format!("{} + {}", pmatrix(&shifted), pmatrix(&offsets)),
                format!(
                    "\\frac{{1}}{{2}}{}",
                    env("pmatrix", m, |x| (2 * x).to_string())
                ),
                format!("{}^T", pmatrix(&transposed)),
            ]
        }
    }
}

/// A different digit at position `at` (from the right) of `n`, never a leading zero.
fn change_digit(n: i64, at: usize, to: usize) -> i64 {
    let digits: Vec<u8> = n
        .unsigned_abs()
        .to_string()
        .bytes()
        .map(|b| b - b'0')
        .collect();
    let pos = digits.len() - 1 - at % digits.len();
    let mut d = digits.clone();
    let leading = pos == 0 && digits.len() > 1;
    let choices: Vec<u8> = (0..10)
        .filter(|&c| c != digits[pos] && !(leading && c == 0))
        .collect();
    d[pos] = choices[to % choices.len()];
    let v: i64 = d.iter().fold(0, |acc, &x| acc * 10 + i64::from(x));
    if n < 0 {
        -v
    } else {
        v
    }
}

/// A small change with a different value: one digit, one sign, one bracket, or two items swapped.
fn mutate(a: &Answer, kind: usize, at: &Index, to: usize) -> Answer {
    match a {
        Answer::Int(n) => match kind % 2 {
            0 if *n != 0 => Answer::Int(-n),
            _ => Answer::Int(change_digit(*n, at.index(20), to)),
        },
        Answer::Frac(p, q) => match kind % 3 {
            0 => Answer::Frac(-p, *q),
            1 => Answer::Frac(change_digit(*p, at.index(20), to), *q),
            _ => {
                let q2 = change_digit(*q, at.index(20), to);
                if q2 == 0 {
                    Answer::Frac(p + 1, *q)
                } else {
                    Answer::Frac(*p, q2)
                }
            }
        },
        Answer::Radical(a, b) => match kind % 3 {
            0 => Answer::Radical(-a, *b),
            1 => {
                let a2 = change_digit(*a, at.index(20), to);
                Answer::Radical(if a2 == 0 { a + 1 } else { a2 }, *b)
            }
            _ => {
                let others: Vec<i64> = SQUARE_FREE.iter().copied().filter(|x| x != b).collect();
                Answer::Radical(*a, others[to % others.len()])
            }
        },
        Answer::Interval {
            lo,
            hi,
            lo_closed,
            hi_closed,
        } => {
            let (mut lo, mut hi, mut lo_closed, mut hi_closed) = (*lo, *hi, *lo_closed, *hi_closed);
            match (kind % 2, lo.is_some(), hi.is_some()) {
                (0, true, _) => lo_closed = !lo_closed,
                (0, false, _) => hi_closed = !hi_closed,
                (_, true, _) => lo = lo.map(|v| change_digit(v, at.index(20), to)),
                (_, false, _) => hi = hi.map(|v| change_digit(v, at.index(20), to)),
            }
            Answer::Interval {
                lo,
                hi,
                lo_closed,
                hi_closed,
            }
        }
        Answer::Tuple(items) => {
            let mut items = items.clone();
            let i = at.index(items.len());
            let j = (i + 1) % items.len();
            if kind.is_multiple_of(2) && items[i] != items[j] {
                items.swap(i, j);
            } else {
                items[i] = change_digit(items[i], to, to / 7);
            }
            Answer::Tuple(items)
        }
        Answer::Set(items) => {
            let mut items = items.clone();
            let i = at.index(items.len());
            let mut v = change_digit(items[i], to, to / 7);
            while items.contains(&v) {
                v += 1;
            }
            items[i] = v;
            Answer::Set(items)
        }
        Answer::Matrix(m) => {
            let mut m = m.clone();
            let i = at.index(m.len());
            let j = to % m[i].len();
            m[i][j] = change_digit(m[i][j], to, kind);
            Answer::Matrix(m)
        }
    }
}

fn judged(answer: &str, reference: &str) -> bool {
    grade(
        &format!("The answer is $\\boxed{{{answer}}}$."),
        reference,
        Mode::Correct,
    )
    .correct
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

proptest! {
    // Failures are saved beside this file (tests/NAME.proptest-regressions) and replayed first:
    // the default location needs a lib.rs or main.rs above the test, which tests/ does not have.
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn spellings_are_equal_and_changes_are_not(
        a in answer(),
        kind in 0usize..6,
        at in any::<Index>(),
        to in 0usize..1000,
    ) {
        let forms = spellings(&a);
        let plain = &forms[0];
        for form in &forms {
            prop_assert!(judged(form, plain), "`{}` should equal `{}` ({:?})", form, plain, a);
            prop_assert!(judged(plain, form), "`{}` should equal `{}` ({:?})", plain, form, a);
        }
        let changed = mutate(&a, kind, &at, to);
        let changed_forms = spellings(&changed);
        for form in &forms {
            prop_assert!(
                !judged(&changed_forms[0], form),
                "`{}` should differ from `{}` ({:?} → {:?})", changed_forms[0], form, a, changed
            );
        }
        for form in &changed_forms {
            prop_assert!(
                !judged(form, plain),
                "`{}` should differ from `{}` ({:?} → {:?})", form, plain, a, changed
            );
        }
    }
}
