//! Tokens of a LaTeX math answer. Spacing commands and `\left`/`\right` vanish here; text-like
//! groups (`\text{cm}`) become one word; a few Unicode signs map to their LaTeX meaning.

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// Digits with an optional decimal point.
    Num(String),
    /// A single-letter symbol.
    Letter(char),
    /// The content of `\text{..}`, `\mathrm{..}` and similar.
    Word(String),
    /// `\name` (name without the backslash), or a one-char control symbol like `\{`.
    Cmd(String),
    /// Any other single character: operators, brackets, `^`, `_`, `!`, `|`.
    Sym(char),
}

/// Most tokens an answer may have; longer inputs are not parsed (bounded work).
pub const MAX_TOKENS: usize = 600;

const IGNORED: &[&str] = &[
    ",", ";", ":", "!", " ", "quad", "qquad", "left", "right", "displaystyle", "big", "Big", "bigl", "bigr",
    "Bigl", "Bigr", "limits", "nolimits", "mathbf", "boldsymbol", "mathbb", "bf", "rm", "it",
];
const TEXT_LIKE: &[&str] = &["text", "textbf", "textrm", "mathrm", "mathit", "mbox", "operatorname", "textit"];
const WORD_FUNCS: &[&str] = &["sqrt", "sin", "cos", "tan", "ln", "log", "exp"];

/// Tokenize; `None` for inputs past [`MAX_TOKENS`].
pub fn tokenize(s: &str) -> Option<Vec<Tok>> {
    let cs: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < cs.len() {
        if out.len() > MAX_TOKENS {
            return None;
        }
        let c = cs[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() || (c == '.' && cs.get(i + 1).is_some_and(char::is_ascii_digit)) {
            let start = i;
            while i < cs.len() && cs[i].is_ascii_digit() {
                i += 1;
            }
            if i < cs.len() && cs[i] == '.' && cs.get(i + 1).is_some_and(char::is_ascii_digit) {
                i += 1;
                while i < cs.len() && cs[i].is_ascii_digit() {
                    i += 1;
                }
            }
            out.push(Tok::Num(cs[start..i].iter().collect()));
        } else if c == '\\' {
            i += 1;
            let start = i;
            while i < cs.len() && cs[i].is_ascii_alphabetic() {
                i += 1;
            }
            let name: String = if i == start {
                match cs.get(i) {
                    Some(&ch) => {
                        i += 1;
                        ch.to_string()
                    }
                    None => String::new(),
                }
            } else {
                cs[start..i].iter().collect()
            };
            if IGNORED.contains(&name.as_str()) {
                continue;
            }
            if TEXT_LIKE.contains(&name.as_str()) {
                if cs.get(i) == Some(&'{') {
                    let (body, next) = raw_group(&cs, i + 1);
                    i = next;
                    let body = body.trim();
                    if body.is_empty() {
                        continue;
                    }
                    if name == "operatorname" || body.chars().all(|c| c.is_ascii_digit()) {
                        // `\operatorname{sin}` is `\sin`; `\text{5}` is 5: lex the body normally.
                        let text = if name == "operatorname" { format!("\\{body}") } else { body.to_string() };
                        let inner = tokenize(&text)?;
                        out.extend(inner);
                    } else {
                        out.push(Tok::Word(body.to_string()));
                    }
                }
                continue;
            }
            out.push(Tok::Cmd(name));
        } else if c.is_ascii_alphabetic() {
            let start = i;
            while i < cs.len() && cs[i].is_ascii_alphabetic() {
                i += 1;
            }
            let run: String = cs[start..i].iter().collect();
            if run == "pi" || (WORD_FUNCS.contains(&run.as_str()) && cs.get(i) == Some(&'(')) {
                out.push(Tok::Cmd(run));
            } else {
                out.extend(run.chars().map(Tok::Letter));
            }
        } else {
            i += 1;
            out.push(match c {
                'π' => Tok::Cmd("pi".into()),
                '∞' => Tok::Cmd("infty".into()),
                '√' => Tok::Cmd("sqrt".into()),
                '×' | '·' | '⋅' => Tok::Sym('*'),
                '÷' => Tok::Sym('/'),
                '−' | '–' => Tok::Sym('-'),
                c if c.is_alphabetic() => Tok::Letter(c),
                c => Tok::Sym(c),
            });
        }
    }
    (out.len() <= MAX_TOKENS).then_some(out)
}

/// Raw text of a brace group starting after its `{`; returns (body, index after the `}`).
fn raw_group(cs: &[char], start: usize) -> (String, usize) {
    let mut depth = 1usize;
    let mut i = start;
    while i < cs.len() {
        match cs[i] {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return (cs[start..i].iter().collect(), i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    (cs[start..].iter().collect(), cs.len())
}
