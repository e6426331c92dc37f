//! Answer extraction: the paper's `extract_answer_math`, plus `\fbox{}` and the
//! GSM8K `#### N` form in the correct mode.
use super::normalize::normalize;
use super::Mode;

/// The raw (not yet normalised) answer of a response, with the paper's post-processing (first
/// line, leading `:`, trailing `.` and `/`) applied. `None` when nothing is extractable.
pub fn extract_raw(response: &str, mode: Mode) -> Option<String> {
    let cleaned;
    let response = if mode == Mode::Correct && response.contains("<|") {
        cleaned = strip_special_tokens(response);
        cleaned.as_str()
    } else {
        response
    };
    let braced = |group: String| {
        // The correct mode reads a whole box, also one whose content spans lines (`\boxed{\n5\n}`,
        // a matrix environment on its own lines); the paper keeps only the first line.
        if mode == Mode::Correct && group.contains(['\n', '\r']) {
            group.replace(['\n', '\r'], " ")
        } else {
            group
        }
    };
    let candidate = if let Some(pos) = response.rfind("boxed") {
        let rest = &response[pos + "boxed".len()..];
        if rest.starts_with('{') {
            braced(after_boxed(rest))
        } else {
            after_boxed(rest)
        }
    } else if let Some(fbox) = (mode == Mode::Correct)
        .then(|| last_braced_after(response, "\\fbox"))
        .flatten()
    {
        braced(fbox)
    } else if let Some(gsm) = (mode == Mode::Correct)
        .then(|| gsm8k_answer(response))
        .flatten()
    {
        gsm
    } else if let Some(pos) = response.rfind("he answer is") {
        response[pos + "he answer is".len()..].trim().to_string()
    } else {
        last_number(response)?
    };
    Some(post_process(&candidate))
}

/// The normalised answer: `extract_raw` then `strip_string` (with the mode's fixes).
/// `None` when nothing is extractable or the answer normalises to "".
pub fn extract_normalized(response: &str, mode: Mode) -> Option<String> {
    let raw = extract_raw(response, mode)?;
    let norm = normalize(&raw, mode);
    (!norm.is_empty()).then_some(norm)
}

/// Remove chat special tokens like `<|im_end|>`, `<|endoftext|>`, `<|eot_id|>` (the reward
/// decodes responses with special tokens; the paper mode keeps them, so "The answer is 12<|im_end|>"
/// extracts `12<|im_end|>` there).
fn strip_special_tokens(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("<|") {
        let after = &rest[pos + 2..];
        let name_len = after
            .bytes()
            .take(64)
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count();
        if after[name_len..].starts_with("|>") {
            out.push_str(&rest[..pos]);
            rest = &after[name_len + 2..];
        } else {
            out.push_str(&rest[..pos + 2]);
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Text after the last `boxed`: a brace-matched group, or `\boxed 5` up to the next `$`.
fn after_boxed(rest: &str) -> String {
    if let Some(inner) = rest.strip_prefix('{') {
        matched_group(inner)
    } else {
        rest.split('$').next().unwrap_or("").trim().to_string()
    }
}

/// Characters up to the `}` matching an already-consumed `{`; everything if unbalanced.
fn matched_group(inner: &str) -> String {
    let mut depth = 1usize;
    // Bytes, not chars: braces are ASCII, so a brace's byte index is a char boundary.
    for (i, c) in inner.bytes().enumerate() {
        match c {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return inner[..i].to_string();
                }
            }
            _ => {}
        }
    }
    inner.to_string()
}

fn last_braced_after(text: &str, cmd: &str) -> Option<String> {
    let pos = text.rfind(cmd)?;
    let rest = text[pos + cmd.len()..].trim_start();
    Some(matched_group(rest.strip_prefix('{')?))
}

/// GSM8K: the text after the last `####`, first line, commas removed.
fn gsm8k_answer(text: &str) -> Option<String> {
    let pos = text.rfind("####")?;
    let line = text[pos + 4..].trim().lines().next().unwrap_or("").trim();
    (!line.is_empty()).then(|| line.replace(',', ""))
}

/// Last match of the regex `-?\d*\.?\d+` in the text with commas removed (Python `findall`
/// semantics: leftmost, non-overlapping).
fn last_number(text: &str) -> Option<String> {
    let t: Vec<u8> = text.bytes().filter(|&b| b != b',').collect();
    let digits = |mut i: usize| {
        while i < t.len() && t[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    let mut last = None;
    let mut i = 0;
    while i < t.len() {
        let start = i;
        let j0 = if t[i] == b'-' { i + 1 } else { i };
        let j1 = digits(j0);
        let end = if j1 < t.len() && t[j1] == b'.' && j1 + 1 < t.len() && t[j1 + 1].is_ascii_digit()
        {
            Some(digits(j1 + 1))
        } else if j1 > j0 {
            Some(j1)
        } else {
            None
        };
        match end {
            Some(e) => {
                last = Some((start, e));
                i = e;
            }
            None => i += 1,
        }
    }
    last.map(|(s, e)| String::from_utf8_lossy(&t[s..e]).into_owned())
}

/// Post-processing: first line, drop a leading `:`, one trailing `.`, one trailing `/`.
fn post_process(s: &str) -> String {
    let mut p = s.split('\n').next().unwrap_or("");
    p = p.strip_prefix(':').unwrap_or(p);
    p = p.strip_suffix('.').unwrap_or(p);
    p = p.strip_suffix('/').unwrap_or(p);
    p.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    const P: Mode = Mode::Paper;

    #[test]
    fn boxed_forms() {
        assert_eq!(
            extract_raw("so \\boxed{\\frac{1}{2}} and \\boxed{3}", P).as_deref(),
            Some("3")
        );
        assert_eq!(
            extract_raw("\\boxed{\\frac{1}{2}}.", P).as_deref(),
            Some("\\frac{1}{2}")
        );
        assert_eq!(extract_raw("$\\boxed 5$", P).as_deref(), Some("5"));
        assert_eq!(extract_raw("\\boxed{1{2", P).as_deref(), Some("1{2"));
        assert_eq!(extract_raw("\\boxed", P).as_deref(), Some(""));
        assert_eq!(extract_raw("\\boxed{}", P).as_deref(), Some(""));
        assert_eq!(extract_normalized("\\boxed{}", P), None);
    }

    #[test]
    fn special_tokens() {
        assert_eq!(strip_special_tokens("a<|im_end|>b<|x"), "ab<|x");
        assert_eq!(
            extract_raw("The answer is 12<|im_end|>", Mode::Correct).as_deref(),
            Some("12")
        );
        assert_eq!(
            extract_raw("The answer is 12<|im_end|>", P).as_deref(),
            Some("12<|im_end|>")
        );
    }

    #[test]
    fn fallbacks() {
        assert_eq!(
            extract_raw("The answer is: 42.\nmore", P).as_deref(),
            Some(" 42")
        );
        assert_eq!(
            extract_normalized("The answer is: 42.\nmore", P).as_deref(),
            Some("42")
        );
        assert_eq!(
            extract_raw("we get 1,234 then -3.5 and .5 ok", P).as_deref(),
            Some(".5")
        );
        assert_eq!(extract_raw("x = 7.", P).as_deref(), Some("7"));
        assert_eq!(extract_raw("1.2.3", P).as_deref(), Some(".3"));
        assert_eq!(extract_raw("no digits", P), None);
        assert_eq!(extract_raw("\\fbox{12} and 13", P).as_deref(), Some("13"));
        assert_eq!(
            extract_raw("\\fbox{12} and 13", Mode::Correct).as_deref(),
            Some("12")
        );
        assert_eq!(
            extract_raw("so\n#### 1,000\n", Mode::Correct).as_deref(),
            Some("1000")
        );
        assert_eq!(extract_raw("ratio 1/", P).as_deref(), Some("1"));
    }
}
