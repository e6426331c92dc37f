//! Labelled and chained answers: `x = 5`, `(p,q) = (3,2)` and `f(x) = 1` state a value under a
//! name; `x = 5+5+1 = 11` and `\sqrt{2} \approx 1.414` state it as the end of a chain. The value
//! is what is graded; an equation between two expressions (`7 = 11a+c`) is not a label.
use super::structure::{bracketed, split_top};

/// Longest left side taken for a label (`\overline{AB}`, `(x_1,x_2,x_3)` fit).
const MAX_LABEL_LEN: usize = 40;

/// Commands that name a quantity (Greek letters, `\angle`, decorations) rather than compute one.
const NAMING_COMMANDS: &[&str] = &[
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "varepsilon",
    "zeta",
    "eta",
    "theta",
    "vartheta",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "rho",
    "sigma",
    "tau",
    "phi",
    "varphi",
    "chi",
    "psi",
    "omega",
    "Gamma",
    "Delta",
    "Theta",
    "Lambda",
    "Sigma",
    "Phi",
    "Psi",
    "Omega",
    "angle",
    "overline",
    "vec",
    "hat",
    "bar",
    "ell",
];

/// The naming command at the start of a run of letters (`angleABC` is `\angle` then `ABC`,
/// as `strip_string` glues them): its length.
fn naming_prefix(run: &str) -> Option<usize> {
    NAMING_COMMANDS
        .iter()
        .filter(|c| run.starts_with(*c))
        .map(|c| c.len())
        .max()
}

/// Is `s` a name: `x`, `AB`, `x_1`, `a_{n+1}`, `f'`, `\theta`, `\angle ABC`, `{area}`, `f(x)`,
/// `P(A)`, or a tuple of such names `(p,q)`? Numbers and expressions (`2x`, `x+y`) are not.
pub fn is_label(s: &str) -> bool {
    let t = s.trim();
    if t.is_empty() || t.len() > MAX_LABEL_LEN {
        return false;
    }
    if let Some(('(', ')', items)) = bracketed(t) {
        return items.iter().all(|i| is_name(i.trim()));
    }
    is_name(t)
}

fn is_name(t: &str) -> bool {
    let b = t.as_bytes();
    let mut i = 0;
    // `m\angle A`: the measure of a named angle.
    if t.starts_with("m\\angle") {
        i = 1;
    }
    let mut letters = 0;
    let mut named = false;
    while i < b.len() {
        if b[i] == b'\\' {
            let start = i + 1;
            let mut j = start;
            while j < b.len() && b[j].is_ascii_alphabetic() {
                j += 1;
            }
            let Some(len) = naming_prefix(&t[start..j]) else {
                return false;
            };
            named = true;
            i = start + len;
        } else if b[i].is_ascii_alphabetic() {
            letters += 1;
            named = true;
            i += 1;
        } else if b[i] == b'{' && !named {
            // `{area}`: what `strip_string` leaves of `\text{area}`.
            let Some(end) = t[i..].find('}') else {
                return false;
            };
            let word = &t[i + 1..i + end];
            if word.is_empty() || !word.bytes().all(|c| c.is_ascii_alphabetic()) {
                return false;
            }
            named = true;
            i += end + 1;
        } else {
            break;
        }
    }
    if !named || letters > 3 {
        return false;
    }
    let rest = &t[i..];
    let rest = skip_group_after(rest, '{', '}'); // `\overline{AB}`
    let rest = match rest.strip_prefix('_') {
        Some(sub) => skip_subscript(sub),
        None => rest,
    };
    let rest = rest.trim_start_matches('\'');
    let rest = if rest.starts_with('(') {
        skip_group_after(rest, '(', ')')
    } else {
        rest
    };
    rest.is_empty()
}

/// The text after a balanced group opening at byte 0, or `s` when it does not start one.
fn skip_group_after(s: &str, open: char, close: char) -> &str {
    if !s.starts_with(open) {
        return s;
    }
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        if c == open {
            depth += 1;
        } else if c == close {
            depth -= 1;
            if depth == 0 {
                return &s[i + 1..];
            }
        } else if c == '=' {
            break;
        }
    }
    s
}

/// The text after a subscript's body: `{…}`, a run of digits (`x_12`), or one letter.
fn skip_subscript(s: &str) -> &str {
    if s.starts_with('{') {
        return skip_group_after(s, '{', '}');
    }
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 0 {
        return &s[digits..];
    }
    match s.chars().next() {
        Some(c) if c.is_ascii_alphabetic() => &s[1..],
        _ => s,
    }
}

/// The value an answer states, when it is labelled or chained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stated {
    /// The last exact value (before any `\approx`).
    pub exact: String,
    /// The last value of the chain (the approximation when there is one).
    pub last: String,
    /// True for a chain (two or more relations, or an `\approx`), false for `label = value`.
    pub chained: bool,
}

const APPROX: &str = "\\approx";

/// Split at top-level `=` and `\approx`: the parts and whether each link is an approximation.
fn links(s: &str) -> (Vec<String>, Vec<bool>) {
    let mut parts = Vec::new();
    let mut approx = Vec::new();
    for (k, piece) in split_top(s, APPROX).into_iter().enumerate() {
        if k > 0 {
            approx.push(true);
        }
        for (m, p) in split_top(&piece, "=").into_iter().enumerate() {
            if m > 0 {
                approx.push(false);
            }
            parts.push(p.trim().to_string());
        }
    }
    (parts, approx)
}

/// The stated value of `s`: `None` when `s` has no `=`/`\approx`, when a part is empty (`x<=3`
/// style leftovers), or when it is a single equation whose left side is not a label.
pub fn stated_value(s: &str) -> Option<Stated> {
    if !s.contains('=') && !s.contains(APPROX) {
        return None;
    }
    let (mut parts, mut approx) = links(s);
    // `\approx 8.24`: an approximate value with nothing on the left.
    if parts.len() >= 2 && parts[0].is_empty() && approx[0] {
        parts.remove(0);
        approx.remove(0);
        let last = parts.last()?.clone();
        return (!last.is_empty()).then(|| Stated {
            exact: last.clone(),
            last,
            chained: true,
        });
    }
    if parts.len() < 2 || parts.iter().any(String::is_empty) {
        return None;
    }
    let chained = parts.len() > 2 || approx.iter().any(|&a| a);
    if is_label(&parts[0]) {
        parts.remove(0);
        approx.remove(0);
    } else if !chained {
        return None;
    }
    let last = parts.last()?.clone();
    // The part before the first `\approx` is the last exact statement.
    // `approx[k]` links `parts[k]` and `parts[k + 1]`.
    let exact = match approx.iter().position(|&a| a) {
        Some(k) => parts[k].clone(),
        None => last.clone(),
    };
    Some(Stated {
        exact,
        last,
        chained,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        for s in [
            "x",
            "k",
            "AB",
            "x_1",
            "a_{n+1}",
            "f'",
            "\\theta",
            "\\angleABC",
            "m\\angleA",
            "{area}",
            "f(x)",
            "P(A)",
            "(p,q)",
            "(x,y,z)",
            "\\overline{AB}",
        ] {
            assert!(is_label(s), "{s}");
        }
        for s in [
            "7",
            "2x",
            "x+y",
            "11a+c",
            "\\frac{1}{2}",
            "(1,2)",
            "",
            "abcd",
        ] {
            assert!(!is_label(s), "{s}");
        }
    }

    #[test]
    fn stated_values() {
        let v = |s: &str| stated_value(s).map(|v| (v.exact, v.last, v.chained));
        assert_eq!(v("x=3"), Some(("3".into(), "3".into(), false)));
        assert_eq!(
            v("(p,q)=(3,2)"),
            Some(("(3,2)".into(), "(3,2)".into(), false))
        );
        assert_eq!(v("7=11a+c"), None);
        assert_eq!(v("x=5+5+1=11"), Some(("11".into(), "11".into(), true)));
        assert_eq!(
            v("\\sqrt{2}\\approx1.414"),
            Some(("\\sqrt{2}".into(), "1.414".into(), true))
        );
        assert_eq!(
            v("x\\approx1.41"),
            Some(("1.41".into(), "1.41".into(), true))
        );
        assert_eq!(
            v("\\approx8.24"),
            Some(("8.24".into(), "8.24".into(), true))
        );
        assert_eq!(v("5"), None);
        assert_eq!(v("x="), None);
    }
}
