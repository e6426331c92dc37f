//! The correct mode's canonical spellings, applied before the paper's `strip_string` steps (which
//! delete spaces, so everything that depends on them is decided here):
//! - relation signs: `\geq`, `\ge`, `\geqslant`, `>=`, `≥` → `≥` (likewise `≤`, `≠`, `\lt` → `<`,
//!   `\gt` → `>`), `≈` → `\approx`;
//! - thousands separators: `14{,}916` and `1,000` lose them, while `32, 349` (a comma and a
//!   space) stays a list of two numbers;
//! - "percent", "per cent", "pct" after a number → `\%`;
//! - text commands (`\textnormal`, `\textrm`, `\textbf {…}`, …) → `\text{…}`, and `\mathbf` around
//!   a word → `\text{…}`;
//! - "or" between alternatives (`or`, `\text{ or }`, `\vee`) → [`OR`].
use super::relation::OR;

/// Apply every canonical spelling except [`thousands`] (which must run after the thin spaces
/// inside numbers, `1,\!000`, are gone).
pub fn canonical(s: String) -> String {
    let s = thin_space_separators(s);
    let s = commands(s);
    let s = font_residue(s);
    let s = ascii_relations(s);
    let s = percent_words(s);
    or_words(s)
}

/// `11,\! 111,\! 100`: a comma tightened by `\!` separates thousands, whatever spaces follow.
fn thin_space_separators(s: String) -> String {
    if !s.contains("\\!") {
        return s;
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s.as_str();
    while let Some(pos) = rest.find(',') {
        out.push_str(&rest[..pos]);
        let after = rest[pos + 1..].trim_start();
        match after.strip_prefix("\\!") {
            Some(tail) if out.ends_with(|c: char| c.is_ascii_digit()) => {
                let tail = tail.trim_start();
                out.push_str("{,}");
                rest = tail;
            }
            _ => {
                out.push(',');
                rest = &rest[pos + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// What `strip_string` leaves of a font command after a value (`125normal{miles}` from
/// `125\textnormal{ miles}`, `\frac{1}{3}bf{meters}` from `\textbf`) is read as `\text{…}`.
fn font_residue(s: String) -> String {
    const RESIDUE: &[&str] = &["normal{", "bf{", "rm{", "it{", "sf{", "tt{", "up{", "md{"];
    if !RESIDUE.iter().any(|r| s.contains(r)) {
        return s;
    }
    let mut out = String::with_capacity(s.len() + 8);
    let mut rest = s.as_str();
    'scan: while !rest.is_empty() {
        for r in RESIDUE {
            if let Some(after) = rest.strip_prefix(r) {
                let value_before = out
                    .trim_end()
                    .ends_with(|c: char| c.is_ascii_digit() || c == '}' || c == ')');
                if value_before {
                    out.push_str("\\text{");
                    rest = after;
                    continue 'scan;
                }
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// Commands that only change the font of text.
const TEXT_COMMANDS: &[&str] = &[
    "text",
    "textnormal",
    "textrm",
    "textit",
    "textsf",
    "texttt",
    "textup",
    "textmd",
    "textbf",
    "hbox",
];

/// A relation command glued to the letters after it (`\leqg(x)`, `\lex`: `strip_string`
/// deletes the space): the sign and the length of the command part.
fn glued_relation(name: &str) -> Option<(&'static str, usize)> {
    // Real commands that start like a relation.
    if matches!(
        name,
        "left" | "neg" | "gets" | "gtr" | "leqq" | "geqq" | "lneq" | "gneq"
    ) {
        return None;
    }
    ["leq", "geq", "neq", "le", "ge", "ne", "lt", "gt"]
        .iter()
        .find(|r| name.starts_with(*r) && (1..=2).contains(&(name.len() - r.len())))
        .and_then(|r| relation_sign(r).map(|sign| (sign, r.len())))
}

/// The canonical spelling of a relation command, when `name` is one.
fn relation_sign(name: &str) -> Option<&'static str> {
    Some(match name {
        "geq" | "ge" | "geqslant" | "geqq" => "≥",
        "leq" | "le" | "leqslant" | "leqq" => "≤",
        "neq" | "ne" => "≠",
        "lt" => "<",
        "gt" => ">",
        "approx" | "thickapprox" => "\\approx",
        "lor" | "vee" => OR,
        _ => return None,
    })
}

/// One pass over `\name` commands: relation commands, text commands, `\mathbf{word}`.
fn commands(s: String) -> String {
    if !s.contains('\\') && !s.contains('≈') {
        return s;
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s.as_str();
    while let Some(pos) = rest.find(['\\', '≈']) {
        out.push_str(&rest[..pos]);
        if rest[pos..].starts_with('≈') {
            out.push_str("\\approx ");
            rest = &rest[pos + '≈'.len_utf8()..];
            continue;
        }
        let after = &rest[pos + 1..];
        let name_len = after.bytes().take_while(u8::is_ascii_alphabetic).count();
        let name = &after[..name_len];
        let tail = &after[name_len..];
        if name == "not" && tail.trim_start().starts_with('=') {
            out.push('≠');
            rest = &tail.trim_start()[1..];
        } else if let Some(sign) = relation_sign(name) {
            out.push_str(sign);
            // Keep words apart (`\approx x`), as the space that ended the command did.
            out.push(' ');
            rest = tail;
        } else if let Some((sign, len)) = glued_relation(name) {
            out.push_str(sign);
            out.push(' ');
            rest = &after[len..];
        } else if TEXT_COMMANDS.contains(&name) && tail.trim_start().starts_with('{') {
            out.push_str("\\text{");
            rest = &tail.trim_start()[1..];
        } else if name == "mathbf" && is_bold_word(tail) {
            out.push_str("\\text");
            rest = tail;
        } else {
            out.push('\\');
            out.push_str(name);
            rest = tail;
            if name.is_empty() {
                // A control symbol (`\{`, `\,`): copy its character as is.
                if let Some(c) = rest.chars().next() {
                    out.push(c);
                    rest = &rest[c.len_utf8()..];
                }
            }
        }
    }
    out.push_str(rest);
    out
}

/// `\mathbf{ meters}`, `\mathbf{cm}`: a unit word in bold, not a bold vector like `\mathbf{v}`.
fn is_bold_word(tail: &str) -> bool {
    let Some(body) = tail.strip_prefix('{') else {
        return false;
    };
    let Some(end) = body.find('}') else {
        return false;
    };
    let word = &body[..end];
    word.chars().all(|c| c.is_ascii_alphabetic() || c == ' ')
        && (word.starts_with(' ') || word.trim().len() >= 2)
}

/// `>=`, `<=`, `!=`, `=<` and the Unicode signs' ASCII spellings.
fn ascii_relations(s: String) -> String {
    if !s.contains(['<', '>', '!']) {
        return s;
    }
    s.replace(">=", "≥")
        .replace("<=", "≤")
        .replace("=<", "≤")
        .replace("!=", "≠")
}

/// Remove thousands separators (`,` or `{,}`) from digit groups `d{1,3}(,ddd)+` written without
/// spaces; a group run with any other shape (`1,2`, `1,0000`) is a list and stays as it is.
pub fn thousands(s: String) -> String {
    if !s.contains(',') {
        return s;
    }
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut copied = 0;
    while i < b.len() {
        let starts_run = b[i].is_ascii_digit()
            && (i == 0
                || !(b[i - 1].is_ascii_alphanumeric() || matches!(b[i - 1], b'.' | b'_' | b'^')));
        if !starts_run {
            i += 1;
            continue;
        }
        let digits = |from: usize| {
            let mut j = from;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            j
        };
        let mut groups = vec![(i, digits(i))];
        let mut j = groups[0].1;
        // One separator spelling per number: in `6,8{,}10` or `(1{,}000,2)` the other one
        // separates items.
        let braced = s[j..].starts_with("{,}");
        loop {
            let sep = if braced && s[j..].starts_with("{,}") {
                3
            } else if !braced && s[j..].starts_with(',') {
                1
            } else {
                break;
            };
            if !b.get(j + sep).is_some_and(u8::is_ascii_digit) {
                break;
            }
            let end = digits(j + sep);
            groups.push((j + sep, end));
            j = end;
        }
        let shaped = groups.len() >= 2
            && (1..=3).contains(&(groups[0].1 - groups[0].0))
            && b[i] != b'0'
            && groups[1..].iter().all(|(a, z)| z - a == 3);
        // `(100,101)`, `[-36,104]`: plain commas inside a bracket pair separate coordinates or
        // interval ends; only `{,}` (how LaTeX writes thousands) is decisive there.
        let before = s[..i].trim_end_matches(['-', '+']).trim_end();
        let in_brackets =
            before.ends_with(['(', '[']) || s[j..].trim_start().starts_with([')', ']']);
        let shaped = shaped && (braced || !in_brackets);
        if shaped {
            out.push_str(&s[copied..i]);
            for (a, z) in &groups {
                out.push_str(&s[*a..*z]);
            }
            copied = j;
        }
        i = j;
    }
    out.push_str(&s[copied..]);
    out
}

/// A percent word after a number becomes `\%` (which the later steps treat like `%`).
fn percent_words(s: String) -> String {
    let lower = s.to_ascii_lowercase();
    for word in ["per cent", "percent", "pct.", "pct"] {
        let Some(stem) = lower.strip_suffix(word) else {
            continue;
        };
        let head = s[..stem.len()].trim_end();
        if head.ends_with(|c: char| c.is_ascii_digit() || c == '}') {
            return format!("{head}\\%");
        }
    }
    s
}

/// "or" between alternatives, as a word or in a text command, becomes [`OR`].
fn or_words(s: String) -> String {
    if !s.contains("or") {
        return s;
    }
    let mut s = s;
    // `{or}` is what `strip_string` leaves of `\\text{ or }` in pre-normalised references.
    for spelled in [
        "\\text{ or }",
        "\\text{or}",
        "\\text{ or}",
        "\\text{or }",
        "\\mbox{ or }",
        "{or}",
    ] {
        if s.contains(spelled) {
            s = s.replace(spelled, OR);
        }
    }
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut copied = 0;
    while let Some(pos) = s[i..].find("or") {
        let at = i + pos;
        let before_ok = at == 0 || !b[at - 1].is_ascii_alphabetic() && b[at - 1] != b'\\';
        let after_ok = at + 2 >= b.len() || !b[at + 2].is_ascii_alphabetic();
        if before_ok && after_ok {
            out.push_str(&s[copied..at]);
            out.push_str(OR);
            out.push(' ');
            copied = at + 2;
        }
        i = at + 2;
    }
    out.push_str(&s[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> String {
        thousands(canonical(s.to_string()))
    }

    #[test]
    fn relations() {
        assert_eq!(c("x \\geq 5"), "x ≥  5");
        assert_eq!(c("x>=5"), "x≥5");
        assert_eq!(c("\\left(x\\le 3\\right)"), "\\left(x≤  3\\right)");
        assert_eq!(c("x \\not= 2"), "x ≠ 2");
        assert_eq!(c("a\\lt b"), "a<  b");
        assert_eq!(c("x≈2"), "x\\approx 2");
        assert_eq!(c("\\neg p"), "\\neg p");
        assert_eq!(c("-80\\leqg(x)\\leq82"), "-80≤ g(x)≤ 82");
        assert_eq!(c("\\left(1\\right)"), "\\left(1\\right)");
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(c("14{,}916"), "14916");
        assert_eq!(c("1,000,000"), "1000000");
        assert_eq!(c("\\$1,000.50"), "\\$1000.50");
        assert_eq!(c("32, 349"), "32, 349");
        assert_eq!(c("1,2"), "1,2");
        assert_eq!(c("1,0000"), "1,0000");
        assert_eq!(c("1,000,2"), "1,000,2");
        assert_eq!(c("0.5,100"), "0.5,100");
        assert_eq!(c("x_1,234"), "x_1,234");
        assert_eq!(c("(100,101)"), "(100,101)");
        assert_eq!(c("[-36,104]"), "[-36,104]");
        assert_eq!(c("(1{,}000,2)"), "(1000,2)");
        assert_eq!(c("( 0,100 )"), "( 0,100 )");
        assert_eq!(c("0,100"), "0,100");
        assert_eq!(c("11,\\! 111,\\! 100"), "11111100");
        assert_eq!(c("111, \\! 111"), "111111");
        assert_eq!(c("6,8{,}10"), "6,8{,}10");
    }

    #[test]
    fn words_and_text() {
        assert_eq!(c("28 percent"), "28\\%");
        assert_eq!(c("28 pct"), "28\\%");
        assert_eq!(c("28 Per Cent"), "28\\%");
        assert_eq!(c("percent"), "percent");
        assert_eq!(c("10\\textnormal{ miles}"), "10\\text{ miles}");
        assert_eq!(
            c("\\frac{1}{3}\\textbf {meters}"),
            "\\frac{1}{3}\\text{meters}"
        );
        assert_eq!(c("2\\mathbf{ cm}"), "2\\text{ cm}");
        assert_eq!(c("\\mathbf{v}"), "\\mathbf{v}");
        assert_eq!(c("125normal{miles}"), "125\\text{miles}");
        assert_eq!(c("\\frac{1}{3}bf{meters}"), "\\frac{1}{3}\\text{meters}");
        assert_eq!(c("-2{or}-12"), "-2\\lor-12");
        assert_eq!(c("1 or 2"), "1 \\lor  2");
        assert_eq!(c("1 \\text{ or } 2"), "1 \\lor 2");
        assert_eq!(c("\\text{for}"), "\\text{for}");
    }
}
