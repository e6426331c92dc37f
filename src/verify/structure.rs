//! Splitting answers into structure: top-level commas, bracketed tuples/intervals, sets, unions,
//! matrices, equations, multiple-choice letters. Depth-aware scans, linear in the input.

/// Split on `sep` where it is outside every bracket pair `()[]{}`.
pub fn split_top(s: &str, sep: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth -= 1,
            _ => {}
        }
        if depth == 0 && bytes[i..].starts_with(sep.as_bytes()) {
            out.push(s[start..i].to_string());
            i += sep.len();
            start = i;
            continue;
        }
        i += 1;
    }
    out.push(s[start..].to_string());
    out
}

/// Does the bracket opened at byte 0 close exactly at the last byte (any of `)]` closes `(` or
/// `[`, so intervals like `[1,2)` qualify)?
fn wraps_whole(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 2 {
        return false;
    }
    let mut depth = 0i32;
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                depth -= 1;
                if depth == 0 && i + 1 != b.len() {
                    return false;
                }
            }
            _ => {}
        }
    }
    depth == 0
}

/// `(a,b)`, `[a,b)`, ...: (open, close, items) when bracketed with at least two items.
pub fn bracketed(s: &str) -> Option<(char, char, Vec<String>)> {
    let open = s.chars().next()?;
    let close = s.chars().last()?;
    if !matches!(open, '(' | '[') || !matches!(close, ')' | ']') || !wraps_whole(s) {
        return None;
    }
    let items = split_top(&s[1..s.len() - 1], ",");
    (items.len() >= 2).then_some((open, close, items))
}

/// `\{a,b\}` (a set literal): its items.
pub fn set_literal(s: &str) -> Option<Vec<String>> {
    let inner = s.strip_prefix("\\{")?.strip_suffix("\\}")?;
    if inner.contains("\\{") || inner.contains("\\}") {
        return None;
    }
    Some(
        split_top(inner, ",")
            .into_iter()
            .filter(|x| !x.is_empty())
            .collect(),
    )
}

const MATRIX_ENVS: &[&str] = &[
    "pmatrix",
    "bmatrix",
    "matrix",
    "vmatrix",
    "Bmatrix",
    "Vmatrix",
    "smallmatrix",
    "array",
];

/// Byte length of the matrix literal at the start of `s`: `\begin{env}…\end{env}` for a matrix
/// environment or `array`, optionally inside `[…]` or `(…)` (`\left[\begin{array}{cc}…`).
pub fn matrix_span(s: &str) -> Option<usize> {
    let bracket = s.starts_with(['[', '(']);
    let inner = if bracket { &s[1..] } else { s };
    let name = inner.strip_prefix("\\begin{")?;
    let env = &name[..name.find('}')?];
    if !MATRIX_ENVS.contains(&env) {
        return None;
    }
    let end_tag = format!("\\end{{{env}}}");
    let end = inner.find(&end_tag)? + end_tag.len();
    if !bracket {
        return Some(end);
    }
    inner[end..].starts_with([']', ')']).then_some(end + 2)
}

/// `\begin{pmatrix}a&b\\c&d\end{pmatrix}` → rows of cells. Rows are split at `\\` and, since
/// `strip_string` collapses `\\` to `\`, also at a `\` not followed by a letter. `array` (its
/// column specification skipped) and brackets around the environment are accepted.
pub fn matrix(s: &str) -> Option<Vec<Vec<String>>> {
    if matrix_span(s)? != s.len() {
        return None;
    }
    let inner = if s.starts_with(['[', '(']) {
        &s[1..s.len() - 1]
    } else {
        s
    };
    let name = inner.strip_prefix("\\begin{")?;
    let env = &name[..name.find('}')?];
    let mut body = name[env.len() + 1..].strip_suffix(&format!("\\end{{{env}}}"))?;
    if env == "array" {
        let spec_end = body.strip_prefix('{')?.find('}')?;
        body = &body[spec_end + 2..];
    }
    let mut rows = Vec::new();
    let mut cur = String::new();
    let chars: Vec<char> = body.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '\\' {
            let next = chars.get(i + 1).copied();
            if next == Some('\\') {
                rows.push(std::mem::take(&mut cur));
                i += 2;
                continue;
            }
            if !next.is_some_and(|c| c.is_ascii_alphabetic() || c == '{' || c == '}') {
                rows.push(std::mem::take(&mut cur));
                i += 1;
                continue;
            }
        }
        cur.push(chars[i]);
        i += 1;
    }
    rows.push(cur);
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .filter(|r| !r.trim().is_empty())
        .map(|r| r.split('&').map(|c| c.trim().to_string()).collect())
        .collect();
    (!rows.is_empty()).then_some(rows)
}

/// Byte positions of top-level `=` signs that are not part of `\le`-style relations or `==`.
pub fn equals_split(s: &str) -> Option<(String, String)> {
    let parts = split_top(s, "=");
    if parts.len() != 2 {
        return None;
    }
    let (l, r) = (parts[0].trim(), parts[1].trim());
    if l.is_empty() || r.is_empty() || l.ends_with(['<', '>', '!']) {
        return None;
    }
    Some((l.to_string(), r.to_string()))
}

/// A multiple-choice letter: `A`, `(A)`, `{(A)}`, `\text{(A)}`, `\textbf{A}`.
pub fn choice_letter(s: &str) -> Option<char> {
    let mut t = s.trim();
    for prefix in ["\\text", "\\textbf", "\\mathrm"] {
        t = t.strip_prefix(prefix).unwrap_or(t);
    }
    let core: String = t
        .chars()
        .filter(|c| !matches!(c, '(' | ')' | '{' | '}' | ' '))
        .collect();
    let mut cs = core.chars();
    match (cs.next(), cs.next()) {
        (Some(c @ 'A'..='E'), None) => Some(c),
        _ => None,
    }
}

/// A top-level interval union `A \cup B`: its parts.
pub fn union_parts(s: &str) -> Option<Vec<String>> {
    let parts = split_top(s, "\\cup");
    (parts.len() >= 2).then_some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits() {
        assert_eq!(split_top("(1,2),3", ","), vec!["(1,2)", "3"]);
        assert_eq!(
            bracketed("[1,2)"),
            Some(('[', ')', vec!["1".into(), "2".into()]))
        );
        assert_eq!(bracketed("(1)(2)"), None);
        assert_eq!(bracketed("(5)"), None);
        assert_eq!(set_literal("\\{1,2\\}"), Some(vec!["1".into(), "2".into()]));
        let m = matrix("\\begin{pmatrix}1&2\\3&4\\end{pmatrix}").expect("matrix");
        assert_eq!(m, vec![vec!["1", "2"], vec!["3", "4"]]);
        let m = matrix("\\begin{pmatrix}\\frac{1}{2}\\\\-3\\end{pmatrix}").expect("matrix");
        assert_eq!(m, vec![vec!["\\frac{1}{2}"], vec!["-3"]]);
        assert_eq!(choice_letter("\\text{(A)}"), Some('A'));
        assert_eq!(choice_letter("(B)"), Some('B'));
        assert_eq!(choice_letter("AB"), None);
        assert_eq!(equals_split("y=2x+1"), Some(("y".into(), "2x+1".into())));
        assert_eq!(equals_split("a=b=c"), None);
        assert_eq!(
            union_parts("(-\\infty,1)\\cup(2,\\infty)").map(|v| v.len()),
            Some(2)
        );
    }
}
