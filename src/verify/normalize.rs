//! `strip_string` of the paper's `utils.py`, one small function per step, applied
//! in the paper's order, plus the few fixes of the correct mode (see the table in `mod.rs`).
//!
//! Every step is a plain string scan (no regex engine), linear in the input.
use super::Mode;

/// Longest input that is normalised (bytes); longer ones are only trimmed.
pub const MAX_NORMALIZE_LEN: usize = 8192;

/// The paper's `strip_string`, step for step.
pub fn strip_string(s: &str) -> String {
    normalize(s, Mode::Paper)
}

/// `strip_string` with the correct mode's fixes when `mode` is `Correct`.
pub fn normalize(s: &str, mode: Mode) -> String {
    normalize_with(s, mode, true)
}

/// The correct mode's normal form with every comma kept as an item separator (`81,256` stays a
/// list of two numbers): the other reading of a reference whose spaces are gone.
pub fn normalize_commas_as_separators(s: &str) -> String {
    normalize_with(s, Mode::Correct, false)
}

fn normalize_with(s: &str, mode: Mode, thousands: bool) -> String {
    if s.len() > MAX_NORMALIZE_LEN {
        // Bounded work: an answer this long is garbage; it is only ever compared as a string.
        return s.trim().to_string();
    }
    let correct = mode == Mode::Correct;
    let mut s = trim_newlines_and_dots(s);
    if correct {
        s = super::spelling::canonical(s);
        s = drop_units_and_degrees(s);
    }
    s = drop_thin_spaces(s);
    s = collapse_double_backslashes(s);
    s = frac_variants_to_frac(s);
    s = drop_left_right(s);
    s = drop_trailing_text_group(s);
    s = drop_degree_marks(s);
    s = drop_dollars(s);
    s = drop_text_and_x_in(s);
    s = drop_percent(s);
    s = add_leading_zero_after_space_or_brace(s);
    s = if correct {
        cdot_to_times(s)
    } else {
        drop_cdot(s)
    };
    s = normalize_infinity(s);
    s = if correct {
        drop_word_and(s)
    } else {
        rep(s, "and", "")
    };
    s = drop_mathbf_and_mbox(s);
    s = j_to_i_when_no_i(s);
    s = drop_zero_decimals(s);
    if s.is_empty() {
        return s;
    }
    if s.starts_with('.') {
        s.insert(0, '0');
    }
    s = if correct {
        drop_short_name_lhs(s)
    } else {
        drop_short_equation_lhs(s)
    };
    s = brace_sqrt_argument(s, correct);
    if correct && thousands {
        // Decided while spaces still separate items: `32, 349` is a list, `32,349` a number.
        s = super::spelling::thousands(s);
    }
    s = rep(s, " ", "");
    s = fix_fracs(s);
    fix_a_slash_b(s)
}

/// `str::replace` that keeps the string (no allocation) when `from` does not occur: most steps
/// do nothing on most answers, and this keeps normalisation at a few hundred nanoseconds.
fn rep(s: String, from: &str, to: &str) -> String {
    if s.contains(from) {
        s.replace(from, to)
    } else {
        s
    }
}

/// Step 1: strip, delete newlines, `rstrip('.')`.
fn trim_newlines_and_dots(s: &str) -> String {
    let t = s.trim();
    let t = if t.contains('\n') {
        t.replace('\n', "")
    } else {
        t.to_string()
    };
    let kept = t.trim_end_matches('.').len();
    let mut t = t;
    t.truncate(kept);
    t
}

/// Step 2: delete `\!` and `\ ` (LaTeX spacing).
fn drop_thin_spaces(s: String) -> String {
    rep(rep(s, "\\!", ""), "\\ ", "")
}

/// Step 3: `\\` → `\`, twice (this also collapses pmatrix row separators).
fn collapse_double_backslashes(s: String) -> String {
    rep(rep(s, "\\\\", "\\"), "\\\\", "\\")
}

/// Step 4: `tfrac`, `dfrac` → `frac`.
fn frac_variants_to_frac(s: String) -> String {
    rep(rep(s, "tfrac", "frac"), "dfrac", "frac")
}

/// Step 5: delete `\left` and `\right`.
fn drop_left_right(s: String) -> String {
    rep(rep(s, "\\left", ""), "\\right", "")
}

/// Step 6: regex `\\text{.*?}$` → "" (from the first `\text{` to the end when the string ends in
/// `}`), then strip; kept only when the result is non-empty.
fn drop_trailing_text_group(s: String) -> String {
    if !s.ends_with('}') {
        return s;
    }
    match s.find("\\text{") {
        Some(pos) => {
            let cut = s[..pos].trim();
            if cut.is_empty() {
                s
            } else {
                cut.to_string()
            }
        }
        None => s,
    }
}

/// Step 7: delete `^{\circ}` and `^\circ`.
fn drop_degree_marks(s: String) -> String {
    rep(rep(s, "^{\\circ}", ""), "^\\circ", "")
}

/// Step 8: delete `\$` and `$`.
fn drop_dollars(s: String) -> String {
    rep(rep(s, "\\$", ""), "$", "")
}

/// Step 9: delete `\text` and `x\in`.
fn drop_text_and_x_in(s: String) -> String {
    rep(rep(s, "\\text", ""), "x\\in", "")
}

/// Step 10: delete `\%` and `%`.
fn drop_percent(s: String) -> String {
    rep(rep(s, "\\%", ""), "%", "")
}

/// Step 11: `" ."` → `" 0."`, `"{."` → `"{0."`.
fn add_leading_zero_after_space_or_brace(s: String) -> String {
    rep(rep(s, " .", " 0."), "{.", "{0.")
}

/// Step 12 (paper): delete `\cdot` (so `2\cdot3` becomes `23`).
fn drop_cdot(s: String) -> String {
    rep(s, "\\cdot", "")
}

/// Step 12 (correct): `\cdot` is a multiplication sign.
fn cdot_to_times(s: String) -> String {
    rep(s, "\\cdot", "*")
}

/// Step 13: `infinity` → `\infty`; `inf` → `\infty` when `\infty` is absent; `+\inity` → `\infty`.
fn normalize_infinity(s: String) -> String {
    if !s.contains("inf") && !s.contains("+\\inity") {
        return s;
    }
    let mut s = rep(s, "infinity", "\\infty");
    if !s.contains("\\infty") {
        s = rep(s, "inf", "\\infty");
    }
    rep(s, "+\\inity", "\\infty")
}

/// Step 14 (correct): delete `and` only as a whole word (the paper deletes every `and`, e.g.
/// inside `\text{Sandy}`).
fn drop_word_and(s: String) -> String {
    if !s.contains("and") {
        return s;
    }
    let s = s.as_str();
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i..].starts_with("and") {
            let before_ok = i == 0 || !b[i - 1].is_ascii_alphabetic();
            let after_ok = i + 3 >= b.len() || !b[i + 3].is_ascii_alphabetic();
            if before_ok && after_ok {
                out.push(',');
                i += 3;
                continue;
            }
        }
        let ch = s[i..].chars().next().unwrap_or(' ');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

/// Step 14: delete `\mathbf`; delete `\mbox{...}` (non-greedy: up to the first `}`).
fn drop_mathbf_and_mbox(s: String) -> String {
    if !s.contains("\\m") {
        return s;
    }
    let s = s.as_str();
    let s = s.replace("\\mathbf", "");
    let mut out = String::with_capacity(s.len());
    let mut rest = s.as_str();
    while let Some(pos) = rest.find("\\mbox{") {
        match rest[pos + 6..].find('}') {
            Some(end) => {
                out.push_str(&rest[..pos]);
                rest = &rest[pos + 6 + end + 1..];
            }
            None => break,
        }
    }
    out.push_str(rest);
    out
}

/// Step 16: `j` → `i` when the string has a `j` and no `i`.
fn j_to_i_when_no_i(s: String) -> String {
    if !s.contains('j') {
        return s;
    }
    let s = s.as_str();
    if s.contains('j') && !s.contains('i') {
        s.replace('j', "i")
    } else {
        s.to_string()
    }
}

/// Step 17: regex `(\d+)\.0+([^\d])` → `\1\2`, then `(\d+)\.0+$` → `\1`.
fn drop_zero_decimals(s: String) -> String {
    if !s.contains('.') {
        return s;
    }
    let s = s.as_str();
    let b = s.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        // A match needs a digit, a '.', one or more '0', then a non-digit character.
        if b[i] == b'.' && i > 0 && b[i - 1].is_ascii_digit() && i + 1 < b.len() && b[i + 1] == b'0'
        {
            let mut j = i + 1;
            while j < b.len() && b[j] == b'0' {
                j += 1;
            }
            if j < b.len() && !b[j].is_ascii_digit() {
                // `[^\d]` consumes one character (a whole UTF-8 char).
                let ch_len = s[j..].chars().next().map(char::len_utf8).unwrap_or(1);
                out.extend_from_slice(&b[j..j + ch_len]);
                i = j + ch_len;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    let mut s = String::from_utf8(out).unwrap_or_default();
    // `(\d+)\.0+$`
    let trimmed = s.trim_end_matches('0');
    if trimmed.len() < s.len() && trimmed.ends_with('.') {
        let before = &trimmed[..trimmed.len() - 1];
        if before.as_bytes().last().is_some_and(u8::is_ascii_digit) {
            s = before.to_string();
        }
    }
    s
}

/// Step 19: `k = 5` → `5` when there is exactly one `=` and the left side has at most 2 chars.
fn drop_short_equation_lhs(s: String) -> String {
    if !s.contains('=') {
        return s;
    }
    let s = s.as_str();
    let mut parts = s.split('=');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(l), Some(r), None) if l.chars().count() <= 2 => r.to_string(),
        _ => s.to_string(),
    }
}

/// Step 19 (correct): `label = value` → `value` when the left side is a name of any length
/// (`k = 5`, `f(x) = 1`, `(p,q) = (3,2)`); an equation (`1 = x+y`, `2x = 4`) is kept.
fn drop_short_name_lhs(s: String) -> String {
    if !s.contains('=') {
        return s;
    }
    let mut parts = s.split('=');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(l), Some(r), None) if super::labels::is_label(l) && !r.trim().is_empty() => {
            r.to_string()
        }
        _ => s,
    }
}

/// Step 20: regex `\\sqrt(\w+)` → `\sqrt{\1}`.
/// In the correct mode spaces before the word are skipped too (`\sqrt 10` → `\sqrt{10}`, as
/// the writer meant; the paper deletes the space later and reads `\sqrt10` as √1·0).
fn brace_sqrt_argument(s: String, skip_spaces: bool) -> String {
    if !s.contains("\\sqrt") {
        return s;
    }
    let s = s.as_str();
    let mut out = String::with_capacity(s.len() + 4);
    let mut rest = s;
    while let Some(pos) = rest.find("\\sqrt") {
        out.push_str(&rest[..pos + 5]);
        rest = &rest[pos + 5..];
        if skip_spaces
            && rest.starts_with(' ')
            && rest.trim_start().starts_with(|c: char| c.is_alphanumeric())
        {
            rest = rest.trim_start();
        }
        let word_len: usize = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .map(char::len_utf8)
            .sum();
        if word_len > 0 {
            out.push('{');
            out.push_str(&rest[..word_len]);
            out.push('}');
            rest = &rest[word_len..];
        }
    }
    out.push_str(rest);
    out
}

/// Step 22: `_fix_fracs`: `\frac12` → `\frac{1}{2}`, `\frac1{b}` → `\frac{1}{b}`.
pub fn fix_fracs(s: String) -> String {
    if !s.contains("\\frac") {
        return s;
    }
    let s = s.as_str();
    let mut parts = s.split("\\frac");
    let mut out = parts.next().unwrap_or("").to_string();
    for sub in parts {
        out.push_str("\\frac");
        if sub.starts_with('{') {
            out.push_str(sub);
            continue;
        }
        let mut chars = sub.chars();
        let (a, b) = match (chars.next(), chars.next()) {
            (Some(a), Some(b)) => (a, b),
            _ => return s.to_string(),
        };
        let post = chars.as_str();
        out.push('{');
        out.push(a);
        out.push('}');
        if b != '{' {
            out.push('{');
            out.push(b);
            out.push('}');
        } else {
            out.push(b);
        }
        out.push_str(post);
    }
    out
}

/// Python `str(int(x)) == x` for the canonical integer spellings `_fix_a_slash_b` accepts.
fn is_canonical_int(x: &str) -> bool {
    let d = x.strip_prefix('-').unwrap_or(x);
    !d.is_empty()
        && d.bytes().all(|c| c.is_ascii_digit())
        && (d == "0" || !d.starts_with('0'))
        && x != "-0"
}

/// Step 23: `_fix_a_slash_b`: `a/b` → `\frac{a}{b}` when both sides are integers (or contain
/// `sqrt`) and there is exactly one `/`.
fn fix_a_slash_b(s: String) -> String {
    if !s.contains('/') {
        return s;
    }
    let s = s.as_str();
    let mut parts = s.split('/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(a), Some(b), None) => {
            let ok_a = a.contains("sqrt") || is_canonical_int(a);
            let ok_b = b.contains("sqrt") || is_canonical_int(b);
            if ok_a && ok_b {
                format!("\\frac{{{a}}}{{{b}}}")
            } else {
                s.to_string()
            }
        }
        _ => s.to_string(),
    }
}

/// Correct mode only: remove unit words in `\text{..}`/`\mbox{..}`/`\mathrm{..}` that follow a
/// value, and degree signs in every spelling, so `5\text{ cm}` ≡ `5` and `336^\circ` ≡ `336`.
fn drop_units_and_degrees(s: String) -> String {
    if !s.contains(['\\', '°', '{']) {
        return s;
    }
    let s = s.as_str();
    let mut s = s
        .replace("^{\\circ}", "")
        .replace("^\\circ", "")
        .replace("\\circ", "");
    s = s.replace("\\textbf{", "\\text{").replace("x \\in", "x\\in");
    for cmd in ["\\text", "\\mbox", "\\mathrm"] {
        s = s.replace(&format!("{cmd} {{"), &format!("{cmd}{{"));
    }
    for conj in ["\\text{ and }", "\\text{and}", "\\text{, and }"] {
        s = s.replace(conj, ",");
    }
    s = s.replace("{or}", super::relation::OR);
    for space in ["\\,", "\\;", "\\:", "\\qquad", "\\quad"] {
        s = s.replace(space, "");
    }
    s = s.replace('°', "").replace("\\degree", "");
    // A bare `{cm}` is what `strip_string` leaves of `\text{ cm}` in pre-normalised targets.
    for cmd in ["\\text{", "\\mbox{", "\\mathrm{", "{"] {
        let mut out = String::with_capacity(s.len());
        let mut rest = s.as_str();
        while let Some(pos) = rest.find(cmd) {
            let body_start = pos + cmd.len();
            let Some(end) = rest[body_start..].find('}') else {
                break;
            };
            let body = &rest[body_start..body_start + end];
            let before = format!("{out}{}", &rest[..pos]);
            let min_len = if cmd == "{" { 2 } else { 1 };
            let is_unit = body
                .trim()
                .chars()
                .all(|c| c.is_ascii_alphabetic() || c == ' ' || c == '.')
                && body.trim().len() >= min_len
                && (cmd != "{" || bare_group_can_be_unit(&before, body.trim()))
                && before
                    .trim_end()
                    .ends_with(|c: char| c.is_ascii_digit() || c == '}' || c == ')');
            out.push_str(&rest[..pos]);
            if !is_unit {
                out.push_str(&rest[pos..body_start + end + 1]);
            }
            rest = &rest[body_start + end + 1..];
            if is_unit {
                // A squared or cubed unit: `\text{ cm}^2`.
                for power in ["^{2}", "^{3}", "^2", "^3"] {
                    if let Some(r) = rest.strip_prefix(power) {
                        rest = r;
                        break;
                    }
                }
            }
        }
        out.push_str(rest);
        s = out;
    }
    s
}

/// A bare `{word}` is a unit left over by `strip_string` when it follows a number, or a
/// complete group (`8\sqrt{3}{squareinches}`) that is not the first argument of `\frac` or
/// `\binom` (`\frac{x+y}{xy}` keeps its denominator).
fn bare_group_can_be_unit(before: &str, body: &str) -> bool {
    let before = before.trim_end();
    if before.ends_with(|c: char| c.is_ascii_digit()) {
        return true;
    }
    if !before.ends_with('}') || body.len() < 4 {
        return false;
    }
    let mut depth = 0usize;
    for (i, c) in before.char_indices().rev() {
        match c {
            '}' => depth += 1,
            '{' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    let head = &before[..i];
                    return !["frac", "binom", "^", "_"]
                        .iter()
                        .any(|cmd| head.ends_with(cmd));
                }
            }
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_steps() {
        assert_eq!(strip_string("10\\text{ inches}"), "10");
        assert_eq!(strip_string("\\text{(A)}"), "{(A)}");
        assert_eq!(strip_string("\\dfrac12"), "\\frac{1}{2}");
        assert_eq!(strip_string("\\frac1b"), "\\frac{1}{b}");
        assert_eq!(strip_string("1/2"), "\\frac{1}{2}");
        assert_eq!(strip_string("01/2"), "01/2");
        assert_eq!(strip_string("36.0"), "36");
        assert_eq!(strip_string("2.00x"), "2x");
        assert_eq!(strip_string("2\\cdot3"), "23");
        assert_eq!(strip_string("x = 3"), "3");
        assert_eq!(strip_string("\\sqrt3"), "\\sqrt{3}");
        assert_eq!(strip_string(".5"), "0.5");
        assert_eq!(strip_string("336^\\circ"), "336");
        assert_eq!(strip_string("50\\%"), "50");
        assert_eq!(strip_string("\\$ 1,000"), "1,000");
        assert_eq!(strip_string("\\left( 1, 2 \\right)"), "(1,2)");
        assert_eq!(strip_string("(-inf, 3)"), "(-\\infty,3)");
        assert_eq!(strip_string("1 and 2"), "12");
        assert_eq!(strip_string("3j"), "3i");
        assert_eq!(strip_string("\\mbox{cm}5"), "5");
        assert_eq!(
            strip_string("\\begin{pmatrix}1\\\\2\\end{pmatrix}"),
            "\\begin{pmatrix}1\\2\\end{pmatrix}"
        );
        assert_eq!(strip_string("5."), "5");
        assert_eq!(strip_string(""), "");
    }

    #[test]
    fn correct_mode_fixes() {
        assert_eq!(normalize("2\\cdot3", Mode::Correct), "2*3");
        assert_eq!(normalize("1 and 2", Mode::Correct), "1,2");
        assert_eq!(normalize("\\text{Sandy}", Mode::Correct), "{Sandy}");
        assert_eq!(normalize("5\\text{ cm}^2", Mode::Correct), "5");
        assert_eq!(normalize("30^{\\circ}", Mode::Correct), "30");
        assert_eq!(normalize("30°", Mode::Correct), "30");
        assert_eq!(normalize("\\sqrt 10", Mode::Correct), "\\sqrt{10}");
        assert_eq!(strip_string("\\sqrt 10"), "\\sqrt10");
    }

    #[test]
    fn zero_decimal_regex_semantics() {
        assert_eq!(drop_zero_decimals("1.0.0x".into()), "1.0x");
        assert_eq!(drop_zero_decimals("1.05".into()), "1.05");
        assert_eq!(drop_zero_decimals("x.00".into()), "x.00");
        assert_eq!(drop_zero_decimals("10.000".into()), "10");
    }
}
